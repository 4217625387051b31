"""A PyTorch project beside the scikit-learn example: latency, req/s, image size.

    .venv/bin/python benchmarks/pytorch_project.py [--task classification] [--rounds 2]
        [--duration 10s] [--users 2] [--no-image]

Makes two projects with `mlprod new --no-input` in a scratch folder: the example
(scikit-learn) and the same with `framework=pytorch` (and `--task`), installs each with
the `api`, `dev` and `train` extras (uv), and trains it. Then, per round, for each
project in alternating order: `mlprod benchmark --batch-sizes 1` (one row: the native
model, then the compiled one, in the same run) and `mlprod loadtest` (Locust, one
process, `--users` closed-loop users) against a uWSGI server of one worker
(UWSGI_PROCESSES=1, MODEL_RUNTIME=auto: the ONNX model). It prints every run's
figures and the medians.

With a container engine (`eval "$(../shared/tools/oci-engine start)"`) and no
`--no-image`, it also builds each project's image with `mlprod package --image`, prints
the build time and the image's size, and checks that `import torch` fails inside the
PyTorch project's image. Traffic stays on loopback.

A benchmark, not a test: it prints figures. On a machine shared with other work they
move between rounds; the alternation and the medians are there for that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlprod_cli.project import environment
from mlprod_cli.release.packaging import engine_problem

MLPROD = Path(sys.executable).parent / "mlprod"
FRAMEWORKS = ("sklearn", "pytorch")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("classification", "regression"), default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", default="10s", help="mlprod loadtest --duration")
    parser.add_argument("--users", type=int, default=2, help="mlprod loadtest --users")
    parser.add_argument("--no-image", action="store_true", help="skip the image builds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlprod-pytorch-") as scratch:
        projects = {
            framework: _project(Path(scratch) / framework, framework, args.task)
            for framework in FRAMEWORKS
        }
        figures: dict[str, dict[str, list[float]]] = {name: {} for name in FRAMEWORKS}
        for round_ in range(args.rounds):
            order = FRAMEWORKS if round_ % 2 == 0 else FRAMEWORKS[::-1]
            for framework in order:
                root = projects[framework]
                for key, value in {**_benchmark(root), **_loadtest(root, args)}.items():
                    figures[framework].setdefault(key, []).append(value)
                    print(f"round {round_ + 1} {framework:<8} {key}: {value:,.1f}")
        print("\nmedians")
        for framework, measured in figures.items():
            cells = [f"{key} {statistics.median(values):,.1f}" for key, values in measured.items()]
            print(f"  {framework:<8} " + "; ".join(cells))
        if not args.no_image:
            _images(projects)


def _project(output: Path, framework: str, task: str | None) -> Path:
    # a name per framework, so that the two images have tags of their own
    answers = ["--set", f"framework={framework}", "--set", f"project_name=Iris {framework}"]
    if task:
        answers += ["--set", f"task={task}"]
    command = [MLPROD, "new", "--no-input", "--no-git", "-o", output, *answers]
    subprocess.run([str(part) for part in command], capture_output=True, check=True)
    root = next(path for path in output.iterdir() if path.is_dir())
    started = time.perf_counter()
    python = environment.create(root, extras=("api", "dev", "train"))
    installed = time.perf_counter() - started
    slug = root.name
    started = time.perf_counter()
    subprocess.run(
        [str(python.with_name(slug)), "train"], cwd=root, capture_output=True, check=True
    )
    trained = time.perf_counter() - started
    print(f"{framework}: installed in {installed:.1f} s, trained in {trained:.1f} s")
    return root


def _benchmark(root: Path) -> dict[str, float]:
    out = root / "bench.json"
    command = [str(MLPROD), "benchmark", "--project", str(root), "--batch-sizes", "1"]
    command += ["--runs", "3", "--load-runs", "1", "--min-time", "0.05", "--json", str(out)]
    subprocess.run(command, capture_output=True, check=True)
    document = json.loads(out.read_text())
    result = {"native 1 row, us": document["predict"][0]["latency_s"]["summary"]["mean"] * 1e6}
    if document["compiled"] is not None:
        compiled = document["compiled"]["predict"][0]["latency_s"]["summary"]["mean"]
        result["onnx 1 row, us"] = compiled * 1e6
    return result


def _loadtest(root: Path, args: argparse.Namespace) -> dict[str, float]:
    out = root / "lt.json"
    command = [str(MLPROD), "loadtest", "--project", str(root), "--users", str(args.users)]
    command += ["--duration", args.duration, "--warmup", "2s", "--processes", "1"]
    command += ["--json", str(out)]
    subprocess.run(
        command, capture_output=True, check=True, env={**os.environ, "UWSGI_PROCESSES": "1"}
    )
    results = json.loads(out.read_text())["results"]
    return {
        "served req/s (1 worker)": results["rps"],
        "served p50 ms": results["latency_ms"]["p50"],
        "served p99 ms": results["latency_ms"]["p99"],
    }


def _images(projects: dict[str, Path]) -> None:
    problem = engine_problem()
    if problem:
        print(f"\nno image builds: {problem}")
        return
    print("\nimages")
    for framework, root in projects.items():
        started = time.perf_counter()
        result = subprocess.run(
            [str(MLPROD), "package", "--project", str(root), "--image", "--json"],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        image = next(row for row in json.loads(result.stdout)["made"] if row["kind"] == "image")
        # By its output: podman's Docker API here loses the container's exit status.
        command = ["docker", "run", "--rm", "--entrypoint", "python", image["path"]]
        torch = subprocess.run(
            [*command, "-c", "import torch"], capture_output=True, text=True, check=False
        )
        has_torch = "no" if "No module named 'torch'" in torch.stderr + torch.stdout else "yes"
        print(
            f"  {framework:<8} {image['path']}: {image['size'] / 1e6:,.1f} MB, "
            f"built in {seconds:.0f} s, torch inside: {has_torch}"
        )


if __name__ == "__main__":
    main()

"""`make demo`: scaffold a project with defaults, install and train it, serve it, ask once.

Everything happens under `.demo/` (made anew each run); the server listens on a
free loopback port and is stopped before the script ends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from mlprod_cli.project import environment, server

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def main() -> int:
    shutil.rmtree(DEMO, ignore_errors=True)
    step("mlprod new --no-input -o .demo")
    mlprod = Path(sys.executable).parent / "mlprod"
    subprocess.run([str(mlprod), "new", "--no-input", "--output-dir", str(DEMO)], check=True)
    project = next(path for path in DEMO.iterdir() if path.is_dir())

    step(f"install {project.name} into {project.name}/.venv (with its api and dev extras)")
    python = environment.create(project)
    bin_dir = python.parent

    step(f"{project.name} train")
    subprocess.run([str(bin_dir / project.name), "train"], cwd=project, check=True)

    step("uwsgi --ini uwsgi.ini (on a free loopback port)")
    with server.running(project, bin_dir / "uwsgi") as url:
        example = server.request("GET", f"{url}/v1/model").body["input_schema"]["example"]
        payload = {"instances": [example]}
        step(f"POST {url}/v1/predict {json.dumps(payload)}")
        answer = server.request("POST", f"{url}/v1/predict", payload)
        print(json.dumps(answer.body, indent=2))
    step("server stopped")
    return 0 if answer.status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())

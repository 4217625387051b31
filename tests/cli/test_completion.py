"""Shell completion: `mlprod --show-completion` / `--install-completion`, as Typer offers them."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlprod_cli.main import app

BIN = Path(sys.executable).parent
ENV = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())}


def bash() -> str:
    path = shutil.which("bash")
    if path is None:
        pytest.skip("no bash on PATH")
    return path


def test_show_completion_in_bash_prints_a_script_that_asks_mlprod() -> None:
    # Typer detects the shell from the processes above mlprod: a user's bash, here. (`bash -c`
    # would exec a lone command in its own place, so the command is not alone.)
    result = subprocess.run(
        [bash(), "-c", f'"{BIN / "mlprod"}" --show-completion && true'],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
        timeout=30,
    )
    assert "_MLPROD_COMPLETE=complete_bash" in result.stdout
    assert result.stdout.rstrip().endswith("complete -o default -F _mlprod_completion mlprod")


def test_install_completion_in_bash_writes_the_script_and_sources_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [bash(), "-c", f'"{BIN / "mlprod"}" --install-completion && true'],
        capture_output=True,
        text=True,
        env={**ENV, "HOME": str(tmp_path)},
        check=True,
        timeout=30,
    )
    script = tmp_path / ".bash_completions" / "mlprod.sh"
    assert result.stdout.startswith(f"bash completion installed in {script}\n")
    assert "complete -o default -F _mlprod_completion mlprod" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_help_offers_install_and_show_completion(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"], prog_name="mlprod")
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


def bash_completes(*words: str) -> list[str]:
    """What bash offers for the last of `words` (`""`: a new word), with the script that
    `mlprod --show-completion` prints in bash loaded, as a user's shell would have it."""
    script = f"""
        source <("{BIN / "mlprod"}" --show-completion)
        COMP_WORDS=({" ".join(shlex.quote(word) for word in words)})
        COMP_CWORD={len(words) - 1}
        _mlprod_completion mlprod
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    result = subprocess.run(
        [bash(), "-c", script], capture_output=True, text=True, env=ENV, check=True, timeout=30
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    ("words", "offered"),
    [
        (["mlprod", "pa"], ["package"]),
        (["mlprod", "b"], ["bump", "benchmark"]),
        (["mlprod", "bump", ""], ["major", "minor", "patch", "prerelease", "release"]),
        (["mlprod", "loadtest", "--ke"], ["--keep-alive"]),
    ],
)
def test_bash_completes_commands_options_and_choices(words: list[str], offered: list[str]) -> None:
    assert bash_completes(*words) == offered

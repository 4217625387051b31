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


def test_show_completion_for_bash_prints_a_script_that_asks_mlprod(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--show-completion", "bash"], prog_name="mlprod")
    assert result.exit_code == 0, result.output
    assert "_MLPROD_COMPLETE=complete_bash" in result.stdout
    assert result.stdout.rstrip().endswith("complete -o default -F _mlprod_completion mlprod")


def test_help_offers_install_and_show_completion(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"], prog_name="mlprod")
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


def bash_completes(*words: str) -> list[str]:
    """What bash offers for the last of `words` (`""`: a new word), with the script that
    `mlprod --show-completion bash` prints loaded, as a user's shell would have it."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash on PATH")
    script = f"""
        source <("{BIN / "mlprod"}" --show-completion bash)
        COMP_WORDS=({" ".join(shlex.quote(word) for word in words)})
        COMP_CWORD={len(words) - 1}
        _mlprod_completion mlprod
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())}
    result = subprocess.run(
        [bash, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=30
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

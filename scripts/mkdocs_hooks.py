"""MkDocs hooks (`hooks:` in mkdocs.yml): the CLI reference, generated from the Typer app.

`docs/reference/cli.md` holds a marker; at build time it is replaced by what Typer's own
`typer mlprod_cli.main utils docs` writes for the app (every command, argument, option and
default, from the same objects `mlprod` runs), so the reference cannot drift from the code.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

MARKER = "<!-- mlprod: cli-reference -->"


def cli_reference() -> str:
    """The reference in Markdown: the root's usage and options, then one `##` per command."""
    result = subprocess.run(
        [sys.executable, "-m", "typer", "mlprod_cli.main", "utils", "docs", "--name", "mlprod"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"typer utils docs failed: {result.stderr.strip()}")
    # Typer's first line is `# \`mlprod\``: the page has its own title.
    lines = result.stdout.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip() + "\n"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())

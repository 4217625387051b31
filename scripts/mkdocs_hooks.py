"""MkDocs hooks (`hooks:` in mkdocs.yml): the CLI reference, generated from the Typer app.

`docs/reference/cli.md` holds a marker; at build time it is replaced by what Typer's own
`typer mlprod_cli.main utils docs` writes for the app (every command, argument, option and
default, from the same objects `mlprod` runs), so the reference cannot drift from the code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

MARKER = "<!-- mlprod: cli-reference -->"
COMMAND_ITEM = re.compile(r"^\* `(?P<name>[\w-]+)`: .*$", flags=re.MULTILINE)


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
    return link_commands("\n".join(lines).strip() + "\n")


def link_commands(markdown: str) -> str:
    """The root's command list, each item a link to its section with its whole first line
    (Typer cuts the summaries at 45 characters)."""
    import typer

    from mlprod_cli.main import app

    commands = typer.main.get_group(app).commands

    def item(match: re.Match[str]) -> str:
        name = match.group("name")
        summary = commands[name].get_short_help_str(limit=200)
        return f"* [`{name}`](#mlprod-{name}): {summary}"

    head, separator, rest = markdown.partition("**Commands**:")
    listing, blank, tail = rest.partition("\n\n## ")
    return head + separator + COMMAND_ITEM.sub(item, listing) + blank + tail


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, cli_reference())

"""Prune what must not ship in a freshly generated project."""

import sys
from pathlib import Path

from mlprod_cli.hooks import post_generate

sys.exit(post_generate(Path.cwd()))

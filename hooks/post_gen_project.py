"""Put the chosen variants' files in place; prune what must not ship."""

import json
import sys
from pathlib import Path

from mlprod_cli.hooks import post_generate

context = json.loads({{cookiecutter | jsonify | tojson}})
sys.exit(post_generate(Path.cwd(), context))

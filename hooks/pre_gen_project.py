"""Stop before anything is written when an answer cannot give a working project."""

import json
import sys

from mlprod_cli.hooks import pre_generate

context = json.loads({{cookiecutter | jsonify | tojson}})
sys.exit(pre_generate(context))

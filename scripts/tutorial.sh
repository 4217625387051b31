#!/usr/bin/env bash
# Replay docs/tutorial.md ("From a notebook to production") and keep every command's output,
# so the page can be refreshed with real figures from your machine.
#
#   scripts/tutorial.sh [WORKDIR]        # default: /tmp/mlprod-tutorial (made anew)
#
# Needs mlprod installed in this checkout (`make install`: .venv/bin/mlprod with its loadtest
# extra). The image step needs a container engine (`eval "$(../shared/tools/oci-engine start)"`
# or Docker); without one, `mlprod package` says so and builds the rest. Servers listen on
# 127.0.0.1 only and are stopped, by their pid, before the script ends. Each step's command and
# output go to WORKDIR/transcript/NN-name.txt; paste them into docs/tutorial.md, trimming long
# output with a visible `...`. Not run in CI: it installs packages and takes several minutes.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-/tmp/mlprod-tutorial}
PROJECT=tumour-classifier
export PATH="$REPO/.venv/bin:$PATH"

rm -rf "$WORK" && mkdir -p "$WORK/transcript"
cd "$WORK"
step=0
server_pid=

container=
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
  if [ -n "$container" ]; then
    docker rm -f "$container" >/dev/null 2>&1 || true
    container=
  fi
}
trap stop_server EXIT

# run NAME COMMAND...: print `$ COMMAND` and its output (stdout and stderr) to the terminal
# and to the transcript; the command runs in the current folder.
run() {
  local name=$1
  shift
  step=$((step + 1))
  local file
  file=$(printf '%s/transcript/%02d-%s.txt' "$WORK" "$step" "$name")
  {
    echo "\$ $*"
    bash -c "$*" 2>&1
  } | tee "$file"
  return "${PIPESTATUS[0]}"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_ready() {
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0
    sleep 0.5
  done
  echo "the server on port $1 did not become ready" >&2
  return 1
}

# 1. The notebook, in an environment of its own.
cp "$REPO/docs/tutorial/notebook.py" .
run notebook-env "python3 -m venv notebook-env && notebook-env/bin/pip install --quiet scikit-learn pandas"
run notebook "notebook-env/bin/python notebook.py"

# 2. The project.
run new "mlprod new --no-input --set project_name='Tumour Classifier' --set task=classification --set framework=sklearn"
cd "$PROJECT"
run install "python3 -m venv .venv && .venv/bin/pip install --quiet -e '.[api,dev,train]'"

# 3. The notebook's data and model brought in: the CSV, [tool.mlprod.data] and the params.
run bring-data "mv ../breast_cancer.csv data/ && git rm --quiet data/iris.csv"
python3 - <<'EOF'
from pathlib import Path

pyproject = Path("pyproject.toml")
text = pyproject.read_text()
text = text.replace('path = "data/iris.csv"', 'path = "data/breast_cancer.csv"')
text = text.replace('target = "species"', 'target = "diagnosis"')
text = text.replace("max_iter = 1000", "C = 0.5\nmax_iter = 5000")
text = text.replace("min_accuracy = 0.9", "min_accuracy = 0.95\nmin_roc_auc = 0.98")
pyproject.write_text(text)
EOF
run show-config "sed -n '/^\[tool.mlprod.data\]/,/^\[tool.ruff\]/p' pyproject.toml | grep -v '^#' | grep -v '^\[tool.ruff\]'"
run dry-run ".venv/bin/$PROJECT train --dry-run"
run train ".venv/bin/$PROJECT train"
run tests ".venv/bin/pytest -q -m 'not serving' 2>&1 | tail -3"
run commit "git add -A && git commit --quiet -m 'The notebook model, on the breast-cancer data' && git log --oneline | head -2"

# 4. Serve it and ask.
port=$(free_port)
PORT=$port UWSGI_PROCESSES=2 .venv/bin/uwsgi --ini uwsgi.ini >"$WORK/uwsgi-1.log" 2>&1 &
server_pid=$!
wait_ready "$port"
run serve "echo '.venv/bin/uwsgi --ini uwsgi.ini   # in another terminal; here PORT=$port UWSGI_PROCESSES=2'"
example=$(curl -s "http://127.0.0.1:$port/v1/model" | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["input_schema"]["example"]))')
echo "{\"instances\": [$example], \"return_probabilities\": true}" >request.json
run predict "curl -s localhost:$port/v1/predict -H 'Content-Type: application/json' -d @request.json"
run bad-request "curl -s localhost:$port/v1/predict -H 'Content-Type: application/json' -d '{\"instances\": [{\"mean_radius\": \"big\"}]}'"
stop_server

# 5. Under load: mlprod starts the project's own server on a free loopback port.
run loadtest "mlprod loadtest --users 4 --duration 10s --warmup 2s --max-error-rate 0"

# 6. A new model version: bump, a gradient-boosted model, train.
run bump "mlprod bump minor"
python3 - <<'EOF'
from pathlib import Path

estimator = next(Path("src").glob("*/model/estimator.py"))
text = estimator.read_text()
text = text.replace(
    "from sklearn.linear_model import LogisticRegression\n",
    "from sklearn.ensemble import HistGradientBoostingClassifier\n",
)
text = text.replace("from sklearn.pipeline import make_pipeline\n", "")
text = text.replace("from sklearn.preprocessing import StandardScaler\n", "")
text = text.replace(
    "return make_pipeline(StandardScaler(), LogisticRegression(**params))",
    "return HistGradientBoostingClassifier(**params)",
)
estimator.write_text(text)
pyproject = Path("pyproject.toml")
pyproject.write_text(
    pyproject.read_text().replace("C = 0.5\nmax_iter = 5000", "max_iter = 200\nlearning_rate = 0.1")
)
EOF
run estimator-diff "git diff --stat && git diff src/*/model/estimator.py | grep '^[-+][^-+]'"
run train-2 ".venv/bin/$PROJECT train"
run models ".venv/bin/$PROJECT models"

# 7. Package: sdist, wheel, model bundle, SHA256SUMS and the image (when an engine answers).
run package "mlprod package"
if docker version >/dev/null 2>&1; then
  port=$(free_port)
  container=tumour
  run image-run "docker run -d --name tumour --network host -e HOST=127.0.0.1 -e PORT=$port -e UWSGI_PROCESSES=2 $PROJECT:0.2.0"
  wait_ready "$port"
  run image-ready "curl -s localhost:$port/health/ready"
  run image-predict "curl -s localhost:$port/v1/predict -H 'Content-Type: application/json' -d @request.json"
  run image-rm "docker rm -f tumour"
  container=
fi

# 8. Serve the new version, then roll back to the previous one without stopping the server.
port=$(free_port)
PORT=$port UWSGI_PROCESSES=2 .venv/bin/uwsgi --ini uwsgi.ini >"$WORK/uwsgi-2.log" 2>&1 &
server_pid=$!
wait_ready "$port"
run served-version "curl -s localhost:$port/v1/model | python3 -c 'import json, sys; m = json.load(sys.stdin); print(m[\"name\"], m[\"version\"], m[\"metrics\"])'"
run rollback ".venv/bin/$PROJECT serve-version 0.1.0"
for _ in $(seq 1 120); do
  grep -q 'chain reloading complete' "$WORK/uwsgi-2.log" && break
  sleep 0.5
done
run after-rollback "curl -s localhost:$port/v1/predict -H 'Content-Type: application/json' -d @request.json"
run uwsgi-log "grep -E 'chain reload' '$WORK/uwsgi-2.log' | tail -3"
stop_server
echo "transcripts in $WORK/transcript"

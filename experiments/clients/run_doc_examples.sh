#!/usr/bin/env bash
# Runs the three client examples of docs/install_and_clients.md exactly as written, each with the
# interpreter of a venv that has that library (defaults: the venvs experiments/clients/install.sh made).
# Usage: experiments/clients/run_doc_examples.sh > experiments/clients/doc_examples.txt
set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
SB3_PYTHON=${SB3_PYTHON:-/work/venv/bin/python}
TIANSHOU_PYTHON=${TIANSHOU_PYTHON:-/work/venv-i26/bin/python}
AGILERL_PYTHON=${AGILERL_PYTHON:-/work/venv-i26-agilerl/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each ```python block under a "## " heading, written to a file named after the heading.
python3 - "$repo/docs/install_and_clients.md" "$work" <<'PY'
import re, sys
text, out = open(sys.argv[1]).read(), sys.argv[2]
names = {"Stable-Baselines3 through SuperSuit": "example_sb3", "Tianshou 2.x": "example_tianshou", "AgileRL": "example_agilerl"}
section = None
for heading, code in re.findall(r"^## (.+?)$|```python\n(.*?)```", text, flags=re.S | re.M):
    if heading:
        section = heading
    elif section in names:
        open(f"{out}/{names[section]}.py", "w").write(code)
PY
for pair in "example_sb3 $SB3_PYTHON" "example_tianshou $TIANSHOU_PYTHON" "example_agilerl $AGILERL_PYTHON"; do
    set -- $pair
    echo "== $1 ($2)"
    start=$(date +%s)
    (cd "$work" && PYTHONPATH="$repo" timeout 1800 "$2" "$1.py" > "$1.log" 2>&1)
    status=$?
    grep -v "only 1D sequences" "$work/$1.log" | tail -3
    echo "exit code $status, $(( $(date +%s) - start )) s"
done

#!/usr/bin/env bash
# Installs one client library next to the game's core in a venv of its own, and times the install.
# Usage: experiments/clients/install.sh VENV "PIP REQUIREMENTS..."   e.g. /work/venv-i26 "tianshou==2.0.1"
set -uo pipefail
venv=$1; shift
repo=$(cd "$(dirname "$0")/../.." && pwd)
python3 -m venv "$venv" && source "$venv/bin/activate"
python -m pip install --quiet --upgrade pip 2>/dev/null
start=$(date +%s)
echo "+ pip install torch==2.13.0 && pip install $* $repo"
pip install --quiet torch==2.13.0 2>&1 | grep -v "^WARNING: Location" | tail -5
pip install --quiet "$@" "$repo" 2>&1 | grep -v "^WARNING: Location" | tail -20
echo "install: $(( $(date +%s) - start )) s (status ${PIPESTATUS[0]}); $(python --version)"
pip list 2>/dev/null | grep -iE '^(tianshou|agilerl|torch|gymnasium|pettingzoo|numpy|smartpay-marl|ray) '

#!/usr/bin/env bash
# Runs the README's two set-up commands from a fresh clone, each in a fresh virtual environment.
#   main: the command as written, with the training stopped by Ctrl-C (SIGINT) after TRAIN_SECONDS.
#   test: the install part only, then a small subset of the tests (the full suite is CI's job).
# Usage: experiments/install/readme_commands.sh [main|test|both] > experiments/install/readme_commands.txt
set -uo pipefail
which=${1:-both}
repo=$(cd "$(dirname "$0")/../.." && pwd)
TRAIN_SECONDS=${TRAIN_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

readme_command() {  # the code block after the <!-- $1 --> marker, as .ci/run reads it
    awk -v marker="<!-- $1 -->" '$0 == marker {found=1; next} found && /^```bash/{inside=1; next} inside && /^```/{exit} inside{print}' "$repo/README.md"
}

fresh_clone() {  # a clone of the committed HEAD and a fresh venv in it
    git clone --quiet "$repo" "$work/$1" && cd "$work/$1" && python3 -m venv .venv && source .venv/bin/activate
    python -m pip install --quiet --upgrade pip
    echo "commit $(git rev-parse --short HEAD), $(python --version)"
}

if [ "$which" = main ] || [ "$which" = both ]; then
    (
        command=$(readme_command main-command)
        echo "== main command: $command"
        fresh_clone main
        install=${command%% && smartpay-marl train*}
        start=$(date +%s)
        eval "$install" > install.log 2>&1 || { tail -20 install.log; exit 1; }
        echo "install: $(( $(date +%s) - start )) s; packages: $(pip list 2>/dev/null | tail -n +3 | wc -l)"
        pip list 2>/dev/null | grep -iE '^(ray|torch|gymnasium|pettingzoo|scipy|matplotlib|fastapi) '
        train=${command#"$install && "}
        echo "+ timeout --preserve-status -s INT $TRAIN_SECONDS $train"
        timeout --preserve-status -s INT "$TRAIN_SECONDS" bash -c "$train" 2>&1 | tail -8
        echo "train exit code: ${PIPESTATUS[0]} (130: stopped by the Ctrl-C sent after $TRAIN_SECONDS s, as intended)"
        ls runs/
    )
fi

if [ "$which" = test ] || [ "$which" = both ]; then
    (
        command=$(readme_command test-command)
        echo "== test command: $command"
        fresh_clone test
        install=${command%% && python -m pytest*}
        start=$(date +%s)
        eval "$install" > install.log 2>&1 || { tail -20 install.log; exit 1; }
        echo "install: $(( $(date +%s) - start )) s; packages: $(pip list 2>/dev/null | tail -n +3 | wc -l)"
        pip list 2>/dev/null | grep -iE '^(ray|torch|gymnasium|pettingzoo|supersuit|stable.baselines3|open.spiel|pyarrow|schemathesis|httpx|mkdocs-material) '
        subset="tests/game/test_determinism.py tests/game/test_wrappers.py tests/league/test_cli_extras.py tests/clients/test_supersuit_sb3.py"
        echo "+ python -m pytest -q $subset"
        python -m pytest -q $subset 2>&1 | tail -5
    )
fi

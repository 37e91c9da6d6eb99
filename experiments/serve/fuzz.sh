#!/usr/bin/env bash
# The long schemathesis run of issue 22: about 2 minutes, 2 workers, every check, against the real server
# process on loopback, with the baseline hooks of tests/league/serving/schemathesis_baseline.py.
#
#   bash experiments/serve/fuzz.sh [PORT] [SECONDS] [OUT]   (defaults 8722, 120, experiments/serve/fuzz.txt)
#
# SERVER_ARGS overrides the server's limits (default: room for every session the fuzzer opens, idle sessions
# reclaimed at once, so that schema-valid POST /sessions reach the game instead of a 429).
# Writes OUT: the command, the machine, schemathesis' report, and what the server logged (every traceback
# would be there).
set -euo pipefail
port=${1:-8722}
seconds=${2:-120}
out=${3:-experiments/serve/fuzz.txt}
server_args=${SERVER_ARGS:---max-sessions 64 --max-sessions-per-client 64 --reclaim-idle 0}
server_log=$(mktemp)
export PYTHONPATH=$PWD
# shellcheck disable=SC2086  # the limits are separate words
python -m league.cli serve --port "$port" --log-level warning $server_args >"$server_log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$server_log"' EXIT
for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.5
done
command=(schemathesis --config-file tests/league/serving/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" --checks all --workers 2 --max-time "$seconds" --seed 2222)
{
    echo "command: SCHEMATHESIS_HOOKS=tests.league.serving.schemathesis_baseline ${command[*]}"
    echo "server: python -m league.cli serve --port $port --log-level warning $server_args"
    echo "machine: $(nproc) CPU cores, shared with other work (load average at start: $(cut -d' ' -f1-3 /proc/loadavg)); $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
} >"$out"
status=0
SCHEMATHESIS_HOOKS=tests.league.serving.schemathesis_baseline "${command[@]}" --no-color >>"$out" 2>&1 || status=$?
{
    echo
    echo "schemathesis exit status: $status"
    echo "server log lines: $(wc -l <"$server_log"); tracebacks: $(grep -c Traceback "$server_log" || true); 500 answers logged: $(grep -c 'failed' "$server_log" || true)"
    echo "--- server log (last 40 lines) ---"
    tail -40 "$server_log"
} >>"$out"
exit $status

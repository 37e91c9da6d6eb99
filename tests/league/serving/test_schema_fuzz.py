"""Schemathesis against the real server process on loopback: the server keeps its own OpenAPI contract.

A short, seeded run of every phase (the schema's examples, boundary coverage,
random fuzzing, stateful sequences that open sessions and play them) with the
checks the contract is about: no server error, only documented statuses,
replies that match their schema, schema-invalid data refused and
schema-valid data accepted. The accepted failures and why are in
``schemathesis_baseline.py``; ``experiments/serve/fuzz.sh`` runs the same for
about two minutes with two workers and every check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.league.serving.conftest import REPO, start_server, stop_server

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance"
#: The fuzzing server: room for every session the fuzzer opens, idle ones reclaimed at once, so that a schema-valid
#: POST /sessions reaches the game rather than a 429.
FUZZ_SERVER_ARGS = ["--max-sessions", "64", "--max-sessions-per-client", "64", "--reclaim-idle", "0"]


def schemathesis_command() -> list[str]:
    found = shutil.which("schemathesis") or str(Path(sys.executable).with_name("schemathesis"))
    if not Path(found).exists():
        pytest.skip("schemathesis is not installed (it is in the dev extra)")
    return [found]


def test_the_server_keeps_its_openapi_contract_under_schemathesis():
    command = schemathesis_command()
    process, url = start_server(FUZZ_SERVER_ARGS)
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO), "SCHEMATHESIS_HOOKS": "tests.league.serving.schemathesis_baseline"}
        completed = subprocess.run(
            [*command, "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", "15", "--max-time", "25",
             "--workers", "1", "--seed", "22", "--no-color"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    finally:
        stop_server(process)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    # Every generated case passed (a warning, such as one about many 4xx answers, may still be printed).
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) >= 200, output[-3000:]
    assert "Stateful" in output and "Failures:" not in output and "Errors:" not in output, output[-3000:]

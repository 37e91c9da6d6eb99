"""The regime comparison pipeline runs end to end at the smoke scale and its report holds every section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.ray
@pytest.mark.slow
def test_regime_pipeline_runs_and_resumes_at_smoke_scale(tmp_path):
    command = [
        sys.executable, str(ROOT / "experiments" / "regimes" / "run.py"), "--config", str(ROOT / "configs" / "smoke.yaml"),
        "--regimes", "self_play", "pfsp", "--seeds", "0", "--budget", "800", "--br-budget", "400",
        "--episodes", "8", "--eval-points", "2", "--output", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=tmp_path, timeout=900, capture_output=True)
    report = (tmp_path / "report.md").read_text()
    sys.path.insert(0, str(ROOT / "experiments" / "regimes"))
    try:
        from run import SECTIONS
    finally:
        sys.path.pop(0)
    for section in SECTIONS:
        assert section in report, section
    for regime in ("self_play", "pfsp"):
        assert f"| {regime} |" in report
    for figure in ("exploitability.png", "learning_curves.png", "best_response_curves.png"):
        assert (tmp_path / figure).stat().st_size > 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["rows"]) == {"self_play", "pfsp"}
    exploit = json.loads((tmp_path / "runs" / "pfsp-s0" / "eval" / "exploit_router_main.json").read_text())
    assert exploit["budget"] == 400 and len(exploit["seeds"][0]["curve"]) >= 2
    assert exploit["value_source"] == "given (--value)"  # the study's common value, passed as an argument
    assert not (tmp_path / "runs" / "pfsp-s0" / "eval" / "payoff.json").exists()
    # A second run reuses every finished piece: nothing is trained again.
    before = (tmp_path / "runs" / "pfsp-s0" / "done").stat().st_mtime
    second = subprocess.run(command, check=True, cwd=tmp_path, timeout=900, capture_output=True, text=True)
    assert "train " not in second.stdout and "best response to" not in second.stdout
    assert (tmp_path / "runs" / "pfsp-s0" / "done").stat().st_mtime == before


def test_every_regime_of_the_study_is_a_valid_training_config():
    """Each regime name maps to a config the trainer accepts; pfsp_sp is pfsp plus AlphaStar's self-play share."""
    from league.core.config import make_train_config

    sys.path.insert(0, str(ROOT / "experiments" / "regimes"))
    try:
        from run import ALPHASTAR_SELF_PLAY_SHARE, REGIME_NOTES, REGIMES, base_config, regime_config
    finally:
        sys.path.pop(0)
    assert set(REGIMES) == set(REGIME_NOTES)
    base = base_config(ROOT / "configs" / "quickstart.yaml", None)
    configs = {regime: make_train_config(regime_config(regime, 0, 2_048_000, base)).league for regime in REGIMES}
    assert configs["pfsp_sp"].regime.value == "pfsp"
    assert configs["pfsp_sp"].main_self_play_share == ALPHASTAR_SELF_PLAY_SHARE
    assert configs["pfsp"].main_self_play_share == 0.0
    assert configs["pfsp_sp"].num_main_exploiters == configs["pfsp"].num_main_exploiters == 1


def test_population_exploitability_takes_the_best_opponent_in_the_cross_play():
    sys.path.insert(0, str(ROOT / "experiments" / "regimes"))
    try:
        from run import population_exploitability
    finally:
        sys.path.pop(0)
    crossplay = {
        "routers": ["a/router_main", "rules"],
        "fraudsters": ["a/fraudster_main", "neutral"],
        "mean": [[25.0, 35.0], [30.0, 33.0]],  # router returns
        "value": 30.0,
    }
    assert population_exploitability(crossplay, "a/router_main") == 5.0  # its worst case is 25
    assert population_exploitability(crossplay, "rules") == 0.0
    assert population_exploitability(crossplay, "a/fraudster_main") == 0.0  # the best router gets 30 against it
    assert population_exploitability(crossplay, "neutral") == 5.0


def test_ranking_agreement_is_one_for_a_transitive_population_and_negative_for_a_cycle():
    sys.path.insert(0, str(ROOT / "experiments" / "regimes"))
    try:
        from run import ranking_agreement
    finally:
        sys.path.pop(0)
    names = {"routers": ["a/r", "b/r", "c/r"], "fraudsters": ["a/f", "b/f", "c/f"], "value": 0.0}
    transitive = [[3.0, 2.0, 1.5], [2.0, 1.0, 0.5], [1.0, 0.0, -0.5]]  # every fraudster ranks the routers a > b > c
    assert ranking_agreement(names | {"mean": transitive}) == (1.0, 1.0)
    cycle = [[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]]  # rock-paper-scissors
    router_agreement, fraudster_agreement = ranking_agreement(names | {"mean": cycle})
    assert router_agreement < 0 and fraudster_agreement < 0

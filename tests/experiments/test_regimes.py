"""The regime study: its configs, its numbers, and the whole pipeline at the smoke scale."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[2]
STUDY = ROOT / "experiments" / "regimes"


@pytest.fixture(scope="module")
def study_modules():
    sys.path.insert(0, str(STUDY))
    try:
        import study_config
        import study_diagnosis
        import study_phases
        import study_report
        import study_tables

        yield study_config, study_phases, study_tables, study_report, study_diagnosis
    finally:
        sys.path.remove(str(STUDY))


@pytest.mark.parametrize("game_name", ["medium", "displacement"])
def test_every_regime_is_a_valid_run_config_that_never_trains_against_the_held_out_players(study_modules, game_name):
    config_module = study_modules[0]
    from agents.registry import round_robin_players
    from league.core.config import make_train_config

    game = config_module.GAMES[game_name]
    budgets = config_module.Budgets(3_276_800, 409_600, 1_638_400, 128)
    base = config_module.base_config(game)
    configs = {r: make_train_config(config_module.regime_config(r, 0, budgets, base, game)) for r in config_module.REGIMES}
    assert set(config_module.REGIMES) == set(config_module.REGIME_NOTES)
    pfsp = configs["pfsp"].league
    assert pfsp.main_self_play_share == 0.35 and pfsp.main_verification_share == 0.15  # AlphaStar's default branches
    assert pfsp.num_main_exploiters == pfsp.num_league_exploiters == 1
    psro = configs["psro"].psro
    assert 2 * psro.epochs * psro.best_response_steps == budgets.league_steps
    for config in configs.values():
        assert config.game_config().displacement == (game_name == "displacement")
        if config.league.regime.value != "psro":
            assert config.iterations * config.ppo.train_batch_size == budgets.league_steps
        trained = {name.split(":", 1)[1] for name in config.league.scripted_opponents}
        assert not trained & (set(game.held_out_routers) | set(game.held_out_fraudsters))
    routers, fraudsters = round_robin_players(configs["fixed"].game_config())
    for side, players in (("router", routers), ("fraudster", fraudsters)):
        missing = set(game.held_out(side)) - {p.name for p in players} - set(game.training(side))
        assert not missing, f"{side}s {missing} are not players of the {game_name} round robin"


def test_paired_difference_uses_the_seeds_both_regimes_have(study_modules):
    tables = study_modules[2]
    difference = tables.paired_difference({0: 5.0, 1: 7.0, 2: 9.0}, {0: 4.0, 1: 5.0, 3: 100.0})
    assert difference.n == 2 and difference.mean == pytest.approx(1.5)
    assert difference.half_width == pytest.approx(tables.t_quantile(1) * np.std([1.0, 2.0], ddof=1) / math.sqrt(2))
    one = tables.Interval.of([3.0])
    assert one.text() == "+3.00" and one.overlaps(tables.Interval.of([1.0, 2.0])) is None
    assert tables.Interval.of([1.0, 1.1, 0.9]).overlaps(tables.Interval.of([5.0, 5.1, 4.9])) is False


def test_an_output_is_bounded_by_its_strongest_responder_against_the_common_value(study_modules):
    _, phases, tables, _, _ = study_modules
    game = study_modules[0].GAMES["medium"]
    routers = ["a/main", "risk_3ds_band", "velocity_rules", "risk_threshold", "smartpay_heuristic"]
    fraudsters = ["a/main", "fraud_surge", "stealth_fraud", "velocity_attack", "card_testing", "mixed", "max_everything"]
    matrix = np.full((len(routers), len(fraudsters)), 30.0)
    matrix[0, 2] = 26.0  # the router a/main's worst scripted opponent takes it 4 below 30
    matrix[3, 0] = 33.0  # the best router against the fraudster a/main gets 3 above 30
    oracle = tables.OracleRun("warm", final_return=24.0, best_return=23.0, flattened=True, env_steps=10, warm_start="x",
                              wall_s=1.0, curve=[(0, 28.0), (10, 24.0)], population_returns={"f": 29.0})  # fmt: skip
    router = tables.side_result("router", "a/main", {"warm": oracle}, matrix, routers, fraudsters, 30.0, game)
    assert router.exploitability == pytest.approx(6.0) and router.by == "oracle-warm"
    assert router.oracle_best_exploitability["warm"] == pytest.approx(7.0)
    # The same returns against another common value shift the exploitability by the difference: re-based, not re-trained.
    shifted = tables.side_result("router", "a/main", {"warm": oracle}, matrix, routers, fraudsters, 31.0, game)
    assert shifted.exploitability == pytest.approx(7.0)
    fraudster = tables.side_result("fraudster", "a/main", {}, matrix, routers, fraudsters, 30.0, game)
    assert fraudster.exploitability == pytest.approx(3.0) and fraudster.by == "study cross-play"
    assert fraudster.held_out_return == pytest.approx((33.0 + 30.0) / 2)  # risk_threshold, smartpay_heuristic


def test_ranking_agreement_is_one_for_a_transitive_population_and_negative_for_a_cycle(study_modules):
    tables = study_modules[2]
    names = ["a/main", "b/main", "c/main"]
    transitive = np.array([[3.0, 2.0, 1.5], [2.0, 1.0, 0.5], [1.0, 0.0, -0.5]])
    assert tables.ranking_agreement(transitive, names, names) == (1.0, 1.0)
    cycle = np.array([[0.0, 1.0, -1.0], [-1.0, 0.0, 1.0], [1.0, -1.0, 0.0]])  # rock-paper-scissors
    router_agreement, fraudster_agreement = tables.ranking_agreement(cycle, names, names)
    assert router_agreement < 0 and fraudster_agreement < 0


def test_the_diagnosis_finds_the_worst_case_the_last_doubling_and_the_cycles(study_modules):
    diagnosis = study_modules[4]
    routers = ["a-s0/main", "guard", "weak"]
    fraudsters = ["b-s0/main", "big", "small"]
    matrix = np.array([[20.0, -5.0, 25.0], [30.0, 33.0, 28.0], [10.0, 0.0, 12.0]])
    (case,) = diagnosis.worst_cases(matrix, routers, fraudsters)
    assert (case["opponent"], case["return"]) == ("big", -5.0)
    assert (case["best_scripted_router"], case["best_scripted_return"]) == ("guard", 33.0)
    assert case["best_scripted_worst_case"] == 28.0
    # The last doubling: the final point against the last point at or below half its steps.
    assert diagnosis.last_doubling_gain([(0, 1.0), (100, 3.0), (200, 4.0), (400, 9.0)]) == 5.0
    assert math.isnan(diagnosis.last_doubling_gain([(0, 1.0)]))
    rows = {"x": {"seeds": [0, 1], "main": {"router_exploitability": [3.0, 1.0], "nash_conv": [4.0, 0.0]}}}
    shares = diagnosis.side_split(rows, kinds=("main",))["main"]
    assert shares[0] == 0.75 and math.isnan(shares[1])
    # Matching pennies among the scripted players, additive strengths among the learned ones.
    names_r, names_f = ["p", "q", "l-s0/main", "m-s0/main"], ["p", "q", "l-s0/main", "m-s0/main"]
    game = np.array([[1.0, -1.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 3.0, 1.0], [0.0, 0.0, 2.0, 0.0]])
    share = diagnosis.cycles(game, names_r, names_f)
    assert share["scripted"] == pytest.approx(1.0) and share["learned"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.ray
@pytest.mark.slow
def test_the_study_runs_end_to_end_and_resumes_at_smoke_scale(tmp_path, study_modules):
    report_module = study_modules[3]
    command = [
        sys.executable, str(STUDY / "run.py"), "--game", "medium", "--config", str(ROOT / "configs" / "smoke.yaml"),
        "--regimes", "self_play", "pfsp", "psro", "--seeds", "0", "--batch", "400", "--budget", "800",
        "--psro-steps", "400", "--oracle-budget", "400", "--episodes", "8", "--output", str(tmp_path),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=tmp_path, timeout=1200, capture_output=True)
    report = (tmp_path / "report.md").read_text()
    for title, _ in report_module.SECTIONS:
        assert title in report, title
    for figure in ("exploitability.png", "learning_curves.png", "best_response_curves.png"):
        assert (tmp_path / figure).stat().st_size > 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["regimes"]) == {"self_play", "pfsp", "psro"}
    for regime, row in results["regimes"].items():
        for kind in ("main", "mixture"):
            for key in ("router_exploitability", "fraudster_exploitability", "nash_conv"):
                assert len(row[kind][key]) == 1 and math.isfinite(row[kind][key][0]), (regime, kind, key)
            for side in ("router", "fraudster"):
                assert set(row[kind][side]["flattened"][0]) == {"warm", "cold"}
            assert row[kind]["nash_conv"][0] == pytest.approx(
                row[kind]["router_exploitability"][0] + row[kind]["fraudster_exploitability"][0])
    assert {"pfsp/main", "psro/mixture"} <= set(results["comparisons"])
    assert set(results["diagnosis"]) >= {"router_share_of_nash_conv", "worst_cases", "cyclic_share"}
    cold = tmp_path / "pieces" / "psro-s0" / "eval" / "oracle-cold"
    assert any(cold.glob("exploit_*.json")), "the oracle's files are copied next to the report"
    # A second run reuses every finished piece: nothing is trained or played again.
    second = subprocess.run(command, check=True, cwd=tmp_path, timeout=1200, capture_output=True, text=True)
    assert "train " not in second.stdout and "oracle (" not in second.stdout and "cross-play:" not in second.stdout


def test_router_ceiling_plays_its_memoryless_rules_against_every_scripted_ring_and_reports_every_seed(study_modules):
    import argparse

    sys.path.insert(0, str(STUDY))
    import router_ceiling

    from smartpay_marl.config import make_game_config

    game = make_game_config(**study_modules[0].GAMES["displacement"].game())
    rules = router_ceiling.memoryless_rules(game, "displacement", "big_ticket", episodes=4)
    rings = set(study_modules[0].GAMES["displacement"].scripted("fraudster"))
    assert set(rules) == {f"{rule}_every_big_ticket" for rule in router_ceiling.MEMORYLESS_RULES}
    assert all(set(returns) == rings and all(map(math.isfinite, returns.values())) for returns in rules.values())
    assert router_ceiling.memoryless_rules(make_game_config(difficulty="medium"), "medium", "big_ticket") == {}
    curve = [{"env_steps": 0, "router_return": -1.0}, {"env_steps": 10, "router_return": 2.5}]
    result = {"seeds": [{"seed": s, "curve": curve, "flattened": False} for s in (0, 1)], "memoryless_rules": rules}
    args = argparse.Namespace(ring="fraud_surge", game="displacement", budget=10, seeds=[0, 1], channel="big_ticket")
    text = router_ceiling.report(args, result, {"guard_big_ticket": 30.0, "fixed-s0/main": 5.0}, 60.0)
    assert "| 10 | +2.50 | +2.50 |" in text and "mean +2.50" in text and "`challenge_every_big_ticket`" in text
    assert "learned main routers (1): mean +5.00" in text

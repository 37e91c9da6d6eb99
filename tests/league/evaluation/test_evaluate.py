"""Restoring league players without Ray, cross-play evaluation, the meta-game tables and the report files.

The meta-game tests use synthetic payoff matrices with known answers; the rest
use a tiny league trained from configs/smoke.yaml on a local Ray instance.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from league.evaluation.evaluate import CrossPlay, Settings, _thin_snapshots, analyse_meta_game, fit_ratings
from league.evaluation.loading import PlayerRecord

SMOKE = Path(__file__).parents[3] / "configs" / "smoke.yaml"
ROUTERS_RPS = ["rock", "paper", "scissors"]


# ---------------------------------------------------------------------- meta-game tables (no Ray)


def test_rock_paper_scissors_has_uniform_nash_and_value_zero():
    matrix = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    meta = analyse_meta_game(matrix, ROUTERS_RPS, ["f_rock", "f_paper", "f_scissors"])
    assert meta.value == pytest.approx(0.0, abs=1e-8)
    np.testing.assert_allclose(meta.router_nash, [1 / 3] * 3, atol=1e-6)
    np.testing.assert_allclose(meta.fraudster_nash, [1 / 3] * 3, atol=1e-6)
    np.testing.assert_allclose(meta.router_regret, 0.0, atol=1e-6)
    np.testing.assert_allclose(meta.fraudster_regret, 0.0, atol=1e-6)
    # Every pure strategy loses 1 to its counter, which the population contains.
    np.testing.assert_allclose(meta.router_exploitability, 1.0, atol=1e-6)
    np.testing.assert_allclose(meta.fraudster_exploitability, 1.0, atol=1e-6)
    assert meta.uniform_nash_conv == pytest.approx(0.0, abs=1e-9)
    assert meta.exploitability_of("paper") == pytest.approx(1.0, abs=1e-6)


def test_dominated_router_gets_no_weight_and_its_regret():
    rps = [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]]
    matrix = np.array([*rps, [-0.5, -0.5, -0.5]])  # "dud" loses 0.5 to everything
    meta = analyse_meta_game(matrix, [*ROUTERS_RPS, "dud"], ["f0", "f1", "f2"])
    assert meta.value == pytest.approx(0.0, abs=1e-8)
    assert meta.router_nash[3] == pytest.approx(0.0, abs=1e-8)
    assert meta.router_regret[3] == pytest.approx(0.5, abs=1e-6)
    assert meta.exploitability_of("dud") == pytest.approx(0.5, abs=1e-6)
    np.testing.assert_allclose(meta.router_regret[:3], 0.0, atol=1e-6)


def test_pure_saddle_point():
    # Router 0 dominates router 1; fraudster 0 holds router 0 to 3, the saddle point.
    matrix = np.array([[3.0, 5.0], [1.0, 4.0]])
    meta = analyse_meta_game(matrix, ["r0", "r1"], ["f0", "f1"])
    assert meta.value == pytest.approx(3.0, abs=1e-8)
    np.testing.assert_allclose(meta.router_nash, [1.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(meta.fraudster_nash, [1.0, 0.0], atol=1e-8)
    np.testing.assert_allclose(meta.router_regret, [0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(meta.fraudster_regret, [0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(meta.router_exploitability, [0.0, 2.0], atol=1e-6)
    np.testing.assert_allclose(meta.fraudster_exploitability, [0.0, 2.0], atol=1e-6)
    assert meta.uniform_nash_conv == pytest.approx(4.0 - 2.0)  # max_i (A y)_i - min_j (x A)_j for uniform x, y


def test_meta_game_rejects_mismatched_names_and_unknown_players():
    with pytest.raises(ValueError, match="does not fit"):
        analyse_meta_game(np.zeros((2, 2)), ["r0"], ["f0", "f1"])
    meta = analyse_meta_game(np.zeros((1, 1)), ["r0"], ["f0"])
    with pytest.raises(KeyError, match="r0"):
        meta.exploitability_of("nobody")


def test_bradley_terry_orders_players_by_soft_wins():
    wins = np.array([[0.9, 0.7], [0.5, 0.2]])  # r_strong beats everyone more often; f_strong wins more
    play = CrossPlay(["r_strong", "r_weak"], ["f_weak", "f_strong"], wins * 10, wins, wins, wins, 100, 0, 0.0)
    ratings = fit_ratings(play)
    assert ratings.elo[ratings.index("r_strong")] > ratings.elo[ratings.index("r_weak")]
    assert ratings.elo[ratings.index("f_strong")] > ratings.elo[ratings.index("f_weak")]
    assert ratings.win_probability("r_strong", "f_weak") == pytest.approx(0.9, abs=0.05)


def test_thinning_keeps_evenly_spaced_snapshots_and_the_newest():
    snapshots = [PlayerRecord(f"router_main@it{i}", "router", "historical", i, "") for i in range(1, 11)]
    main = PlayerRecord("router_main", "router", "main", 10, "")
    kept = _thin_snapshots([main, *snapshots], 3)
    assert [r.name for r in kept] == ["router_main", "router_main@it1", "router_main@it5", "router_main@it10"]
    assert _thin_snapshots(snapshots, None) == snapshots


def test_reproduce_command_parses_back_to_the_same_settings():
    import argparse

    from league.evaluation.evaluate import add_arguments

    settings = Settings("runs/my run", 64, 7, {"router": ["risk_threshold"], "fraudster": []}, 5, 512,
                        "out dir", {}, {"reference": 0.0, "scale": 1.0})  # fmt: skip
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(shlex.split(settings.command())[2:])
    assert (args.run_dir, args.episodes, args.seed, args.max_snapshots, args.max_envs, args.output) == (
        "runs/my run", 64, 7, 5, 512, "out dir"
    )
    assert args.router_baselines == ["risk_threshold"] and args.fraudster_baselines == []


# ---------------------------------------------------------------------- a tiny trained league


def observations_from_env(role: str, count: int = 256, seed: int = 3) -> np.ndarray:
    """Observations of ``role`` from a few steps of the smoke game under random play."""
    import smartpay_marl
    from agents.base import RandomPolicy
    from smartpay_marl.layout import AGENT_OF_ROLE
    from smartpay_marl.layout import FRAUDSTER, ROUTER

    env = smartpay_marl.vector_env(64, difficulty="medium", max_cycles=100)
    router, fraudster = RandomPolicy("router", seed=seed), RandomPolicy("fraudster", seed=seed + 1)
    observations, _ = env.reset(seed=seed)
    seen = []
    while sum(len(batch) for batch in seen) < count:
        seen.append(observations[AGENT_OF_ROLE[role]])
        actions = {ROUTER: router.act(observations[ROUTER]), FRAUDSTER: fraudster.act(observations[FRAUDSTER])}
        observations, *_ = env.step(actions)
    return np.concatenate(seen)[:count]


def train_tiny_run(run_dir: Path, iterations: int = 2):
    """A smoke league trained ``iterations`` times in ``run_dir``, checkpointed; returns (runtime, algorithm).

    Ray must be running. Writes ``progress.csv`` as ``smartpay-marl train`` does.
    """
    from league.rllib.runtime import LeagueRuntime
    from league.core.state import LeagueState
    from league.rllib.progress import PROGRESS_FIELDS
    from league.rllib.train import run_iteration
    from league.core.config import load_train_config

    config = load_train_config(SMOKE, iterations=iterations)
    runtime = LeagueRuntime(config, run_dir, LeagueState.new(config.league))
    runtime.write_run_files()
    algorithm = runtime.algorithm_config().build_algo()
    rows = [run_iteration(runtime, algorithm, 0.0) for _ in range(iterations)]
    runtime.save_checkpoint(algorithm)
    with (run_dir / "progress.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=PROGRESS_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return runtime, algorithm


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke league trained for 2 iterations: snapshots @it1 and @it2 per side, a checkpoint at iteration 2."""
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    runtime, algorithm = train_tiny_run(tmp_path_factory.mktemp("league") / "run")
    yield runtime, algorithm
    algorithm.stop()
    if started:
        ray.shutdown()


@pytest.fixture
def run_copy(trained, tmp_path):
    """A copy of the trained run directory that a test may break."""
    runtime, _ = trained
    copy = tmp_path / "run"
    shutil.copytree(runtime.run_dir, copy, ignore=shutil.ignore_patterns("eval"))
    return copy


@pytest.mark.ray
@pytest.mark.parametrize("name", ["router_main", "fraudster_main"])
def test_restored_modules_act_like_the_live_algorithm(trained, name):
    from agents.learned import ModulePolicy
    from league.evaluation.loading import load_player, open_run

    runtime, algorithm = trained
    run = open_run(runtime.run_dir)
    role = runtime.state.player(name).role.value
    observations = observations_from_env(role)
    live_learner = runtime.learner_policy(algorithm, name)  # learner weights in a freshly built module
    live_runner = ModulePolicy(algorithm.get_module(name), name=name, role=role)  # the local env runner's module
    expected = live_learner.act(observations)
    assert len(np.unique(expected, axis=0)) > 1, "the observations should not all map to one action"
    np.testing.assert_array_equal(live_runner.act(observations), expected)
    for restored_name in (name, f"{name}@it2"):  # from checkpoints/latest, and the snapshot of the same iteration
        restored = load_player(run, restored_name)
        assert isinstance(restored, ModulePolicy) and restored.name == restored_name
        np.testing.assert_array_equal(restored.act(observations), expected)
        np.testing.assert_allclose(restored.logits(observations), live_learner.logits(observations), rtol=1e-6, atol=1e-6)


@pytest.mark.ray
def test_evaluate_writes_every_output_and_the_command_reproduces_it(trained):
    from league.evaluation.evaluate import run_evaluation
    from league.core.players import Role
    from league.cli import main as cli_main

    runtime, _ = trained
    baselines = {Role.ROUTER: ["risk_threshold"], Role.FRAUDSTER: ["fraud_surge"]}
    evaluation = run_evaluation(runtime.run_dir, episodes=8, seed=5, baselines=baselines, verbose=False)
    out = runtime.run_dir / "eval"
    for name in ("report.md", "payoff.json", "payoff.csv", "payoff_heatmap.png", "ratings.png", "learning_curves.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    # The snapshots @it2 were taken at the checkpoint's iteration: the same weights as the live mains
    # (see test_restored_modules_act_like_the_live_algorithm), so they are merged into them, not played twice.
    routers = ["router_scripted:risk_threshold", "router_main@it1", "router_main"]
    fraudsters = ["fraudster_scripted:neutral", "fraudster_scripted:fraud_surge", "fraudster_main@it1",
                  "fraudster_main"]  # fmt: skip
    assert evaluation.play.router_names == routers and evaluation.play.fraudster_names == fraudsters
    assert evaluation.population.same_as == {"router_main@it2": "router_main", "fraudster_main@it2": "fraudster_main"}
    document = json.loads((out / "payoff.json").read_text())
    assert [row["name"] for row in document["routers"]] == routers
    assert [row["name"] for row in document["fraudsters"]] == fraudsters
    matrix = np.array(document["router_return"]["mean"])
    assert matrix.shape == (3, 4) and np.isfinite(matrix).all()
    assert np.all(np.array(document["router_return"]["ci95_low"]) <= matrix)
    assert document["meta_game"]["value"] == pytest.approx(evaluation.meta.value)
    assert {"main_router_exploitability", "main_fraudster_exploitability"} <= set(document["meta_game"])
    assert sum(row["nash"] for row in document["routers"]) == pytest.approx(1.0)
    with (out / "payoff.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3 * 4
    report = (out / "report.md").read_text()
    # The report says which snapshots were merged into which live player.
    assert "Not repeated (same weights as the live player, restored from the same iteration)" in report
    assert "`fraudster_main@it2` is `fraudster_main`, `router_main@it2` is `router_main`" in report
    command = evaluation.settings.command()
    assert f"```\n{command}\n```" in report and "--episodes 8 --seed 5" in command
    for heading in ("## Main players", "## Meta-game", "## Payoff matrix", "BT Elo"):
        assert heading in report
    # Rerunning the reported command gives the same matrix: every pairing is seeded.
    (out / "payoff.json").unlink()
    assert cli_main([*shlex.split(command)[1:], "--quiet"]) == 0
    again = json.loads((out / "payoff.json").read_text())
    np.testing.assert_array_equal(np.array(again["router_return"]["mean"]), matrix)


@pytest.mark.ray
def test_evaluate_writes_the_nash_mixtures_and_plays_them_as_players(trained):
    from league.evaluation.evaluate import run_evaluation
    from league.evaluation.loading import load_player, open_run
    from league.evaluation.mixture import MixturePolicy, read_mixture

    runtime, _ = trained
    evaluation = run_evaluation(runtime.run_dir, episodes=8, seed=5, verbose=False)
    iteration = evaluation.iteration
    path = runtime.run_dir / "mixtures" / f"router_nash@{iteration}.json"
    mixture = read_mixture(path)
    weights = dict(zip(evaluation.meta.router_names, evaluation.meta.router_nash))
    # Live learners are named by their snapshot of the same iteration, so the mixture keeps its meaning.
    named = {evaluation.population.same_as.get(m, m) for m in mixture.members}
    assert not any(m in evaluation.population.same_as.values() for m in mixture.members)
    assert sum(mixture.weights) == pytest.approx(1.0) and named
    for member, weight in zip(mixture.members, mixture.weights):
        live = evaluation.population.same_as.get(member, member)
        assert weight == pytest.approx(weights[live] / sum(w for w in weights.values() if w >= 1e-4))
    player = load_player(open_run(runtime.run_dir), f"fraudster_nash@{iteration}")
    assert isinstance(player, MixturePolicy) and player.role == "fraudster"
    # As an extra player of an evaluation; the mixture is not re-solved into itself.
    again = run_evaluation(runtime.run_dir, episodes=8, seed=5, verbose=False, output=runtime.run_dir / "eval2",
                           extra_players=[f"router_nash@{iteration}"])  # fmt: skip
    assert again.play.router_names[-1] == f"router_nash@{iteration}"
    assert "--players router_nash@" in again.settings.command()


# ---------------------------------------------------------------------- clear errors


@pytest.mark.ray
def test_unknown_player_lists_the_known_players(trained):
    from league.evaluation.loading import RunLoadError, load_player, open_run

    run = open_run(trained[0].run_dir)
    with pytest.raises(RunLoadError, match=r"unknown player 'router_mian'.*known players: router_main, fraudster_main"):
        load_player(run, "router_mian")
    with pytest.raises(RunLoadError, match="agents.registry has"):
        load_player(run, "router_scripted:no_such_policy")
    assert load_player(run, "router_scripted:risk_threshold").name == "router_scripted:risk_threshold"


@pytest.mark.ray
def test_missing_run_files_name_the_path(run_copy, tmp_path):
    from league.evaluation.loading import RunLoadError, open_run

    with pytest.raises(RunLoadError, match="run directory not found"):
        open_run(tmp_path / "nowhere")
    (run_copy / "league_state.json").write_text('{"format_version": 1, "players": [')
    with pytest.raises(RunLoadError, match=r"league_state\.json.*not valid JSON"):
        open_run(run_copy)
    (run_copy / "league_state.json").unlink()
    with pytest.raises(RunLoadError, match=r"league_state\.json' does not exist"):
        open_run(run_copy)
    (run_copy / "config.yaml").unlink()
    with pytest.raises(RunLoadError, match=r"missing .*config\.yaml"):
        open_run(run_copy)


@pytest.mark.ray
def test_missing_or_partial_algorithm_checkpoint(run_copy):
    from league.evaluation.loading import LEARNER_MODULES, RunLoadError, load_player, open_run

    latest = run_copy / "checkpoints" / "latest"
    checkpoint = run_copy / "checkpoints" / latest.read_text().strip()
    shutil.rmtree(checkpoint / LEARNER_MODULES / "router_main")
    with pytest.raises(RunLoadError, match=r"not found: .*rl_module/router_main$"):
        load_player(open_run(run_copy), "router_main")
    shutil.rmtree(checkpoint / "learner_group")
    with pytest.raises(RunLoadError, match=r"iter_00002 is incomplete: missing learner_group"):
        open_run(run_copy)
    shutil.rmtree(checkpoint)
    with pytest.raises(RunLoadError, match=r"names 'iter_00002', but .* does not exist"):
        open_run(run_copy)
    latest.unlink()
    run = open_run(run_copy)  # without a checkpoint the snapshots still load ...
    assert load_player(run, "router_main@it1").name == "router_main@it1"
    with pytest.raises(RunLoadError, match=r"no algorithm checkpoint \(missing .*checkpoints/latest\)"):
        load_player(run, "router_main")  # ... but the learners cannot


def record_checksum(run_dir: Path, name: str) -> None:
    """Record the current checksum of snapshot ``name`` in the run's league state, as if it were saved so."""
    from agents.snapshot_format import snapshot_checksum
    from league.core.state import LeagueState

    path = run_dir / "league_state.json"
    state = LeagueState.load(path)
    assert name in state.snapshot_checksums, name
    state.snapshot_checksums[name] = snapshot_checksum(run_dir / "snapshots" / name)
    state.save(path)


@pytest.mark.ray
def test_partial_and_corrupt_snapshots_name_the_path(run_copy):
    from agents.snapshot_format import WEIGHTS_FILE
    from league.evaluation.loading import RunLoadError, load_player, open_run

    run = open_run(run_copy)
    (run_copy / "snapshots" / "router_main@it1" / WEIGHTS_FILE).unlink()
    with pytest.raises(RunLoadError, match=r"snapshots/router_main@it1 is incomplete: missing weights\.pt$"):
        load_player(run, "router_main@it1")
    weights = run_copy / "snapshots" / "fraudster_main@it1" / WEIGHTS_FILE
    weights.write_bytes(b"not a tensor file" * 10)
    with pytest.raises(RunLoadError, match=r"snapshots/fraudster_main@it1 does not match the checksum recorded"):
        load_player(run, "fraudster_main@it1")
    # Even with a matching checksum (say, the league state was edited too) the garbage is refused, by path.
    record_checksum(run_copy, "fraudster_main@it1")
    with pytest.raises(RunLoadError, match=r"fraudster_main@it1/weights\.pt are corrupt or unreadable"):
        load_player(open_run(run_copy), "fraudster_main@it1")
    shutil.rmtree(run_copy / "snapshots" / "router_main@it2")
    with pytest.raises(RunLoadError, match=r"not found: .*snapshots/router_main@it2$"):
        load_player(run, "router_main@it2")


@pytest.mark.ray
def test_module_for_another_game_version_is_refused(run_copy):
    from agents.snapshot_format import build_module, make_spec, save_snapshot
    from league.evaluation.loading import RunLoadError, load_player, open_run

    old_spec = {**make_spec("router", [32, 32]), "observation_size": 46}  # the game had 46 router observations once
    target = run_copy / "snapshots" / "router_main@it1"
    save_snapshot(build_module(old_spec), target, old_spec)  # replaces the snapshot directory
    with pytest.raises(RunLoadError, match=r"router_main@it1 does not match the checksum recorded"):
        load_player(open_run(run_copy), "router_main@it1")
    record_checksum(run_copy, "router_main@it1")  # a well-formed snapshot the league recorded: the space check refuses it
    with pytest.raises(RunLoadError, match=r"router_main@it1 expects router observations of shape \(46,\).*\(47,\)"):
        load_player(open_run(run_copy), "router_main@it1")


@pytest.mark.ray
def test_evaluate_command_reports_errors_without_a_traceback(run_copy, capsys):
    from league.cli import main

    (run_copy / "snapshots" / "router_main@it1" / "weights.pt").unlink()
    # A broken run is a user error: one line from the CLI, exit code 2 (see league.cli).
    assert main(["evaluate", str(run_copy), "--episodes", "4"]) == 2
    error = capsys.readouterr().err
    assert "smartpay-marl evaluate: error:" in error and "missing weights.pt" in error
    assert str(run_copy / "snapshots" / "router_main@it1") in error
    assert "Traceback" not in error

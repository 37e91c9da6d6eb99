"""Real RLlib league training on a local Ray instance: snapshots, PFSP mapping, frozen slots, the slot cap.

These tests start Ray and run small PPO iterations (a few seconds each on 2 cores).
"""

from pathlib import Path

import numpy as np
import pytest

from agents.snapshot_format import SNAPSHOT_FILES
from league.core.players import Role
from league.rllib.runtime import LeagueRuntime
from league.core.state import LeagueState
from league.rllib.train import run_iteration
from league.core.config import load_train_config, make_train_config

pytestmark = pytest.mark.ray
SMOKE = Path(__file__).parents[3] / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke league (2 slots per side) trained for 5 iterations, one snapshot per side per iteration."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    config = load_train_config(SMOKE)
    run_dir = tmp_path_factory.mktemp("smoke")
    runtime = LeagueRuntime(config, run_dir, LeagueState.new(config.league))
    runtime.write_run_files()
    algorithm = runtime.algorithm_config().build_algo()
    rows = [run_iteration(runtime, algorithm, 0.0) for _ in range(5)]
    yield runtime, algorithm, rows
    algorithm.stop()
    ray.shutdown()


def module_weights(algorithm, module_id):
    return algorithm.learner_group.get_weights(module_ids=[module_id])[module_id]


def test_snapshots_are_taken_for_both_sides(trained):
    runtime, _, _ = trained
    for role in Role:
        snapshots = runtime.state.snapshots(role)
        assert [p.created_iteration for p in snapshots] == [1, 2, 3, 4, 5]
        for snapshot in snapshots:
            for name in SNAPSHOT_FILES:  # the safe format: weights and a JSON spec, no pickles
                assert (runtime.run_dir / snapshot.checkpoint_path / name).is_file()


def test_pfsp_maps_episodes_to_snapshots(trained):
    runtime, _, rows = trained
    stats = runtime.state.payoff.stats
    played_snapshots = {name for name in stats if "@it" in name}
    played_snapshots |= {f for opponents in stats.values() for f in opponents if "@it" in f}
    assert played_snapshots, "no episode was played against a snapshot"
    assert "slot" in rows[-1]["router_main_opponents"]
    assert "slot" in rows[-1]["fraudster_main_opponents"]


def test_slot_cap_holds_as_the_league_grows(trained):
    runtime, algorithm, _ = trained
    modules = set(algorithm.learner_group.get_weights())
    learners = {p.name for p in runtime.state.learning_players()}
    scripted = {"fraudster_scripted_neutral"}
    slots = {f"{role.value}_slot_{i}" for role in Role for i in range(2)}
    copies = {f"{name}_as_opponent" for name in learners}  # the frozen copies learners play other learners through
    assert modules == learners | copies | slots | scripted  # 5 snapshots per side, still 2 slots each
    assert len(runtime.state.slots) <= 4
    env_runner_modules = algorithm.env_runner_group.foreach_env_runner(
        lambda runner: sorted(runner.module.keys()), local_env_runner=True
    )
    assert all(set(ids) == modules for ids in env_runner_modules)


def test_snapshots_stay_frozen(trained):
    from agents.snapshot_format import load_snapshot

    runtime, algorithm, _ = trained
    before = {slot: (name, module_weights(algorithm, slot)) for slot, name in runtime.state.slots.items()}
    learner_before = module_weights(algorithm, "router_main")
    run_iteration(runtime, algorithm, 0.0)  # a further training iteration
    learner_after = module_weights(algorithm, "router_main")
    assert any(not np.array_equal(learner_before[k], learner_after[k]) for k in learner_before), "the learner trained"
    for slot, name in runtime.state.slots.items():
        weights = module_weights(algorithm, slot)
        on_disk = load_snapshot(runtime.run_dir / runtime.state.player(name).checkpoint_path).get_state()
        for key, value in on_disk.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(weights[key]))
        if slot in before and before[slot][0] == name:  # same snapshot as before: not a single weight moved
            for key in weights:
                np.testing.assert_array_equal(weights[key], before[slot][1][key])
    assert any(before[slot][0] == name for slot, name in runtime.state.slots.items()), "no slot kept its snapshot"


def test_progress_rows_report_throughput_and_env_share(trained):
    _, _, rows = trained
    last = rows[-1]
    assert last["env_steps"] == 5 * 400
    assert last["steps_per_s"] > 0
    assert 0 < last["env_share"] < 1


def test_mapping_is_consistent_within_an_episode(trained):
    runtime, _, _ = trained
    _, mapping = runtime.plan()

    class Episode:
        def __init__(self, id_):
            self.id_ = id_

    pairs = set()
    for k in range(200):
        episode = Episode(f"episode-{k}")
        router, fraudster = mapping("router_0", episode), mapping("fraudster_0", episode)
        assert (router, fraudster) == (mapping("router_0", episode), mapping("fraudster_0", episode))
        assert router.startswith("router") and fraudster.startswith("fraudster")
        pairs.add((router, fraudster))
    assert len(pairs) > 2


def test_bad_training_config_names_the_field():
    with pytest.raises(ValueError, match=r"ppo\.lr"):
        make_train_config({"ppo": {"lr": -1}})
    with pytest.raises(ValueError, match=r"league\.regime"):
        make_train_config({"league": {"regime": "anarchy"}})
    with pytest.raises(ValueError, match="max_cyclez"):
        make_train_config({"game": {"max_cyclez": 5}})
    with pytest.raises(ValueError, match=r"resources\.env_runner"):
        make_train_config({"resources": {"env_runner": "fast"}})
    with pytest.raises(ValueError, match="counterfactual.*env_runner: vector"):
        make_train_config({"fraudster_baseline": "counterfactual", "resources": {"env_runner": "stock"}})


def test_results_report_each_sides_own_return(tmp_path):
    """Outside zero_sum the fraudster's return is not minus the router's; the log must show its own."""
    from league.rllib.callbacks import EPISODES_KEY

    config = load_train_config(SMOKE, game={"reward_mode": "profit", "max_cycles": 100})
    runtime = LeagueRuntime(config, tmp_path, LeagueState.new(config.league))
    # Ten games: the decayed count passes the payoff's minimum of 8 before which a pair's win rate is 0.5.
    episodes = [("router_main", "fraudster_main_as_opponent", 10.0, 2.5), ("router_main", "fraudster_main", 14.0, 0.5)] * 5
    recorded = runtime.record_results({"env_runners": {EPISODES_KEY: episodes}})
    assert recorded["mean_return"] == {"router_main": 12.0, "fraudster_main": 1.5}
    win = runtime.state.config.win_definition
    wins = win.router_win(np.array([10.0, 14.0] * 5))
    weights = runtime.state.config.payoff_decay ** np.arange(9, -1, -1)  # decayed per game, in order
    expected = float(weights @ wins / weights.sum())
    assert runtime.state.payoff.router_win_rate("router_main", "fraudster_main") == pytest.approx(expected)
    # The frozen copy is booked as its player; the games where both modules learned count for both.
    assert recorded["learner_shares"] == {"fraudster_main": 5 / 15, "router_main": 10 / 15}
    matchups = (runtime.run_dir / "matchups.csv").read_text().splitlines()
    assert matchups[0] == "iteration,learner,opponent,games,learner_wins"
    assert matchups[1].startswith("0,fraudster_main,router_main,5,") and matchups[2].startswith("0,router_main,fraudster_main,10,")

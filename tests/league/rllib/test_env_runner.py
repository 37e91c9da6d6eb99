"""The vectorised env runner: exact episodes, many matchups per batch, the counterfactual baseline, reproducibility.

These start a real local Ray instance and build real PPO algorithms on the
smoke config; the env runner samples in the driver (``num_env_runners: 0``)
unless a test says otherwise.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.league.rllib.helpers import build, smoke_data

pytestmark = pytest.mark.ray
ROOT = Path(__file__).parents[3]


def finished_episodes(runner) -> list[tuple[str, str, float, float]]:
    return list(runner.last_finished)


def test_greedy_episode_equals_the_pettingzoo_episode(ray_instance, tmp_path):
    """Fixed weights, greedy actions, same seed: the runner's returns are the PettingZoo env's, exactly."""
    import smartpay_marl
    from agents.learned import ModulePolicy
    from smartpay_marl.layout import FRAUDSTER, ROUTER

    runtime, algorithm = build(tmp_path, **{"resources.num_envs_per_env_runner": 1, "ppo.train_batch_size": 100})
    runner = algorithm.env_runner
    seed, _ = runner._reset_seeds(runner._resets)  # the game seed of the next episode start, to replay it here
    episodes = runner.sample(explore=False)
    assert sum(len(e) for e in episodes) == 100
    ((router_module, fraudster_module, router_return, fraudster_return),) = finished_episodes(runner)

    def policy(module_id, role):
        module = runner.module[module_id]
        if hasattr(module, "act"):
            class Scripted:
                def act(self, observations):
                    return module.act(observations)
            return Scripted()
        return ModulePolicy(module, name=module_id, role=role)

    router, fraudster = policy(router_module, "router"), policy(fraudster_module, "fraudster")
    env = smartpay_marl.parallel_env(**runtime.config.game)
    observations, _ = env.reset(seed=seed)
    totals = {ROUTER: 0.0, FRAUDSTER: 0.0}
    while env.agents:
        actions = {
            ROUTER: router.act(observations[ROUTER][None])[0],
            FRAUDSTER: fraudster.act(observations[FRAUDSTER][None])[0],
        }
        observations, rewards, _, _, _ = env.step(actions)
        for agent in totals:
            totals[agent] += rewards[agent]
    assert router_return == totals[ROUTER]
    assert fraudster_return == totals[FRAUDSTER]
    algorithm.stop()


def test_one_batch_holds_many_matchups_and_only_learning_agents(ray_instance, tmp_path):
    runtime, algorithm = build(
        tmp_path, **{"resources.num_envs_per_env_runner": 64, "ppo.train_batch_size": 6400, "ppo.minibatch_size": 800}
    )
    for _ in range(2):  # the second iteration has snapshots in slots
        algorithm.train()
        runtime.state.iteration += 1
        runtime.take_snapshots(algorithm)
        runtime.prepare_iteration(algorithm)
    runner = algorithm.env_runner
    episodes = runner.sample()
    assert sum(len(e) for e in episodes) == 6400
    matchups = {(router, fraudster) for router, fraudster, _, _ in finished_episodes(runner)}
    assert len(matchups) >= 3, matchups
    trained = set(runtime.config.league and [p.name for p in runtime.learners()])
    for episode in episodes:
        assert len(episode.agent_episodes) == 1  # one learner per game
        for agent_episode in episode.agent_episodes.values():
            assert agent_episode.module_id in trained
            assert len(agent_episode) == len(episode) == 100
            assert agent_episode.get_observations().shape[0] == 101
    algorithm.stop()


def test_counterfactual_baseline_cancels_when_the_ring_cannot_act(ray_instance, tmp_path):
    """With every intensity level at 0 the real game is its own shadow: the fraudster's training reward is 0."""
    runtime, algorithm = build(
        tmp_path,
        **{
            "fraudster_baseline": "counterfactual",
            "game.intensity_levels": [0.0, 0.0, 0.0, 0.0, 0.0],
            "game.burst_levels": [0.0, 0.0, 0.0, 0.0],
        },
    )
    runner = algorithm.env_runner
    episodes = runner.sample()
    fraudster_rewards = [
        e.agent_episodes["fraudster_0"].get_rewards() for e in episodes if "fraudster_0" in e.agent_episodes
    ]
    assert fraudster_rewards, "no learning fraudster was sampled"
    assert all(np.all(r == 0.0) for r in fraudster_rewards)
    # The payoff table still sees the true zero-sum returns.
    assert any(r != 0.0 for _, _, r, _ in finished_episodes(runner))
    algorithm.stop()


def test_counterfactual_baseline_keeps_the_true_returns_for_payoffs(ray_instance, tmp_path):
    runtime, algorithm = build(tmp_path, **{"fraudster_baseline": "counterfactual"})
    runner = algorithm.env_runner
    episodes = runner.sample()
    for router_return, fraudster_return in ((r, f) for _, _, r, f in finished_episodes(runner)):
        assert fraudster_return == pytest.approx(-router_return)
    signals = [e.agent_episodes["fraudster_0"].get_return() for e in episodes if "fraudster_0" in e.agent_episodes]
    assert signals
    algorithm.stop()


def test_stock_runner_switch_still_trains(ray_instance, tmp_path):
    from league.rllib.train import run_iteration

    runtime, algorithm = build(tmp_path, **{"resources.env_runner": "stock", "resources.num_envs_per_env_runner": 1})
    row = run_iteration(runtime, algorithm, 0.0)
    assert row["env_steps"] >= 400
    assert isinstance(row["router_main_train_return"], float)
    algorithm.stop()


def read_returns(run_dir: Path) -> list[tuple[str, ...]]:
    with (run_dir / "progress.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    keys = ("iteration", "env_steps", "router_main_train_return", "fraudster_main_train_return",
            "router_main_vs_scripted", "fraudster_main_vs_scripted")  # fmt: skip
    return [tuple(row[k] for k in keys) for row in rows]


def test_same_seed_gives_the_same_progress_with_one_env_runner(tmp_path):
    """Two CLI runs of the smoke config with one remote env runner write identical returns and payoffs."""
    config = tmp_path / "smoke.yaml"
    config.write_text(yaml.safe_dump(smoke_data(**{"resources.num_env_runners": 1})))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "RAY_ADDRESS")}
    results = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "league.cli", "train", "--quiet", "--config", str(config), "--output", str(tmp_path / name)]
        subprocess.run(command, check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True)
        payoff = yaml.safe_load((tmp_path / name / "league_state.json").read_text())["payoff"]
        results.append((read_returns(tmp_path / name), payoff))
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]
    assert len(results[0][0]) == 4  # the iteration-0 evaluation and three iterations

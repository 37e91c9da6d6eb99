"""The league's learner: the bulk train batch equals RLlib's pipeline, GAE is right, overlap trains one update stale."""

import copy
from pathlib import Path

import numpy as np
import pytest

from league.core.config import load_train_config, make_train_config
from league.core.state import LeagueState
from league.rllib.learner import BulkPPOBatch, gae

SMOKE = Path(__file__).parents[3] / "configs" / "smoke.yaml"


def reference_gae(values, rewards, terminated, truncated_bootstrap, gamma, lambda_):
    """RLlib's own value targets (``compute_value_targets``) for one episode, as its GAE connector calls it."""
    from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets

    length = len(rewards)
    # RLlib's layout: T + 1 rows, the last one the artificial bootstrap step (reward 0, not propagated).
    terminateds = np.zeros(length + 1)
    truncateds = np.zeros(length + 1)
    if terminated:
        terminateds[length - 1] = 1.0
    else:
        truncateds[length - 1] = 1.0
    targets = compute_value_targets(
        values=values.astype(np.float32),
        rewards=np.append(rewards, 0.0),
        terminateds=terminateds,
        truncateds=truncateds,
        gamma=gamma,
        lambda_=lambda_,
    )
    return targets[:length] - values[:length].astype(np.float32)


@pytest.mark.parametrize("terminated", [True, False])
def test_gae_matches_rllibs_value_targets(terminated):
    rng = np.random.default_rng(0)
    episodes, length = 5, 17
    values = rng.normal(size=(episodes, length + 1))
    rewards = rng.normal(size=(episodes, length))
    flags = np.full(episodes, terminated)
    ours = gae(values, rewards, flags, 0.99, 0.95)
    for e in range(episodes):
        expected = reference_gae(values[e], rewards[e], terminated, not terminated, 0.99, 0.95)
        np.testing.assert_allclose(ours[e], expected, rtol=1e-4, atol=1e-4)
    if not terminated:  # a fragment bootstraps from its last observation's value: changing it changes the result
        bumped = values.copy()
        bumped[:, -1] += 1.0
        assert not np.allclose(gae(bumped, rewards, flags, 0.99, 0.95), ours)


@pytest.fixture(scope="module")
def ray_local():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def algorithms(ray_local, tmp_path_factory):
    """The smoke league with RLlib's learner connectors and with the bulk batch, and one sampled batch."""
    from league.rllib.runtime import LeagueRuntime

    built = {}
    for bulk in (False, True):
        data = load_train_config(SMOKE).model_dump(by_alias=True)
        # 150 steps of 4 games of 100: one finished episode per game and a fragment that goes on.
        data["ppo"].update(bulk_batch=bulk, train_batch_size=600)
        config = make_train_config(data)
        runtime = LeagueRuntime(config, tmp_path_factory.mktemp(f"bulk{bulk}"), LeagueState.new(config.league))
        runtime.write_run_files()
        algorithm = runtime.algorithm_config().build_algo()
        runtime.prepare_iteration(algorithm)
        built[bulk] = algorithm
    episodes = built[False].env_runner.sample()
    yield built, episodes
    for algorithm in built.values():
        algorithm.stop()


def run_connector(algorithm, episodes):
    learner = algorithm.learner_group._learner
    return learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={}, metrics=learner.metrics
    )


def test_bulk_batch_equals_rllibs_learner_connectors(algorithms):
    from ray.rllib.core.columns import Columns
    from ray.rllib.evaluation.postprocessing import Postprocessing

    built, episodes = algorithms
    assert any(not e.is_terminated for e in episodes) and any(e.is_terminated for e in episodes)
    # The same weights in both learners, so that the value pass agrees.
    built[True].learner_group.set_weights(built[False].learner_group.get_weights())
    stock = run_connector(built[False], episodes)
    bulk = run_connector(built[True], episodes)
    assert isinstance(built[True].learner_group._learner._learner_connector.connectors[0], BulkPPOBatch)
    assert set(bulk) == set(stock) and {"router_main", "fraudster_main"} <= set(bulk)
    for module_id in stock:
        valid = stock[module_id][Columns.LOSS_MASK].numpy().astype(bool)  # RLlib's bootstrap rows are masked
        for column in (Columns.OBS, Columns.ACTIONS, Columns.ACTION_LOGP, Columns.ACTION_DIST_INPUTS,
                       Postprocessing.VALUE_TARGETS):  # fmt: skip
            expected = np.asarray(stock[module_id][column])[valid]
            got = np.asarray(bulk[module_id][column])
            assert got.shape == expected.shape, (module_id, column)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=f"{module_id} {column}")
        assert Columns.LOSS_MASK not in bulk[module_id]  # no bootstrap rows to mask
        # Advantages: target minus value, standardised over the real rows. (RLlib standardises over its masked
        # bootstrap rows too, which shifts its mean and scale slightly; the ordering and shape agree.)
        module = built[True].learner_group._learner.module[module_id]
        values = BulkPPOBatch.value_pass(module, np.asarray(stock[module_id][Columns.OBS])[valid])
        raw = np.asarray(stock[module_id][Postprocessing.VALUE_TARGETS])[valid] - values
        expected = (raw - raw.mean()) / max(1e-4, raw.std())
        np.testing.assert_allclose(np.asarray(bulk[module_id][Postprocessing.ADVANTAGES]), expected, rtol=1e-3, atol=1e-4)
        stock_advantages = np.asarray(stock[module_id][Postprocessing.ADVANTAGES])[valid]
        assert np.corrcoef(stock_advantages, expected)[0, 1] > 0.99


def test_overlapped_training_trains_one_update_behind(ray_local, tmp_path):
    """With overlap the first iteration only samples; later ones train, and the run still learns."""
    from league.rllib.runtime import LeagueRuntime
    from league.rllib.train import run_iteration

    data = load_train_config(SMOKE).model_dump(by_alias=True)
    data["ppo"].update(overlap_sampling=True)
    data["resources"].update(num_env_runners=1)
    data["eval_every"] = 0
    config = make_train_config(data)
    runtime = LeagueRuntime(config, tmp_path, LeagueState.new(config.league))
    runtime.write_run_files()
    algorithm = runtime.algorithm_config().build_algo()
    weights = lambda: algorithm.learner_group.get_weights(module_ids=["router_main"])["router_main"]  # noqa: E731
    before = weights()
    first = run_iteration(runtime, algorithm, 0.0)
    after_first = weights()
    assert first["env_steps"] == 400
    assert all(np.array_equal(before[k], after_first[k]) for k in before), "iteration 1 only fills the pipeline"
    second = run_iteration(runtime, algorithm, 0.0)
    after_second = weights()
    assert second["env_steps"] == 800
    assert any(not np.array_equal(after_first[k], after_second[k]) for k in before), "iteration 2 trains"
    # After the iteration the env runner holds the newest weights: it samples the next batch with them
    # while the learner trains on this one.
    runner = algorithm.env_runner_group.foreach_env_runner(
        lambda r: {k: v.detach().numpy().copy() for k, v in r.module["router_main"].state_dict().items()},
        local_env_runner=False,
    )[0]
    key = next(k for k in runner if "pi" in k or "encoder" in k)
    np.testing.assert_array_equal(runner[key], np.asarray(after_second[key]))
    algorithm.stop()


def test_overlapped_training_is_deterministic_with_one_env_runner(tmp_path):
    """Overlap keeps the determinism guarantee: the weight sync waits for the sample, so the order is fixed."""
    import os
    import subprocess
    import sys

    import yaml

    from tests.league.rllib.helpers import smoke_data
    from tests.league.rllib.test_env_runner import read_returns

    config = tmp_path / "smoke.yaml"
    config.write_text(yaml.safe_dump(smoke_data(**{"resources.num_env_runners": 1, "ppo.overlap_sampling": True})))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "RAY_ADDRESS")}
    results = []
    for name in ("a", "b"):
        command = [sys.executable, "-m", "league.cli", "train", "--quiet", "--config", str(config), "--output", str(tmp_path / name)]
        subprocess.run(command, check=True, env=env, cwd=tmp_path, timeout=600, capture_output=True)
        results.append(read_returns(tmp_path / name))
    assert results[0] == results[1]
    assert len(results[0]) == 4  # the iteration-0 evaluation and three iterations

"""Same seed, same episode, bit for bit: within a process, across processes, single vs vector env, branching."""

import hashlib
import subprocess
import sys
import textwrap

import numpy as np

import smartpay_marl
from smartpay_marl.layout import ALLOW, BLOCK, FRAUDSTER, ROUTER

EPISODE_SCRIPT = textwrap.dedent(
    """
    import hashlib, numpy as np, smartpay_marl
    env = smartpay_marl.parallel_env(difficulty="hard", max_cycles=300)
    obs, _ = env.reset(seed=SEED)
    digest = hashlib.sha256()
    rng = np.random.default_rng(7)
    while env.agents:
        actions = {"router_0": rng.integers(0, [3, 4, 2]), "fraudster_0": rng.integers(0, [5, 4, 4, 5])}
        obs, rewards, terms, truncs, infos = env.step(actions)
        for agent in ("router_0", "fraudster_0"):
            digest.update(obs[agent].tobytes())
            digest.update(np.float64(rewards[agent]).tobytes())
        digest.update(np.array(list(infos["router_0"]["pnl"].values())).tobytes())
    print(digest.hexdigest())
    """
)


def run_episode_digest(seed: int) -> str:
    exec_globals: dict = {}
    script = EPISODE_SCRIPT.replace("SEED", str(seed)).replace("print(digest.hexdigest())", "RESULT = digest.hexdigest()")
    exec(script, exec_globals)
    return exec_globals["RESULT"]


def test_same_seed_same_episode_in_process():
    assert run_episode_digest(11) == run_episode_digest(11)
    assert run_episode_digest(11) != run_episode_digest(12)


def test_same_seed_same_episode_across_processes():
    script = EPISODE_SCRIPT.replace("SEED", "11")
    digests = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    }
    assert digests == {run_episode_digest(11)}


def test_reset_without_seed_continues_the_stream():
    env = smartpay_marl.parallel_env()
    first, _ = env.reset(seed=3)
    second, _ = env.reset()
    assert not np.array_equal(first[ROUTER], second[ROUTER])


def test_vector_env_with_one_env_matches_single_env():
    single = smartpay_marl.parallel_env(difficulty="medium", max_cycles=250)
    vector = smartpay_marl.vector_env(1, difficulty="medium", max_cycles=250)
    obs_s, _ = single.reset(seed=5)
    obs_v, _ = vector.reset(seed=5)
    rng = np.random.default_rng(0)
    while single.agents:
        np.testing.assert_array_equal(obs_s[ROUTER], obs_v[ROUTER][0])
        np.testing.assert_array_equal(obs_s[FRAUDSTER], obs_v[FRAUDSTER][0])
        router = rng.integers(0, [3, 4, 2])
        fraudster = rng.integers(0, [5, 4, 4, 5])
        obs_s, rew_s, term_s, _, info_s = single.step({ROUTER: router, FRAUDSTER: fraudster})
        obs_v, rew_v, term_v, _, info_v = vector.step({ROUTER: router[None], FRAUDSTER: fraudster[None]})
        assert rew_s[ROUTER] == rew_v[ROUTER][0] and rew_s[FRAUDSTER] == rew_v[FRAUDSTER][0]
        assert term_s[ROUTER] == bool(term_v[ROUTER][0])
        assert list(info_s[ROUTER]["pnl"].values()) == [float(v[0]) for v in info_v["pnl"].values()]


def test_simulate_then_step_gives_identical_results():
    sim = smartpay_marl.Simulator(smartpay_marl.GameConfig(max_cycles=120), num_envs=3)
    sim.reset(seed=9)
    rng = np.random.default_rng(1)
    for _ in range(120):
        router = rng.integers(0, [3, 4, 2], size=(3, 3))
        fraudster = rng.integers(0, [5, 4, 4, 5], size=(3, 4))
        preview = sim.simulate(router, fraudster)
        other = sim.simulate((router + 1) % [3, 4, 2], fraudster)  # a different branch leaves no trace
        real = sim.step(router, fraudster)
        for name in ("router_obs", "fraudster_obs", "rewards", "pnl_array", "metrics_array"):
            np.testing.assert_array_equal(getattr(preview, name), getattr(real, name))
        assert preview.done == real.done
        del other


def test_clone_is_independent():
    sim = smartpay_marl.Simulator(smartpay_marl.GameConfig(max_cycles=50), num_envs=2)
    sim.reset(seed=2)
    twin = sim.clone()
    actions = (np.zeros((2, 3), dtype=np.int64), np.full((2, 4), 1, dtype=np.int64))
    for _ in range(10):
        sim.step(*actions)
    snapshot = sim.state.copy()
    for _ in range(10):
        twin.step(*actions)
    np.testing.assert_array_equal(sim.state, snapshot)  # stepping the twin never touches the original
    np.testing.assert_array_equal(sim.state, twin.state)  # and both followed the same path


def test_common_random_numbers_across_policies():
    """The customers an episode brings do not depend on the router's decisions."""
    amounts = []
    for decision in (ALLOW, BLOCK):
        env = smartpay_marl.vector_env(4, max_cycles=60)
        env.reset(seed=21)
        seen = []
        for _ in range(60):
            _, _, _, _, info = env.step({ROUTER: np.tile([0, decision, 0], (4, 1)), FRAUDSTER: np.zeros((4, 4), int)})
            seen.append(info["metrics"]["amount"].copy())
        amounts.append(np.array(seen))
    np.testing.assert_array_equal(amounts[0], amounts[1])
    assert hashlib.sha256(amounts[0].tobytes()).hexdigest() == hashlib.sha256(amounts[1].tobytes()).hexdigest()
    assert (amounts[0] > 0).any(), "customers paid, so the comparison is not between two empty streams"

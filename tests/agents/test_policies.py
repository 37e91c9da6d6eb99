"""Every registered policy honours the Policy interface: shapes, dtypes, action bounds, seeded determinism."""

from __future__ import annotations

import numpy as np
import pytest

import smartpay_marl
from smartpay_marl.layout import AGENT_OF_ROLE
from agents.registry import FRAUDSTERS, ROUTERS, make_policy, policy_names
from smartpay_marl.layout import ROUTER_OBS, ROUTER_OBS_DIM
from tests.agents.helpers import play_and_record

REGISTERED = [("router", name) for name in ROUTERS] + [("fraudster", name) for name in FRAUDSTERS]


@pytest.mark.parametrize(("role", "name"), REGISTERED)
def test_policy_conforms_to_the_interface(role: str, name: str) -> None:
    policy = make_policy(name, role=role)
    assert policy.role == role
    assert policy.name == name
    actions, env = play_and_record(policy, seed=3)
    space = env.single_action_spaces[AGENT_OF_ROLE[role]]
    assert tuple(policy.action_nvec) == tuple(space.nvec)
    assert actions.dtype == np.int64
    assert actions.shape[1:] == (env.num_envs, len(space.nvec))
    assert (actions >= 0).all() and (actions < np.asarray(space.nvec)).all()
    assert all(space.contains(row) for row in actions.reshape(-1, len(space.nvec)))


@pytest.mark.parametrize(("role", "name"), REGISTERED)
def test_policy_is_deterministic_given_the_seed(role: str, name: str) -> None:
    first, _ = play_and_record(make_policy(name, role=role), seed=11)
    second, _ = play_and_record(make_policy(name, role=role), seed=11)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(("role", "name"), REGISTERED)
def test_policy_acts_on_a_single_environment(role: str, name: str) -> None:
    policy = make_policy(name, role=role)
    env = smartpay_marl.vector_env(1)
    observations, _ = env.reset(seed=0)
    policy.reset(1, seed=0)
    actions = policy.act(observations[AGENT_OF_ROLE[role]])
    assert actions.shape == (1, len(policy.action_nvec))


def test_reset_reseeds_a_random_policy() -> None:
    policy = make_policy("random", role="router")
    observations = np.zeros((5, 46), dtype=np.float32)
    policy.reset(5, seed=4)
    first = [policy.act(observations) for _ in range(3)]
    policy.reset(5, seed=4)
    second = [policy.act(observations) for _ in range(3)]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))


def test_unknown_policy_name_lists_the_known_names() -> None:
    with pytest.raises(ValueError, match="unknown router policy 'nope'.*risk_threshold"):
        make_policy("nope", role="router")
    with pytest.raises(ValueError, match="adaptive"):
        make_policy("nope")


def test_random_needs_a_role_and_unknown_roles_are_rejected() -> None:
    with pytest.raises(ValueError, match="both roles"):
        make_policy("random")
    with pytest.raises(ValueError, match="unknown role"):
        make_policy("random", role="banker")  # type: ignore[arg-type]
    assert "random" in policy_names() and "risk_3ds_band" in policy_names("router")


def test_constructor_arguments_pass_through_the_registry() -> None:
    strict = make_policy("risk_threshold", block_above=0.1)
    assert strict.block_above == 0.1


@pytest.mark.parametrize("per_bin", [False, True])
def test_bandit_router_learns_to_avoid_a_failing_gateway(per_bin: bool) -> None:
    """Feedback says every payment sent to gateway 0 fails and every other one is captured."""
    bandit = make_policy("bandit", per_bin=per_bin)
    num_envs = 64
    bandit.reset(num_envs, seed=0)
    observations = np.zeros((num_envs, ROUTER_OBS_DIM), dtype=np.float32)
    observations[:, ROUTER_OBS["bin"].start + 3] = 1.0  # one BIN, so per-BIN arms learn as fast
    chosen = []
    for _ in range(60):
        actions = bandit.act(observations)
        chosen.append(actions[:, 0])
        observations[:, ROUTER_OBS["last_approved"].start] = actions[:, 0] != 0
    early, late = np.mean(np.stack(chosen[:5]) == 0), np.mean(np.stack(chosen[-20:]) == 0)
    assert late < 0.1 < early, (early, late)


def test_adaptive_fraudster_switches_strategy_when_caught() -> None:
    adaptive = make_policy("adaptive", min_attempts=2)
    always_blocked, _ = _play_against(adaptive, "block_all")
    never_caught, _ = _play_against(make_policy("adaptive", min_attempts=2), "allow_all")
    strategies_when_blocked = np.unique(always_blocked[:, :, 3])
    assert strategies_when_blocked.size >= 3, "a ring blocked every time should cycle through strategies"
    assert np.unique(never_caught[:, :, 3]).size == 1, "a ring never caught should keep its first strategy"


def _play_against(fraudster, router_name: str, steps: int = 120, num_envs: int = 4):
    router = make_policy(router_name)
    env = smartpay_marl.vector_env(num_envs, max_cycles=steps)
    observations, _ = env.reset(seed=5)
    fraudster.reset(num_envs, seed=5)
    recorded = []
    for _ in range(steps):
        attack = fraudster.act(observations["fraudster_0"])
        recorded.append(attack)
        observations, *_ = env.step({"router_0": router.act(observations["router_0"]), "fraudster_0": attack})
    return np.stack(recorded), env

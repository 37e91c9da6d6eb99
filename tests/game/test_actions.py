"""Invalid actions raise a ValueError naming the agent, the value and the allowed space; typed actions work."""

import numpy as np
import pytest

import smartpay_marl
from smartpay_marl import FraudsterAction, RouterAction
from smartpay_marl.layout import FRAUDSTER, ROUTER, ROUTER_OBS_DIM

GOOD = {ROUTER: np.array([0, 0, 0]), FRAUDSTER: np.array([0, 0, 0, 0])}


@pytest.mark.parametrize(
    "agent,action,pattern",
    [
        (ROUTER, np.array([3, 0, 0]), r"router_0.*\[3, 0, 0\].*MultiDiscrete\(\[3, 4, 2\]\)"),
        (ROUTER, np.array([0, -1, 0]), r"router_0.*MultiDiscrete"),
        (ROUTER, np.array([0, 0]), r"router_0.*shape"),
        (ROUTER, np.array([0.5, 0, 0]), r"router_0.*integers"),
        (FRAUDSTER, np.array([9, 0, 0, 0]), r"fraudster_0.*\[9, 0, 0, 0\].*MultiDiscrete\(\[5, 4, 4, 5\]\)"),
        (FRAUDSTER, "attack!", r"fraudster_0"),
    ],
)
def test_invalid_actions_name_agent_value_and_space(agent, action, pattern):
    env = smartpay_marl.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=pattern):
        env.step({**GOOD, agent: action})
    # The bad action changed nothing: the episode goes on from where it was.
    assert env.simulator.step_count == 0
    env.step(GOOD)
    assert env.simulator.step_count == 1


def test_missing_agent_is_named():
    env = smartpay_marl.parallel_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="fraudster_0"):
        env.step({ROUTER: GOOD[ROUTER]})


def test_vector_env_reports_the_bad_env():
    env = smartpay_marl.vector_env(3)
    env.reset(seed=0)
    router = np.zeros((3, 3), dtype=np.int64)
    router[2, 2] = 5
    with pytest.raises(ValueError, match=r"router_0.*env 2"):
        env.step({ROUTER: router, FRAUDSTER: np.zeros((3, 4), dtype=np.int64)})


def test_typed_actions_round_trip_and_validate():
    action = RouterAction(gateway=2, decision="3ds", retry=True)
    assert RouterAction.from_array(action.to_array()) == action
    ring = FraudsterAction(intensity=4, stealth=3, burst=1, strategy="card_testing")
    assert FraudsterAction.from_array(ring.to_array()) == ring
    with pytest.raises(ValueError, match="gateway"):
        RouterAction(gateway=5)
    with pytest.raises(ValueError, match="decision"):
        RouterAction(gateway=0, decision="approve")
    env = smartpay_marl.parallel_env()
    env.reset(seed=0)
    obs, *_ = env.step({ROUTER: action, FRAUDSTER: ring})
    assert obs[ROUTER].shape == (ROUTER_OBS_DIM,)


def test_step_before_reset_and_after_end_is_a_clear_error():
    env = smartpay_marl.parallel_env(max_cycles=1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(GOOD)
    env.reset(seed=0)
    env.step(GOOD)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(GOOD)

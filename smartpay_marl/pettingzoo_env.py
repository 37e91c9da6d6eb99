"""SmartPay as a PettingZoo parallel environment: a payment router against a fraud ring.

| | |
|---|---|
| Import | `smartpay_marl.parallel_env(**config)`, `smartpay_marl.env(**config)` (AEC) |
| Registered ids | `pettingzoo.make("parallel", "smartpay_marl/SmartPay-v0")`, and `"aec"` |
| Agents | `router_0` (defender), `fraudster_0` (fraud ring) |
| Parallel API | yes: both agents act every step |
| Router action | `MultiDiscrete([3, 4, 2])`: gateway, decision (allow, block, 3ds, review), failover |
| Fraudster action | `MultiDiscrete([5, 4, 4, 5])`: intensity, stealth, burst, strategy (default levels) |
| Router observation | `Box(47,)` float32: the transaction, lagged gateway health, its recent outcomes |
| Fraudster observation | `Box(13,)` float32: outcomes of its own attempts, hour, progress |
| State | `Box(67,)` float32: both observations and the hidden truth |
| Episode | `max_cycles` steps (checkout slots, default 200), then both agents terminate |

## Description

Each step is one checkout slot. In 80% of slots (`customer_arrival_rate`) a
customer pays; the fraud ring's attempts can only fill the idle slots, so its
attacks add traffic and never displace a customer. An idle slot shows the
router an empty transaction (`payment` = 0) and its action has no effect.
For a payment, the router sees it (amount,
upstream risk score, card velocity, device and location flags, customer
segment, merchant, BIN) with the gateways' health as it was `health_lag`
steps ago, and chooses a gateway, a decision (allow, block, 3-D Secure
challenge, manual review) and whether to fail over to the next gateway on a
decline. At the same time the fraud ring sets its attack for the next
transactions: intensity (share of traffic that is its attempts), stealth
(masking its risk signal and telltales, at the price of smaller amounts and,
in profit mode, dearer credentials), burst rate (5-attempt bursts, cheap
volume but a loud velocity signal) and strategy (mixed, fraud_surge,
stealth_fraud, velocity_attack, card_testing). Its attempts raise its *heat*
(exposure to issuers and consortium data), which makes later attempts easier to
catch; card testing builds a stock of validated cards that issuers decline
less. Organic background fraud, which no agent controls, arrives at the
difficulty's base rate.

## Rewards

`zero_sum` (default): the router earns its business P&L (margin on captured
sales minus gateway fees, chargebacks and dispute fees, manual review and 3DS
costs, and the customer value lost to abandonment and churn) times
`reward_scale`; the fraudster earns the negative. `profit`: the fraudster
instead earns `cashout_rate` of the amount of its captured attempts minus its
attempt costs. `graded`: SmartPayEnv's blend of routing, fraud-MCC and
retention scores. Chargebacks and reviews still pending at the horizon are
settled into the last step's reward. The itemised P&L (`info["pnl"]`) and the
three SmartPayEnv grader scores (`info["metrics"]`) are in the router's info
every step.

## Episode end

After `max_cycles` steps the books are settled and both agents are
*terminated* (not truncated): no reward follows, so value bootstrapping must
not happen. Blocking never ends an episode.

## Version history

- v0: first release.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec_wrapper
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from smartpay_marl.config import GameConfig, make_game_config
from smartpay_marl.layout import AGENTS, FRAUDSTER, ROUTER
from smartpay_marl.models import FraudsterAction, RouterAction, StepView
from smartpay_marl.rules import METRIC_NAMES, PNL_TERMS
from smartpay_marl.simulator import STATE_HIDDEN, Simulator, check_seed
from smartpay_marl.spaces import build_action_spaces, build_observation_spaces

_FRAUDSTER_INFO = ("is_ring_attempt", "ring_value", "ring_cost")
_FRAUDSTER_INFO_COLUMNS = [METRIC_NAMES.index(name) for name in _FRAUDSTER_INFO]


class SmartPayParallelEnv(ParallelEnv):
    """The two-player payment game, one environment (the batched simulator at N=1).

    Args:
        max_cycles: transactions per episode; overrides ``config.max_cycles``.
        render_mode: ``"ansi"`` (``render()`` returns a string), ``"human"`` (prints it) or ``None``.
        config: a :class:`~smartpay_marl.config.GameConfig`; or pass its fields as keyword arguments.
    """

    metadata = {"name": "smartpay_v0", "render_modes": ["ansi", "human"], "is_parallelizable": True, "render_fps": 4}

    def __init__(
        self,
        max_cycles: int | None = None,
        render_mode: str | None = None,
        config: GameConfig | None = None,
        **overrides: Any,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if max_cycles is not None:
            overrides["max_cycles"] = max_cycles
        if config is not None and not isinstance(config, GameConfig):
            raise TypeError(
                f"config must be a GameConfig, got {type(config).__name__} {config!r}; "
                "for a preset pass difficulty='easy' | 'medium' | 'hard'"
            )
        if config is None:
            config = make_game_config(**overrides)
        elif overrides:
            config = make_game_config(**{**config.model_dump(), **overrides})
        self.config = config
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        self.simulator = Simulator(config, num_envs=1)
        self.observation_spaces = build_observation_spaces()
        self.action_spaces = build_action_spaces(config)
        hidden = len(STATE_HIDDEN)  # all in [0, 1]
        low = np.concatenate([s.low for s in self.observation_spaces.values()] + [np.zeros(hidden, dtype=np.float32)])
        high = np.concatenate([s.high for s in self.observation_spaces.values()] + [np.ones(hidden, dtype=np.float32)])
        self.state_space = spaces.Box(low, high, dtype=np.float32)
        self._episode_profit = 0.0
        self._last: dict[str, Any] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.MultiDiscrete:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        router_obs, fraudster_obs = self.simulator.reset(check_seed(seed))
        self.agents = list(AGENTS)
        self._episode_profit = 0.0
        self._last = {"router_obs": router_obs[0], "fraudster_obs": fraudster_obs[0]}
        observations = {ROUTER: router_obs[0], FRAUDSTER: fraudster_obs[0]}
        return observations, {ROUTER: {}, FRAUDSTER: {}}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("the episode has ended; call reset() before step()")
        if not isinstance(actions, dict):
            raise TypeError(f"step() takes a dict of actions keyed by agent {AGENTS}, got {type(actions).__name__}")
        unknown = [agent for agent in actions if agent not in AGENTS]
        if unknown:
            raise ValueError(f"actions for unknown agents {unknown}; the agents are {list(AGENTS)}")
        try:
            router_action, fraudster_action = actions[ROUTER], actions[FRAUDSTER]
        except KeyError:
            missing = [agent for agent in AGENTS if agent not in actions]
            raise ValueError(f"missing action for {missing}; step() needs one action per agent in {AGENTS}") from None
        if isinstance(router_action, RouterAction):
            router_action = router_action.to_array()
        if isinstance(fraudster_action, FraudsterAction):
            fraudster_action = fraudster_action.to_array()
        result = self.simulator.step(router_action, fraudster_action)
        pnl = result.pnl_array[0].tolist()
        metrics = result.metrics_array[0].tolist()
        self._episode_profit += sum(pnl)
        router_reward, fraudster_reward = result.rewards[0].tolist()
        done = result.done
        observations = {ROUTER: result.router_obs[0], FRAUDSTER: result.fraudster_obs[0]}
        rewards = {ROUTER: router_reward, FRAUDSTER: fraudster_reward}
        terminations = {ROUTER: done, FRAUDSTER: done}
        truncations = {ROUTER: False, FRAUDSTER: False}
        infos = {
            ROUTER: {"pnl": dict(zip(PNL_TERMS, pnl)), "metrics": dict(zip(METRIC_NAMES, metrics))},
            FRAUDSTER: {name: metrics[c] for name, c in zip(_FRAUDSTER_INFO, _FRAUDSTER_INFO_COLUMNS)},
        }
        if done:
            self.agents = []
        if self.render_mode is not None:
            self._last = {
                "router_obs": observations[ROUTER],
                "fraudster_obs": observations[FRAUDSTER],
                "router_action": router_action,
                "fraudster_action": fraudster_action,
                "pnl": infos[ROUTER]["pnl"],
                "metrics": infos[ROUTER]["metrics"],
            }
            if self.render_mode == "human":
                self.render()
        return observations, rewards, terminations, truncations, infos

    def state(self) -> np.ndarray:
        return self.simulator.global_state()[0]

    def view(self) -> StepView:
        """A typed, readable view of the current situation and of the last step."""
        last = self._last
        if not last:
            raise RuntimeError("call reset() before view() or render()")
        extra: dict[str, Any] = {"episode_profit": round(self._episode_profit, 2)}
        if "router_action" in last:
            extra["last_router_action"] = RouterAction.from_array(last["router_action"])
            extra["last_fraudster_action"] = FraudsterAction.from_array(last["fraudster_action"])
            metrics = last["metrics"]
            extra["last_outcome"] = {
                key: metrics[key]
                for key in ("payment_present", "is_fraud", "captured", "blocked", "challenged", "reviewed", "retried")
            }
            extra["pnl"] = {key: round(value, 2) for key, value in last["pnl"].items()}
        return StepView.from_observation(
            last["router_obs"], last["fraudster_obs"], self.simulator.step_count, self.config.max_cycles, **extra
        )

    def render(self) -> str | None:
        if self.render_mode is None:
            return None
        text = self.view().to_text()
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


def parallel_env(max_cycles: int | None = None, render_mode: str | None = None, **config: Any) -> SmartPayParallelEnv:
    """The game as a PettingZoo ``ParallelEnv``; keyword arguments are :class:`GameConfig` fields."""
    return SmartPayParallelEnv(max_cycles=max_cycles, render_mode=render_mode, **config)


class _CheckedAEC(parallel_to_aec_wrapper):
    """``parallel_to_aec`` that checks each agent's action at that agent's own turn.

    The plain wrapper stores the router's action and steps the game only at
    the fraudster's turn, so a bad router action would surface there, blamed
    on the wrong turn, and keep failing until ``reset()``.
    """

    def step(self, action) -> None:
        agent = self.agent_selection
        if action is not None and not (self.terminations.get(agent) or self.truncations.get(agent)):
            typed = {ROUTER: RouterAction, FRAUDSTER: FraudsterAction}[agent]
            array = action.to_array() if isinstance(action, typed) else action
            self.env.simulator.check_actions(agent, array)
        super().step(action)


def env(max_cycles: int | None = None, render_mode: str | None = None, **config: Any):
    """The game as a PettingZoo ``AECEnv`` (the parallel env through ``parallel_to_aec``, actions checked per turn)."""
    return OrderEnforcingWrapper(_CheckedAEC(parallel_env(max_cycles=max_cycles, render_mode=render_mode, **config)))

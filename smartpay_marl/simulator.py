"""The batched game core: N payment environments stepped together.

This module knows nothing of PettingZoo, RLlib or Ray. It owns the game's
state as a few packed numpy arrays with a leading environment axis, draws
randomness ahead in chunks (:mod:`smartpay_marl.generator`) and calls the
compiled rules (:mod:`smartpay_marl.rules`) once per step for all
environments. The PettingZoo env is this simulator at ``num_envs=1``; the
vector env exposes it at any N; there is no second copy of the game logic.

One step, for every environment at once:

1. The router's decision on the pending transaction is resolved: 3-D Secure
   (customer abandonment, or a fraudster stopped or authenticated), the
   gateway attempt and an optional failover, fees, a manual review scheduled
   to resolve later, a chargeback scheduled for an approved fraud.
2. Reviews and chargebacks due now mature and are booked; at the horizon,
   everything still pending is settled into this last step.
3. Gateways move one step; the router's lagged view is recorded.
4. The fraud ring's action decides whether the next transaction is one of
   its attempts (and of which template, how masked, how fast).

Money is itemised (:data:`PNL_TERMS`); the router's profit is their sum, and
the rewards of the three modes derive from it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from numba import njit

from smartpay_marl import rules
from smartpay_marl.config import GameConfig
from smartpay_marl.generator import Chunk, chunk_steps_for, generate_chunk, template_amount_shifts
from smartpay_marl.layout import (
    AGENTS,
    FRAUDSTER,
    FRAUDSTER_ACTION_FIELDS,
    FRAUDSTER_OBS_DIM,
    NUM_GATEWAYS,
    ROUTER,
    ROUTER_ACTION_FIELDS,
    ROUTER_ACTION_NVEC,
    ROUTER_OBS_DIM,
    TX_DIM,
)
from smartpay_marl.fraud import NUM_TEMPLATES, STRATEGY_NAMES, STRATEGY_TEMPLATE, TEMPLATE_NAMES
from smartpay_marl.spaces import fraudster_action_nvec

PNL_TERMS = rules.PNL_TERMS
METRIC_NAMES = rules.METRIC_NAMES
BIN_AFFINITY = rules.BIN_AFFINITY
_MODES = {"zero_sum": rules.MODE_ZERO_SUM, "profit": rules.MODE_PROFIT, "graded": rules.MODE_GRADED}

#: Hidden variables appended to both observations in :meth:`Simulator.global_state`.
STATE_HIDDEN = (
    "is_fraud", "is_ring_attempt", *(f"true_rate_{k}" for k in range(NUM_GATEWAYS)), "ring_heat", "retention",
)  # fmt: skip
STATE_DIM = ROUTER_OBS_DIM + FRAUDSTER_OBS_DIM + len(STATE_HIDDEN)


@dataclass
class StepResult:
    """Everything one step produced, batched over environments (leading axis N)."""

    router_obs: np.ndarray  # float32 (N, ROUTER_OBS_DIM)
    fraudster_obs: np.ndarray  # float32 (N, FRAUDSTER_OBS_DIM)
    rewards: np.ndarray  # float64 (N, 2): one column per agent, in the order of layout.AGENTS
    done: bool  # every environment ends at the same step (a fixed horizon)
    pnl_array: np.ndarray  # float64 (N, len(PNL_TERMS)), dollars
    metrics_array: np.ndarray  # float64 (N, len(METRIC_NAMES))

    @property
    def router_reward(self) -> np.ndarray:
        return self.rewards[:, rules.R_ROUTER]

    @property
    def fraudster_reward(self) -> np.ndarray:
        return self.rewards[:, rules.R_FRAUDSTER]

    @property
    def pnl(self) -> dict[str, np.ndarray]:
        """The router's itemised P&L in dollars; the terms sum to its profit."""
        return {name: self.pnl_array[:, k] for k, name in enumerate(PNL_TERMS)}

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        return {name: self.metrics_array[:, k] for k, name in enumerate(METRIC_NAMES)}


def strategy_template_ids(config: GameConfig) -> np.ndarray:
    """Template id each ring strategy plays (-1: mixed): the config's ``strategy_templates``, else the strategy table."""
    if config.strategy_templates is None:
        return STRATEGY_TEMPLATE.astype(np.float64)
    return np.array([-1.0 if t == "mixed" else float(TEMPLATE_NAMES.index(t)) for t in config.strategy_templates])


def check_seed(seed) -> int | None:
    """``seed`` as an int for numpy, or None; a ``ValueError`` naming the ``seed`` argument otherwise."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a non-negative integer or None, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed}")
    return int(seed)


@njit(cache=True)
def _first_invalid(actions, high):
    """Index of the first env whose action is out of range, or -1."""
    for i in range(actions.shape[0]):
        for j in range(actions.shape[1]):
            if actions[i, j] < 0 or actions[i, j] > high[j]:
                return i
    return -1


def parameter_values(config: GameConfig) -> dict[str, float]:
    """Each entry of the compiled rules' parameter vector, by its name in :data:`rules.PARAMETERS`."""
    return {
        "margin": config.gross_margin,
        "dispute_fee": config.dispute_fee,
        "review_cost": config.review_cost,
        "threeds_cost": config.threeds_cost,
        "cb_low": config.chargeback_delay[0],
        "cb_high": config.chargeback_delay[1],
        "review_low": config.review_delay[0],
        "review_high": config.review_delay[1],
        "churn": config.churn_hazard,
        "instability": config.gateway_instability,
        "outage": config.systemic_outage_prob,
        "burst_length": config.burst_length,
        "attempt_cost": config.attempt_cost,
        "stealth_cost": config.stealth_cost_factor,
        "cashout": config.cashout_rate,
        "heat_decay": config.heat_decay,
        "heat_attempt": config.heat_per_attempt,
        "heat_caught": config.heat_per_caught,
        "scale": config.reward_scale,
        "mode": _MODES[config.reward_mode],
        "max_cycles": config.max_cycles,
        "idle_share": 1.0 - config.customer_arrival_rate,
        # Fraud displacement (issue 20): capacities per window, churn on a false decline.
        "review_capacity": rules.UNLIMITED if config.review_capacity is None else config.review_capacity,
        "threeds_capacity": rules.UNLIMITED if config.threeds_capacity is None else config.threeds_capacity,
        "capacity_window": config.capacity_window,
        "false_decline_churn": config.false_decline_churn,
        "signal_scale": config.fraud_signal_scale,
        "volume_velocity": 1.0 if config.volume_velocity else 0.0,
    }


class Simulator:
    """``num_envs`` independent payment games stepped in one call.

    Args:
        config: the game; see :class:`smartpay_marl.config.GameConfig`.
        num_envs: number of environments N (>= 1).

    The same seed and the same ``num_envs`` give the same episodes, bit for bit,
    whatever process runs them.
    """

    def __init__(self, config: GameConfig, num_envs: int = 1):
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.config = config
        self.num_envs = n = int(num_envs)
        self.chunk_steps = chunk_steps_for(n)
        self.fraudster_nvec = fraudster_action_nvec(config)
        self._high = {
            ROUTER: np.array(ROUTER_ACTION_NVEC, dtype=np.int64) - 1,
            FRAUDSTER: np.array(self.fraudster_nvec, dtype=np.int64) - 1,
        }
        self._params = self._pack_params(config)
        self._tables = np.array(
            [config.gateway_base_success, config.gateway_fee_pct, config.gateway_fee_fixed, config.customer_value]
        )
        level_rows = {
            rules.L_INTENSITY: config.intensity_levels,
            rules.L_STEALTH: config.stealth_levels,
            rules.L_BURST: config.burst_levels,
        }
        width = max(len(STRATEGY_NAMES), NUM_TEMPLATES, *(len(v) for v in level_rows.values()))
        self._levels = np.zeros((rules.L_DIM, width))
        for row, levels in level_rows.items():
            self._levels[row, : len(levels)] = levels
        self._levels[rules.L_STRATEGY_TEMPLATE, : len(STRATEGY_NAMES)] = strategy_template_ids(config)
        self._levels[rules.L_AMOUNT_SHIFT, :NUM_TEMPLATES] = template_amount_shifts(config)
        calendar_len = config.longest_delay + 1
        self.pending = np.zeros((n, rules.P_DIM))
        self.tx = np.zeros((n, TX_DIM), dtype=np.float32)
        self.hour = np.zeros((n, 2), dtype=np.float32)
        self.state = np.zeros((n, rules.S_DIM))
        self.gateways = np.zeros((n, NUM_GATEWAYS, rules.G_DIM))
        self.history = np.zeros((n, config.health_lag + 1, rules.HEALTH_DIM), dtype=np.float32)
        self.calendar = np.zeros((n, calendar_len, rules.E_DIM))
        self.start_hour = np.zeros(n, dtype=np.int64)
        self.rng = np.random.default_rng()
        self._seeded = False
        self.step_count = 0
        self._chunk: Chunk | None = None
        self._chunk_start = 0
        self._needs_reset = True
        # --- recorded customers (GameConfig.transaction_log; see smartpay_marl.transaction_log) ---
        self._log = None
        self.log_window = np.zeros(n, dtype=np.int64)  # each env's first log row this episode
        self.log_cursor = np.zeros(n, dtype=np.int64)  # customers drawn so far this episode
        if config.transaction_log is not None:
            from smartpay_marl.transaction_log import load_transaction_log

            self._log = load_transaction_log(config.transaction_log, config.transaction_log_mapping)

    @staticmethod
    def _pack_params(config: GameConfig) -> np.ndarray:
        """The compiled rules' parameter vector, entry by entry in the order of :data:`rules.PARAMETERS`."""
        values = parameter_values(config)
        if tuple(values) != rules.PARAMETERS:
            missing = sorted(set(rules.PARAMETERS) - set(values))
            extra = sorted(set(values) - set(rules.PARAMETERS))
            raise RuntimeError(
                f"parameter_values is out of step with rules.PARAMETERS: missing {missing}, extra {extra}, "
                "or another order"
            )
        return np.array([values[name] for name in rules.PARAMETERS], dtype=np.float64)

    _STATE_ARRAYS = ("pending", "tx", "hour", "state", "gateways", "history", "calendar", "start_hour")
    _STATE_ARRAYS += ("log_window", "log_cursor")  # recorded customers: where each env is in the log

    # ------------------------------------------------------------------ branching
    def clone(self) -> "Simulator":
        """An independent copy whose future, given the same actions, equals this one's."""
        twin = copy.copy(self)
        for name in self._STATE_ARRAYS:
            setattr(twin, name, getattr(self, name).copy())
        twin.rng = copy.deepcopy(self.rng)
        return twin  # chunks are never written after they are drawn, so sharing one is safe

    def simulate(self, router_actions: np.ndarray, fraudster_actions: np.ndarray) -> StepResult:
        """The outcome of one step with these actions, leaving this simulator untouched."""
        return self.clone().step(router_actions, fraudster_actions)

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start new episodes in every environment; returns (router_obs, fraudster_obs)."""
        seed = check_seed(seed)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
            self._seeded = True
        elif not self._seeded:
            self.rng = np.random.default_rng()  # fresh entropy, as Gymnasium does without a seed
            self._seeded = True
        for name in self._STATE_ARRAYS:
            getattr(self, name)[...] = 0
        rules.reset_gateways(self.gateways, self.history, self._tables[rules.T_BASE])
        self.start_hour[:] = self.rng.integers(0, 24, size=self.num_envs)
        if self._log is not None:  # recorded customers: each env's window of the log, from the seed
            self.log_window[:] = self.rng.integers(0, self._log.num_rows, size=self.num_envs)
        self.step_count = 0
        self._draw_chunk(0)
        chunk = self._chunk
        rules.load_first_transactions(self.pending, self.tx, self.hour, self.state, chunk.tx[0], chunk.rows[0], chunk.hour[0])
        self._needs_reset = False
        router_obs = np.empty((self.num_envs, ROUTER_OBS_DIM), dtype=np.float32)
        fraudster_obs = np.empty((self.num_envs, FRAUDSTER_OBS_DIM), dtype=np.float32)
        rules.write_observations(
            router_obs, fraudster_obs, self.tx, self.hour, self.history, self.state, 0,
            self.config.health_lag, self.config.max_cycles,
        )  # fmt: skip
        return router_obs, fraudster_obs

    def _draw_chunk(self, first_step: int) -> None:
        if self._log is not None:  # recorded customers
            from smartpay_marl.transaction_log import replay_chunk

            self._chunk = replay_chunk(
                self.rng, self.config, self._log, self.num_envs, self.chunk_steps, first_step, self.start_hour,
                self.log_window, self.log_cursor,
            )  # fmt: skip
            self._chunk_start = first_step
            return
        self._chunk = generate_chunk(self.rng, self.config, self.num_envs, self.chunk_steps, first_step, self.start_hour)
        self._chunk_start = first_step

    # ------------------------------------------------------------------ actions
    def check_actions(self, agent: str, actions) -> np.ndarray:
        """Return ``actions`` as an ``(N, k)`` int64 array, or raise ``ValueError`` naming the agent."""
        high = self._high[agent]
        space = f"MultiDiscrete({(high + 1).tolist()})"
        array = actions if isinstance(actions, np.ndarray) else np.asarray(actions)
        if array.ndim == 1 and self.num_envs == 1:
            array = array.reshape(1, -1)
        if array.shape != (self.num_envs, len(high)):
            raise ValueError(
                f"{agent}: expected an action of shape {(self.num_envs, len(high))} from {space} per env, "
                f"got shape {array.shape}: {actions!r}"
            )
        if array.dtype != np.int64:
            if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (np.abs(array) < 2**31)):
                # Casting a huge float to int64 wraps around; name the value as given.
                raise ValueError(f"{agent}: action {array.tolist()} is outside {space}; allowed values are 0..{high.tolist()}")
            if array.dtype.kind in "iub" or (array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0)):
                array = array.astype(np.int64)
            else:
                raise ValueError(f"{agent}: actions must be integers from {space}, got {actions!r}")
        bad = _first_invalid(array, high)
        if bad >= 0:
            raise ValueError(
                f"{agent}: action {array[bad].tolist()} (env {bad}) is outside {space}; "
                f"allowed values are 0..{high.tolist()} per field {self._field_names(agent)}"
            )
        return array

    @staticmethod
    def _field_names(agent: str) -> list[str]:
        return list(ROUTER_ACTION_FIELDS if agent == ROUTER else FRAUDSTER_ACTION_FIELDS)

    # ------------------------------------------------------------------ step
    def step(self, router_actions, fraudster_actions) -> StepResult:
        """Advance every environment by one transaction.

        Args:
            router_actions: ``(N, 3)`` ints ``[gateway, decision, retry]``.
            fraudster_actions: ``(N, 4)`` ints ``[intensity, stealth, burst, strategy]``.
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step(); the episode has ended or never started")
        router_actions = self.check_actions(ROUTER, router_actions)
        fraudster_actions = self.check_actions(FRAUDSTER, fraudster_actions)
        t = self.step_count
        chunk = self._chunk
        now_u = chunk.uniforms[t - self._chunk_start]
        row = t + 1 - self._chunk_start
        if row >= self.chunk_steps and t + 1 < self.config.max_cycles:
            self._draw_chunk(t + 1)
            chunk, row = self._chunk, 0
        row = min(row, self.chunk_steps - 1)  # at the horizon the next row is never read
        n = self.num_envs
        router_obs = np.empty((n, ROUTER_OBS_DIM), dtype=np.float32)
        fraudster_obs = np.empty((n, FRAUDSTER_OBS_DIM), dtype=np.float32)
        rewards = np.empty((n, len(AGENTS)))
        pnl = np.empty((n, len(PNL_TERMS)))
        metrics = np.empty((n, len(METRIC_NAMES)))
        done = rules.step_all(
            t, router_actions, fraudster_actions,
            self.pending, self.tx, self.hour, self.state, self.gateways, self.history, self.calendar,
            now_u, chunk.tx[row], chunk.rows[row], chunk.hour[row], chunk.uniforms[row],
            self._params, self._tables, self._levels,
            router_obs, fraudster_obs, rewards, pnl, metrics,
        )  # fmt: skip
        self.step_count = t + 1
        self._needs_reset = done
        return StepResult(router_obs, fraudster_obs, rewards, done, pnl, metrics)

    # ------------------------------------------------------------------ global state
    def global_state(self) -> np.ndarray:
        """Both observations plus the hidden truth, ``(N, STATE_DIM)`` float32."""
        router_obs = np.empty((self.num_envs, ROUTER_OBS_DIM), dtype=np.float32)
        fraudster_obs = np.empty((self.num_envs, FRAUDSTER_OBS_DIM), dtype=np.float32)
        rules.write_observations(
            router_obs, fraudster_obs, self.tx, self.hour, self.history, self.state, self.step_count,
            self.config.health_lag, self.config.max_cycles,
        )  # fmt: skip
        s = self.state
        retention = np.where(
            s[:, rules.S_LEGIT_SERVED] > 0,
            1.0 - s[:, rules.S_CHURNED] / np.maximum(s[:, rules.S_LEGIT_SERVED], 1.0),
            1.0,
        )
        hidden = np.column_stack(
            [
                self.pending[:, rules.P_FRAUD],
                self.pending[:, rules.P_RING],
                self.gateways[:, :, rules.G_RATE],
                s[:, rules.S_HEAT],
                retention,
            ]
        ).astype(np.float32)
        return np.concatenate([router_obs, fraudster_obs, hidden], axis=1)

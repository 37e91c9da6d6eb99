"""The batched game core: N payment environments stepped together, pure numpy.

This module knows nothing of PettingZoo, RLlib or Ray. The PettingZoo env is
this simulator at ``num_envs=1``; the vector env exposes it at any N; there is
no second copy of the game logic.

One step, for every environment at once:

1. The router's decision on the pending transaction is resolved: 3-D Secure
   (customer abandonment, or a fraudster stopped or authenticated), the
   gateway attempt and an optional failover, fees, a manual review scheduled
   to resolve later, a chargeback scheduled for an approved fraud.
2. Reviews and chargebacks due now mature and are booked.
3. Gateways move one step; the router's lagged view is recorded.
4. The fraud ring's action decides whether the next transaction is one of
   its attempts (and of which template, how masked, how fast).
5. At the last step everything still pending is settled into the reward.

Money is itemised (:data:`PNL_TERMS`); the router's profit is their sum, and
the rewards of the three modes derive from it. All randomness was drawn ahead
by :mod:`smartpay_marl.generator`, independent of the actions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from smartpay_marl.config import GameConfig
from smartpay_marl.fraud import (
    CARD_TESTING,
    ISSUER_FRAUD_DECLINE,
    MIXED_TEMPLATES,
    STRATEGY_TEMPLATE,
    fraud_features,
)
from smartpay_marl.gateways import GatewayHealth
from smartpay_marl.generator import (
    RISK,
    U_3DS,
    U_ATTACK,
    U_BURST,
    U_CHARGEBACK_DELAY,
    U_FIRST,
    U_FLAG0,
    U_MIXED,
    U_RETRY,
    U_REVIEW_DELAY,
    Chunk,
    generate_chunk,
)
from smartpay_marl.layout import (
    FRAUDSTER,
    FRAUDSTER_OBS,
    FRAUDSTER_OBS_DIM,
    NUM_GATEWAYS,
    ROUTER,
    ROUTER_ACTION_NVEC,
    ROUTER_OBS,
    ROUTER_OBS_DIM,
    TX_DIM,
    STRATEGIES,
)

#: Itemised router P&L in dollars; their sum is the router's profit.
PNL_TERMS = (
    "sales_margin",  # + margin on captured sales (legitimate or not)
    "gateway_fees",  # - percentage fee on captures, fixed fee per authorisation attempt
    "chargeback_losses",  # - amounts charged back on matured chargebacks
    "dispute_fees",  # - dispute fee per matured chargeback
    "review_costs",  # - manual review cost
    "threeds_costs",  # - 3-D Secure authentication fees
    "abandonment_costs",  # - customer value lost when a 3DS challenge makes a customer leave
    "churn_costs",  # - customer value lost to declines and false blocks
)
#: Per-step metrics in :attr:`StepResult.metrics` besides the P&L terms.
METRIC_NAMES = (
    "is_fraud",
    "is_ring_attempt",
    "amount",
    "routed",
    "captured",
    "blocked",
    "challenged",
    "reviewed",
    "retried",
    "fraud_captured",
    "fraud_stopped",
    "legit_failed",
    "chargebacks_matured",
    "route_score",
    "fraud_score",
    "retention_score",
    "ring_value",
    "ring_cost",
)

EMA_OUTCOME = 0.1
EMA_CHARGEBACK = 0.05
HEAT_ISSUER_DECLINE = 0.4
VALIDATED_DECLINE_CUT = 0.7
MAX_VALIDATED_CARDS = 10
INTENSITY_VELOCITY = 10.0
CARD_TEST_COST_SHARE = 0.1
#: SmartPayEnv's routing grader: sigmoid(1.2 (2E - 1) - 0.15 cost - 0.4 retries + 0.8 quality).
ROUTE_GRADER = (1.2, 0.15, 0.4, 0.8)
#: SmartPayEnv's blend for the graded reward mode: routing, fraud (MCC), retention.
GRADED_WEIGHTS = (0.4, 0.4, 0.2)

#: Hidden affinity of gateway (row) for card BIN category (column). Every BIN has a
#: gateway at 0.99 and the best gateway differs by BIN, so smart routing is worth a
#: few points of success, as in real systems (+0.9 to +2.8 pp, CALIBRATION.md).
BIN_AFFINITY = np.array(
    [
        [0.99, 0.95, 0.94, 0.95, 0.98, 0.99, 0.94, 0.95, 0.96, 0.98],
        [0.96, 0.99, 0.95, 0.94, 0.95, 0.95, 0.99, 0.96, 0.94, 0.96],
        [0.95, 0.96, 0.99, 0.99, 0.94, 0.96, 0.96, 0.99, 0.99, 0.95],
    ]
)
_AFFINITY_BY_BIN = np.ascontiguousarray(BIN_AFFINITY.T)
_NEXT_GATEWAY = np.array([1, 2, 0])


@dataclass
class StepResult:
    """Everything one step produced, batched over environments (leading axis N)."""

    router_obs: np.ndarray  # float32 (N, ROUTER_OBS_DIM)
    fraudster_obs: np.ndarray  # float32 (N, FRAUDSTER_OBS_DIM)
    router_reward: np.ndarray  # float64 (N,)
    fraudster_reward: np.ndarray  # float64 (N,)
    done: bool  # every environment ends at the same step (a fixed horizon)
    pnl: dict[str, np.ndarray]  # itemised router P&L in dollars, (N,) each
    metrics: dict[str, np.ndarray]  # per-step metrics, (N,) each


class Simulator:
    """``num_envs`` independent payment games stepped in one call.

    Args:
        config: the game; see :class:`smartpay_marl.config.GameConfig`.
        num_envs: number of environments N (>= 1).
    """

    def __init__(self, config: GameConfig, num_envs: int = 1):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.config = config
        self.num_envs = n = num_envs
        self._arange = np.arange(n)
        self._calendar_len = config.longest_delay + 1
        self._calendar_rows = self._arange * self._calendar_len
        self.fraudster_nvec = (
            len(config.intensity_levels),
            len(config.stealth_levels),
            len(config.burst_levels),
            len(STRATEGIES),
        )
        self._router_high = np.array(ROUTER_ACTION_NVEC) - 1
        self._fraudster_high = np.array(self.fraudster_nvec) - 1
        self._intensity = np.asarray(config.intensity_levels)
        self._stealth = np.asarray(config.stealth_levels)
        self._burst = np.asarray(config.burst_levels)
        self._fee_pct = np.asarray(config.gateway_fee_pct)
        self._fee_fixed = np.asarray(config.gateway_fee_fixed)
        self._customer_value = np.asarray(config.customer_value)
        self._mixed_count = len(MIXED_TEMPLATES)
        self.gateways = GatewayHealth(
            n,
            np.asarray(config.gateway_base_success),
            config.gateway_instability,
            config.systemic_outage_prob,
            config.health_lag,
        )
        self._allocate()
        self.rng = np.random.default_rng(0)
        self._seeded = False
        self.step_count = 0
        self._chunk: Chunk | None = None
        self._needs_reset = True

    # ------------------------------------------------------------------ state
    def _allocate(self) -> None:
        n, d = self.num_envs, self._calendar_len
        # The pending transaction (decided on at the next step).
        self.tx = np.zeros((n, TX_DIM), dtype=np.float32)
        self.amount = np.zeros(n)
        self.segment = np.zeros(n, dtype=np.int64)
        self.bin = np.zeros(n, dtype=np.int64)
        self.is_fraud = np.zeros(n, dtype=bool)
        self.is_ring = np.zeros(n, dtype=bool)
        self.template = np.full(n, -1, dtype=np.int64)
        self.pass_3ds = np.ones(n)
        self.issuer_accept = np.ones(n)
        self.hour_features = np.zeros((n, 2), dtype=np.float32)
        # Scheduled events: calendars indexed by (step % calendar_len).
        self.cal_chargeback_amount = np.zeros((n, d))
        self.cal_chargeback_count = np.zeros((n, d))
        self.cal_review_fraud = np.zeros((n, d))
        self.cal_review_legit = np.zeros((n, d))
        self.cal_review_margin = np.zeros((n, d))
        self.cal_review_fees = np.zeros((n, d))
        # Router-visible history.
        self.fail_streak = np.zeros(n)
        self.last_captured = np.zeros(n)
        self.failure_ema = np.zeros(n)
        self.chargeback_ema = np.zeros(n)
        self.matured = np.zeros((n, 4))  # chargeback count, chargeback $, reviews fraud, reviews legit
        # Hidden customer and grading state.
        self.legit_streak = np.zeros(n)
        self.retention = np.ones(n)
        self.confusion = np.zeros((n, 4))  # tp, fp, tn, fn (positive = flagged, truth = fraud)
        self.route_score_sum = np.zeros(n)
        self.route_score_count = np.zeros(n)
        # The fraud ring.
        self.heat = np.zeros(n)
        self.burst_left = np.zeros(n, dtype=np.int64)
        self.validated = np.zeros(n)
        self.ring_stealth = np.zeros(n)
        self.ring_ema = np.zeros((n, 8))  # approved, challenged, blocked, reviewed, declined, value, rate, -
        self.ring_attempted = np.zeros(n)
        self.start_hour = np.zeros(n, dtype=np.int64)

    _STATE_ARRAYS = (
        "tx", "amount", "segment", "bin", "is_fraud", "is_ring", "template", "pass_3ds", "issuer_accept",
        "hour_features", "cal_chargeback_amount", "cal_chargeback_count", "cal_review_fraud",
        "cal_review_legit", "cal_review_margin", "cal_review_fees", "fail_streak", "last_captured",
        "failure_ema", "chargeback_ema", "matured", "legit_streak", "retention", "confusion",
        "route_score_sum", "route_score_count", "heat", "burst_left", "validated", "ring_stealth",
        "ring_ema", "ring_attempted", "start_hour",
    )  # fmt: skip

    def clone(self) -> "Simulator":
        """An independent copy whose future, given the same actions, equals this one's."""
        twin = copy.copy(self)
        for name in self._STATE_ARRAYS:
            setattr(twin, name, getattr(self, name).copy())
        twin.gateways = copy.copy(self.gateways)
        for name in ("state", "countdown", "rate", "history"):
            setattr(twin.gateways, name, getattr(self.gateways, name).copy())
        twin.rng = copy.deepcopy(self.rng)
        twin._chunk = self._chunk  # read-only once drawn; sharing it is safe
        return twin

    # ------------------------------------------------------------------ reset
    def reset(self, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Start new episodes in every environment; returns (router_obs, fraudster_obs)."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
            self._seeded = True
        elif not self._seeded:
            self.rng = np.random.default_rng()  # fresh entropy, as Gymnasium does without a seed
            self._seeded = True
        # Fresh arrays rather than zeroing: some state arrays are views of a chunk a clone may share.
        self._allocate()
        self.gateways.reset()
        self.start_hour[:] = self.rng.integers(0, 24, size=self.num_envs)
        self.step_count = 0
        self._chunk = None
        self._chunk_start = 0
        self._load_transaction(self._uniforms_for(0), no_attack=True)
        self._needs_reset = False
        return self._router_obs(), self._fraudster_obs()

    def _uniforms_for(self, step: int) -> np.ndarray:
        """The chunk row for ``step``, drawing the next chunk when needed."""
        offset = step - self._chunk_start
        if self._chunk is None or offset >= self.config.chunk_steps:
            self._chunk = generate_chunk(
                self.rng, self.config, self.num_envs, self.config.chunk_steps, step, self.start_hour
            )
            self._chunk_start = step
            offset = 0
        self._row = offset
        return self._chunk.uniforms[offset]

    # ------------------------------------------------------------------ actions
    def check_actions(self, router_actions: np.ndarray, fraudster_actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validate and convert batched actions; raise ``ValueError`` naming the agent and the value."""
        checked = []
        for agent, actions, high in (
            (ROUTER, router_actions, self._router_high),
            (FRAUDSTER, fraudster_actions, self._fraudster_high),
        ):
            array = np.asarray(actions)
            expected = (self.num_envs, len(high))
            if array.shape != expected:
                raise ValueError(
                    f"{agent}: action must have shape {expected} (MultiDiscrete{list(high + 1)} per env), "
                    f"got shape {array.shape}: {actions!r}"
                )
            if array.dtype.kind not in "iub":
                if array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0):
                    array = array.astype(np.int64)
                else:
                    raise ValueError(
                        f"{agent}: action must hold integers in MultiDiscrete{list(high + 1)}, got {actions!r}"
                    )
            if np.any(array < 0) or np.any(array > high):
                raise ValueError(
                    f"{agent}: action {array.tolist()} out of range; allowed MultiDiscrete{list(high + 1)} "
                    f"(each entry i in [0, {list(high)}[i]])"
                )
            checked.append(array.astype(np.int64, copy=False))
        return checked[0], checked[1]

    # ------------------------------------------------------------------ step
    def step(self, router_actions: np.ndarray, fraudster_actions: np.ndarray) -> StepResult:
        """Advance every environment by one transaction.

        Args:
            router_actions: ``(N, 3)`` ints ``[gateway, decision, retry]``.
            fraudster_actions: ``(N, 4)`` ints ``[intensity, stealth, burst, strategy]``.
        """
        if self._needs_reset:
            raise RuntimeError("call reset() before step(); the episode has ended or never started")
        router_actions, fraudster_actions = self.check_actions(router_actions, fraudster_actions)
        cfg = self.config
        t = self.step_count
        u = self._chunk.uniforms[self._row]
        n_idx = self._arange

        # ---- 1. resolve the router's decision on the pending transaction
        gateway, decision, retry = router_actions[:, 0], router_actions[:, 1], router_actions[:, 2]
        allow, block, threeds, review = decision == 0, decision == 1, decision == 2, decision == 3
        routed = allow | threeds
        fraud = self.is_fraud
        legit = ~fraud
        amount = self.amount
        success = self.gateways.rate * _AFFINITY_BY_BIN[self.bin]  # (N, 3)
        second = _NEXT_GATEWAY[gateway]
        p_first = success[n_idx, gateway] * self.issuer_accept
        p_second = success[n_idx, second] * self.issuer_accept
        passed_3ds = u[:, U_3DS] < self.pass_3ds
        attempt1 = routed & (allow | passed_3ds)
        captured1 = attempt1 & (u[:, U_FIRST] < p_first)
        attempt2 = attempt1 & ~captured1 & (retry == 1)
        captured2 = attempt2 & (u[:, U_RETRY] < p_second)
        captured = captured1 | captured2
        final_gateway = np.where(captured2, second, gateway)

        fees = self._fee_fixed[gateway] * attempt1 + self._fee_fixed[second] * attempt2
        fees += self._fee_pct[final_gateway] * amount * captured
        margin = cfg.gross_margin * amount * captured
        chargeback_now = captured & fraud & ~threeds  # authenticated fraud: liability shifts to the issuer
        abandoned = threeds & legit & ~passed_3ds
        legit_failed = legit & ((routed & ~captured) | block)

        # Customers: consecutive failures raise churn quadratically (SmartPayEnv's hazard).
        streak = np.where(legit_failed, self.legit_streak + 1.0, np.where(legit & captured, 0.0, self.legit_streak))
        self.legit_streak = streak
        churn_p = np.where(legit_failed, 1.0 - np.exp(-cfg.churn_hazard * streak * streak), 0.0)
        lost_value = self._customer_value[self.segment] * churn_p
        self.retention *= 1.0 - churn_p

        # Schedule chargebacks and reviews on the calendars.
        low, high = cfg.chargeback_delay
        slot = (t + low + (u[:, U_CHARGEBACK_DELAY] * (high - low + 1)).astype(np.int64)) % self._calendar_len
        flat = self._calendar_rows + slot
        self.cal_chargeback_amount.ravel()[flat] += amount * chargeback_now
        self.cal_chargeback_count.ravel()[flat] += chargeback_now
        low, high = cfg.review_delay
        slot = (t + low + (u[:, U_REVIEW_DELAY] * (high - low + 1)).astype(np.int64)) % self._calendar_len
        flat = self._calendar_rows + slot
        review_legit = review & legit
        review_capture = review_legit & (u[:, U_FIRST] < p_first)
        self.cal_review_fraud.ravel()[flat] += review & fraud
        self.cal_review_legit.ravel()[flat] += review_legit
        self.cal_review_margin.ravel()[flat] += cfg.gross_margin * amount * review_capture
        self.cal_review_fees.ravel()[flat] += (
            self._fee_fixed[gateway] * review_legit + self._fee_pct[gateway] * amount * review_capture
        )

        # ---- 2. mature what is due now (and everything, at the horizon)
        t_next = t + 1
        done = t_next >= cfg.max_cycles
        if done:
            due = np.s_[:, :]
            sums = lambda cal: cal.sum(axis=1)  # noqa: E731
        else:
            due = np.s_[:, t_next % self._calendar_len]
            sums = lambda cal: cal[due].copy()  # noqa: E731
        cb_amount = sums(self.cal_chargeback_amount)
        cb_count = sums(self.cal_chargeback_count)
        rv_fraud = sums(self.cal_review_fraud)
        rv_legit = sums(self.cal_review_legit)
        rv_margin = sums(self.cal_review_margin)
        rv_fees = sums(self.cal_review_fees)
        for cal in (
            self.cal_chargeback_amount,
            self.cal_chargeback_count,
            self.cal_review_fraud,
            self.cal_review_legit,
            self.cal_review_margin,
            self.cal_review_fees,
        ):
            cal[due] = 0.0

        pnl = {
            "sales_margin": margin + rv_margin,
            "gateway_fees": -(fees + rv_fees),
            "chargeback_losses": -cb_amount,
            "dispute_fees": -cfg.dispute_fee * cb_count,
            "review_costs": -cfg.review_cost * review,
            "threeds_costs": -cfg.threeds_cost * threeds,
            "abandonment_costs": -lost_value * abandoned,
            "churn_costs": -lost_value * ~abandoned,
        }
        profit = sum(pnl.values())

        # ---- graders (SmartPayEnv's three scores, kept as metrics)
        lagged = self.gateways.lagged(t)
        expected = lagged[:, :NUM_GATEWAYS] * _AFFINITY_BY_BIN[self.bin]
        quality = expected[n_idx, gateway] >= expected.max(axis=1)
        a, b, c, d = ROUTE_GRADER
        route_step = 1.0 / (1.0 + np.exp(-(a * (2.0 * expected[n_idx, gateway] - 1.0) - b * fees - c * attempt2 + d * quality)))
        self.route_score_sum += route_step * routed
        self.route_score_count += routed
        flagged = ~allow
        self.confusion += np.stack([flagged & fraud, flagged & legit, allow & legit, allow & fraud], axis=1)
        tp, fp, tn, fn = self.confusion.T
        denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = np.where(denominator > 0, (tp * tn - fp * fn) / np.maximum(denominator, 1e-12), 0.0)
        fraud_score = 0.5 * (mcc + 1.0)
        route_score = np.where(self.route_score_count > 0, self.route_score_sum / np.maximum(self.route_score_count, 1), 0.5)

        # ---- the ring's outcome on this transaction
        ring = self.is_ring
        ring_captured = ring & captured
        stopped_3ds = threeds & fraud & ~passed_3ds
        declined = attempt1 & ~captured
        ring_value = cfg.cashout_rate * amount * ring_captured
        outcome = np.stack(
            [captured, threeds, block, review, declined, np.log1p(ring_value) / 8.0], axis=1
        )
        ema = self.ring_ema[:, :6]
        ema += EMA_OUTCOME * ring[:, None] * (outcome - ema)
        caught = ring & (block | review | stopped_3ds)
        self.validated = np.minimum(self.validated + (ring_captured & (self.template == CARD_TESTING)), MAX_VALIDATED_CARDS)

        # ---- router-visible history
        failed_route = routed & ~captured
        self.fail_streak = np.where(failed_route, self.fail_streak + 1.0, np.where(captured, 0.0, self.fail_streak))
        self.last_captured = captured.astype(np.float64)
        self.failure_ema += EMA_OUTCOME * routed * (failed_route - self.failure_ema)
        self.chargeback_ema += EMA_CHARGEBACK * (np.minimum(cb_count, 1.0) - self.chargeback_ema)
        self.matured = np.stack([cb_count, cb_amount, rv_fraud, rv_legit], axis=1)

        metrics = {
            "is_fraud": fraud,
            "is_ring_attempt": ring,
            "amount": amount.copy(),
            "routed": routed,
            "captured": captured,
            "blocked": block,
            "challenged": threeds,
            "reviewed": review,
            "retried": attempt2,
            "fraud_captured": fraud & captured,
            "fraud_stopped": fraud & (block | review | stopped_3ds),
            "legit_failed": legit_failed,
            "chargebacks_matured": cb_count,
            "route_score": route_score,
            "fraud_score": fraud_score,
            "retention_score": self.retention.copy(),
            "ring_value": ring_value,
        }

        # ---- 3. gateways move; 4. the ring prepares the next transaction
        self.gateways.advance(t_next, u)
        self.step_count = t_next
        self.heat = np.clip(self.heat * cfg.heat_decay + cfg.heat_per_caught * caught, 0.0, 1.0)
        if done:
            ring_cost = np.zeros(self.num_envs)
            self._needs_reset = True
        else:
            ring_cost = self._load_transaction(self._uniforms_for(t_next), fraudster_actions=fraudster_actions)
        metrics["ring_cost"] = ring_cost

        # ---- rewards
        scale = cfg.reward_scale
        if cfg.reward_mode == "graded":
            w_route, w_fraud, w_retention = GRADED_WEIGHTS
            step_route = np.where(routed, route_step, 0.5)
            router_reward = w_route * step_route + w_fraud * fraud_score + w_retention * self.retention
            fraudster_reward = -router_reward
        else:
            router_reward = profit * scale
            if cfg.reward_mode == "zero_sum":
                fraudster_reward = -router_reward
            else:
                fraudster_reward = (ring_value - ring_cost) * scale
        return StepResult(
            router_obs=self._router_obs(),
            fraudster_obs=self._fraudster_obs(),
            router_reward=router_reward,
            fraudster_reward=fraudster_reward,
            done=done,
            pnl=pnl,
            metrics=metrics,
        )

    def simulate(self, router_actions: np.ndarray, fraudster_actions: np.ndarray) -> StepResult:
        """The outcome of one step with these actions, leaving this simulator untouched."""
        return self.clone().step(router_actions, fraudster_actions)

    # ------------------------------------------------------------------ next transaction
    def _load_transaction(
        self, uniforms: np.ndarray, fraudster_actions: np.ndarray | None = None, no_attack: bool = False
    ) -> np.ndarray:
        """Make the chunk's current row the pending transaction, with the ring's attempt laid over it.

        Returns the ring's attempt cost (dollars, per env) for profit mode.
        """
        chunk, row = self._chunk, self._row
        self.tx[:] = chunk.tx[row]
        self.amount = chunk.amount[row].copy()
        self.segment = chunk.segment[row]
        self.bin = chunk.bin[row]
        self.is_fraud = chunk.is_fraud[row].copy()
        self.template = chunk.template[row].copy()
        self.pass_3ds = chunk.pass_3ds[row].copy()
        self.issuer_accept = chunk.issuer_accept[row].copy()
        self.hour_features = chunk.hour_features[row]
        if no_attack:
            self.is_ring[:] = False
            self.ring_attempted[:] = 0.0
            return np.zeros(self.num_envs)

        cfg = self.config
        intensity = self._intensity[fraudster_actions[:, 0]]
        stealth = self._stealth[fraudster_actions[:, 1]]
        burst_start = (self.burst_left == 0) & (uniforms[:, U_BURST] < self._burst[fraudster_actions[:, 2]])
        self.burst_left = np.where(burst_start, cfg.burst_length, self.burst_left)
        in_burst = self.burst_left > 0
        attack = in_burst | (uniforms[:, U_ATTACK] < intensity)
        burst_position = np.where(in_burst, cfg.burst_length - self.burst_left + 1, 0)
        self.burst_left = np.maximum(self.burst_left - 1, 0)
        strategy = fraudster_actions[:, 3]
        mixed_pick = MIXED_TEMPLATES[(uniforms[:, U_MIXED] * self._mixed_count).astype(np.int64)]
        template = np.where(strategy == 0, mixed_pick, STRATEGY_TEMPLATE[strategy])
        velocity_extra = INTENSITY_VELOCITY * intensity + burst_position
        legit_velocity = chunk.velocity[row]
        f = fraud_features(template, chunk.amount[row], legit_velocity, stealth, velocity_extra,
                           uniforms[:, U_FLAG0 : U_FLAG0 + 4])  # fmt: skip
        use_validated = attack & (self.validated >= 1) & (template != CARD_TESTING)
        self.validated = self.validated - use_validated
        logit = (
            chunk.logit_rest[row]
            + f.hidden_signal
            + RISK.heat * self.heat
            + RISK.visible_logit(f.amount, f.velocity, f.international, f.new_device, f.geo_mismatch)
        )
        ring_columns = np.stack(
            [
                np.minimum(np.log1p(f.amount) / 8.0, 1.5),
                1.0 / (1.0 + np.exp(-logit)),
                np.minimum(f.velocity / 10.0, 1.0),
                f.international,
                f.new_device,
                f.geo_mismatch,
            ],
            axis=1,
        )
        self.tx[:, :6] = np.where(attack[:, None], ring_columns, self.tx[:, :6])
        self.amount = np.where(attack, f.amount, self.amount)
        self.is_fraud |= attack
        self.is_ring = attack
        self.template = np.where(attack, template, self.template)
        self.pass_3ds = np.where(attack, f.pass_3ds, self.pass_3ds)
        decline = ISSUER_FRAUD_DECLINE * (1.0 - VALIDATED_DECLINE_CUT * use_validated) + HEAT_ISSUER_DECLINE * self.heat
        self.issuer_accept = np.where(attack, 1.0 - np.minimum(decline, 1.0), self.issuer_accept)
        self.ring_stealth = stealth
        self.ring_attempted = attack.astype(np.float64)
        self.ring_ema[:, 6] += EMA_OUTCOME * (self.ring_attempted - self.ring_ema[:, 6])
        self.heat = np.minimum(self.heat + cfg.heat_per_attempt * attack * (1.0 - 0.5 * stealth), 1.0)
        unit_cost = cfg.attempt_cost * (1.0 + cfg.stealth_cost_factor * stealth)
        return unit_cost * attack * np.where(template == CARD_TESTING, CARD_TEST_COST_SHARE, 1.0)

    # ------------------------------------------------------------------ observations
    def _router_obs(self) -> np.ndarray:
        n = self.num_envs
        obs = np.empty((n, ROUTER_OBS_DIM), dtype=np.float32)
        obs[:, :TX_DIM] = self.tx
        obs[:, ROUTER_OBS["hour"]] = self.hour_features
        health = ROUTER_OBS["health_rate"].start
        obs[:, health : health + 9] = self.gateways.lagged(self.step_count)
        rest = ROUTER_OBS["failure_streak"].start
        matured = self.matured
        obs[:, rest] = np.minimum(self.fail_streak / 5.0, 1.0)
        obs[:, rest + 1] = self.last_captured
        obs[:, rest + 2] = self.failure_ema
        obs[:, rest + 3] = np.minimum(matured[:, 0] / 3.0, 1.0)
        obs[:, rest + 4] = np.minimum(np.log1p(matured[:, 1]) / 8.0, 1.5)
        obs[:, rest + 5 : rest + 7] = np.minimum(matured[:, 2:4] / 3.0, 1.0)
        obs[:, rest + 7] = self.chargeback_ema
        obs[:, rest + 8] = self.step_count / self.config.max_cycles
        return obs

    def _fraudster_obs(self) -> np.ndarray:
        obs = np.empty((self.num_envs, FRAUDSTER_OBS_DIM), dtype=np.float32)
        obs[:, 0] = self.ring_attempted
        obs[:, 1:8] = self.ring_ema[:, :7]
        obs[:, 6] = np.minimum(self.ring_ema[:, 5], 1.5)
        obs[:, 8] = self.burst_left > 0
        obs[:, 9] = self.validated / MAX_VALIDATED_CARDS
        obs[:, FRAUDSTER_OBS["hour"]] = self.hour_features
        obs[:, FRAUDSTER_OBS["progress"]] = self.step_count / self.config.max_cycles
        return obs

    # ------------------------------------------------------------------ global state
    def global_state(self) -> np.ndarray:
        """Both observations plus the hidden truth (fraud flag, true gateway rates, ring heat)."""
        hidden = np.concatenate(
            [
                self.is_fraud[:, None],
                self.is_ring[:, None],
                self.gateways.rate,
                self.heat[:, None],
                np.minimum(self.legit_streak[:, None] / 10.0, 1.0),
                self.retention[:, None],
            ],
            axis=1,
        ).astype(np.float32)
        return np.concatenate([self._router_obs(), self._fraudster_obs(), hidden], axis=1)


STATE_HIDDEN_DIM = 2 + NUM_GATEWAYS + 3
STATE_DIM = ROUTER_OBS_DIM + FRAUDSTER_OBS_DIM + STATE_HIDDEN_DIM

"""The rules of the game, compiled: one loop over environments that plays one step in each.

Everything that decides an outcome lives here, written once as scalar code and
compiled with numba, so the same rules run one environment (the PettingZoo
env) or thousands (the vector env) at native speed. Random numbers are not
drawn here: :mod:`smartpay_marl.generator` draws them ahead, in bulk, with
numpy, and these functions only read them. That keeps episodes bit-for-bit
reproducible and independent of the actions taken.

:func:`step_all` plays one step and reads as the list of the game's mechanics,
each a compiled helper inlined into it (``inline="always"``, so naming them
costs nothing at run time):

- :func:`_read_decision`: the router's action as allow / block / 3-D Secure / review flags;
- :func:`_apply_capacity`: review and 3-D Secure budgets per window (fraud displacement; off by default);
- :func:`_three_d_secure`: whether the customer (or fraudster) completes a challenge;
- :func:`_authorise`: the gateway attempt, the optional failover, and the issuer's word;
- :func:`_gateway_fees`: fixed fee per attempt, percentage fee on the capturing gateway;
- :func:`_churn`: customers lost to a streak of failed payments;
- :func:`_schedule_chargeback`, :func:`_schedule_review`: the event calendar;
- :func:`_mature_events`: what the calendar books this step (everything at the horizon);
- :func:`_book_pnl`: the router's itemised P&L (:data:`PNL_TERMS`);
- :func:`_route_grade`, :func:`_fraud_grade`, :func:`_retention_grade`: SmartPayEnv's graders;
- :func:`_ring_feedback`: what the ring learns from its attempt, its validated cards and heat;
- :func:`_router_feedback`: the router's own outcome history;
- :func:`_advance_gateways`: gateway health (below);
- :func:`_load_transaction` and :func:`_ring_attempt`: the next slot, with the ring's attempt laid over it;
- :func:`_rewards`: both agents' rewards in the config's reward mode.

State crosses this boundary as a few packed float arrays whose column indices
are the constants below; :mod:`smartpay_marl.simulator` owns them. Observation
offsets, action fields, decision codes and the gateway count come from
:mod:`smartpay_marl.layout`; the fraud templates from :mod:`smartpay_marl.fraud`.
Module globals are compile-time constants to numba, so reading them by name in
the hot loop costs nothing.

Gateway health (SmartPayEnv's state machine): a gateway in *normal* degrades
with probability ``gateway_instability`` per step (success rate cut to 20-50%
of base for 3-9 steps), then *recovers* for 2-4 steps closing 40% of the gap
per step. A systemic outage (``systemic_outage_prob``) degrades each gateway
with probability 0.7 to 10% of its base rate for 5-14 steps. In *normal* the
rate mean-reverts to base with a little noise (SmartPayEnv let it random-walk).
The router sees health ``health_lag`` steps late.

Adding a router decision: see :mod:`smartpay_marl.layout`. Adding a fraud
template or a ring strategy: see :mod:`smartpay_marl.fraud` (no change here).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from smartpay_marl.fraud import (
    CARD_TEST_AMOUNT,
    CARD_TESTING,
    ISSUER_FRAUD_DECLINE,
    MIXED_TEMPLATES,
    STEALTH_AMOUNT_LOSS,
    STEALTH_MASKING,
    STRATEGY_TEMPLATE,
    TEMPLATE_COLUMNS,
    TEMPLATE_PARAMETERS,
)
from smartpay_marl.layout import (
    AGENTS,
    ALLOW,
    BLOCK,
    FAILOVER,
    FRAUDSTER,
    FRAUDSTER_ACTION_FIELDS,
    FRAUDSTER_OBS,
    GATEWAY_STATES,
    NUM_GATEWAYS,
    REVIEW,
    ROUTER,
    ROUTER_ACTION_FIELDS,
    ROUTER_OBS,
    THREEDS,
    TX,
    TX_AMOUNT,
    TX_DIM,
    TX_GEO,
    TX_INTERNATIONAL,
    TX_NEW_DEVICE,
    TX_PAYMENT,
    TX_RISK,
    TX_TENURE,
    TX_VELOCITY,
)


def _columns(names: tuple[str, ...], *wanted: str) -> tuple[int, ...]:
    """Positions of ``wanted`` in ``names`` (a ValueError at import if a name is missing)."""
    return tuple(names.index(name) for name in wanted)


def _check_named(prefix: str, names: tuple[str, ...]) -> None:
    """Each column's constant ``prefix + NAME`` must hold that name's position in ``names`` (checked at import).

    The rules index packed rows with plain integer constants (numba compiles them in), so a table of
    column names and the constants that index it are both written; this check keeps them in step.
    """
    namespace = globals()
    for position, name in enumerate(names):
        constant = prefix + name.upper()
        if namespace.get(constant) != position:
            raise ValueError(f"rules.{constant} must be {position}, the column of {name!r}; got {namespace.get(constant)!r}")


def _blocks(*blocks: tuple[str, int]) -> tuple[dict[str, int], int]:
    """Start column of each named block of a packed row, and the row's width."""
    starts, width = {}, 0
    for name, size in blocks:
        starts[name] = width
        width += size
    return starts, width


# ----------------------------------------------------------------------------- constants
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
if BIN_AFFINITY.shape[0] != NUM_GATEWAYS:
    raise ValueError(f"BIN_AFFINITY needs one row per gateway ({NUM_GATEWAYS}), got {BIN_AFFINITY.shape[0]}")
# Fraud templates: one row of parameters per template (fraud.TEMPLATE_TABLE), columns by name.
_TEMPLATE_TABLE = TEMPLATE_PARAMETERS
_T_AMOUNT, _T_SIGNAL, _T_VELOCITY, _T_DEVICE, _T_GEO, _T_INTL, _T_PASS3DS = _columns(
    TEMPLATE_COLUMNS,
    "amount_log_shift", "signal", "velocity_add", "p_new_device", "p_geo_mismatch", "p_international", "p_pass_3ds",
)  # fmt: skip
_MIXED = MIXED_TEMPLATES.astype(np.int64)
_STRATEGY_TEMPLATE = STRATEGY_TEMPLATE.astype(np.int64)
_CT_LOW, _CT_HIGH = CARD_TEST_AMOUNT
#: Uniform numbers a fraud attempt consumes: international, new device, geo mismatch, card-test amount.
ATTEMPT_UNIFORMS = 4

# Upstream risk model: logit = bias + weights . visible flags + hidden fraud signal + noise.
RISK_BIAS = -3.0
RISK_NEW_DEVICE = 1.2
RISK_GEO = 1.0
RISK_INTERNATIONAL = 0.6
RISK_VELOCITY = 0.25
RISK_AMOUNT = 0.3
RISK_AMOUNT_PIVOT = 4.0
RISK_TENURE = -1.5
RISK_NOISE_STD = 0.9
RISK_HEAT = 2.0

# Gateway state machine; the state codes are positions in layout.GATEWAY_STATES.
NORMAL, DEGRADED, RECOVERING = (float(k) for k in _columns(GATEWAY_STATES, "normal", "degraded", "recovering"))
DEGRADED_FACTOR_LOW, DEGRADED_FACTOR_HIGH = 0.2, 0.5
DEGRADED_STEPS_LOW, DEGRADED_STEPS_HIGH = 3, 9
RECOVERING_STEPS_LOW, RECOVERING_STEPS_HIGH = 2, 4
RECOVERY_SHARE = 0.4
OUTAGE_GATEWAY_PROB = 0.7
OUTAGE_FACTOR = 0.1
OUTAGE_STEPS_LOW, OUTAGE_STEPS_HIGH = 5, 14
NORMAL_REVERSION = 0.9
NORMAL_NOISE = 0.01

# Ring and history dynamics.
EMA_OUTCOME = 0.1
EMA_CHARGEBACK = 0.05
HEAT_ISSUER_DECLINE = 0.4
VALIDATED_DECLINE_CUT = 0.7
MAX_VALIDATED_CARDS = 10.0
INTENSITY_VELOCITY = 25.0  # card velocity added per unit of traffic share: volume is loud
CARD_TEST_COST_SHARE = 0.1
# SmartPayEnv's graders: routing sigmoid(1.2 (2E - 1) - 0.15 cost - 0.4 retries + 0.8 quality)
# and the graded reward's blend of routing, fraud (MCC) and retention scores.
GRADE_OUTCOME, GRADE_COST, GRADE_RETRY, GRADE_QUALITY = 1.2, 0.15, 0.4, 0.8
GRADED_ROUTE, GRADED_FRAUD, GRADED_RETENTION = 0.4, 0.4, 0.2

# Observation scaling (the layout's slot docs state these divisors).
LOG_AMOUNT_SCALE = 8.0  # amounts are seen as log1p($) / 8
LOG_AMOUNT_CAP = 1.5
VELOCITY_SCALE = 10.0
STREAK_SCALE = 5.0
COUNT_SCALE = 3.0

# ----------------------------------------------------------------------------- actions
A_GATEWAY, A_DECISION, A_RETRY = _columns(ROUTER_ACTION_FIELDS, "gateway", "decision", "retry")
A_INTENSITY, A_STEALTH, A_BURST, A_STRATEGY = _columns(FRAUDSTER_ACTION_FIELDS, "intensity", "stealth", "burst", "strategy")
#: Rows of the simulator's ``levels`` array: the level values of each fraudster action field.
L_INTENSITY, L_STEALTH, L_BURST = A_INTENSITY, A_STEALTH, A_BURST
#: Row of ``levels`` holding the template each strategy plays (-1: mixed), from the config's strategy map.
L_STRATEGY_TEMPLATE = 3
#: Row of ``levels`` holding each template's log amount shift (the table's, or the game's override).
L_AMOUNT_SHIFT = 4
L_DIM = 5

# ----------------------------------------------------------------------------- packed layouts
# Rewards, (N, 2): one column per agent, in the order of layout.AGENTS.
R_ROUTER, R_FRAUDSTER = AGENTS.index(ROUTER), AGENTS.index(FRAUDSTER)
# Pending transaction, (N, 10); P_PRESENT is 0 in an idle step; P_VALUE is the customer's value if lost.
P_AMOUNT, P_SEGMENT, P_BIN, P_FRAUD, P_RING, P_TEMPLATE, P_PASS3DS, P_ISSUER, P_PRESENT, P_VALUE = range(10)
P_DIM = 10
# Chunk row data, (steps, N, 10): the generator's per-slot scalars. Every row holds a customer
# profile (the card a ring attempt would use); C_PRESENT says whether that customer pays now.
# C_VALUE: the future margin lost if this customer churns (their segment's, or their look-alike channel's).
C_AMOUNT, C_VELOCITY, C_SEGMENT, C_BIN, C_FRAUD, C_TEMPLATE, C_PASS3DS, C_ISSUER, C_LOGIT_REST, C_PRESENT, C_VALUE = range(11)
C_DIM = 11
# Per-environment state, (N, S_DIM), one column per name; the last two count reviews and 3-D Secure
# challenges in the capacity window.
STATE_COLUMNS = (
    "fail_streak", "last_captured", "failure_ema", "chargeback_ema",
    "matured_cb_count", "matured_cb_amount", "matured_review_fraud", "matured_review_legit",
    "legit_streak", "churned", "legit_served", "tp", "fp", "tn", "fn", "route_sum", "route_count",
    "heat", "burst_left", "validated", "attempted",
    "ema_approved", "ema_challenged", "ema_blocked", "ema_reviewed", "ema_declined", "ema_value", "ema_rate",
    "window_reviews", "window_threeds",
)  # fmt: skip
S_DIM = len(STATE_COLUMNS)
(
    S_FAIL_STREAK, S_LAST_CAPTURED, S_FAILURE_EMA, S_CHARGEBACK_EMA,
    S_MATURED_CB_COUNT, S_MATURED_CB_AMOUNT, S_MATURED_REVIEW_FRAUD, S_MATURED_REVIEW_LEGIT,
    S_LEGIT_STREAK, S_CHURNED, S_LEGIT_SERVED, S_TP, S_FP, S_TN, S_FN, S_ROUTE_SUM, S_ROUTE_COUNT,
    S_HEAT, S_BURST_LEFT, S_VALIDATED, S_ATTEMPTED,
    S_EMA_APPROVED, S_EMA_CHALLENGED, S_EMA_BLOCKED, S_EMA_REVIEWED, S_EMA_DECLINED, S_EMA_VALUE, S_EMA_RATE,
    S_WINDOW_REVIEWS, S_WINDOW_THREEDS,
) = range(S_DIM)  # fmt: skip
_check_named("S_", STATE_COLUMNS)
# Gateways, (N, NUM_GATEWAYS, 3): state code, countdown, current success rate.
G_STATE, G_COUNTDOWN, G_RATE = range(3)
G_DIM = 3
# Event calendars, (N, calendar_len, 6), indexed by step % calendar_len.
E_CB_AMOUNT, E_CB_COUNT, E_REVIEW_FRAUD, E_REVIEW_LEGIT, E_REVIEW_MARGIN, E_REVIEW_FEES = range(6)
E_DIM = 6
# Parameters, one float64 vector (K_DIM,), one entry per name; simulator.parameter_values fills it by name.
PARAMETERS = (
    "margin", "dispute_fee", "review_cost", "threeds_cost", "cb_low", "cb_high", "review_low", "review_high",
    "churn", "instability", "outage", "burst_length", "attempt_cost", "stealth_cost", "cashout",
    "heat_decay", "heat_attempt", "heat_caught", "scale", "mode", "max_cycles", "idle_share",
    "review_capacity", "threeds_capacity", "capacity_window", "false_decline_churn", "signal_scale", "volume_velocity",
)  # fmt: skip
K_DIM = len(PARAMETERS)
(
    K_MARGIN, K_DISPUTE_FEE, K_REVIEW_COST, K_THREEDS_COST, K_CB_LOW, K_CB_HIGH, K_REVIEW_LOW, K_REVIEW_HIGH,
    K_CHURN, K_INSTABILITY, K_OUTAGE, K_BURST_LENGTH, K_ATTEMPT_COST, K_STEALTH_COST, K_CASHOUT,
    K_HEAT_DECAY, K_HEAT_ATTEMPT, K_HEAT_CAUGHT, K_SCALE, K_MODE, K_MAX_CYCLES, K_IDLE_SHARE,
    K_REVIEW_CAPACITY, K_THREEDS_CAPACITY, K_CAPACITY_WINDOW, K_FALSE_DECLINE_CHURN, K_SIGNAL_SCALE, K_VOLUME_VELOCITY,
) = range(K_DIM)  # fmt: skip
_check_named("K_", PARAMETERS)
#: A capacity parameter below zero means unlimited (the default game).
UNLIMITED = -1.0
MODE_ZERO_SUM, MODE_PROFIT, MODE_GRADED = 0.0, 1.0, 2.0
# Per-gateway and per-segment tables, (4, 3): base success, fee %, fixed fee, customer value by segment.
T_BASE, T_FEE_PCT, T_FEE_FIXED, T_CUSTOMER_VALUE = range(4)
# Uniform columns per step, (steps, N, U_DIM); per-gateway blocks hold one column per gateway.
_U, U_DIM = _blocks(
    ("first", 1), ("retry", 1), ("3ds", 1), ("chargeback_delay", 1), ("review_delay", 1),
    ("attack", 1), ("burst", 1), ("mixed", 1), ("flag", ATTEMPT_UNIFORMS), ("outage", 1),
    ("degrade", NUM_GATEWAYS), ("countdown", NUM_GATEWAYS), ("factor", NUM_GATEWAYS),
    ("outage_gateway", NUM_GATEWAYS), ("noise", NUM_GATEWAYS), ("issuer", 1),
)  # fmt: skip
U_FIRST, U_RETRY, U_3DS, U_CHARGEBACK_DELAY, U_REVIEW_DELAY = _U["first"], _U["retry"], _U["3ds"], _U["chargeback_delay"], _U["review_delay"]
U_ATTACK, U_BURST, U_MIXED, U_FLAG, U_OUTAGE = _U["attack"], _U["burst"], _U["mixed"], _U["flag"], _U["outage"]
U_DEGRADE, U_COUNTDOWN, U_FACTOR, U_OUTAGE_GATEWAY = _U["degrade"], _U["countdown"], _U["factor"], _U["outage_gateway"]
U_NOISE, U_ISSUER = _U["noise"], _U["issuer"]

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
(
    PNL_SALES_MARGIN, PNL_GATEWAY_FEES, PNL_CHARGEBACK_LOSSES, PNL_DISPUTE_FEES,
    PNL_REVIEW_COSTS, PNL_THREEDS_COSTS, PNL_ABANDONMENT_COSTS, PNL_CHURN_COSTS,
) = range(len(PNL_TERMS))  # fmt: skip
_check_named("PNL_", PNL_TERMS)
PNL_DIM = len(PNL_TERMS)
METRIC_NAMES = (
    "is_fraud", "is_ring_attempt", "amount", "routed", "captured", "blocked", "challenged", "reviewed",
    "retried", "fraud_captured", "fraud_stopped", "legit_failed", "chargebacks_matured",
    "route_score", "fraud_score", "retention_score", "ring_value", "ring_cost", "payment_present",
)  # fmt: skip
(
    M_IS_FRAUD, M_IS_RING_ATTEMPT, M_AMOUNT, M_ROUTED, M_CAPTURED, M_BLOCKED, M_CHALLENGED, M_REVIEWED,
    M_RETRIED, M_FRAUD_CAPTURED, M_FRAUD_STOPPED, M_LEGIT_FAILED, M_CHARGEBACKS_MATURED,
    M_ROUTE_SCORE, M_FRAUD_SCORE, M_RETENTION_SCORE, M_RING_VALUE, M_RING_COST, M_PAYMENT_PRESENT,
) = range(len(METRIC_NAMES))  # fmt: skip
_check_named("M_", METRIC_NAMES)
M_DIM = len(METRIC_NAMES)

# ----------------------------------------------------------------------------- observation offsets (from layout)
TX_SEGMENT, TX_MERCHANT, TX_BIN = TX["segment"].start, TX["merchant"].start, TX["bin"].start
OBS_HOUR = ROUTER_OBS["hour"].start
OBS_HEALTH = ROUTER_OBS["health_rate"].start
OBS_HISTORY = ROUTER_OBS["failure_streak"].start  # the router's own outcome history starts here
OBS_FAILURE_STREAK, OBS_LAST_APPROVED, OBS_FAILURE_RATE = (
    ROUTER_OBS[name].start for name in ("failure_streak", "last_approved", "failure_rate")
)
OBS_CHARGEBACKS_NOW, OBS_CHARGEBACK_AMOUNT_NOW, OBS_REVIEWS_FRAUD_NOW, OBS_REVIEWS_LEGIT_NOW = (
    ROUTER_OBS[name].start
    for name in ("chargebacks_now", "chargeback_amount_now", "reviews_fraud_now", "reviews_legit_now")
)
OBS_CHARGEBACK_RATE, OBS_PROGRESS = ROUTER_OBS["chargeback_rate"].start, ROUTER_OBS["progress"].start
# The lagged health history row has the router observation's health layout: rates, degraded, recovering.
H_RATE = ROUTER_OBS["health_rate"].start - OBS_HEALTH
H_DEGRADED = ROUTER_OBS["health_degraded"].start - OBS_HEALTH
H_RECOVERING = ROUTER_OBS["health_recovering"].start - OBS_HEALTH
HEALTH_DIM = ROUTER_OBS["health_recovering"].stop - OBS_HEALTH
(
    F_ATTEMPTED, F_APPROVED, F_CHALLENGED, F_BLOCKED, F_REVIEWED, F_DECLINED,
    F_VALUE, F_RATE, F_BURST, F_VALIDATED, F_HOUR, F_PROGRESS,
) = (
    FRAUDSTER_OBS[name].start
    for name in (
        "attempted", "outcome_approved", "outcome_challenged", "outcome_blocked", "outcome_reviewed",
        "outcome_declined", "value_extracted", "attempt_rate", "burst_active", "validated_cards", "hour", "progress",
    )
)  # fmt: skip


# ----------------------------------------------------------------------------- shared scalar rules
@njit(cache=True, inline="always")
def visible_logit(amount, velocity, international, new_device, geo_mismatch):
    """The upstream risk model's logit contribution from a transaction's observable features."""
    return (
        RISK_NEW_DEVICE * new_device
        + RISK_GEO * geo_mismatch
        + RISK_INTERNATIONAL * international
        + RISK_VELOCITY * velocity
        + RISK_AMOUNT * (math.log1p(amount) - RISK_AMOUNT_PIVOT)
    )


@njit(cache=True, inline="always")
def fraud_attempt(template, legit_amount, legit_velocity, stealth, extra_velocity, u0, u1, u2, u3, amount_shift):
    """Turn a cardholder's transaction into a fraud attempt of ``template``.

    Stealth in [0, 1] masks the hidden signal and the telltale flags
    (``STEALTH_MASKING``) but also gives up amount per attempt
    (``STEALTH_AMOUNT_LOSS``) and some velocity. ``amount_shift`` is the log
    amount shift per template (the table's column, or the game's override). Returns (amount, velocity,
    international, new_device, geo_mismatch, hidden_signal, pass_3ds).
    """
    row = _TEMPLATE_TABLE[template]
    keep = 1.0 - STEALTH_MASKING * stealth
    if template == CARD_TESTING:
        amount = _CT_LOW + (_CT_HIGH - _CT_LOW) * u3
    else:
        amount = legit_amount * math.exp(amount_shift[template]) * (1.0 - STEALTH_AMOUNT_LOSS * stealth)
    velocity = legit_velocity + (row[_T_VELOCITY] + extra_velocity) * (1.0 - 0.5 * stealth)
    international = 1.0 if u0 < row[_T_INTL] * keep else 0.0
    new_device = 1.0 if u1 < row[_T_DEVICE] * keep else 0.0
    geo_mismatch = 1.0 if u2 < row[_T_GEO] * keep else 0.0
    return amount, velocity, international, new_device, geo_mismatch, row[_T_SIGNAL] * keep, row[_T_PASS3DS]


@njit(cache=True, inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, inline="always")
def _amount_feature(dollars):
    return min(math.log1p(dollars) / LOG_AMOUNT_SCALE, LOG_AMOUNT_CAP)


@njit(cache=True, inline="always")
def _write_features(tx, amount, risk_logit, velocity, international, new_device, geo_mismatch):
    """The transaction slots a fraud attempt can change (amount, risk score, velocity, flags)."""
    tx[TX_AMOUNT] = _amount_feature(amount)
    tx[TX_RISK] = _sigmoid(risk_logit)
    tx[TX_VELOCITY] = min(velocity / VELOCITY_SCALE, 1.0)
    tx[TX_INTERNATIONAL] = international
    tx[TX_NEW_DEVICE] = new_device
    tx[TX_GEO] = geo_mismatch


# ----------------------------------------------------------------------------- chunk building
@njit(cache=True)
def build_transactions(
    tx, rows, fraud_uniforms, flags, tenure, segment, merchant, card_bin, merchant_risk, lookalike, lookalike_uniforms,
    signal_scale, amount_shift,
):
    """Fill the chunk's features and apply organic fraud, in place.

    ``rows[..., C_FRAUD]`` marks organic fraud and ``rows[..., C_TEMPLATE]`` its
    template (drawn by the generator); only rows whose customer pays
    (``C_PRESENT``) can be organic fraud, and legitimate rows keep their template
    at -1. Rows of idle slots keep the customer's profile for a ring attempt.
    ``lookalike`` (steps, N) is the template a legitimate customer looks like
    (-1 for none, always -1 in the default game): such a customer's amount,
    velocity and flags are drawn as that template's, without its hidden signal.
    ``signal_scale`` multiplies fraud's hidden signal in the risk score (1 in the default game).
    """
    steps, n = rows.shape[0], rows.shape[1]
    for s in range(steps):
        for i in range(n):
            r = rows[s, i]
            amount, velocity = r[C_AMOUNT], r[C_VELOCITY]
            international, new_device, geo_mismatch = flags[s, i, 0], flags[s, i, 1], flags[s, i, 2]
            hidden = 0.0
            if r[C_PRESENT] < 0.5:
                r[C_FRAUD] = 0.0
            if r[C_FRAUD] > 0.5:
                fu = fraud_uniforms[s, i]
                amount, velocity, international, new_device, geo_mismatch, hidden, pass3 = fraud_attempt(
                    int(r[C_TEMPLATE]), amount, velocity, 0.0, 0.0, fu[0], fu[1], fu[2], fu[3], amount_shift
                )
                r[C_AMOUNT], r[C_VELOCITY], r[C_PASS3DS], r[C_ISSUER] = amount, velocity, pass3, 1.0 - ISSUER_FRAUD_DECLINE
            else:
                r[C_TEMPLATE] = -1.0
                if lookalike[s, i] >= 0:  # fraud displacement: a legitimate customer who looks like a channel
                    lu = lookalike_uniforms[s, i]
                    amount, velocity, international, new_device, geo_mismatch, _, _ = fraud_attempt(
                        lookalike[s, i], amount, velocity, 0.0, 0.0, lu[0], lu[1], lu[2], lu[3], amount_shift
                    )
                    r[C_AMOUNT], r[C_VELOCITY] = amount, velocity
            rest = RISK_BIAS + RISK_TENURE * tenure[s, i] + merchant_risk[merchant[s, i]] + r[C_LOGIT_REST]
            r[C_LOGIT_REST] = rest
            logit = rest + hidden * signal_scale + visible_logit(amount, velocity, international, new_device, geo_mismatch)
            t = tx[s, i]
            _write_features(t, amount, logit, velocity, international, new_device, geo_mismatch)
            t[TX_TENURE] = tenure[s, i]
            t[TX_SEGMENT + segment[s, i]] = 1.0
            t[TX_MERCHANT + merchant[s, i]] = 1.0
            t[TX_BIN + card_bin[s, i]] = 1.0
            t[TX_PAYMENT] = r[C_PRESENT]


# ----------------------------------------------------------------------------- gateways
@njit(cache=True, inline="always")
def _advance_gateways(gw, u, base, instability, outage_prob):
    """Move one environment's gateways one step (see the module docstring)."""
    outage = u[U_OUTAGE] < outage_prob
    for k in range(NUM_GATEWAYS):
        state, countdown, rate = gw[k, G_STATE], gw[k, G_COUNTDOWN] - 1.0, gw[k, G_RATE]
        u_count = u[U_COUNTDOWN + k]
        if state == NORMAL:
            if u[U_DEGRADE + k] < instability:
                state = DEGRADED
                span = DEGRADED_STEPS_HIGH - DEGRADED_STEPS_LOW + 1
                countdown = DEGRADED_STEPS_LOW + math.floor(u_count * span)
                rate = base[k] * (DEGRADED_FACTOR_LOW + (DEGRADED_FACTOR_HIGH - DEGRADED_FACTOR_LOW) * u[U_FACTOR + k])
            else:
                noise = (u[U_NOISE + k] - 0.5) * (2.0 * NORMAL_NOISE)
                rate = base[k] + NORMAL_REVERSION * (rate - base[k]) + noise
        elif state == DEGRADED:
            if countdown <= 0:
                state = RECOVERING
                span = RECOVERING_STEPS_HIGH - RECOVERING_STEPS_LOW + 1
                countdown = RECOVERING_STEPS_LOW + math.floor(u_count * span)
        else:
            rate += RECOVERY_SHARE * (base[k] - rate)
            if countdown <= 0:
                state = NORMAL
                rate = base[k]
        if outage and u[U_OUTAGE_GATEWAY + k] < OUTAGE_GATEWAY_PROB:
            state = DEGRADED
            countdown = OUTAGE_STEPS_LOW + math.floor(u_count * (OUTAGE_STEPS_HIGH - OUTAGE_STEPS_LOW + 1))
            rate = base[k] * OUTAGE_FACTOR
        gw[k, G_STATE], gw[k, G_COUNTDOWN], gw[k, G_RATE] = state, countdown, min(max(rate, 0.0), 1.0)


@njit(cache=True, inline="always")
def _record_health(history_row, gw):
    """One row of the router's lagged health view: rate, degraded flag and recovering flag per gateway."""
    for k in range(NUM_GATEWAYS):
        history_row[H_RATE + k] = gw[k, G_RATE]
        history_row[H_DEGRADED + k] = 1.0 if gw[k, G_STATE] == DEGRADED else 0.0
        history_row[H_RECOVERING + k] = 1.0 if gw[k, G_STATE] == RECOVERING else 0.0


@njit(cache=True)
def reset_gateways(gateways, history, base):
    """Every gateway healthy at its base rate; the lagged history filled with that state."""
    n = gateways.shape[0]
    for i in range(n):
        for k in range(NUM_GATEWAYS):
            gateways[i, k, G_STATE] = NORMAL
            gateways[i, k, G_COUNTDOWN] = 0.0
            gateways[i, k, G_RATE] = base[k]
        for h in range(history.shape[1]):
            _record_health(history[i, h], gateways[i])


# ----------------------------------------------------------------------------- next transaction
@njit(cache=True, inline="always")
def _load_transaction(pending, tx, hour, state, next_tx, next_row, next_hour, next_u, fraud_action, levels, params, attack_allowed):
    """Make the next chunk row the env's pending transaction, with the ring's attempt laid over it.

    Returns the ring's attempt cost in dollars (profit mode).
    """
    r = next_row
    present = r[C_PRESENT] > 0.5
    for c in range(TX_DIM):
        tx[c] = next_tx[c] if present else 0.0
    hour[0], hour[1] = next_hour[0], next_hour[1]
    pending[P_AMOUNT], pending[P_SEGMENT], pending[P_BIN] = r[C_AMOUNT], r[C_SEGMENT], r[C_BIN]
    pending[P_FRAUD], pending[P_TEMPLATE] = r[C_FRAUD], r[C_TEMPLATE]
    pending[P_PASS3DS], pending[P_ISSUER] = r[C_PASS3DS], r[C_ISSUER]
    pending[P_RING] = 0.0
    pending[P_PRESENT] = r[C_PRESENT]
    pending[P_VALUE] = r[C_VALUE]
    state[S_ATTEMPTED] = 0.0
    if not attack_allowed:
        return 0.0
    return _ring_attempt(pending, tx, state, next_tx, r, next_u, fraud_action, levels, params, present)


@njit(cache=True, inline="always")
def _ring_attempt(pending, tx, state, next_tx, r, next_u, fraud_action, levels, params, present):
    """The ring's action decides whether the next slot carries its attempt, and what the attempt looks like.

    Intensity sets the share of slots it fills, the burst level the chance of
    a burst; attempts only fill idle checkout slots. Returns the attempt's cost.
    """
    intensity = levels[L_INTENSITY, fraud_action[A_INTENSITY]]
    stealth = levels[L_STEALTH, fraud_action[A_STEALTH]]
    burst_chance = levels[L_BURST, fraud_action[A_BURST]]
    strategy = fraud_action[A_STRATEGY]
    burst_length = params[K_BURST_LENGTH]
    if state[S_BURST_LEFT] <= 0 and next_u[U_BURST] < burst_chance:
        state[S_BURST_LEFT] = burst_length
    in_burst = state[S_BURST_LEFT] > 0
    # Attempts only fill idle checkout slots; a burst's attempts take the next idle slots.
    idle = not present
    attack = idle and (in_burst or next_u[U_ATTACK] * params[K_IDLE_SHARE] < intensity)
    burst_position = burst_length - state[S_BURST_LEFT] + 1.0 if in_burst else 0.0
    if attack and in_burst:
        state[S_BURST_LEFT] -= 1.0
    template = int(levels[L_STRATEGY_TEMPLATE, strategy])
    if template < 0:  # a mixed strategy: each attempt draws its template
        template = _MIXED[int(next_u[U_MIXED] * _MIXED.shape[0])]
    heat = state[S_HEAT]
    state[S_EMA_RATE] += EMA_OUTCOME * ((1.0 if attack else 0.0) - state[S_EMA_RATE])
    if not attack:
        return 0.0

    amount, velocity, international, new_device, geo_mismatch, hidden, pass3 = fraud_attempt(
        template, r[C_AMOUNT], r[C_VELOCITY], stealth, (INTENSITY_VELOCITY * intensity + burst_position) * params[K_VOLUME_VELOCITY],
        next_u[U_FLAG], next_u[U_FLAG + 1], next_u[U_FLAG + 2], next_u[U_FLAG + 3], levels[L_AMOUNT_SHIFT],
    )  # fmt: skip
    use_validated = state[S_VALIDATED] >= 1.0 and template != CARD_TESTING
    if use_validated:
        state[S_VALIDATED] -= 1.0
    logit = r[C_LOGIT_REST] + hidden * params[K_SIGNAL_SCALE] + RISK_HEAT * heat
    logit += visible_logit(amount, velocity, international, new_device, geo_mismatch)
    for c in range(TX_DIM):
        tx[c] = next_tx[c]  # the stolen card's profile: segment, merchant, BIN, tenure
    _write_features(tx, amount, logit, velocity, international, new_device, geo_mismatch)
    tx[TX_PAYMENT] = 1.0
    pending[P_PRESENT] = 1.0
    decline = ISSUER_FRAUD_DECLINE * (1.0 - VALIDATED_DECLINE_CUT * use_validated) + HEAT_ISSUER_DECLINE * heat
    pending[P_AMOUNT], pending[P_FRAUD], pending[P_RING] = amount, 1.0, 1.0
    pending[P_TEMPLATE], pending[P_PASS3DS], pending[P_ISSUER] = template, pass3, 1.0 - min(decline, 1.0)
    state[S_ATTEMPTED] = 1.0
    state[S_HEAT] = min(heat + params[K_HEAT_ATTEMPT] * (1.0 - 0.5 * stealth), 1.0)
    cost = params[K_ATTEMPT_COST] * (1.0 + params[K_STEALTH_COST] * stealth)
    return cost * CARD_TEST_COST_SHARE if template == CARD_TESTING else cost


@njit(cache=True)
def load_first_transactions(pending, tx, hour, state, next_tx, next_row, next_hour):
    """At reset: every env's first transaction, with no ring attempt (the ring has not acted yet)."""
    dummy_u = np.zeros(U_DIM)
    dummy_action = np.zeros(len(FRAUDSTER_ACTION_FIELDS), dtype=np.int64)
    dummy_levels = np.zeros((L_DIM, 1))
    dummy_params = np.zeros(K_DIM)
    for i in range(pending.shape[0]):
        _load_transaction(pending[i], tx[i], hour[i], state[i], next_tx[i], next_row[i], next_hour[i],
                          dummy_u, dummy_action, dummy_levels, dummy_params, False)  # fmt: skip


# ----------------------------------------------------------------------------- observations
@njit(cache=True, inline="always")
def _write_router_obs(obs, tx, hour, history_row, s, progress):
    for c in range(TX_DIM):
        obs[c] = tx[c]
    obs[OBS_HOUR], obs[OBS_HOUR + 1] = hour[0], hour[1]
    for c in range(HEALTH_DIM):
        obs[OBS_HEALTH + c] = history_row[c]
    obs[OBS_FAILURE_STREAK] = min(s[S_FAIL_STREAK] / STREAK_SCALE, 1.0)
    obs[OBS_LAST_APPROVED] = s[S_LAST_CAPTURED]
    obs[OBS_FAILURE_RATE] = s[S_FAILURE_EMA]
    obs[OBS_CHARGEBACKS_NOW] = min(s[S_MATURED_CB_COUNT] / COUNT_SCALE, 1.0)
    obs[OBS_CHARGEBACK_AMOUNT_NOW] = _amount_feature(s[S_MATURED_CB_AMOUNT])
    obs[OBS_REVIEWS_FRAUD_NOW] = min(s[S_MATURED_REVIEW_FRAUD] / COUNT_SCALE, 1.0)
    obs[OBS_REVIEWS_LEGIT_NOW] = min(s[S_MATURED_REVIEW_LEGIT] / COUNT_SCALE, 1.0)
    obs[OBS_CHARGEBACK_RATE] = s[S_CHARGEBACK_EMA]
    obs[OBS_PROGRESS] = progress


@njit(cache=True, inline="always")
def _write_fraudster_obs(obs, hour, s, progress):
    obs[F_ATTEMPTED] = s[S_ATTEMPTED]
    obs[F_APPROVED] = s[S_EMA_APPROVED]
    obs[F_CHALLENGED] = s[S_EMA_CHALLENGED]
    obs[F_BLOCKED] = s[S_EMA_BLOCKED]
    obs[F_REVIEWED] = s[S_EMA_REVIEWED]
    obs[F_DECLINED] = s[S_EMA_DECLINED]
    obs[F_VALUE] = min(s[S_EMA_VALUE], LOG_AMOUNT_CAP)
    obs[F_RATE] = s[S_EMA_RATE]
    obs[F_BURST] = 1.0 if s[S_BURST_LEFT] > 0 else 0.0
    obs[F_VALIDATED] = s[S_VALIDATED] / MAX_VALIDATED_CARDS
    obs[F_HOUR], obs[F_HOUR + 1] = hour[0], hour[1]
    obs[F_PROGRESS] = progress


@njit(cache=True)
def write_observations(router_obs, fraudster_obs, tx, hour, history, state, step, lag, max_cycles):
    """Both agents' observations of every env at ``step``."""
    lag_index = (step - lag) % (lag + 1)
    progress = step / max_cycles
    for i in range(tx.shape[0]):
        _write_router_obs(router_obs[i], tx[i], hour[i], history[i, lag_index], state[i], progress)
        _write_fraudster_obs(fraudster_obs[i], hour[i], state[i], progress)


# ----------------------------------------------------------------------------- the router's decision
@njit(cache=True, inline="always")
def _read_decision(decision, present):
    """The decision as (allow, block, threeds, review) flags; all False in an idle slot, where it has no effect."""
    allow, block = present and decision == ALLOW, present and decision == BLOCK
    threeds, review = present and decision == THREEDS, present and decision == REVIEW
    return allow, block, threeds, review


@njit(cache=True, inline="always")
def _apply_capacity(s, params, step, allow, threeds, review):
    """Review and 3-D Secure budgets per window (fraud displacement): beyond one, the payment is allowed unchecked.

    A full review queue lets orders through (they would time out), and a
    challenge beyond the friction budget is sent frictionless. Unlimited
    capacities (the default game) change nothing and touch no state.
    """
    review_cap, threeds_cap = params[K_REVIEW_CAPACITY], params[K_THREEDS_CAPACITY]
    if review_cap < 0.0 and threeds_cap < 0.0:
        return allow, threeds, review
    if step % int(params[K_CAPACITY_WINDOW]) == 0:
        s[S_WINDOW_REVIEWS], s[S_WINDOW_THREEDS] = 0.0, 0.0
    if review and review_cap >= 0.0:
        if s[S_WINDOW_REVIEWS] >= review_cap:
            review, allow = False, True
        else:
            s[S_WINDOW_REVIEWS] += 1.0
    if threeds and threeds_cap >= 0.0:
        if s[S_WINDOW_THREEDS] >= threeds_cap:
            threeds, allow = False, True
        else:
            s[S_WINDOW_THREEDS] += 1.0
    return allow, threeds, review


@njit(cache=True, inline="always")
def _three_d_secure(u, p):
    """Whether the payer completes a 3-D Secure challenge (a customer may abandon; most fraud fails it)."""
    return u[U_3DS] < p[P_PASS3DS]


@njit(cache=True, inline="always")
def _authorise(gw, u, p, gateway, retry, card_bin, attempted):
    """Authorise on the chosen gateway and, after a decline, on the next one once if ``retry`` asks.

    The issuer decides once per payment (fraud screens, insufficient funds):
    failing over to another gateway recovers technical gateway failures, never
    an issuer decline. Returns (failover gateway, whether it was tried, captured,
    captured by the failover, whether the first gateway alone would capture).
    """
    second = (gateway + 1) % NUM_GATEWAYS
    p_first = gw[gateway, G_RATE] * BIN_AFFINITY[gateway, card_bin]
    p_second = gw[second, G_RATE] * BIN_AFFINITY[second, card_bin]
    issuer_ok = u[U_ISSUER] < p[P_ISSUER]
    first_ok = issuer_ok and u[U_FIRST] < p_first
    captured1 = attempted and first_ok
    failed_over = attempted and (not captured1) and retry == FAILOVER
    captured2 = failed_over and issuer_ok and u[U_RETRY] < p_second
    return second, failed_over, captured1 or captured2, captured2, first_ok


@njit(cache=True, inline="always")
def _gateway_fees(fee_pct, fee_fixed, gateway, second, attempted, failed_over, captured, captured2, amount):
    """A fixed fee per authorisation attempt, and a percentage fee to the gateway that captured."""
    fees = fee_fixed[gateway] * attempted + fee_fixed[second] * failed_over
    if captured:
        final_gateway = second if captured2 else gateway
        fees += fee_pct[final_gateway] * amount
    return fees


@njit(cache=True, inline="always")
def _churn(s, legit, legit_failed, captured, review, churn_hazard, customer_value, block, false_decline_churn):
    """Customers: consecutive failures raise churn quadratically (SmartPayEnv's hazard).

    Returns the customer value lost this step. A payment sent to manual review
    is not counted as served: it resolves later, outside the retention score.
    A blocked legitimate customer also leaves with ``false_decline_churn``
    (fraud displacement; 0 in the default game).
    """
    if legit_failed:
        s[S_LEGIT_STREAK] += 1.0
    elif legit and captured:
        s[S_LEGIT_STREAK] = 0.0
    churn = 0.0
    if legit_failed:
        churn = 1.0 - math.exp(-churn_hazard * s[S_LEGIT_STREAK] * s[S_LEGIT_STREAK])
        if block and false_decline_churn > 0.0:
            churn = 1.0 - (1.0 - churn) * (1.0 - false_decline_churn)
    if legit and not review:
        s[S_LEGIT_SERVED] += 1.0
        s[S_CHURNED] += churn
    return customer_value * churn


# ----------------------------------------------------------------------------- the event calendar
@njit(cache=True, inline="always")
def _calendar_slot(step, low, high, u, calendar_len):
    """The calendar slot of an event due between ``low`` and ``high`` steps from ``step`` (inclusive)."""
    return int(step + low + math.floor(u * (high - low + 1.0))) % calendar_len


@njit(cache=True, inline="always")
def _schedule_chargeback(cal, step, u, params, amount):
    """An approved, unauthenticated fraud comes back as a chargeback after the chargeback delay."""
    slot = _calendar_slot(step, params[K_CB_LOW], params[K_CB_HIGH], u[U_CHARGEBACK_DELAY], cal.shape[0])
    cal[slot, E_CB_AMOUNT] += amount
    cal[slot, E_CB_COUNT] += 1.0


@njit(cache=True, inline="always")
def _schedule_review(cal, step, u, params, fraud, amount, fixed_fee, pct_fee, first_ok):
    """A manual review resolves after the review delay: fraud is stopped; a legitimate payment is then
    authorised on the chosen gateway (no failover), its fees and margin booked when it resolves."""
    slot = _calendar_slot(step, params[K_REVIEW_LOW], params[K_REVIEW_HIGH], u[U_REVIEW_DELAY], cal.shape[0])
    if fraud:
        cal[slot, E_REVIEW_FRAUD] += 1.0
    else:
        cal[slot, E_REVIEW_LEGIT] += 1.0
        cal[slot, E_REVIEW_FEES] += fixed_fee
        if first_ok:
            cal[slot, E_REVIEW_MARGIN] += params[K_MARGIN] * amount
            cal[slot, E_REVIEW_FEES] += pct_fee * amount


@njit(cache=True, inline="always")
def _mature_events(due, cal, step, done):
    """Move into ``due`` the events the calendar books now: the next step's slot, or at the horizon every slot."""
    calendar_len = cal.shape[0]
    if done:
        due[:] = 0.0
        for slot in range(calendar_len):
            for e in range(E_DIM):
                due[e] += cal[slot, e]
                cal[slot, e] = 0.0
    else:
        slot = (step + 1) % calendar_len
        for e in range(E_DIM):
            due[e] = cal[slot, e]
            cal[slot, e] = 0.0


# ----------------------------------------------------------------------------- money
@njit(cache=True, inline="always")
def _book_pnl(q, params, margin, fees, due, review, threeds, abandoned, lost_value):
    """Write the router's itemised P&L of the step into ``q`` (:data:`PNL_TERMS`); returns its sum, the profit."""
    q[PNL_SALES_MARGIN] = margin + due[E_REVIEW_MARGIN]
    # Costs are written as 0.0 - x so that a cost of zero reads 0.0, not -0.0.
    q[PNL_GATEWAY_FEES] = 0.0 - (fees + due[E_REVIEW_FEES])
    q[PNL_CHARGEBACK_LOSSES] = 0.0 - due[E_CB_AMOUNT]
    q[PNL_DISPUTE_FEES] = 0.0 - params[K_DISPUTE_FEE] * due[E_CB_COUNT]
    q[PNL_REVIEW_COSTS] = 0.0 - params[K_REVIEW_COST] if review else 0.0
    q[PNL_THREEDS_COSTS] = 0.0 - params[K_THREEDS_COST] if threeds else 0.0
    q[PNL_ABANDONMENT_COSTS] = 0.0 - lost_value if abandoned else 0.0
    q[PNL_CHURN_COSTS] = 0.0 if abandoned else 0.0 - lost_value
    profit = 0.0
    for term in range(PNL_DIM):
        profit += q[term]
    return profit


# ----------------------------------------------------------------------------- graders
@njit(cache=True, inline="always")
def _route_grade(s, health_row, gateway, card_bin, fees, failed_over, routed):
    """SmartPayEnv's routing score of this step, judged on the lagged health the router saw.

    Returns the step's score and the episode's running mean (0.5 before any routed payment).
    """
    best_expected = 0.0
    for k in range(NUM_GATEWAYS):
        best_expected = max(best_expected, health_row[H_RATE + k] * BIN_AFFINITY[k, card_bin])
    expected = health_row[H_RATE + gateway] * BIN_AFFINITY[gateway, card_bin]
    quality = 1.0 if expected >= best_expected else 0.0
    route_step = _sigmoid(
        GRADE_OUTCOME * (2.0 * expected - 1.0) - GRADE_COST * fees - GRADE_RETRY * failed_over + GRADE_QUALITY * quality
    )
    if routed:
        s[S_ROUTE_SUM] += route_step
        s[S_ROUTE_COUNT] += 1.0
    route_score = s[S_ROUTE_SUM] / s[S_ROUTE_COUNT] if s[S_ROUTE_COUNT] > 0 else 0.5
    return route_step, route_score


@njit(cache=True, inline="always")
def _fraud_grade(s, present, flagged, fraud):
    """SmartPayEnv's fraud score: (MCC + 1) / 2 of "not allowed" as a fraud flag, over the episode so far."""
    if not present:
        pass
    elif flagged and fraud:
        s[S_TP] += 1.0
    elif flagged:
        s[S_FP] += 1.0
    elif fraud:
        s[S_FN] += 1.0
    else:
        s[S_TN] += 1.0
    tp, fp, tn, fn = s[S_TP], s[S_FP], s[S_TN], s[S_FN]
    denominator = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / denominator if denominator > 0 else 0.0
    return 0.5 * (mcc + 1.0)


@njit(cache=True, inline="always")
def _retention_grade(s):
    """SmartPayEnv's retention score: 1 - expected churned customers per legitimate customer served."""
    return 1.0 - s[S_CHURNED] / s[S_LEGIT_SERVED] if s[S_LEGIT_SERVED] > 0 else 1.0


# ----------------------------------------------------------------------------- what each agent learns
@njit(cache=True, inline="always")
def _moving_average(s, column, value):
    s[column] += EMA_OUTCOME * (value - s[column])


@njit(cache=True, inline="always")
def _ring_feedback(s, params, ring, captured, threeds, block, review, declined, caught, amount, template):
    """The ring learns the outcome of its own attempt; card tests validate cards; caught attempts add heat.

    Returns the value the ring extracted (its share of a captured attempt's amount).
    """
    ring_value = params[K_CASHOUT] * amount if (ring and captured) else 0.0
    if ring:
        _moving_average(s, S_EMA_APPROVED, 1.0 if captured else 0.0)
        _moving_average(s, S_EMA_CHALLENGED, 1.0 if threeds else 0.0)
        _moving_average(s, S_EMA_BLOCKED, 1.0 if block else 0.0)
        _moving_average(s, S_EMA_REVIEWED, 1.0 if review else 0.0)
        _moving_average(s, S_EMA_DECLINED, 1.0 if declined else 0.0)
        _moving_average(s, S_EMA_VALUE, math.log1p(ring_value) / LOG_AMOUNT_SCALE)
        if captured and template == CARD_TESTING:
            s[S_VALIDATED] = min(s[S_VALIDATED] + 1.0, MAX_VALIDATED_CARDS)
    heat_added = params[K_HEAT_CAUGHT] if (ring and caught) else 0.0
    s[S_HEAT] = min(max(s[S_HEAT] * params[K_HEAT_DECAY] + heat_added, 0.0), 1.0)
    return ring_value


@njit(cache=True, inline="always")
def _router_feedback(s, routed, captured, due):
    """The router's own outcome history: failure streak and rate, matured chargebacks and reviews."""
    failed_route = routed and not captured
    if failed_route:
        s[S_FAIL_STREAK] += 1.0
    elif captured:
        s[S_FAIL_STREAK] = 0.0
    s[S_LAST_CAPTURED] = 1.0 if captured else 0.0
    if routed:
        s[S_FAILURE_EMA] += EMA_OUTCOME * ((1.0 if failed_route else 0.0) - s[S_FAILURE_EMA])
    s[S_CHARGEBACK_EMA] += EMA_CHARGEBACK * (min(due[E_CB_COUNT], 1.0) - s[S_CHARGEBACK_EMA])
    s[S_MATURED_CB_COUNT], s[S_MATURED_CB_AMOUNT] = due[E_CB_COUNT], due[E_CB_AMOUNT]
    s[S_MATURED_REVIEW_FRAUD], s[S_MATURED_REVIEW_LEGIT] = due[E_REVIEW_FRAUD], due[E_REVIEW_LEGIT]


@njit(cache=True, inline="always")
def _rewards(params, profit, route_step, routed, fraud_score, retention, ring_value, ring_cost):
    """Both agents' rewards in the config's reward mode: (router, fraudster)."""
    mode, scale = params[K_MODE], params[K_SCALE]
    if mode == MODE_GRADED:
        step_route = route_step if routed else 0.5
        router_reward = GRADED_ROUTE * step_route + GRADED_FRAUD * fraud_score + GRADED_RETENTION * retention
        fraudster_reward = -router_reward
    else:
        router_reward = profit * scale
        if mode == MODE_ZERO_SUM:
            fraudster_reward = -router_reward
        else:
            fraudster_reward = (ring_value - ring_cost) * scale
    return router_reward, fraudster_reward


# ----------------------------------------------------------------------------- the step
@njit(cache=True)
def step_all(
    step, router_actions, fraud_actions,
    pending, tx, hour, state, gateways, history, calendar,
    now_u, next_tx, next_row, next_hour, next_u,
    params, tables, levels,
    router_obs, fraudster_obs, rewards, pnl, metrics,
):  # fmt: skip
    """Play step ``step`` in every environment; write observations, rewards, P&L and metrics.

    Returns True when the episode ended (the horizon was reached), in which case
    everything still pending was settled into this step's P&L.
    """
    n = pending.shape[0]
    lag = history.shape[1] - 1
    max_cycles = params[K_MAX_CYCLES]
    done = step + 1 >= max_cycles
    base, fee_pct, fee_fixed = tables[T_BASE], tables[T_FEE_PCT], tables[T_FEE_FIXED]  # customer value: per row (P_VALUE)
    lag_index = (step - lag) % (lag + 1)
    due = np.empty(E_DIM)  # the events maturing in the env at hand; one buffer for the whole loop
    for i in range(n):
        p, s, gw, u, cal = pending[i], state[i], gateways[i], now_u[i], calendar[i]
        gateway, decision, retry = router_actions[i, A_GATEWAY], router_actions[i, A_DECISION], router_actions[i, A_RETRY]
        amount = p[P_AMOUNT]
        segment, card_bin, template = int(p[P_SEGMENT]), int(p[P_BIN]), int(p[P_TEMPLATE])
        present = p[P_PRESENT] > 0.5  # an idle slot: nothing to decide, the action has no effect
        fraud, ring = present and p[P_FRAUD] > 0.5, p[P_RING] > 0.5
        legit = present and not fraud

        # ---- 1. resolve the router's decision
        allow, block, threeds, review = _read_decision(decision, present)
        allow, threeds, review = _apply_capacity(s, params, step, allow, threeds, review)
        routed = allow or threeds
        passed_3ds = _three_d_secure(u, p)
        attempted = routed and (allow or passed_3ds)
        second, failed_over, captured, captured2, first_ok = _authorise(gw, u, p, gateway, retry, card_bin, attempted)
        fees = _gateway_fees(fee_pct, fee_fixed, gateway, second, attempted, failed_over, captured, captured2, amount)
        margin = params[K_MARGIN] * amount if captured else 0.0
        # Authenticated fraud (3DS passed) shifts liability to the issuer: no chargeback.
        chargeback = captured and fraud and not threeds
        abandoned = threeds and legit and not passed_3ds
        legit_failed = legit and ((routed and not captured) or block)
        stopped_3ds = threeds and fraud and not passed_3ds
        lost_value = _churn(
            s, legit, legit_failed, captured, review, params[K_CHURN], p[P_VALUE], block, params[K_FALSE_DECLINE_CHURN]
        )
        if chargeback:
            _schedule_chargeback(cal, step, u, params, amount)
        if review:
            _schedule_review(cal, step, u, params, fraud, amount, fee_fixed[gateway], fee_pct[gateway], first_ok)

        # ---- 2. mature what is due now, or everything at the horizon; book the money
        _mature_events(due, cal, step, done)
        profit = _book_pnl(pnl[i], params, margin, fees, due, review, threeds, abandoned, lost_value)

        # ---- graders, and what each agent learns
        route_step, route_score = _route_grade(s, history[i, lag_index], gateway, card_bin, fees, failed_over, routed)
        fraud_score = _fraud_grade(s, present, not allow, fraud)
        retention = _retention_grade(s)
        ring_value = _ring_feedback(
            s, params, ring, captured, threeds, block, review, attempted and not captured,
            block or review or stopped_3ds, amount, template,
        )  # fmt: skip
        _router_feedback(s, routed, captured, due)

        m = metrics[i]
        m[M_IS_FRAUD], m[M_IS_RING_ATTEMPT], m[M_AMOUNT] = fraud, ring, amount
        m[M_ROUTED], m[M_CAPTURED], m[M_BLOCKED], m[M_CHALLENGED], m[M_REVIEWED] = routed, captured, block, threeds, review
        m[M_RETRIED], m[M_FRAUD_CAPTURED] = failed_over, fraud and captured
        m[M_FRAUD_STOPPED] = fraud and (block or review or stopped_3ds)
        m[M_LEGIT_FAILED], m[M_CHARGEBACKS_MATURED] = legit_failed, due[E_CB_COUNT]
        m[M_ROUTE_SCORE], m[M_FRAUD_SCORE], m[M_RETENTION_SCORE] = route_score, fraud_score, retention
        m[M_RING_VALUE] = ring_value
        m[M_PAYMENT_PRESENT] = present

        # ---- 3. gateways move; 4. the ring prepares the next transaction
        _advance_gateways(gw, u, base, params[K_INSTABILITY], params[K_OUTAGE])
        _record_health(history[i, (step + 1) % (lag + 1)], gw)
        ring_cost = 0.0
        if not done:
            ring_cost = _load_transaction(
                p, tx[i], hour[i], s, next_tx[i], next_row[i], next_hour[i], next_u[i],
                fraud_actions[i], levels, params, True,
            )  # fmt: skip
        m[M_RING_COST] = ring_cost

        rewards[i, R_ROUTER], rewards[i, R_FRAUDSTER] = _rewards(params, profit, route_step, routed, fraud_score, retention, ring_value, ring_cost)
        progress = (step + 1) / max_cycles
        _write_router_obs(router_obs[i], tx[i], hour[i], history[i, (step + 1 - lag) % (lag + 1)], s, progress)
        _write_fraudster_obs(fraudster_obs[i], hour[i], s, progress)
    return done

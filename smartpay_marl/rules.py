"""The rules of the game, compiled: one loop over environments that plays one step in each.

Everything that decides an outcome lives here, written once as scalar code and
compiled with numba, so the same rules run one environment (the PettingZoo
env) or thousands (the vector env) at native speed. Random numbers are not
drawn here: :mod:`smartpay_marl.generator` draws them ahead, in bulk, with
numpy, and these functions only read them. That keeps episodes bit-for-bit
reproducible and independent of the actions taken.

State crosses this boundary as a few packed float arrays whose column indices
are the constants below; :mod:`smartpay_marl.simulator` owns them.

Gateway health (SmartPayEnv's state machine): a gateway in *normal* degrades
with probability ``gateway_instability`` per step (success rate cut to 20-50%
of base for 3-9 steps), then *recovers* for 2-4 steps closing 40% of the gap
per step. A systemic outage (``systemic_outage_prob``) degrades each gateway
with probability 0.7 to 10% of its base rate for 5-14 steps. In *normal* the
rate mean-reverts to base with a little noise (SmartPayEnv let it random-walk).
The router sees health ``health_lag`` steps late.
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
    TEMPLATES,
)

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
# Template table as one (7, 7) array: the columns of fraud.TemplateTable in order.
_TEMPLATE_TABLE = np.stack(TEMPLATES, axis=1)
_T_AMOUNT, _T_SIGNAL, _T_VELOCITY, _T_DEVICE, _T_GEO, _T_INTL, _T_PASS3DS = range(7)
_MIXED = MIXED_TEMPLATES.astype(np.int64)
_STRATEGY_TEMPLATE = STRATEGY_TEMPLATE.astype(np.int64)
_CT_LOW, _CT_HIGH = CARD_TEST_AMOUNT

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

# Gateway state machine.
NORMAL, DEGRADED, RECOVERING = 0.0, 1.0, 2.0
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

# ----------------------------------------------------------------------------- packed layouts
# Pending transaction, (N, 9); P_PRESENT is 0 in an idle step.
P_AMOUNT, P_SEGMENT, P_BIN, P_FRAUD, P_RING, P_TEMPLATE, P_PASS3DS, P_ISSUER, P_PRESENT = range(9)
P_DIM = 9
# Chunk row data, (steps, N, 10): the generator's per-slot scalars. Every row holds a customer
# profile (the card a ring attempt would use); C_PRESENT says whether that customer pays now.
C_AMOUNT, C_VELOCITY, C_SEGMENT, C_BIN, C_FRAUD, C_TEMPLATE, C_PASS3DS, C_ISSUER, C_LOGIT_REST, C_PRESENT = range(10)
C_DIM = 10
# Per-environment state, (N, 28).
(
    S_FAIL_STREAK, S_LAST_CAPTURED, S_FAILURE_EMA, S_CHARGEBACK_EMA,
    S_MATURED_CB_COUNT, S_MATURED_CB_AMOUNT, S_MATURED_REVIEW_FRAUD, S_MATURED_REVIEW_LEGIT,
    S_LEGIT_STREAK, S_CHURNED, S_LEGIT_SERVED, S_TP, S_FP, S_TN, S_FN, S_ROUTE_SUM, S_ROUTE_COUNT,
    S_HEAT, S_BURST_LEFT, S_VALIDATED, S_ATTEMPTED,
    S_EMA_APPROVED, S_EMA_CHALLENGED, S_EMA_BLOCKED, S_EMA_REVIEWED, S_EMA_DECLINED, S_EMA_VALUE, S_EMA_RATE,
) = range(28)  # fmt: skip
S_DIM = 28
# Gateways, (N, 3, 3): state code, countdown, current success rate.
G_STATE, G_COUNTDOWN, G_RATE = range(3)
# Event calendars, (N, calendar_len, 6), indexed by step % calendar_len.
E_CB_AMOUNT, E_CB_COUNT, E_REVIEW_FRAUD, E_REVIEW_LEGIT, E_REVIEW_MARGIN, E_REVIEW_FEES = range(6)
E_DIM = 6
# Parameters, one float64 vector.
(
    K_MARGIN, K_DISPUTE_FEE, K_REVIEW_COST, K_THREEDS_COST, K_CB_LOW, K_CB_HIGH, K_REVIEW_LOW, K_REVIEW_HIGH,
    K_CHURN, K_INSTABILITY, K_OUTAGE, K_BURST_LENGTH, K_ATTEMPT_COST, K_STEALTH_COST, K_CASHOUT,
    K_HEAT_DECAY, K_HEAT_ATTEMPT, K_HEAT_CAUGHT, K_SCALE, K_MODE, K_MAX_CYCLES, K_IDLE_SHARE,
) = range(22)  # fmt: skip
K_DIM = 22
MODE_ZERO_SUM, MODE_PROFIT, MODE_GRADED = 0.0, 1.0, 2.0
# Per-gateway and per-segment tables, (4, 3): base success, fee %, fixed fee, customer value by segment.
T_BASE, T_FEE_PCT, T_FEE_FIXED, T_CUSTOMER_VALUE = range(4)
# Uniform columns per step, (steps, N, 28).
(
    U_FIRST, U_RETRY, U_3DS, U_CHARGEBACK_DELAY, U_REVIEW_DELAY, U_ATTACK, U_BURST, U_MIXED,
    U_FLAG, _U1, _U2, _U3, U_OUTAGE, U_DEGRADE, _U5, _U6, U_COUNTDOWN, _U8, _U9,
    U_FACTOR, _U11, _U12, U_OUTAGE_GATEWAY, _U14, _U15, U_NOISE, _U17, _U18, U_ISSUER,
) = range(29)  # fmt: skip
U_DIM = 29

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
METRIC_NAMES = (
    "is_fraud", "is_ring_attempt", "amount", "routed", "captured", "blocked", "challenged", "reviewed",
    "retried", "fraud_captured", "fraud_stopped", "legit_failed", "chargebacks_matured",
    "route_score", "fraud_score", "retention_score", "ring_value", "ring_cost", "payment_present",
)  # fmt: skip
(
    M_IS_FRAUD, M_IS_RING, M_AMOUNT, M_ROUTED, M_CAPTURED, M_BLOCKED, M_CHALLENGED, M_REVIEWED,
    M_RETRIED, M_FRAUD_CAPTURED, M_FRAUD_STOPPED, M_LEGIT_FAILED, M_CHARGEBACKS,
    M_ROUTE_SCORE, M_FRAUD_SCORE, M_RETENTION, M_RING_VALUE, M_RING_COST, M_PRESENT,
) = range(19)  # fmt: skip

# Observation offsets (checked against layout.py by the tests).
TX_DIM = 27
TX_PAYMENT = 26
OBS_HOUR = TX_DIM
OBS_HEALTH = TX_DIM + 2
OBS_HISTORY = OBS_HEALTH + 9


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
def fraud_attempt(template, legit_amount, legit_velocity, stealth, extra_velocity, u0, u1, u2, u3):
    """Turn a cardholder's transaction into a fraud attempt of ``template``.

    Stealth in [0, 1] masks the hidden signal and the telltale flags
    (``STEALTH_MASKING``) but also gives up amount per attempt
    (``STEALTH_AMOUNT_LOSS``) and some velocity. Returns (amount, velocity,
    international, new_device, geo_mismatch, hidden_signal, pass_3ds).
    """
    row = _TEMPLATE_TABLE[template]
    keep = 1.0 - STEALTH_MASKING * stealth
    if template == CARD_TESTING:
        amount = _CT_LOW + (_CT_HIGH - _CT_LOW) * u3
    else:
        amount = legit_amount * math.exp(row[_T_AMOUNT]) * (1.0 - STEALTH_AMOUNT_LOSS * stealth)
    velocity = legit_velocity + (row[_T_VELOCITY] + extra_velocity) * (1.0 - 0.5 * stealth)
    international = 1.0 if u0 < row[_T_INTL] * keep else 0.0
    new_device = 1.0 if u1 < row[_T_DEVICE] * keep else 0.0
    geo_mismatch = 1.0 if u2 < row[_T_GEO] * keep else 0.0
    return amount, velocity, international, new_device, geo_mismatch, row[_T_SIGNAL] * keep, row[_T_PASS3DS]


@njit(cache=True, inline="always")
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, inline="always")
def _write_features(tx, amount, risk_logit, velocity, international, new_device, geo_mismatch):
    tx[0] = min(math.log1p(amount) / 8.0, 1.5)
    tx[1] = _sigmoid(risk_logit)
    tx[2] = min(velocity / 10.0, 1.0)
    tx[3] = international
    tx[4] = new_device
    tx[5] = geo_mismatch


# ----------------------------------------------------------------------------- chunk building
@njit(cache=True)
def build_transactions(tx, rows, fraud_uniforms, flags, tenure, segment, merchant, card_bin, merchant_risk):
    """Fill the chunk's features and apply organic fraud, in place.

    ``rows[..., C_FRAUD]`` marks organic fraud and ``rows[..., C_TEMPLATE]`` its
    template (drawn by the generator); only rows whose customer pays
    (``C_PRESENT``) can be organic fraud, and legitimate rows keep their template
    at -1. Rows of idle slots keep the customer's profile for a ring attempt.
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
                    int(r[C_TEMPLATE]), amount, velocity, 0.0, 0.0, fu[0], fu[1], fu[2], fu[3]
                )
                r[C_AMOUNT], r[C_VELOCITY], r[C_PASS3DS], r[C_ISSUER] = amount, velocity, pass3, 1.0 - ISSUER_FRAUD_DECLINE
            else:
                r[C_TEMPLATE] = -1.0
            rest = RISK_BIAS + RISK_TENURE * tenure[s, i] + merchant_risk[merchant[s, i]] + r[C_LOGIT_REST]
            r[C_LOGIT_REST] = rest
            logit = rest + hidden + visible_logit(amount, velocity, international, new_device, geo_mismatch)
            t = tx[s, i]
            _write_features(t, amount, logit, velocity, international, new_device, geo_mismatch)
            t[6] = tenure[s, i]
            t[7 + segment[s, i]] = 1.0
            t[10 + merchant[s, i]] = 1.0
            t[16 + card_bin[s, i]] = 1.0
            t[TX_PAYMENT] = r[C_PRESENT]


# ----------------------------------------------------------------------------- gateways
@njit(cache=True, inline="always")
def _advance_gateways(gw, u, base, instability, outage_prob):
    """Move one environment's three gateways one step (see the module docstring)."""
    outage = u[U_OUTAGE] < outage_prob
    for k in range(3):
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
    for k in range(3):
        history_row[k] = gw[k, G_RATE]
        history_row[3 + k] = 1.0 if gw[k, G_STATE] == DEGRADED else 0.0
        history_row[6 + k] = 1.0 if gw[k, G_STATE] == RECOVERING else 0.0


@njit(cache=True)
def reset_gateways(gateways, history, base):
    """Every gateway healthy at its base rate; the lagged history filled with that state."""
    n = gateways.shape[0]
    for i in range(n):
        for k in range(3):
            gateways[i, k, G_STATE] = NORMAL
            gateways[i, k, G_COUNTDOWN] = 0.0
            gateways[i, k, G_RATE] = base[k]
        for h in range(history.shape[1]):
            _record_health(history[i, h], gateways[i])


# ----------------------------------------------------------------------------- next transaction
@njit(cache=True, inline="always")
def _load_transaction(i, pending, tx, hour, state, next_tx, next_row, next_hour, next_u, fraud_action, levels, params, attack_allowed):
    """Make the next chunk row env ``i``'s pending transaction, with the ring's attempt laid over it.

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
    state[S_ATTEMPTED] = 0.0
    if not attack_allowed:
        return 0.0

    intensity = levels[0, fraud_action[0]]
    stealth = levels[1, fraud_action[1]]
    burst_chance = levels[2, fraud_action[2]]
    strategy = fraud_action[3]
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
    if strategy == 0:
        template = _MIXED[int(next_u[U_MIXED] * _MIXED.shape[0])]
    else:
        template = _STRATEGY_TEMPLATE[strategy]
    heat = state[S_HEAT]
    state[S_EMA_RATE] += EMA_OUTCOME * ((1.0 if attack else 0.0) - state[S_EMA_RATE])
    if not attack:
        return 0.0

    amount, velocity, international, new_device, geo_mismatch, hidden, pass3 = fraud_attempt(
        template, r[C_AMOUNT], r[C_VELOCITY], stealth, INTENSITY_VELOCITY * intensity + burst_position,
        next_u[U_FLAG], next_u[U_FLAG + 1], next_u[U_FLAG + 2], next_u[U_FLAG + 3],
    )  # fmt: skip
    use_validated = state[S_VALIDATED] >= 1.0 and template != CARD_TESTING
    if use_validated:
        state[S_VALIDATED] -= 1.0
    logit = r[C_LOGIT_REST] + hidden + RISK_HEAT * heat
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
    dummy_action = np.zeros(4, dtype=np.int64)
    dummy_levels = np.zeros((3, 1))
    dummy_params = np.zeros(K_DIM)
    for i in range(pending.shape[0]):
        _load_transaction(i, pending[i], tx[i], hour[i], state[i], next_tx[i], next_row[i], next_hour[i],
                          dummy_u, dummy_action, dummy_levels, dummy_params, False)  # fmt: skip


# ----------------------------------------------------------------------------- observations
@njit(cache=True, inline="always")
def _write_router_obs(obs, tx, hour, history_row, s, progress):
    for c in range(TX_DIM):
        obs[c] = tx[c]
    obs[OBS_HOUR], obs[OBS_HOUR + 1] = hour[0], hour[1]
    for c in range(9):
        obs[OBS_HEALTH + c] = history_row[c]
    h = OBS_HISTORY
    obs[h] = min(s[S_FAIL_STREAK] / 5.0, 1.0)
    obs[h + 1] = s[S_LAST_CAPTURED]
    obs[h + 2] = s[S_FAILURE_EMA]
    obs[h + 3] = min(s[S_MATURED_CB_COUNT] / 3.0, 1.0)
    obs[h + 4] = min(math.log1p(s[S_MATURED_CB_AMOUNT]) / 8.0, 1.5)
    obs[h + 5] = min(s[S_MATURED_REVIEW_FRAUD] / 3.0, 1.0)
    obs[h + 6] = min(s[S_MATURED_REVIEW_LEGIT] / 3.0, 1.0)
    obs[h + 7] = s[S_CHARGEBACK_EMA]
    obs[h + 8] = progress


@njit(cache=True, inline="always")
def _write_fraudster_obs(obs, hour, s, progress):
    obs[0] = s[S_ATTEMPTED]
    for c in range(5):
        obs[1 + c] = s[S_EMA_APPROVED + c]
    obs[6] = min(s[S_EMA_VALUE], 1.5)
    obs[7] = s[S_EMA_RATE]
    obs[8] = 1.0 if s[S_BURST_LEFT] > 0 else 0.0
    obs[9] = s[S_VALIDATED] / MAX_VALIDATED_CARDS
    obs[10], obs[11] = hour[0], hour[1]
    obs[12] = progress


@njit(cache=True)
def write_observations(router_obs, fraudster_obs, tx, hour, history, state, step, lag, max_cycles):
    """Both agents' observations of every env at ``step``."""
    lag_index = (step - lag) % (lag + 1)
    progress = step / max_cycles
    for i in range(tx.shape[0]):
        _write_router_obs(router_obs[i], tx[i], hour[i], history[i, lag_index], state[i], progress)
        _write_fraudster_obs(fraudster_obs[i], hour[i], state[i], progress)


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
    calendar_len = calendar.shape[1]
    lag = history.shape[1] - 1
    max_cycles = params[K_MAX_CYCLES]
    done = step + 1 >= max_cycles
    mode = params[K_MODE]
    margin_rate = params[K_MARGIN]
    base, fee_pct, fee_fixed, customer_value = tables[T_BASE], tables[T_FEE_PCT], tables[T_FEE_FIXED], tables[T_CUSTOMER_VALUE]
    cb_low, cb_span = params[K_CB_LOW], params[K_CB_HIGH] - params[K_CB_LOW] + 1.0
    rv_low, rv_span = params[K_REVIEW_LOW], params[K_REVIEW_HIGH] - params[K_REVIEW_LOW] + 1.0
    lag_index = (step - lag) % (lag + 1)
    for i in range(n):
        p, s, gw, u, cal = pending[i], state[i], gateways[i], now_u[i], calendar[i]
        gateway, decision, retry = router_actions[i, 0], router_actions[i, 1], router_actions[i, 2]
        amount = p[P_AMOUNT]
        segment, card_bin, template = int(p[P_SEGMENT]), int(p[P_BIN]), int(p[P_TEMPLATE])
        present = p[P_PRESENT] > 0.5  # an idle slot: nothing to decide, the action has no effect
        fraud, ring = present and p[P_FRAUD] > 0.5, p[P_RING] > 0.5
        legit = present and not fraud
        allow, block = present and decision == 0, present and decision == 1
        threeds, review = present and decision == 2, present and decision == 3
        routed = allow or threeds

        # ---- 1. resolve the router's decision
        # The issuer decides once per payment (fraud screens, insufficient funds): failing over
        # to another gateway recovers technical gateway failures, never an issuer decline.
        second = (gateway + 1) % 3
        p_first = gw[gateway, G_RATE] * BIN_AFFINITY[gateway, card_bin]
        p_second = gw[second, G_RATE] * BIN_AFFINITY[second, card_bin]
        issuer_ok = u[U_ISSUER] < p[P_ISSUER]
        passed_3ds = u[U_3DS] < p[P_PASS3DS]
        attempt1 = routed and (allow or passed_3ds)
        captured1 = attempt1 and issuer_ok and u[U_FIRST] < p_first
        attempt2 = attempt1 and (not captured1) and retry == 1
        captured2 = attempt2 and issuer_ok and u[U_RETRY] < p_second
        captured = captured1 or captured2
        final_gateway = second if captured2 else gateway
        fees = fee_fixed[gateway] * attempt1 + fee_fixed[second] * attempt2
        if captured:
            fees += fee_pct[final_gateway] * amount
        margin = margin_rate * amount if captured else 0.0
        # Authenticated fraud (3DS passed) shifts liability to the issuer: no chargeback.
        chargeback = captured and fraud and not threeds
        abandoned = threeds and legit and not passed_3ds
        legit_failed = legit and ((routed and not captured) or block)

        # Customers: consecutive failures raise churn quadratically (SmartPayEnv's hazard).
        if legit_failed:
            s[S_LEGIT_STREAK] += 1.0
        elif legit and captured:
            s[S_LEGIT_STREAK] = 0.0
        churn = 0.0
        if legit_failed:
            churn = 1.0 - math.exp(-params[K_CHURN] * s[S_LEGIT_STREAK] * s[S_LEGIT_STREAK])
        if legit and not review:
            s[S_LEGIT_SERVED] += 1.0
            s[S_CHURNED] += churn
        lost_value = customer_value[segment] * churn

        # Schedule the chargeback and the review on the calendars.
        if chargeback:
            slot = int(step + cb_low + math.floor(u[U_CHARGEBACK_DELAY] * cb_span)) % calendar_len
            cal[slot, E_CB_AMOUNT] += amount
            cal[slot, E_CB_COUNT] += 1.0
        if review:
            slot = int(step + rv_low + math.floor(u[U_REVIEW_DELAY] * rv_span)) % calendar_len
            if fraud:
                cal[slot, E_REVIEW_FRAUD] += 1.0
            else:
                cal[slot, E_REVIEW_LEGIT] += 1.0
                cal[slot, E_REVIEW_FEES] += fee_fixed[gateway]
                if issuer_ok and u[U_FIRST] < p_first:
                    cal[slot, E_REVIEW_MARGIN] += margin_rate * amount
                    cal[slot, E_REVIEW_FEES] += fee_pct[gateway] * amount

        # ---- 2. mature what is due now, or everything at the horizon
        due = np.zeros(E_DIM)
        if done:
            for slot in range(calendar_len):
                for e in range(E_DIM):
                    due[e] += cal[slot, e]
                    cal[slot, e] = 0.0
        else:
            slot = (step + 1) % calendar_len
            for e in range(E_DIM):
                due[e] = cal[slot, e]
                cal[slot, e] = 0.0

        q = pnl[i]
        q[0] = margin + due[E_REVIEW_MARGIN]
        # Costs are written as 0.0 - x so that a cost of zero reads 0.0, not -0.0.
        q[1] = 0.0 - (fees + due[E_REVIEW_FEES])
        q[2] = 0.0 - due[E_CB_AMOUNT]
        q[3] = 0.0 - params[K_DISPUTE_FEE] * due[E_CB_COUNT]
        q[4] = 0.0 - params[K_REVIEW_COST] if review else 0.0
        q[5] = 0.0 - params[K_THREEDS_COST] if threeds else 0.0
        q[6] = 0.0 - lost_value if abandoned else 0.0
        q[7] = 0.0 if abandoned else 0.0 - lost_value
        profit = q[0] + q[1] + q[2] + q[3] + q[4] + q[5] + q[6] + q[7]

        # ---- graders: SmartPayEnv's three scores, judged on what the router could see
        best_expected = 0.0
        for k in range(3):
            best_expected = max(best_expected, history[i, lag_index, k] * BIN_AFFINITY[k, card_bin])
        expected = history[i, lag_index, gateway] * BIN_AFFINITY[gateway, card_bin]
        quality = 1.0 if expected >= best_expected else 0.0
        route_step = _sigmoid(
            GRADE_OUTCOME * (2.0 * expected - 1.0) - GRADE_COST * fees - GRADE_RETRY * attempt2 + GRADE_QUALITY * quality
        )
        if routed:
            s[S_ROUTE_SUM] += route_step
            s[S_ROUTE_COUNT] += 1.0
        flagged = not allow
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
        fraud_score = 0.5 * (mcc + 1.0)
        route_score = s[S_ROUTE_SUM] / s[S_ROUTE_COUNT] if s[S_ROUTE_COUNT] > 0 else 0.5
        retention = 1.0 - s[S_CHURNED] / s[S_LEGIT_SERVED] if s[S_LEGIT_SERVED] > 0 else 1.0

        # ---- the ring learns the outcome of its own attempt
        stopped_3ds = threeds and fraud and not passed_3ds
        ring_value = params[K_CASHOUT] * amount if (ring and captured) else 0.0
        if ring:
            outcome = (
                1.0 if captured else 0.0,
                1.0 if threeds else 0.0,
                1.0 if block else 0.0,
                1.0 if review else 0.0,
                1.0 if (attempt1 and not captured) else 0.0,
                math.log1p(ring_value) / 8.0,
            )
            for c in range(6):
                s[S_EMA_APPROVED + c] += EMA_OUTCOME * (outcome[c] - s[S_EMA_APPROVED + c])
            if captured and template == CARD_TESTING:
                s[S_VALIDATED] = min(s[S_VALIDATED] + 1.0, MAX_VALIDATED_CARDS)
        caught = ring and (block or review or stopped_3ds)
        s[S_HEAT] = min(max(s[S_HEAT] * params[K_HEAT_DECAY] + (params[K_HEAT_CAUGHT] if caught else 0.0), 0.0), 1.0)

        # ---- router-visible history
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

        m = metrics[i]
        m[M_IS_FRAUD], m[M_IS_RING], m[M_AMOUNT] = fraud, ring, amount
        m[M_ROUTED], m[M_CAPTURED], m[M_BLOCKED], m[M_CHALLENGED], m[M_REVIEWED] = routed, captured, block, threeds, review
        m[M_RETRIED], m[M_FRAUD_CAPTURED] = attempt2, fraud and captured
        m[M_FRAUD_STOPPED] = fraud and (block or review or stopped_3ds)
        m[M_LEGIT_FAILED], m[M_CHARGEBACKS] = legit_failed, due[E_CB_COUNT]
        m[M_ROUTE_SCORE], m[M_FRAUD_SCORE], m[M_RETENTION] = route_score, fraud_score, retention
        m[M_RING_VALUE] = ring_value
        m[M_PRESENT] = present

        # ---- 3. gateways move; 4. the ring prepares the next transaction
        _advance_gateways(gw, u, base, params[K_INSTABILITY], params[K_OUTAGE])
        _record_health(history[i, (step + 1) % (lag + 1)], gw)
        ring_cost = 0.0
        if not done:
            ring_cost = _load_transaction(
                i, p, tx[i], hour[i], s, next_tx[i], next_row[i], next_hour[i], next_u[i],
                fraud_actions[i], levels, params, True,
            )  # fmt: skip
        m[M_RING_COST] = ring_cost

        # ---- rewards
        scale = params[K_SCALE]
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
        rewards[i, 0], rewards[i, 1] = router_reward, fraudster_reward

        progress = (step + 1) / max_cycles
        _write_router_obs(router_obs[i], tx[i], hour[i], history[i, (step + 1 - lag) % (lag + 1)], s, progress)
        _write_fraudster_obs(fraudster_obs[i], hour[i], s, progress)
    return done

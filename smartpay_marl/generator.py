"""Seeded, vectorised transaction stream and the randomness of every step, drawn ahead in chunks.

The generator produces ``steps x num_envs`` checkout slots at a time. In a
share ``customer_arrival_rate`` of them a customer pays; the others are idle
slots, which only the fraud ring's attempts can fill. Every slot carries a
customer profile (the card a ring attempt would use): a customer
population with segments (new / existing / premium, 30/55/15%), card BIN
categories, merchant categories with log-normal spend, known devices and home
regions, the card's recent velocity, a diurnal cycle, and organic fraud drawn
from the seven templates of :mod:`smartpay_marl.fraud`. It also draws every
uniform number a step will consume (gateway dynamics, outcomes, the ring's
attempt), so that

- a step makes no random-number call of its own (speed at one environment), and
- the random numbers of an episode do not depend on the actions taken: two
  policies played from the same seed face the same customers and the same
  gateway weather (common random numbers, for low-variance comparisons).

Random numbers come from numpy in bulk; turning them into transactions (fraud
templates, the upstream risk score) is done by :mod:`smartpay_marl.rules`, the
one place where the game's rules live. The risk score's ROC-AUC on neutral
traffic is measured by ``tests/game/test_generator.py`` and reported in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from smartpay_marl import rules
from smartpay_marl.fraud import BACKGROUND_MIX, LOOKALIKE_TEMPLATE_IDS, NUM_TEMPLATES, TEMPLATES
from smartpay_marl.layout import NUM_BINS, NUM_MERCHANTS, NUM_SEGMENTS, TX_DIM

if TYPE_CHECKING:  # for annotations only: the config module reads logs through this one
    from smartpay_marl.config import GameConfig

SEGMENT_SHARES = np.array([0.30, 0.55, 0.15])
MERCHANT_SHARES = np.array([0.15, 0.15, 0.25, 0.25, 0.10, 0.10])
#: log-mean spend per merchant category: digital ~$20, electronics ~$150, fashion ~$55,
#: grocery ~$37, travel ~$245, gaming ~$16 (medians).
MERCHANT_LOG_SPEND = np.array([3.0, 5.0, 4.0, 3.6, 5.5, 2.8])
MERCHANT_RISK = np.array([0.5, 0.4, 0.0, -0.3, 0.2, 0.5])
SPEND_SIGMA = 0.7
PREMIUM_SPEND_LIFT = 0.4
SEGMENT_P_NEW_DEVICE = np.array([0.30, 0.08, 0.05])
SEGMENT_TENURE_LOW = np.array([0.0, 0.2, 0.6])
SEGMENT_TENURE_HIGH = np.array([0.2, 0.8, 1.0])
P_GEO_MISMATCH = 0.05
P_INTERNATIONAL = 0.08
TRAVEL = 4
TRAVEL_P_GEO, TRAVEL_P_INTERNATIONAL = 0.30, 0.40
LEGIT_VELOCITY_MEAN = 0.4
#: Organic fraud is twice as likely between midnight and 6 am.
NIGHT_FRAUD_FACTOR = 2.0
#: Random numbers drawn per chunk are capped near this many env-steps, so chunks stay
#: small in memory at large N and long (fewer calls) at small N.
CHUNK_ENV_STEPS = 16_384
MAX_CHUNK_STEPS = 256
MIN_CHUNK_STEPS = 8


def chunk_steps_for(num_envs: int) -> int:
    """Steps per chunk for ``num_envs`` environments (part of what a seed reproduces)."""
    return int(min(MAX_CHUNK_STEPS, max(MIN_CHUNK_STEPS, CHUNK_ENV_STEPS // num_envs)))


@dataclass
class Chunk:
    """Transactions and step randomness for ``steps`` steps of ``num_envs`` envs (leading axes)."""

    tx: np.ndarray  # float32 (steps, envs, TX_DIM): the router's view, risk score included
    rows: np.ndarray  # float64 (steps, envs, rules.C_DIM): amount, velocity, segment, bin, ...
    hour: np.ndarray  # float32 (steps, envs, 2): sin, cos of the hour of day
    uniforms: np.ndarray  # float64 (steps, envs, rules.U_DIM)


def generate_chunk(
    rng: np.random.Generator,
    config: GameConfig,
    num_envs: int,
    steps: int,
    first_step: int,
    start_hour: np.ndarray,
) -> Chunk:
    """Draw ``steps`` steps of transactions and randomness for ``num_envs`` environments.

    ``first_step`` is the episode step of the chunk's first row and ``start_hour``
    (shape ``(num_envs,)``) each env's hour at step 0. Every call consumes the
    same amount of randomness for the same shape, whatever happened in the episode.
    """
    shape = (steps, num_envs)
    segment = np.minimum(np.searchsorted(np.cumsum(SEGMENT_SHARES), rng.random(shape), side="right"), NUM_SEGMENTS - 1)
    merchant = np.minimum(
        np.searchsorted(np.cumsum(MERCHANT_SHARES), rng.random(shape), side="right"), NUM_MERCHANTS - 1
    )
    card_bin = rng.integers(0, NUM_BINS, size=shape)
    log_spend = MERCHANT_LOG_SPEND[merchant] + PREMIUM_SPEND_LIFT * (segment == 2)
    amount = np.exp(log_spend + SPEND_SIGMA * rng.standard_normal(shape))
    velocity = rng.poisson(LEGIT_VELOCITY_MEAN, size=shape)
    flag_draws = rng.random(shape + (3,))
    travel = merchant == TRAVEL
    flags = np.stack(
        [
            flag_draws[..., 0] < np.where(travel, TRAVEL_P_INTERNATIONAL, P_INTERNATIONAL),
            flag_draws[..., 1] < SEGMENT_P_NEW_DEVICE[segment],
            flag_draws[..., 2] < np.where(travel, TRAVEL_P_GEO, P_GEO_MISMATCH),
        ],
        axis=-1,
    ).astype(np.float64)
    low, high = SEGMENT_TENURE_LOW[segment], SEGMENT_TENURE_HIGH[segment]
    tenure = low + (high - low) * rng.random(shape)
    risk_noise = rules.RISK_NOISE_STD * rng.standard_normal(shape)

    present = rng.random(shape) < config.customer_arrival_rate
    hours = (start_hour[None, :] + (first_step + np.arange(steps))[:, None] // config.steps_per_hour) % 24
    fraud_rate = config.background_fraud_rate * np.where(hours < 6, NIGHT_FRAUD_FACTOR, 1.0)
    is_fraud = rng.random(shape) < fraud_rate
    template = np.minimum(
        np.searchsorted(np.cumsum(BACKGROUND_MIX), rng.random(shape), side="right"), NUM_TEMPLATES - 1
    )
    fraud_uniforms = rng.random(shape + (4,))
    uniforms = rng.random(shape + (rules.U_DIM,))

    rows = np.empty(shape + (rules.C_DIM,))
    rows[..., rules.C_AMOUNT] = amount
    rows[..., rules.C_VELOCITY] = velocity
    rows[..., rules.C_SEGMENT] = segment
    rows[..., rules.C_BIN] = card_bin
    rows[..., rules.C_FRAUD] = is_fraud
    rows[..., rules.C_TEMPLATE] = template
    rows[..., rules.C_PASS3DS] = 1.0 - np.asarray(config.threeds_abandon)[segment]
    rows[..., rules.C_ISSUER] = 1.0 - config.legit_issuer_decline
    rows[..., rules.C_LOGIT_REST] = risk_noise
    rows[..., rules.C_PRESENT] = present
    rows[..., rules.C_VALUE] = np.asarray(config.customer_value)[segment]
    lookalike, lookalike_uniforms = draw_lookalikes(rng, config, shape, rows)
    tx = np.zeros(shape + (TX_DIM,), dtype=np.float32)
    rules.build_transactions(
        tx, rows, fraud_uniforms, flags, tenure, segment, merchant, card_bin, MERCHANT_RISK, lookalike, lookalike_uniforms,
        config.fraud_signal_scale, template_amount_shifts(config),
    )  # fmt: skip

    angle = hours * (2.0 * np.pi / 24.0)
    hour = np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)
    return Chunk(tx=tx, rows=rows, hour=hour, uniforms=uniforms)


# ----------------------------------------------------------------------------- fraud displacement (issue 20)
def template_amount_shifts(config: GameConfig) -> np.ndarray:
    """Log amount shift of each template: the table's, with the game's ``channel_amount_shift`` for the look-alike channels."""
    shifts = TEMPLATES.amount_log_shift.astype(np.float64).copy()
    if config.channel_amount_shift is not None:
        shifts[LOOKALIKE_TEMPLATE_IDS] = config.channel_amount_shift
    return shifts


def draw_lookalikes(rng: np.random.Generator, config: GameConfig, shape: tuple[int, int], rows: np.ndarray):
    """Which legitimate customers look like an attack channel, and the uniforms of their features.

    Returns ``(lookalike, uniforms)``: the template id each slot's customer
    looks like (-1: none; :data:`smartpay_marl.fraud.LOOKALIKE_TEMPLATES`)
    and four uniforms per slot for the template's flags. A look-alike's
    customer value is its channel's ``lookalike_value`` (written into
    ``rows``). With every ``lookalike_share`` at 0 (the default game) no
    random number is drawn, so the stream and every episode stay as they were.
    """
    if not any(share > 0 for share in config.lookalike_share):
        return np.full(shape, -1, dtype=np.int64), np.zeros(shape + (4,))
    shares = np.asarray(config.lookalike_share)
    group = np.searchsorted(np.cumsum(shares), rng.random(shape), side="right")  # len(shares): no look-alike
    uniforms = rng.random(shape + (4,))
    is_lookalike = group < len(shares)
    lookalike = np.where(is_lookalike, LOOKALIKE_TEMPLATE_IDS[np.minimum(group, len(shares) - 1)], -1)
    values = np.asarray(config.lookalike_value)[np.minimum(group, len(shares) - 1)]
    rows[..., rules.C_VALUE] = np.where(is_lookalike, values, rows[..., rules.C_VALUE])
    return lookalike.astype(np.int64), uniforms

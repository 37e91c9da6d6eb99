"""Seeded, vectorised transaction stream and the randomness of every step, drawn ahead in chunks.

The generator produces ``steps x num_envs`` transactions at a time: a customer
population with segments (new / existing / premium, 30/55/15%), card BIN
categories, merchant categories with log-normal spend, home region and known
devices, the card's recent velocity, a diurnal cycle, and organic fraud drawn
from the seven templates of :mod:`smartpay_marl.fraud`. It also draws every
uniform number a step will consume (gateway dynamics, outcomes, the ring's
attempt), so that

- a step makes no random-number call of its own (speed at one environment), and
- the random numbers of an episode do not depend on the actions taken: two
  policies played from the same seed face the same customers and the same
  gateway weather (common random numbers, for low-variance comparisons).

The upstream risk score is a logistic model of the visible flags plus a hidden
fraud signal and noise. Its ROC-AUC on neutral traffic (no ring) is measured by
``tests/game/test_generator.py`` and reported in the README.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from smartpay_marl.config import GameConfig
from smartpay_marl.fraud import (
    BACKGROUND_MIX,
    ISSUER_FRAUD_DECLINE,
    NUM_TEMPLATES,
    fraud_features,
)
from smartpay_marl.layout import NUM_BINS, NUM_MERCHANTS, NUM_SEGMENTS, TX, TX_DIM

SEGMENT_SHARES = np.array([0.30, 0.55, 0.15])
MERCHANT_SHARES = np.array([0.15, 0.15, 0.25, 0.25, 0.10, 0.10])
#: log-mean spend per merchant category: digital ~$20, electronics ~$150, fashion ~$55,
#: grocery ~$37, travel ~$245, gaming ~$16 (median).
MERCHANT_LOG_SPEND = np.array([3.0, 5.0, 4.0, 3.6, 5.5, 2.8])
MERCHANT_RISK = np.array([0.5, 0.4, 0.0, -0.3, 0.2, 0.5])
SPEND_SIGMA = 0.7
PREMIUM_SPEND_LIFT = 0.4
#: Legitimate behaviour by segment: chance of a new device; tenure range.
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


@dataclass(frozen=True)
class RiskModel:
    """Logistic upstream risk model: weights of the visible flags, noise, hidden signal."""

    bias: float = -3.0
    new_device: float = 1.2
    geo_mismatch: float = 1.0
    international: float = 0.6
    velocity: float = 0.25
    amount: float = 0.3
    amount_pivot: float = 4.0
    tenure: float = -1.5
    noise_std: float = 0.9
    heat: float = 2.0

    def visible_logit(self, amount, velocity, international, new_device, geo_mismatch):
        """The part of the logit that comes from the transaction's observable features."""
        return (
            self.new_device * new_device
            + self.geo_mismatch * geo_mismatch
            + self.international * international
            + self.velocity * velocity
            + self.amount * (np.log1p(amount) - self.amount_pivot)
        )


RISK = RiskModel()

#: Columns of :attr:`Chunk.uniforms`, the per-step random numbers.
(
    U_FIRST,
    U_RETRY,
    U_3DS,
    U_CHARGEBACK_DELAY,
    U_REVIEW_DELAY,
    U_ATTACK,
    U_BURST,
    U_MIXED,
    U_FLAG0,  # four columns for fraud_features
    _U_FLAG1,
    _U_FLAG2,
    _U_FLAG3,
    U_OUTAGE,
    U_DEGRADE,  # three columns (one per gateway) from here
    _,
    _,
    U_COUNTDOWN,
    _,
    _,
    U_FACTOR,
    _,
    _,
    U_OUTAGE_GATEWAY,
    _,
    _,
    U_NOISE,
    _,
    _,
) = range(28)
NUM_UNIFORMS = 28


@dataclass
class Chunk:
    """Transactions and step randomness for ``steps`` consecutive steps of ``num_envs`` envs.

    Arrays have shape ``(steps, num_envs, ...)``. The transaction features are
    the router's view of the cardholder's (or organic fraudster's) payment;
    the fraud ring's attempts are laid over them by the simulator.
    """

    tx: np.ndarray  # float32 (steps, envs, TX_DIM), risk score included
    amount: np.ndarray  # float64 dollars
    velocity: np.ndarray  # float64, card transactions in the last hour (count)
    segment: np.ndarray  # int64
    bin: np.ndarray  # int64
    is_fraud: np.ndarray  # bool, organic fraud
    template: np.ndarray  # int64, -1 for legitimate
    pass_3ds: np.ndarray  # chance the payer completes 3DS (1 - abandonment for customers)
    issuer_accept: np.ndarray  # chance the issuer does not decline for fraud reasons
    logit_rest: np.ndarray  # risk logit from non-overwritable features + noise
    hour_features: np.ndarray  # float32 (steps, envs, 2): sin, cos of the hour
    uniforms: np.ndarray  # float64 (steps, envs, NUM_UNIFORMS)


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
    (shape ``(num_envs,)``) each env's hour at step 0; together they place the
    rows on the diurnal cycle. Every call consumes the same amount of randomness
    for the same shape, whatever happened in the episode.
    """
    shape = (steps, num_envs)
    segment = np.searchsorted(np.cumsum(SEGMENT_SHARES), rng.random(shape), side="right")
    segment = np.minimum(segment, NUM_SEGMENTS - 1)
    merchant = np.minimum(
        np.searchsorted(np.cumsum(MERCHANT_SHARES), rng.random(shape), side="right"), NUM_MERCHANTS - 1
    )
    card_bin = rng.integers(0, NUM_BINS, size=shape)
    log_spend = MERCHANT_LOG_SPEND[merchant] + PREMIUM_SPEND_LIFT * (segment == 2)
    amount = np.exp(log_spend + SPEND_SIGMA * rng.standard_normal(shape))
    velocity = rng.poisson(LEGIT_VELOCITY_MEAN, size=shape).astype(np.float64)
    flags = rng.random(shape + (3,))
    travel = merchant == TRAVEL
    international = flags[..., 0] < np.where(travel, TRAVEL_P_INTERNATIONAL, P_INTERNATIONAL)
    new_device = flags[..., 1] < SEGMENT_P_NEW_DEVICE[segment]
    geo_mismatch = flags[..., 2] < np.where(travel, TRAVEL_P_GEO, P_GEO_MISMATCH)
    low, high = SEGMENT_TENURE_LOW[segment], SEGMENT_TENURE_HIGH[segment]
    tenure = low + (high - low) * rng.random(shape)
    risk_noise = RISK.noise_std * rng.standard_normal(shape)
    logit_rest = RISK.bias + RISK.tenure * tenure + MERCHANT_RISK[merchant] + risk_noise

    hours = (start_hour[None, :] + (first_step + np.arange(steps))[:, None] // config.steps_per_hour) % 24
    fraud_rate = config.background_fraud_rate * np.where(hours < 6, NIGHT_FRAUD_FACTOR, 1.0)
    is_fraud = rng.random(shape) < fraud_rate
    template_draw = np.minimum(
        np.searchsorted(np.cumsum(BACKGROUND_MIX), rng.random(shape), side="right"), NUM_TEMPLATES - 1
    )
    fraud_uniforms = rng.random(shape + (4,))
    uniforms = rng.random(shape + (NUM_UNIFORMS,))

    abandon = np.asarray(config.threeds_abandon)[segment]
    pass_3ds = 1.0 - abandon
    issuer_accept = np.ones(shape)
    hidden = np.zeros(shape)
    template = np.full(shape, -1, dtype=np.int64)
    if is_fraud.any():
        fraud = fraud_features(
            template=template_draw[is_fraud],
            legit_amount=amount[is_fraud],
            legit_velocity=velocity[is_fraud],
            stealth=0.0,
            extra_velocity=0.0,
            uniforms=fraud_uniforms[is_fraud],
        )
        template[is_fraud] = template_draw[is_fraud]
        amount[is_fraud] = fraud.amount
        velocity[is_fraud] = fraud.velocity
        international[is_fraud] = fraud.international
        new_device[is_fraud] = fraud.new_device
        geo_mismatch[is_fraud] = fraud.geo_mismatch
        hidden[is_fraud] = fraud.hidden_signal
        pass_3ds[is_fraud] = fraud.pass_3ds
        issuer_accept[is_fraud] = 1.0 - ISSUER_FRAUD_DECLINE

    logit = logit_rest + hidden + RISK.visible_logit(amount, velocity, international, new_device, geo_mismatch)
    tx = np.zeros(shape + (TX_DIM,), dtype=np.float32)
    tx[..., TX["amount"].start] = np.minimum(np.log1p(amount) / 8.0, 1.5)
    tx[..., TX["risk_score"].start] = 1.0 / (1.0 + np.exp(-logit))
    tx[..., TX["velocity"].start] = np.minimum(velocity / 10.0, 1.0)
    tx[..., TX["international"].start] = international
    tx[..., TX["new_device"].start] = new_device
    tx[..., TX["geo_mismatch"].start] = geo_mismatch
    tx[..., TX["tenure"].start] = tenure
    rows, cols = np.indices(shape)
    tx[rows, cols, TX["segment"].start + segment] = 1.0
    tx[rows, cols, TX["merchant"].start + merchant] = 1.0
    tx[rows, cols, TX["bin"].start + card_bin] = 1.0

    angle = hours * (2.0 * np.pi / 24.0)
    hour_features = np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)
    return Chunk(
        tx=tx,
        amount=amount,
        velocity=velocity,
        segment=segment,
        bin=card_bin,
        is_fraud=is_fraud,
        template=template,
        pass_3ds=pass_3ds,
        issuer_accept=issuer_accept,
        logit_rest=logit_rest,
        hour_features=hour_features,
        uniforms=uniforms,
    )

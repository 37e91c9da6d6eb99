"""Fraud templates: how each kind of fraud attempt looks to the router, and what it costs it.

One table (:data:`TEMPLATES`) describes the seven templates; one function
(:func:`fraud_features`) turns a cardholder's legitimate transaction into a
fraudulent one. The transaction generator uses it for organic background fraud
(stealth 0) and the simulator uses it, per step, for the fraud ring's attempts,
so both kinds of fraud obey the same rules.

Design of the trade-offs (why no ring action dominates):

- Each template exposes a different channel: ``high_value_spike`` a strong risk
  score and a large amount, ``velocity_burst`` and ``card_testing`` the card's
  velocity, ``geo_anomaly`` and ``device_spoof`` the location and device flags,
  ``low_risk_disguise`` almost nothing but it is worth little per attempt. A
  router that watches one channel is beaten by a template that avoids it.
- Stealth shrinks the hidden risk signal and the telltale flags, but also the
  amount per attempt (mimicking the cardholder's usual spend) and, in profit
  mode, raises the cost per attempt.
- ``low_risk_disguise`` (account takeover) passes 3-D Secure half of the time;
  the other templates rarely do. 3-D Secure shifts liability for authenticated
  fraud to the issuer, so it protects the merchant either way, at the price of
  legitimate customers abandoning.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

TEMPLATE_NAMES = (
    "high_value_spike",
    "velocity_burst",
    "geo_anomaly",
    "device_spoof",
    "split_transactions",
    "low_risk_disguise",
    "card_testing",
)
HIGH_VALUE_SPIKE, VELOCITY_BURST, GEO_ANOMALY, DEVICE_SPOOF, SPLIT, LOW_RISK_DISGUISE, CARD_TESTING = range(7)
NUM_TEMPLATES = len(TEMPLATE_NAMES)


class TemplateTable(NamedTuple):
    """Per-template parameters, each an array indexed by template id."""

    amount_log_shift: np.ndarray  # added to log(amount) of the cardholder's usual purchase
    signal: np.ndarray  # hidden risk-logit elevation seen only by the upstream model
    velocity_add: np.ndarray  # extra transactions on the card in the last hour
    p_new_device: np.ndarray
    p_geo_mismatch: np.ndarray
    p_international: np.ndarray
    p_pass_3ds: np.ndarray  # chance the fraudster completes a 3-D Secure challenge


TEMPLATES = TemplateTable(
    amount_log_shift=np.array([1.5, 0.0, 0.6, 0.6, -0.6, -0.2, 0.0]),
    signal=np.array([2.4, 1.0, 1.2, 1.2, 0.9, 0.4, 0.8]),
    velocity_add=np.array([0.0, 4.0, 0.0, 0.0, 2.5, 0.0, 6.0]),
    p_new_device=np.array([0.6, 0.5, 0.6, 0.95, 0.5, 0.05, 0.7]),
    p_geo_mismatch=np.array([0.4, 0.3, 0.95, 0.3, 0.3, 0.05, 0.3]),
    p_international=np.array([0.3, 0.2, 0.8, 0.2, 0.2, 0.05, 0.4]),
    p_pass_3ds=np.array([0.05, 0.05, 0.10, 0.15, 0.10, 0.50, 0.02]),
)

#: Template mix of organic (background) fraud, which no agent controls.
BACKGROUND_MIX = np.array([0.20, 0.15, 0.20, 0.20, 0.10, 0.10, 0.05])
#: Templates the ring's ``mixed`` strategy draws from, uniformly.
MIXED_TEMPLATES = np.array([HIGH_VALUE_SPIKE, VELOCITY_BURST, GEO_ANOMALY, DEVICE_SPOOF, SPLIT, LOW_RISK_DISGUISE])
#: Template of each strategy in :data:`smartpay_marl.layout.STRATEGIES` (index 0, mixed, is drawn).
STRATEGY_TEMPLATE = np.array([-1, HIGH_VALUE_SPIKE, LOW_RISK_DISGUISE, VELOCITY_BURST, CARD_TESTING])

#: How much of each telltale (hidden signal, flags) full stealth removes.
STEALTH_MASKING = 0.8
#: How much of the amount per attempt full stealth gives up.
STEALTH_AMOUNT_LOSS = 0.6
#: Card-testing attempts are small charges between these bounds, in dollars.
CARD_TEST_AMOUNT = (0.5, 3.0)
#: Issuers decline this share of fraudulent authorisations on their own.
ISSUER_FRAUD_DECLINE = 0.3


class FraudFeatures(NamedTuple):
    """Observable and hidden features of fraud attempts (arrays of one shape)."""

    amount: np.ndarray
    velocity: np.ndarray
    international: np.ndarray
    new_device: np.ndarray
    geo_mismatch: np.ndarray
    hidden_signal: np.ndarray
    pass_3ds: np.ndarray


def fraud_features(
    template: np.ndarray,
    legit_amount: np.ndarray,
    legit_velocity: np.ndarray,
    stealth: np.ndarray | float,
    extra_velocity: np.ndarray | float,
    uniforms: np.ndarray,
) -> FraudFeatures:
    """Turn cardholders' transactions into fraud attempts of the given templates.

    Args:
        template: template id per attempt.
        legit_amount: the cardholder's usual purchase amount, in dollars.
        legit_velocity: the card's transactions in the last hour before the attempt.
        stealth: masking in [0, 1] (0 for organic fraud).
        extra_velocity: velocity added by the ring's intensity and burst position.
        uniforms: ``template.shape + (4,)`` uniforms in [0, 1) for the three
            flags and the card-testing amount.
    """
    t = TEMPLATES
    keep = 1.0 - STEALTH_MASKING * stealth
    amount = legit_amount * np.exp(t.amount_log_shift[template]) * (1.0 - STEALTH_AMOUNT_LOSS * stealth)
    low, high = CARD_TEST_AMOUNT
    amount = np.where(template == CARD_TESTING, low + (high - low) * uniforms[..., 3], amount)
    velocity = legit_velocity + (t.velocity_add[template] + extra_velocity) * (1.0 - 0.5 * stealth)
    return FraudFeatures(
        amount=amount,
        velocity=velocity,
        international=(uniforms[..., 0] < t.p_international[template] * keep),
        new_device=(uniforms[..., 1] < t.p_new_device[template] * keep),
        geo_mismatch=(uniforms[..., 2] < t.p_geo_mismatch[template] * keep),
        hidden_signal=t.signal[template] * keep,
        pass_3ds=t.p_pass_3ds[template],
    )

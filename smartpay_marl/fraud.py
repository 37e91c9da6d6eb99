"""Fraud templates: how each kind of fraud attempt looks to the router, and what it costs it.

One table (:data:`TEMPLATES`) describes the seven templates; one compiled
function (:func:`smartpay_marl.rules.fraud_attempt`) turns a cardholder's
legitimate transaction into a fraudulent one, for organic background fraud
(stealth 0) and for the fraud ring's attempts alike, so both kinds of fraud
obey the same rules.

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

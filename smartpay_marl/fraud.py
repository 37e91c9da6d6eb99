"""Fraud templates and the ring's strategies: how each kind of fraud attempt looks to the router.

Two tables hold everything: :data:`TEMPLATE_TABLE` (one row per template:
how it shifts the amount, the hidden risk signal, the card's velocity and the
telltale flags, how often it passes 3-D Secure, its share of organic fraud and
whether the ring's ``mixed`` strategy draws it) and :data:`STRATEGY_TABLE`
(one row per ring strategy: its name in the action and the template it plays).
Every other name here, :data:`smartpay_marl.layout.STRATEGIES`,
:data:`smartpay_marl.models.Strategy` and the compiled arrays of
:mod:`smartpay_marl.rules`, derives from these two tables.

One compiled function (:func:`smartpay_marl.rules.fraud_attempt`) turns a
cardholder's legitimate transaction into a fraudulent one, for organic
background fraud (stealth 0) and for the fraud ring's attempts alike, so both
kinds of fraud obey the same rules.

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

Adding a fraud template
    Add one row to :data:`TEMPLATE_TABLE` and rebalance the ``background_share``
    column so that it still sums to 1 (checked at import). Nothing else in the
    code changes: the generator draws organic fraud from the new mix and the
    rules read the new row. The template ids are row positions, so append the
    row rather than insert it if recorded template ids must keep their meaning.
    Then describe the template in this docstring and in the README's "Why no
    ring action dominates". Seeded episodes change (the organic mix changed).

Adding a ring strategy
    Add one row to :data:`STRATEGY_TABLE`, naming the template it plays (or
    ``None`` to draw from the ``mixed`` templates). The fraudster's action
    grows by one strategy, the spaces, :data:`smartpay_marl.layout.STRATEGIES`,
    the typed models and the scripted rings (``agents.registry`` registers a
    one-strategy ring per strategy) follow. Append the row: strategy indices
    are actions, and saved policies know them by position. Then update the
    action tables in :mod:`smartpay_marl.layout` and the README.

Numba caches compiled code per source file and does not notice that this
module changed: after editing a table, delete the ``*.nbi``/``*.nbc`` files in
``smartpay_marl/__pycache__`` (or touch ``rules.py``) before playing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FraudTemplate(NamedTuple):
    """One kind of fraud attempt; the parameter columns feed the compiled rules in this order."""

    name: str
    amount_log_shift: float  # added to log(amount) of the cardholder's usual purchase
    signal: float  # hidden risk-logit elevation seen only by the upstream model
    velocity_add: float  # extra transactions on the card in the last hour
    p_new_device: float
    p_geo_mismatch: float
    p_international: float
    p_pass_3ds: float  # chance the fraudster completes a 3-D Secure challenge
    background_share: float  # share of organic (background) fraud of this template, which no agent controls
    in_mixed: bool  # drawn (uniformly among such templates) by the ring's ``mixed`` strategy


# fmt: off
TEMPLATE_TABLE = (
    #             name                 amount signal velocity device  geo   intl  pass3ds background mixed
    FraudTemplate("high_value_spike",    1.5,  2.4,   0.0,    0.6,   0.4,  0.3,  0.05,    0.20,     True),
    FraudTemplate("velocity_burst",      0.0,  1.0,   4.0,    0.5,   0.3,  0.2,  0.05,    0.15,     True),
    FraudTemplate("geo_anomaly",         0.6,  1.2,   0.0,    0.6,   0.95, 0.8,  0.10,    0.20,     True),
    FraudTemplate("device_spoof",        0.6,  1.2,   0.0,    0.95,  0.3,  0.2,  0.15,    0.20,     True),
    FraudTemplate("split_transactions", -0.6,  0.9,   2.5,    0.5,   0.3,  0.2,  0.10,    0.10,     True),
    FraudTemplate("low_risk_disguise",  -0.2,  0.4,   0.0,    0.05,  0.05, 0.05, 0.50,    0.10,     True),
    FraudTemplate("card_testing",        0.0,  0.8,   6.0,    0.7,   0.3,  0.4,  0.02,    0.05,     False),
)
# fmt: on


class RingStrategy(NamedTuple):
    """One value of the fraudster's ``strategy`` action."""

    name: str
    template: str | None  # the template every attempt uses; None draws one of the ``mixed`` templates per attempt


STRATEGY_TABLE = (
    RingStrategy("mixed", None),
    RingStrategy("fraud_surge", "high_value_spike"),
    RingStrategy("stealth_fraud", "low_risk_disguise"),
    RingStrategy("velocity_attack", "velocity_burst"),
    RingStrategy("card_testing", "card_testing"),
)

#: How much of each telltale (hidden signal, flags) full stealth removes.
STEALTH_MASKING = 0.8
#: How much of the amount per attempt full stealth gives up.
STEALTH_AMOUNT_LOSS = 0.6
#: Card-testing attempts are small charges between these bounds, in dollars.
CARD_TEST_AMOUNT = (0.5, 3.0)
#: Issuers decline this share of fraudulent authorisations on their own.
ISSUER_FRAUD_DECLINE = 0.3

# ----------------------------------------------------------------------------- derived from the tables
TEMPLATE_NAMES = tuple(t.name for t in TEMPLATE_TABLE)
NUM_TEMPLATES = len(TEMPLATE_NAMES)
#: Template whose attempts are tiny charges that validate a card for later use (its own rules).
CARD_TESTING = TEMPLATE_NAMES.index("card_testing")
#: Names of the numeric parameter columns, in the order of :data:`TEMPLATE_PARAMETERS`'s columns.
TEMPLATE_COLUMNS = FraudTemplate._fields[1:-2]


class TemplateTable(NamedTuple):
    """The template table by column: each field an array indexed by template id."""

    amount_log_shift: np.ndarray
    signal: np.ndarray
    velocity_add: np.ndarray
    p_new_device: np.ndarray
    p_geo_mismatch: np.ndarray
    p_international: np.ndarray
    p_pass_3ds: np.ndarray


TEMPLATES = TemplateTable(*(np.array([getattr(t, column) for t in TEMPLATE_TABLE]) for column in TEMPLATE_COLUMNS))
#: (NUM_TEMPLATES, len(TEMPLATE_COLUMNS)) float64: one row of parameters per template, for the compiled rules.
TEMPLATE_PARAMETERS = np.stack(TEMPLATES, axis=1)
#: Template mix of organic (background) fraud, which no agent controls.
BACKGROUND_MIX = np.array([t.background_share for t in TEMPLATE_TABLE])
#: Templates the ring's ``mixed`` strategy draws from, uniformly.
MIXED_TEMPLATES = np.array([k for k, t in enumerate(TEMPLATE_TABLE) if t.in_mixed])

STRATEGY_NAMES = tuple(s.name for s in STRATEGY_TABLE)
#: Template of each strategy in :data:`STRATEGY_NAMES`; -1 where each attempt draws one of :data:`MIXED_TEMPLATES`.
STRATEGY_TEMPLATE = np.array([-1 if s.template is None else TEMPLATE_NAMES.index(s.template) for s in STRATEGY_TABLE])

if len(set(TEMPLATE_NAMES)) != NUM_TEMPLATES or len(set(STRATEGY_NAMES)) != len(STRATEGY_NAMES):
    raise ValueError("template and strategy names must be unique")
if abs(BACKGROUND_MIX.sum() - 1.0) > 1e-9:
    raise ValueError(f"the background_share column must sum to 1, got {BACKGROUND_MIX.sum()}")

# ----------------------------------------------------------------------------- fraud displacement (issue 20)
#: The attack channels that have a legitimate look-alike segment, in the order of the config's
#: ``lookalike_share`` and ``lookalike_value``: big-ticket buyers, gamers and subscription
#: top-ups, travellers, new customers on a new device. A look-alike customer's amount, velocity
#: and flags are drawn as the template's (without its hidden risk signal), so a rule that
#: catches the channel's attacks also stops these customers.
LOOKALIKE_TEMPLATES = ("high_value_spike", "velocity_burst", "geo_anomaly", "device_spoof")
LOOKALIKE_SEGMENTS = ("big_ticket", "gamers", "travellers", "new_customers")
LOOKALIKE_TEMPLATE_IDS = np.array([TEMPLATE_NAMES.index(name) for name in LOOKALIKE_TEMPLATES])

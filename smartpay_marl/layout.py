"""The agents' names, action encodings and observation slots: the game's public contract.

Every name the game shares with its players is spelled once here: the roles
and agent ids, the router's decisions, the ring's strategies (from
:mod:`smartpay_marl.fraud`'s strategy table) and every observation slot with
its bounds and meaning. The spaces, the typed models, the documentation tables
and the compiled rules' offsets all derive from these tuples, so they cannot
disagree.

Router (``router_0``) action, ``MultiDiscrete([3, 4, 2])``:
    ``[gateway, decision, retry]`` with gateway in ``range(NUM_GATEWAYS)``,
    decision an index into :data:`DECISIONS` (allow, block, 3-D Secure
    challenge, manual review) and retry an index into :data:`RETRY_CHOICES`
    (no, fail over to the next gateway once).

Fraudster (``fraudster_0``) action, ``MultiDiscrete([5, 4, 4, 5])`` with the
default config: ``[intensity, stealth, burst, strategy]``, each an index into
the config's ``intensity_levels`` / ``stealth_levels`` / ``burst_levels`` and
:data:`STRATEGIES`.

Adding a router decision
    Add its name to :data:`DECISIONS` (append it: decision indices are actions
    that saved policies know by position) and a constant beside ``ALLOW`` ...
    ``REVIEW``. The action space, :data:`smartpay_marl.models.Decision` and the
    pydantic validation follow. What the decision does is a game rule: write it
    in :func:`smartpay_marl.rules._read_decision` (which flags it sets) and
    the mechanics helpers it touches (fees, 3-D Secure, review calendar, the
    ring's feedback), add a P&L term to :data:`smartpay_marl.rules.PNL_TERMS`
    if it costs money, and update the action table in this docstring and in the
    README's "The two agents".

Adding a fraud template or a ring strategy: one row in
:mod:`smartpay_marl.fraud`'s tables; see that module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from smartpay_marl.fraud import STRATEGY_NAMES

ROUTER = "router_0"
FRAUDSTER = "fraudster_0"
AGENTS = (ROUTER, FRAUDSTER)
#: The two roles, in the order of :data:`AGENTS`.
ROLES = ("router", "fraudster")
#: The environment's agent id for each role, and back.
AGENT_OF_ROLE: dict[str, str] = dict(zip(ROLES, AGENTS))
ROLE_OF_AGENT: dict[str, str] = dict(zip(AGENTS, ROLES))
#: The role on the other side of the table from each role.
OTHER_ROLE: dict[str, str] = dict(zip(ROLES, reversed(ROLES)))
#: Each agent's column in an array that holds both agents side by side (rewards, returns).
AGENT_COLUMN: dict[str, int] = {agent: column for column, agent in enumerate(AGENTS)}


class Role(str, Enum):
    """A side of the game, the one role type of the project; its values are :data:`ROLES`.

    A member equals (and hashes as) its plain name, ``Role.ROUTER == "router"``, so the
    name-keyed maps here take either.
    """

    ROUTER = ROLES[0]
    FRAUDSTER = ROLES[1]

    @property
    def opponent(self) -> Role:
        """The role on the other side of the table."""
        return Role(OTHER_ROLE[self.value])

    @property
    def agent(self) -> str:
        """The environment's agent id for this role."""
        return AGENT_OF_ROLE[self.value]

NUM_GATEWAYS = 3
NUM_BINS = 10
NUM_SEGMENTS = 3
SEGMENTS = ("new", "existing", "premium")
MERCHANT_CATEGORIES = ("digital", "electronics", "fashion", "grocery", "travel", "gaming")
NUM_MERCHANTS = len(MERCHANT_CATEGORIES)
#: States of a gateway's health machine (see :mod:`smartpay_marl.rules`).
GATEWAY_STATES = ("normal", "degraded", "recovering")

DECISIONS = ("allow", "block", "3ds", "review")
ALLOW, BLOCK, THREEDS, REVIEW = (DECISIONS.index(name) for name in ("allow", "block", "3ds", "review"))
#: The router's retry field: 1 fails over to the next gateway once after a gateway decline.
RETRY_CHOICES = ("no_retry", "failover")
NO_RETRY, FAILOVER = range(len(RETRY_CHOICES))

#: The ring's strategies, from :data:`smartpay_marl.fraud.STRATEGY_TABLE`; each plays a fraud
#: template (``mixed`` draws one per attempt).
STRATEGIES = STRATEGY_NAMES

ROUTER_ACTION_FIELDS = ("gateway", "decision", "retry")
ROUTER_ACTION_NVEC = (NUM_GATEWAYS, len(DECISIONS), len(RETRY_CHOICES))
FRAUDSTER_ACTION_FIELDS = ("intensity", "stealth", "burst", "strategy")


@dataclass(frozen=True)
class Slot:
    """One named block of an observation vector."""

    name: str
    size: int
    low: float
    high: float
    doc: str


#: Transaction features, in the order the generator writes them. The ring's
#: attempts overwrite the amount, risk, velocity, international, new-device and
#: geo-mismatch slots; the rest belong to the cardholder whose card is used.
#: In an idle step (no customer and no attempt) every transaction slot is 0.
TRANSACTION_SLOTS = (
    Slot("amount", 1, 0.0, 1.5, "log1p(amount in $) / 8"),
    Slot("risk_score", 1, 0.0, 1.0, "upstream fraud model score: informative, imperfect, maskable"),
    Slot("velocity", 1, 0.0, 1.0, "transactions on this card in the last hour / 10, clipped"),
    Slot("international", 1, 0.0, 1.0, "1 if the card is foreign to the merchant's country"),
    Slot("new_device", 1, 0.0, 1.0, "1 if the device was never seen for this customer"),
    Slot("geo_mismatch", 1, 0.0, 1.0, "1 if the location is far from the customer's home region"),
    Slot("tenure", 1, 0.0, 1.0, "customer account age and history, 0 new to 1 long-standing"),
    Slot("segment", NUM_SEGMENTS, 0.0, 1.0, "one-hot customer segment: new, existing, premium"),
    Slot("merchant", NUM_MERCHANTS, 0.0, 1.0, "one-hot merchant category: " + ", ".join(MERCHANT_CATEGORIES)),
    Slot("bin", NUM_BINS, 0.0, 1.0, "one-hot card BIN category"),
    Slot("payment", 1, 0.0, 1.0, "1 if a payment is pending; 0 in an idle slot (all transaction slots 0)"),
)

ROUTER_CONTEXT_SLOTS = (
    Slot("hour", 2, -1.0, 1.0, "sin and cos of the hour of day"),
    Slot("health_rate", NUM_GATEWAYS, 0.0, 1.0, "success rate of each gateway, lagged by health_lag steps"),
    Slot("health_degraded", NUM_GATEWAYS, 0.0, 1.0, "1 if the gateway was degraded (lagged)"),
    Slot("health_recovering", NUM_GATEWAYS, 0.0, 1.0, "1 if the gateway was recovering (lagged)"),
    Slot("failure_streak", 1, 0.0, 1.0, "consecutive failed payments of routed transactions / 5, clipped"),
    Slot("last_approved", 1, 0.0, 1.0, "1 if the previous transaction was captured"),
    Slot("failure_rate", 1, 0.0, 1.0, "moving average (0.1) of failed routed payments"),
    Slot("chargebacks_now", 1, 0.0, 1.0, "chargebacks that matured this step / 3, clipped"),
    Slot("chargeback_amount_now", 1, 0.0, 1.5, "log1p($ charged back this step) / 8"),
    Slot("reviews_fraud_now", 1, 0.0, 1.0, "reviews resolved as fraud this step / 3, clipped"),
    Slot("reviews_legit_now", 1, 0.0, 1.0, "reviews resolved as legitimate this step / 3, clipped"),
    Slot("chargeback_rate", 1, 0.0, 1.0, "moving average (0.05) of matured chargebacks per step"),
    Slot("progress", 1, 0.0, 1.0, "step / max_cycles"),
)

#: What a real fraud ring can learn: outcomes of its own attempts, the clock, and
#: the episode's progress. Never the router's internals or other transactions.
FRAUDSTER_SLOTS = (
    Slot("attempted", 1, 0.0, 1.0, "1 if its last action launched an attempt (now awaiting the router)"),
    Slot("outcome_approved", 1, 0.0, 1.0, "moving average (0.1) of own attempts captured"),
    Slot("outcome_challenged", 1, 0.0, 1.0, "moving average of own attempts sent to 3-D Secure"),
    Slot("outcome_blocked", 1, 0.0, 1.0, "moving average of own attempts blocked"),
    Slot("outcome_reviewed", 1, 0.0, 1.0, "moving average of own attempts sent to manual review"),
    Slot("outcome_declined", 1, 0.0, 1.0, "moving average of own attempts declined by gateway or issuer"),
    Slot("value_extracted", 1, 0.0, 1.5, "moving average of log1p($ obtained per attempt) / 8"),
    Slot("attempt_rate", 1, 0.0, 1.0, "moving average of attempts per step"),
    Slot("burst_active", 1, 0.0, 1.0, "1 while a burst is under way"),
    Slot("validated_cards", 1, 0.0, 1.0, "cards confirmed by card testing and not yet used / 10"),
    Slot("hour", 2, -1.0, 1.0, "sin and cos of the hour of day"),
    Slot("progress", 1, 0.0, 1.0, "step / max_cycles"),
)

ROUTER_SLOTS = TRANSACTION_SLOTS + ROUTER_CONTEXT_SLOTS


def slot_offsets(slots: tuple[Slot, ...]) -> dict[str, slice]:
    """Map each slot name to its slice of the flat observation vector."""
    offsets: dict[str, slice] = {}
    start = 0
    for slot in slots:
        offsets[slot.name] = slice(start, start + slot.size)
        start += slot.size
    return offsets


def slot_bounds(slots: tuple[Slot, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-element lower and upper bounds of a flat observation vector (float32)."""
    low = np.concatenate([np.full(s.size, s.low, dtype=np.float32) for s in slots])
    high = np.concatenate([np.full(s.size, s.high, dtype=np.float32) for s in slots])
    return low, high


TX = slot_offsets(TRANSACTION_SLOTS)
TX_DIM = sum(s.size for s in TRANSACTION_SLOTS)
ROUTER_OBS = slot_offsets(ROUTER_SLOTS)
ROUTER_OBS_DIM = sum(s.size for s in ROUTER_SLOTS)
FRAUDSTER_OBS = slot_offsets(FRAUDSTER_SLOTS)
FRAUDSTER_OBS_DIM = sum(s.size for s in FRAUDSTER_SLOTS)

#: Column index of each single-element transaction slot, for the hot path.
TX_AMOUNT, TX_RISK, TX_VELOCITY, TX_INTERNATIONAL, TX_NEW_DEVICE, TX_GEO, TX_TENURE, TX_PAYMENT = (
    TX[name].start
    for name in ("amount", "risk_score", "velocity", "international", "new_device", "geo_mismatch", "tenure", "payment")
)


def slots_markdown(slots: tuple[Slot, ...]) -> str:
    """A markdown table of observation slots, for the README and docstrings."""
    rows = ["| index | name | range | meaning |", "|---|---|---|---|"]
    for slot, part in zip(slots, slot_offsets(slots).values()):
        index = str(part.start) if slot.size == 1 else f"{part.start}-{part.stop - 1}"
        rows.append(f"| {index} | `{slot.name}` | [{slot.low:g}, {slot.high:g}] | {slot.doc} |")
    return "\n".join(rows)

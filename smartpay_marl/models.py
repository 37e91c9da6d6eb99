"""Typed, readable views of the game for people and language-model agents.

The inner loop works on numpy arrays; these pydantic models are the
human-facing side: actions with named fields (:class:`RouterAction`,
:class:`FraudsterAction`, accepted by the PettingZoo env's ``step`` in place
of arrays) and a readable view of the router's situation and of the last step
(:class:`StepView`), which the ``ansi`` render prints.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from smartpay_marl.layout import (
    DECISIONS,
    FRAUDSTER_OBS,
    GATEWAY_STATES,
    MERCHANT_CATEGORIES,
    NUM_GATEWAYS,
    ROUTER_OBS,
    SEGMENTS,
    STRATEGIES,
)

# Built from the layout's tuples, so a decision or strategy added there is accepted here, and
# pydantic's validation error lists the allowed values.
Decision = Literal[DECISIONS]  # type: ignore[valid-type]
Strategy = Literal[STRATEGIES]  # type: ignore[valid-type]
GatewayStatus = Literal[GATEWAY_STATES]  # type: ignore[valid-type]


class RouterAction(BaseModel):
    """The router's move: which gateway, what fraud decision, whether to fail over once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gateway: int = Field(ge=0, le=NUM_GATEWAYS - 1, description="0 economy, 1 standard, 2 premium")
    decision: Decision = "allow"
    retry: bool = Field(False, description="on a gateway decline, try the next gateway once")

    def to_array(self) -> np.ndarray:
        return np.array([self.gateway, DECISIONS.index(self.decision), int(self.retry)], dtype=np.int64)

    @classmethod
    def from_array(cls, action: np.ndarray) -> "RouterAction":
        gateway, decision, retry = (int(v) for v in np.asarray(action).reshape(-1)[:3])
        return cls(gateway=gateway, decision=DECISIONS[decision], retry=bool(retry))


class FraudsterAction(BaseModel):
    """The fraud ring's move: level indices into the config's levels, and a strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intensity: int = Field(0, ge=0, description="index into GameConfig.intensity_levels")
    stealth: int = Field(0, ge=0, description="index into GameConfig.stealth_levels")
    burst: int = Field(0, ge=0, description="index into GameConfig.burst_levels")
    strategy: Strategy = "mixed"

    def to_array(self) -> np.ndarray:
        return np.array([self.intensity, self.stealth, self.burst, STRATEGIES.index(self.strategy)], dtype=np.int64)

    @classmethod
    def from_array(cls, action: np.ndarray) -> "FraudsterAction":
        intensity, stealth, burst, strategy = (int(v) for v in np.asarray(action).reshape(-1)[:4])
        return cls(intensity=intensity, stealth=stealth, burst=burst, strategy=STRATEGIES[strategy])


class TransactionView(BaseModel):
    """The pending transaction as the router sees it."""

    amount: float = Field(description="dollars")
    risk_score: float
    card_velocity: float = Field(description="transactions on this card in the last hour (capped at 10)")
    international: bool
    new_device: bool
    geo_mismatch: bool
    tenure: float
    segment: str
    merchant: str
    bin_category: int


class GatewayView(BaseModel):
    """One gateway as the router sees it (lagged)."""

    success_rate: float
    status: GatewayStatus


class StepView(BaseModel):
    """A readable summary of the game after a step: what the router sees, and what just happened."""

    step: int
    max_cycles: int
    hour: int
    transaction: TransactionView | None = Field(description="the pending payment; None in an idle checkout slot")
    gateways: list[GatewayView]
    last_router_action: RouterAction | None = None
    last_fraudster_action: FraudsterAction | None = None
    last_outcome: dict[str, float] = Field(default_factory=dict)
    pnl: dict[str, float] = Field(default_factory=dict, description="router's itemised P&L of the last step, $")
    episode_profit: float = 0.0
    ring_attempt_rate: float = 0.0

    @classmethod
    def from_observation(cls, router_obs: np.ndarray, fraudster_obs: np.ndarray, step: int, max_cycles: int, **extra) -> "StepView":
        o = np.asarray(router_obs, dtype=np.float64)

        def one(name: str) -> float:
            return float(o[ROUTER_OBS[name].start])

        hour_sin, hour_cos = o[ROUTER_OBS["hour"]]
        hour = int(round(math.atan2(hour_sin, hour_cos) / (2 * math.pi) * 24)) % 24
        rates = o[ROUTER_OBS["health_rate"]]
        degraded = o[ROUTER_OBS["health_degraded"]]
        recovering = o[ROUTER_OBS["health_recovering"]]
        gateways = [
            GatewayView(
                success_rate=round(float(rate), 4),
                status="degraded" if d > 0.5 else ("recovering" if r > 0.5 else "normal"),
            )
            for rate, d, r in zip(rates, degraded, recovering)
        ]
        transaction = None if one("payment") < 0.5 else TransactionView(
            amount=round(math.expm1(one("amount") * 8.0), 2),
            risk_score=round(one("risk_score"), 4),
            card_velocity=round(one("velocity") * 10.0, 2),
            international=one("international") > 0.5,
            new_device=one("new_device") > 0.5,
            geo_mismatch=one("geo_mismatch") > 0.5,
            tenure=round(one("tenure"), 3),
            segment=SEGMENTS[int(np.argmax(o[ROUTER_OBS["segment"]]))],
            merchant=MERCHANT_CATEGORIES[int(np.argmax(o[ROUTER_OBS["merchant"]]))],
            bin_category=int(np.argmax(o[ROUTER_OBS["bin"]])),
        )
        ring_rate = float(np.asarray(fraudster_obs)[FRAUDSTER_OBS["attempt_rate"].start])
        return cls(step=step, max_cycles=max_cycles, hour=hour, transaction=transaction, gateways=gateways,
                   ring_attempt_rate=round(ring_rate, 4), **extra)  # fmt: skip

    def to_text(self) -> str:
        """A compact multi-line rendering for terminals and prompts."""
        t = self.transaction
        if self.step >= self.max_cycles:
            pending = "  episode over: pending chargebacks and reviews were settled into the last step"
        elif t is None:
            pending = "  next: idle checkout slot (no payment; any action is a no-op)"
        else:
            flags = [n for n, on in (("intl", t.international), ("new-device", t.new_device), ("geo", t.geo_mismatch)) if on]
            pending = (
                f"  next: ${t.amount:,.2f} {t.merchant} | {t.segment} customer, BIN {t.bin_category}, tenure {t.tenure:.2f}"
                f" | risk {t.risk_score:.3f}, velocity {t.card_velocity:.1f}" + (f", {' '.join(flags)}" if flags else "")
            )
        lines = [
            f"step {self.step}/{self.max_cycles}  hour {self.hour:02d}:00  episode profit ${self.episode_profit:,.2f}",
            pending,
            "  gateways (lagged): "
            + "  ".join(f"g{k} {g.success_rate:.3f} {g.status}" for k, g in enumerate(self.gateways)),
        ]
        if self.last_router_action is not None:
            a = self.last_router_action
            lines.append(f"  router did: gateway {a.gateway}, {a.decision}{', failover' if a.retry else ''}")
        if self.last_fraudster_action is not None:
            f = self.last_fraudster_action
            lines.append(
                f"  ring did: {f.strategy}, intensity {f.intensity}, stealth {f.stealth}, burst {f.burst}"
                f" (recent attempt rate {self.ring_attempt_rate:.2f})"
            )
        if self.last_outcome:
            lines.append("  outcome: " + ", ".join(f"{k}={v:g}" for k, v in self.last_outcome.items()))
        booked = [f"{k} {v:+.2f}" for k, v in self.pnl.items() if v != 0.0]
        if booked:
            lines.append("  P&L $: " + ", ".join(booked))
        return "\n".join(lines)

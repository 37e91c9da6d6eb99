"""The HTTP contract of the game server: request bodies, replies and the fraud ring's readable view.

Every reply that shows the game carries the acting side's observation vector
(float32 values written as JSON floats, which round-trip exactly), a readable
view of it, the last step's rewards, the router's itemised P&L and metrics
(what the PettingZoo env returns in ``infos``), and whether the episode is over.

The router's readable view is :class:`smartpay_marl.models.StepView`, the model
the ``ansi`` render prints. The fraud ring sees much less (outcomes of its own
attempts, the clock, the episode's progress); :class:`FraudsterView` names
exactly its observation, so a fraudster agent is never shown the router's side.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from smartpay_marl.layout import FRAUDSTER_OBS
from smartpay_marl.models import FraudsterAction, StepView

RoleName = Literal["router", "fraudster"]
MAX_SEED = 2**63 - 1
#: Names of runs (directories directly under ``--runs``) and players: no separators, no leading dot.
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$"


# ---------------------------------------------------------------------- opponents


class ScriptedOpponent(BaseModel):
    """A scripted baseline of :mod:`agents.registry`, e.g. ``{"kind": "scripted", "name": "velocity_rules"}``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["scripted"] = "scripted"
    name: str = Field(max_length=100, description="a registry name; GET /info lists them per role")


class RunOpponent(BaseModel):
    """A player of a league run under the server's ``--runs`` directory, restored without Ray."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["run"] = "run"
    run: str = Field(max_length=200, pattern=SAFE_NAME, description="a run directory's name directly under --runs")
    player: str = Field(
        max_length=200, pattern=SAFE_NAME, description="a player of the run's league state, e.g. router_main@it45"
    )


OpponentSpec = Annotated[ScriptedOpponent | RunOpponent, Field(discriminator="kind")]


# ---------------------------------------------------------------------- requests


class CreateSessionRequest(BaseModel):
    """Open a game: the role the caller plays, who plays the other side, the game and its seed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role": "router", "opponent": {"kind": "scripted", "name": "stealth_fraud"}, "seed": 42},
                {
                    "role": "fraudster",
                    "opponent": {"kind": "run", "run": "qs4", "player": "router_main@it45"},
                    "config": {"max_cycles": 100},
                    "seed": 7,
                },
            ]
        },
    )

    role: RoleName = Field(description="the side the caller plays; the opponent plays the other")
    opponent: OpponentSpec
    config: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "GameConfig fields (difficulty, max_cycles, reward_mode, ...); against a run's player they "
            "override the run's own game"
        ),
    )
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="episode seed; the server draws one (and returns it) when omitted"
    )


ActionPayload = Annotated[
    dict[str, Any] | list[int],
    Field(
        description=(
            "a typed action (router: {gateway, decision, retry}; fraudster: {intensity, stealth, burst, "
            "strategy}) or the raw MultiDiscrete vector (router [gateway, decision, retry], fraudster "
            "[intensity, stealth, burst, strategy])"
        ),
        examples=[{"gateway": 1, "decision": "3ds", "retry": True}, [2, 0, 1], {"intensity": 3, "strategy": "card_testing"}],
    ),
]


class StepRequest(BaseModel):
    """The caller's action for the next step."""

    model_config = ConfigDict(extra="forbid")

    action: ActionPayload


class SimulateRequest(BaseModel):
    """A what-if step: the caller's action and, optionally, the opponent's (by default what it would play)."""

    model_config = ConfigDict(extra="forbid")

    action: ActionPayload
    opponent_action: ActionPayload | None = Field(
        None, description="the opponent's action to assume; omitted: the action the opponent would play now"
    )


# ---------------------------------------------------------------------- the fraud ring's view


class FraudsterView(BaseModel):
    """The fraud ring's observation by name, with dollar and count units restored, and its last move."""

    step: int
    max_cycles: int
    hour: int
    attempted: bool = Field(description="its last action launched an attempt, now awaiting the router")
    outcome_approved: float = Field(description="moving average of own attempts captured")
    outcome_challenged: float = Field(description="moving average of own attempts sent to 3-D Secure")
    outcome_blocked: float = Field(description="moving average of own attempts blocked")
    outcome_reviewed: float = Field(description="moving average of own attempts sent to manual review")
    outcome_declined: float = Field(description="moving average of own attempts declined by gateway or issuer")
    value_per_attempt: float = Field(description="moving average of $ obtained per attempt")
    attempt_rate: float = Field(description="moving average of attempts per step")
    burst_active: bool
    validated_cards: float = Field(description="cards confirmed by card testing and not yet used")
    last_action: FraudsterAction | None = None
    ring_reward: float = Field(0.0, description="the ring's reward for the last step")
    ring_return: float = Field(0.0, description="the ring's reward summed over the episode so far")

    @classmethod
    def from_observation(cls, observation: np.ndarray, step: int, max_cycles: int, **extra: Any) -> "FraudsterView":
        o = np.asarray(observation, dtype=np.float64)

        def one(name: str) -> float:
            return float(o[FRAUDSTER_OBS[name].start])

        hour_sin, hour_cos = o[FRAUDSTER_OBS["hour"]]
        return cls(
            step=step,
            max_cycles=max_cycles,
            hour=int(round(math.atan2(hour_sin, hour_cos) / (2 * math.pi) * 24)) % 24,
            attempted=one("attempted") > 0.5,
            outcome_approved=round(one("outcome_approved"), 4),
            outcome_challenged=round(one("outcome_challenged"), 4),
            outcome_blocked=round(one("outcome_blocked"), 4),
            outcome_reviewed=round(one("outcome_reviewed"), 4),
            outcome_declined=round(one("outcome_declined"), 4),
            value_per_attempt=round(math.expm1(one("value_extracted") * 8.0), 2),
            attempt_rate=round(one("attempt_rate"), 4),
            burst_active=one("burst_active") > 0.5,
            validated_cards=round(one("validated_cards") * 10.0, 2),
            **extra,
        )

    def to_text(self) -> str:
        """A compact multi-line rendering for prompts, like :meth:`StepView.to_text`."""
        lines = [
            f"step {self.step}/{self.max_cycles}  hour {self.hour:02d}:00  ring return {self.ring_return:+.4f}",
            f"  last action {'launched an attempt' if self.attempted else 'launched no attempt'}"
            + (", burst under way" if self.burst_active else ""),
            f"  own attempts (moving averages): approved {self.outcome_approved:.2f}, challenged "
            f"{self.outcome_challenged:.2f}, blocked {self.outcome_blocked:.2f}, reviewed {self.outcome_reviewed:.2f}, "
            f"declined {self.outcome_declined:.2f}",
            f"  ${self.value_per_attempt:,.2f} per attempt, attempt rate {self.attempt_rate:.3f}, "
            f"validated cards {self.validated_cards:g}",
        ]
        if self.last_action is not None:
            a = self.last_action
            lines.append(
                f"  ring did: {a.strategy}, intensity {a.intensity}, stealth {a.stealth}, burst {a.burst}"
                f" (reward {self.ring_reward:+.4f})"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------------- replies


class GameReply(BaseModel):
    """The game as the caller sees it after a reset, a step or a what-if."""

    session_id: str
    role: RoleName
    agent: str = Field(description="the caller's agent id in the game (router_0 or fraudster_0)")
    opponent: str = Field(description="who plays the other side")
    seed: int
    step: int = Field(description="steps played so far (after the step for a what-if)")
    max_cycles: int
    done: bool = Field(description="the episode is over; further steps answer 409")
    simulated: bool = Field(False, description="a what-if outcome: the session did not advance")
    observation: list[float] = Field(description="the caller's observation vector (float32 values)")
    view: StepView | FraudsterView = Field(description="the observation made readable (StepView for the router)")
    text: str = Field(description="the view as text, for prompts")
    reward: float | None = Field(description="the caller's reward for the last step; None right after the reset")
    rewards: dict[str, float] = Field(description="both agents' rewards for the last step; empty after the reset")
    episode_return: dict[str, float] = Field(description="both agents' rewards summed over the episode so far")
    actions: dict[str, list[int]] = Field(description="both agents' actions in the last step; empty after the reset")
    pnl: dict[str, float] = Field(description="the router's itemised P&L of the last step, in dollars")
    metrics: dict[str, float] = Field(description="the router's metrics of the last step (info['router_0']['metrics'])")
    fraudster_info: dict[str, float] = Field(description="info['fraudster_0'] of the last step")


class SessionCreated(GameReply):
    """The first view of a new session, with the resolved game config."""

    config: dict[str, Any]


class ErrorReply(BaseModel):
    """Every error: a one-line message naming the field and the allowed values where it applies."""

    detail: str
    errors: list[dict[str, Any]] | None = None

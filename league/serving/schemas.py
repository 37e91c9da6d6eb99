"""The HTTP contract of the game server: request bodies, replies and the fraud ring's readable view.

Every reply that shows the game carries the acting side's observation vector
(float32 values written as JSON floats, which round-trip exactly), a readable
view of it, the last step's rewards, the router's itemised P&L and metrics
(what the PettingZoo env returns in ``infos``), and whether the episode is over.

Request bodies are validated strictly against the published OpenAPI schema:
actions state their length and each value's range, scripted opponents are
enums per role, and a session's config is GameConfig's own fields with the
bounds GameConfig checks (:func:`session_config_model`). What the schema
cannot state is checked when the request is served, with a message naming
the field: a relation between two fields of one request (422), and what only
the session knows, its side and its number of levels (409).

The router's readable view is :class:`smartpay_marl.models.StepView`, the model
the ``ansi`` render prints. The fraud ring sees much less (outcomes of its own
attempts, the clock, the episode's progress); :class:`FraudsterView` names
exactly its observation, so a fraudster agent is never shown the router's side.
"""

from __future__ import annotations

import functools
import math
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, create_model, model_validator

from agents.registry import policy_names
from smartpay_marl.config import MAX_DELAY, MAX_DOLLARS, MAX_LEVELS, GameConfig
from smartpay_marl.fraud import STRATEGY_NAMES, TEMPLATE_NAMES
from smartpay_marl.layout import DECISIONS, FRAUDSTER_OBS, NUM_GATEWAYS, OTHER_ROLE, ROLES, STRATEGIES
from smartpay_marl.models import FraudsterAction, RouterAction, StepView

#: A role as the wire spells it: the layout's role names as a JSON-schema enum of plain strings.
RoleName = Literal[ROLES]  # type: ignore[valid-type]
#: Seeds a request may give: JSON readers that hold numbers as doubles (JavaScript; FastAPI's own OpenAPI
#: bounds) keep integers exact only up to 2**53 - 1, so a larger bound could not be published exactly.
MAX_SEED = 2**53 - 1
#: Names of runs (directories directly under ``--runs``) and players: no separators, no leading dot.
SAFE_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.:@+-]*$"
#: A transaction log's path relative to ``--logs``: name components without separators at either end,
#: none starting with a dot (so no ``..``, no hidden files), no backslashes.
SAFE_RELATIVE_PATH = r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$"
#: The config field naming a transaction log replayed as the customer stream (GameConfig may not have it yet).
TRANSACTION_LOG_FIELD = "transaction_log"
#: Config fields that name a file on the server: each may only name one inside the --logs directory.
LOG_PATH_FIELDS = (TRANSACTION_LOG_FIELD, "transaction_log_mapping")

# Request bodies are validated strictly: a JSON string is never taken for a number, nor a number for a
# boolean, so what the schema calls an integer is the only thing accepted as one. JSON arrays arrive as
# lists, which strict validation would refuse for tuple fields; they are turned into tuples first.
STRICT = ConfigDict(extra="forbid", strict=True)


def _list_as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _integral_float_as_int(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer, and so do JSON writers that hold every number as a double.
    return int(value) if isinstance(value, float) and value.is_integer() else value


def integer(*constraints: Any) -> Any:
    """An integer as JSON Schema means it: 3 or 3.0, never "3", 3.5 or true; ``constraints`` as for ``int``.

    The conversion comes after the constraints, so that they stay on ``int`` and the JSON schema shows them.
    """
    return Annotated[(int, *constraints, BeforeValidator(_integral_float_as_int))]


class _IntegralFloats(BaseModel):
    """A strict model whose integer fields also take integral floats (3.0), as JSON Schema's ``integer`` does."""

    @model_validator(mode="before")
    @classmethod
    def _integral_floats_as_ints(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {k: _integral_float_as_int(v) if _is_int_field(cls, k) else v for k, v in data.items()}


def _is_int_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    return field is not None and field.annotation is int


def _strict_tuple(annotation: Any) -> Any:
    return Annotated[annotation, BeforeValidator(_list_as_tuple)]


# ---------------------------------------------------------------------- actions

MAX_LEVEL_INDEX = MAX_LEVELS - 1


def _index(high: int, meaning: str) -> Any:
    return integer(Field(ge=0, le=high, description=meaning))


class RouterActionInput(_IntegralFloats, RouterAction):
    """The router's move by name: ``{"gateway": 1, "decision": "3ds", "retry": true}``."""

    model_config = STRICT


class FraudsterActionInput(_IntegralFloats, FraudsterAction):
    """The fraud ring's move by name; level indices must also lie below the session's number of levels."""

    model_config = STRICT

    intensity: int = Field(0, ge=0, le=MAX_LEVEL_INDEX, description="index into the config's intensity_levels")
    stealth: int = Field(0, ge=0, le=MAX_LEVEL_INDEX, description="index into the config's stealth_levels")
    burst: int = Field(0, ge=0, le=MAX_LEVEL_INDEX, description="index into the config's burst_levels")


RouterVector = _strict_tuple(
    tuple[
        _index(NUM_GATEWAYS - 1, "gateway"),
        _index(len(DECISIONS) - 1, f"decision: index into {list(DECISIONS)}"),
        _index(1, "retry: 0 or 1"),
    ]
)
FraudsterVector = _strict_tuple(
    tuple[
        _index(MAX_LEVEL_INDEX, "intensity: index into the config's intensity_levels"),
        _index(MAX_LEVEL_INDEX, "stealth: index into the config's stealth_levels"),
        _index(MAX_LEVEL_INDEX, "burst: index into the config's burst_levels"),
        _index(len(STRATEGIES) - 1, f"strategy: index into {list(STRATEGIES)}"),
    ]
)
#: The fields of each raw vector, to name them in errors.
VECTOR_FIELDS = {
    "router_vector": ("gateway", "decision", "retry"),
    "fraudster_vector": ("intensity", "stealth", "burst", "strategy"),
}
ROUTER_KEYS = frozenset(RouterAction.model_fields)


def _action_form(value: Any) -> str | None:
    """Which of the four action forms ``value`` is meant to be; None for none of them."""
    if isinstance(value, RouterAction):
        return "router"
    if isinstance(value, FraudsterAction):
        return "fraudster"
    if isinstance(value, dict):
        return "router" if ROUTER_KEYS & set(value) else "fraudster"
    if isinstance(value, (list, tuple, np.ndarray)):
        return {3: "router_vector", 4: "fraudster_vector"}.get(len(value))
    return None


ActionPayload = Annotated[
    Union[
        Annotated[RouterActionInput, Tag("router")],
        Annotated[FraudsterActionInput, Tag("fraudster")],
        Annotated[RouterVector, Tag("router_vector")],
        Annotated[FraudsterVector, Tag("fraudster_vector")],
    ],
    Discriminator(
        _action_form,
        custom_error_type="action_form",
        custom_error_message=(
            "expected a typed action object or a raw vector of 3 integers (router: [gateway, decision, retry]) "
            "or 4 integers (fraudster: [intensity, stealth, burst, strategy])"
        ),
    ),
    Field(
        description=(
            "a typed action (router: {gateway, decision, retry}; fraudster: {intensity, stealth, burst, "
            "strategy}) or the raw MultiDiscrete vector (router [gateway, decision, retry], fraudster "
            "[intensity, stealth, burst, strategy]). It must be the session's side's action, and a "
            "fraudster's level indices must lie below the session config's number of levels."
        ),
        examples=[{"gateway": 1, "decision": "3ds", "retry": True}, [2, 0, 1], {"intensity": 3, "strategy": "card_testing"}],
    ),
]


class StepRequest(BaseModel):
    """The caller's action for the next step."""

    model_config = STRICT

    action: ActionPayload


class SimulateRequest(BaseModel):
    """A what-if step: the caller's action and, optionally, the opponent's (by default what it would play)."""

    model_config = STRICT

    action: ActionPayload
    opponent_action: ActionPayload | None = Field(
        None, description="the opponent's action to assume; omitted: the action the opponent would play now"
    )


# ---------------------------------------------------------------------- opponents


class ScriptedOpponent(BaseModel):
    """A scripted baseline of :mod:`agents.registry`, e.g. ``{"kind": "scripted", "name": "velocity_rules"}``."""

    model_config = STRICT

    kind: Literal["scripted"] = "scripted"
    name: str = Field(max_length=100, description="a registry name; GET /info lists them per role")


class RunOpponent(BaseModel):
    """A player of a league run under the server's ``--runs`` directory, restored without Ray."""

    model_config = STRICT

    kind: Literal["run"] = "run"
    run: str = Field(max_length=200, pattern=SAFE_NAME, description="a run directory's name directly under --runs")
    player: str = Field(
        max_length=200, pattern=SAFE_NAME, description="a player of the run's league state, e.g. router_main@it45"
    )


def _scripted_names(role: str) -> Any:
    return Literal[tuple(policy_names(role))]  # type: ignore[valid-type]


#: The scripted baselines that play each role, as a schema enum (the registry is fixed at import).
ScriptedRouterName = _scripted_names("router")
ScriptedFraudsterName = _scripted_names("fraudster")


class ScriptedRouter(ScriptedOpponent):
    """A scripted router of :mod:`agents.registry` (the opponent of a fraudster session)."""

    name: ScriptedRouterName = Field(description="a scripted router's registry name")  # type: ignore[valid-type]


class ScriptedFraudster(ScriptedOpponent):
    """A scripted fraud ring of :mod:`agents.registry` (the opponent of a router session)."""

    name: ScriptedFraudsterName = Field(description="a scripted fraudster's registry name")  # type: ignore[valid-type]


OpponentSpec = str | ScriptedOpponent | RunOpponent
SCRIPTED_OF_ROLE = {"router": (ScriptedRouterName, ScriptedRouter), "fraudster": (ScriptedFraudsterName, ScriptedFraudster)}


def _opponent_form(value: Any) -> str | None:
    if isinstance(value, str):
        return "name"
    if isinstance(value, RunOpponent):
        return "run"
    if isinstance(value, ScriptedOpponent):
        return "scripted"
    if isinstance(value, dict):
        kind = value.get("kind", "run" if "run" in value else "scripted")
        return kind if kind in ("scripted", "run") else None
    return None


def opponent_type(opponent_role: str, runs_enabled: bool) -> Any:
    """Who may play ``opponent_role``: a bare scripted name, a scripted spec, or (with --runs) a run's player."""
    name_type, scripted_type = SCRIPTED_OF_ROLE[opponent_role]
    members: list[Any] = [
        Annotated[name_type, Tag("name"), Field(description=f"shorthand for a scripted {opponent_role}")],
        Annotated[scripted_type, Tag("scripted")],
    ]
    kinds = "a scripted name, {\"kind\": \"scripted\", \"name\": ...}"
    if runs_enabled:
        members.append(Annotated[RunOpponent, Tag("run")])
        kinds += " or {\"kind\": \"run\", \"run\": ..., \"player\": ...}"
    else:
        kinds += " (kind 'run' needs a server started with --runs DIR)"
    return Annotated[
        Union[tuple(members)],
        Discriminator(_opponent_form, custom_error_type="opponent_kind",
                      custom_error_message=f"expected {kinds}; kind must be 'scripted' or 'run'"),  # fmt: skip
        Field(description=f"who plays the {opponent_role}"),
    ]


# ---------------------------------------------------------------------- the session's game config


def _bound(model: type[BaseModel], name: str, which: str) -> Any:
    """A numeric bound (``ge``, ``le``, ...) of one of ``model``'s fields, as its Field declares it."""
    return next(getattr(m, which) for m in model.model_fields[name].metadata if hasattr(m, which))


@functools.lru_cache(maxsize=None)
def session_config_model(max_cycles: int, max_delay: int, max_levels: int) -> type[BaseModel]:
    """``SessionConfig``: GameConfig's fields, each optional, with the bounds GameConfig checks stated in the schema.

    The fields, types, defaults and descriptions are GameConfig's own (a field added to GameConfig appears
    here with no change). What GameConfig checks in its validator rather than in a field's type (the range
    of each value of a tuple, the number of levels) and the server's own limits are added to the field's
    type, from the same constants, so that the schema states them. Two relations between fields remain
    that a JSON Schema cannot state: ``low <= high`` of each delay pair, and ``max(intensity_levels) <=
    1 - customer_arrival_rate``; a config that breaks them gets 422 naming the field.
    """
    unit = Annotated[float, Field(ge=0, le=1)]
    dollars = Annotated[float, Field(ge=0, le=MAX_DOLLARS)]
    delay = integer(Field(ge=1, le=min(max_delay, MAX_DELAY)))
    levels = Annotated[tuple[unit, ...], Field(min_length=2, max_length=min(max_levels, MAX_LEVELS))]
    shift = Annotated[float, Field(ge=-3, le=3)]
    template = Literal[("mixed", *TEMPLATE_NAMES)]
    tightened: dict[str, Any] = {
        "max_cycles": integer(Field(ge=_bound(GameConfig, "max_cycles", "ge"),
                                    le=min(max_cycles, _bound(GameConfig, "max_cycles", "le")))),  # fmt: skip
        "gateway_base_success": tuple[unit, unit, unit],
        "gateway_fee_pct": tuple[unit, unit, unit],
        "gateway_fee_fixed": tuple[dollars, dollars, dollars],
        "threeds_abandon": tuple[unit, unit, unit],
        "customer_value": tuple[dollars, dollars, dollars],
        "chargeback_delay": tuple[delay, delay],
        "review_delay": tuple[delay, delay],
        "intensity_levels": levels,
        "stealth_levels": levels,
        "burst_levels": levels,
        # The fraud-displacement fields (smartpay_marl/config.py: GameConfig._check_displacement).
        "lookalike_share": tuple[unit, unit, unit, unit],
        "lookalike_value": tuple[dollars, dollars, dollars, dollars],
        "channel_amount_shift": tuple[shift, shift, shift, shift] | None,
        "strategy_templates": tuple[(template,) * len(STRATEGY_NAMES)] | None,  # one template per strategy
    }
    fields: dict[str, Any] = {}
    for name, info in GameConfig.model_fields.items():
        annotation = tightened.get(name, info.annotation)
        if get_origin(annotation) is tuple or any(get_origin(a) is tuple for a in get_args(annotation)):
            annotation = _strict_tuple(annotation)
        if name not in tightened and annotation is int:
            annotation = integer(*info.metadata)
        elif name not in tightened and annotation == (int | None):
            annotation = Union[integer(*info.metadata), None]
        elif name not in tightened and info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        fields[name] = (annotation, Field(info.get_default(call_default_factory=True), description=info.description))
    # The transaction log is a path: the request may only name one inside the server's --logs directory
    # (relative to it), checked before GameConfig sees it; so its type here is that relative name.
    descriptions = {
        TRANSACTION_LOG_FIELD: "a transaction log (CSV or Parquet) replayed as the customer stream",
        "transaction_log_mapping": "a YAML column mapping for the transaction log",
    }
    for name in LOG_PATH_FIELDS:
        fields[name] = (
            str | None,
            Field(None, max_length=500, pattern=SAFE_RELATIVE_PATH,
                  description=f"{descriptions[name]}: a path relative to the server's --logs directory; "
                              "refused when the server has none"),  # fmt: skip
        )
    return create_model(
        "SessionConfig",
        __config__=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              title="SessionConfig", json_schema_extra={"examples": [{"max_cycles": 100}]}),  # fmt: skip
        __doc__="GameConfig fields to set for this session (the rest keep their defaults, or a run's own game).",
        **fields,
    )


# ---------------------------------------------------------------------- opening a session


def _role_of(value: Any) -> str | None:
    role = value.get("role") if isinstance(value, dict) else getattr(value, "role", None)
    return role if role in ROLES else None


def create_session_type(max_cycles: int, max_delay: int, max_levels: int, runs_enabled: bool) -> Any:
    """The body of ``POST /sessions`` for one server: one model per role, told apart by ``role``."""
    config_model = session_config_model(max_cycles, max_delay, max_levels)
    models = []
    for role in ROLES:
        opponent = opponent_type(OTHER_ROLE[role], runs_enabled)
        example_opponent = "stealth_fraud" if role == "router" else {"kind": "scripted", "name": "velocity_rules"}
        model = create_model(
            f"Create{role.capitalize()}Session",
            __config__=ConfigDict(
                extra="forbid", strict=True,
                json_schema_extra={"examples": [{"role": role, "opponent": example_opponent,
                                                 "config": {"max_cycles": 100}, "seed": 42}]},
            ),  # fmt: skip
            __doc__=f"Open a game in which the caller plays the {role} and the opponent the {OTHER_ROLE[role]}.",
            role=(Literal[role], Field(description="the side the caller plays; the opponent plays the other")),
            opponent=(opponent, ...),
            config=(config_model, Field(default_factory=config_model,
                                        description="GameConfig fields; against a run's player they override "
                                                    "the run's own game")),  # fmt: skip
            seed=(integer(Field(ge=0, le=MAX_SEED)) | None, Field(None,
                                     description="episode seed; the server draws one (and returns it) when omitted")),  # fmt: skip
        )
        models.append(Annotated[model, Tag(role)])
    return Annotated[
        Union[tuple(models)],
        Discriminator(
            _role_of,
            custom_error_type="role",
            custom_error_message="must be 'router' or 'fraudster' (the body is an object with role, opponent, config, seed)",
        ),
    ]


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
    errors: list[dict[str, Any]] | None = Field(None, description="for 422: each problem's type, location and message")
    request_id: str | None = Field(None, description="for 500: quote it to the operator; the server log has the trace")


class HealthReply(BaseModel):
    status: Literal["ok"]
    version: str
    sessions: int = Field(description="open sessions")
    max_sessions: int


class ClosedReply(BaseModel):
    closed: str = Field(description="the id of the session just closed")

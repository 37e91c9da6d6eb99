"""The FastAPI application that serves the game: ``create_app(settings)``.

Endpoints (OpenAPI docs at ``/docs``):

- ``GET /health``: liveness and the number of open sessions.
- ``GET /info``: agents, action and observation spaces with the observation
  tables, decisions, strategies, reward modes, config defaults, the
  available opponents and the server's limits.
- ``POST /sessions``: open a game (role, opponent, config fields, seed); the
  session id and the first view.
- ``POST /sessions/{id}/step``: play an action (typed or the raw vector).
- ``POST /sessions/{id}/simulate``: a what-if step; the session does not advance.
- ``GET /sessions/{id}/state``: the latest view again.
- ``DELETE /sessions/{id}``: close the session.

Status codes (each operation's OpenAPI entry lists its own): 400 for a body
that is not JSON, 415 for one not sent as JSON, 422 for bad input (the
message names the field and the allowed values), 404 for an unknown, closed,
reclaimed or expired session and for a run, player or log file the server
does not hold, 403 for a transaction log outside ``--logs``, 409 for a step
after the episode ended, 429 when there is no room for a session (the
server's or the client's limit; ``Retry-After`` says when to retry), and 500,
with a request id, for an unexpected failure (the log has the trace).

Handlers are plain functions, which FastAPI runs in its thread pool; each
session's lock makes requests to one session run one at a time.
"""

# No ``from __future__ import annotations``: the body type of POST /sessions is built per app, inside
# _add_session_routes, and FastAPI reads the handler's annotations as objects, not as names to look up.
import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, get_args

from fastapi import Body, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from league.serving.errors import ServingError
from league.serving.logs import LogDirectory, guard_transaction_log
from league.serving.opponents import OpponentCatalog
from league.serving.schemas import (
    VECTOR_FIELDS,
    ClosedReply,
    ErrorReply,
    GameReply,
    HealthReply,
    SessionCreated,
    SimulateRequest,
    StepRequest,
    create_session_type,
)
from league.serving.sessions import GameLimits, GameSession, SessionStore
from smartpay_marl import __version__
from smartpay_marl.config import DIFFICULTY_PRESETS, GameConfig, RewardMode
from smartpay_marl.layout import (
    AGENT_OF_ROLE,
    DECISIONS,
    FRAUDSTER,
    FRAUDSTER_ACTION_FIELDS,
    FRAUDSTER_SLOTS,
    NUM_GATEWAYS,
    OTHER_ROLE,
    ROLES,
    ROUTER,
    ROUTER_ACTION_FIELDS,
    ROUTER_SLOTS,
    STRATEGIES,
    Slot,
    slot_offsets,
    slots_markdown,
)
from smartpay_marl.spaces import build_action_spaces

LOG = logging.getLogger("league.serving")


def _error(description: str) -> dict:
    return {"model": ErrorReply, "description": description}


#: Every status each kind of endpoint can answer besides its success, as the OpenAPI schema states them.
ANY = {500: _error("an unexpected server failure; the reply carries a request id, the server log the trace")}
WITH_BODY = {
    400: _error("the body is not valid JSON"),
    415: _error("the body is not sent as application/json"),
    422: _error("bad input: the message names the field and the allowed values"),
}
SESSION = {404: _error("unknown, closed, reclaimed or expired session")}
PLAYING = {409: _error("the session cannot play this: the episode has ended, or the action is the other side's "
                        "or names a level beyond the session config's levels")}
OPENING = {
    403: _error("a transaction log outside the server's --logs directory, or none allowed"),
    404: _error("no such run, player of a run, or transaction log on this server"),
    429: _error("no room: the server's or this client's open sessions are at their limit (see Retry-After)"),
}


@dataclass(frozen=True)
class ServerSettings:
    """What ``smartpay-marl serve`` configures."""

    runs_dir: str | Path | None = None
    max_sessions: int = 64
    idle_timeout_s: float = 600.0
    #: open sessions allowed per remote address (capped at max_sessions); None: max_sessions.
    max_sessions_per_client: int | None = 8
    #: a session idle this long may be reclaimed for a new one when there is no room; None: never.
    reclaim_idle_s: float | None = 60.0
    #: the only directory a session config's transaction_log may name a file in; None: no logs.
    logs_dir: str | Path | None = None
    limits: GameLimits = field(default_factory=GameLimits)
    #: torch threads once a league player is restored (small MLPs, one observation per call: 1 is fastest);
    #: None leaves torch's setting alone.
    torch_threads: int | None = None


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving the game; its session store and opponents live as long as the app."""
    settings = settings or ServerSettings()
    store = SessionStore(
        settings.max_sessions, settings.idle_timeout_s, settings.max_sessions_per_client, settings.reclaim_idle_s
    )
    catalog = OpponentCatalog(settings.runs_dir, torch_threads=settings.torch_threads)
    logs = LogDirectory(settings.logs_dir) if settings.logs_dir is not None else None
    app = _new_app(store, sweep_every_s=max(1.0, settings.idle_timeout_s / 4))
    app.state.store = store
    app.state.catalog = catalog
    app.state.settings = settings
    _add_error_handlers(app)
    _add_info_routes(app, store, catalog, settings.limits, logs)
    _add_session_routes(app, store, catalog, settings, logs)
    return app


def _new_app(store: SessionStore, sweep_every_s: float) -> FastAPI:
    """The bare app, whose lifespan runs the sweeper that frees expired sessions."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        sweeper = asyncio.create_task(_sweep_forever(store, sweep_every_s))
        try:
            yield
        finally:
            sweeper.cancel()

    return FastAPI(
        title="smartpay-marl game server",
        version=__version__,
        description=(
            "A payment router against a fraud ring, one side played by the caller and the other by a scripted "
            "baseline or a league player. Open a session, then step it until `done`. Request bodies are "
            "checked strictly against this schema; see each operation for the statuses it can answer."
        ),
        lifespan=lifespan,
    )


def _add_error_handlers(app: FastAPI) -> None:
    """Serving errors with their status, bad bodies as 400/415/422, and anything else as a 500 with an id."""

    @app.exception_handler(ServingError)
    async def _serving_error(_: Request, error: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_reply(request, error.errors())

    @app.exception_handler(Exception)
    async def _last_resort(request: Request, error: Exception) -> JSONResponse:
        # An unexpected failure is a bug: one line for the caller, the full trace (with the same id) in the log.
        request_id = secrets.token_hex(8)
        LOG.error("request %s %s %s failed", request_id, request.method, request.url.path, exc_info=error)
        return JSONResponse(
            {"detail": f"internal server error (request id {request_id}); the server log has the details",
             "request_id": request_id},
            status_code=500,
        )  # fmt: skip


def _add_info_routes(
    app: FastAPI, store: SessionStore, catalog: OpponentCatalog, limits: GameLimits, logs: LogDirectory | None
) -> None:
    """``GET /health`` and ``GET /info``."""

    @app.get("/health", summary="liveness and open sessions", response_model=HealthReply, responses=ANY)
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "sessions": len(store), "max_sessions": store.max_sessions}

    @app.get("/info", summary="agents, spaces, observation tables, decisions, strategies, reward modes, opponents",
             responses=ANY)  # fmt: skip
    def info() -> dict:
        return _game_info(catalog, store, limits, logs)


def _add_session_routes(
    app: FastAPI, store: SessionStore, catalog: OpponentCatalog, settings: ServerSettings, logs: LogDirectory | None
) -> None:
    """Opening, stepping, simulating, reading and closing sessions."""
    limits = settings.limits
    CreateSessionBody = create_session_type(
        limits.max_cycles, limits.max_delay, limits.max_levels, runs_enabled=settings.runs_dir is not None
    )

    @app.post("/sessions", summary="open a game", response_model=SessionCreated, status_code=201,
              responses={**ANY, **WITH_BODY, **OPENING})  # fmt: skip
    def create_session(request: Request, body: Annotated[CreateSessionBody, Body()]) -> Response:
        client = request.client.host if request.client is not None else ""
        seed = body.seed if body.seed is not None else secrets.randbits(53)
        fields = guard_transaction_log(body.config.model_dump(exclude_unset=True), logs)
        # The opponent and the game are checked before a place is taken, so a bad request never reclaims one.
        opponent = catalog.resolve(body.opponent, OTHER_ROLE[body.role], seed, fields, limits.make_game)

        def build(session_id: str) -> GameSession:
            return GameSession(session_id, body.role, opponent.policy, opponent.label, opponent.game, seed, client)

        session = store.open(build, client)
        with session.lock:
            return _json(session.created_reply(), status_code=201)

    @app.post("/sessions/{session_id}/step", summary="play one step", response_model=GameReply,
              responses={**ANY, **WITH_BODY, **SESSION, **PLAYING})  # fmt: skip
    def step(session_id: str, request: StepRequest) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.step(request.action))

    @app.post("/sessions/{session_id}/simulate", summary="what-if: one step's outcome, without advancing",
              response_model=GameReply, responses={**ANY, **WITH_BODY, **SESSION, **PLAYING})  # fmt: skip
    def simulate(session_id: str, request: SimulateRequest) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.simulate(request.action, request.opponent_action))

    @app.get("/sessions/{session_id}/state", summary="the latest view", response_model=GameReply,
             responses={**ANY, **SESSION})  # fmt: skip
    def state(session_id: str) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.reply)

    @app.delete("/sessions/{session_id}", summary="close a session", response_model=ClosedReply,
                responses={**ANY, **SESSION})  # fmt: skip
    def close(session_id: str) -> dict:
        store.close(session_id)
        return {"closed": session_id}


def _json(reply: BaseModel, status_code: int = 200) -> Response:
    """The reply serialised once by pydantic (floats in shortest round-trip form, so float64 values are exact).

    Returning a Response skips FastAPI's second validation of a reply the session already built typed.
    """
    return Response(reply.model_dump_json(), status_code=status_code, media_type="application/json")


async def _sweep_forever(store: SessionStore, every_s: float) -> None:
    """Free expired sessions even when no request comes."""
    while True:
        await asyncio.sleep(every_s)
        store.sweep()


def _validation_reply(request: Request, problems: list[dict]) -> JSONResponse:
    """400 for a body that is not JSON, 415 for one not sent as JSON, else 422 with one line naming each field."""
    if any(problem.get("type") == "json_invalid" for problem in problems):
        reason = next((p.get("ctx") or {}).get("error", "") for p in problems if p.get("type") == "json_invalid")
        return JSONResponse({"detail": f"body: not valid JSON: {reason}"}, status_code=400)
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    body_missing = any(p.get("type") == "missing" and tuple(p.get("loc", ())) == ("body",) for p in problems)
    if not body_missing and media_type != "application/json" and not media_type.endswith("+json"):
        # FastAPI parses a body as JSON only when it is declared so; anything else never reaches the models.
        got = f"Content-Type {content_type[:100]!r}" if content_type else "no Content-Type"
        return JSONResponse({"detail": f"body: send JSON with Content-Type: application/json, got {got}"}, status_code=415)
    errors = [{"type": p.get("type"), "loc": _where(p), "msg": p.get("msg", "")} for p in problems]
    message = "; ".join(_describe_problem(problem) for problem in problems)
    return JSONResponse({"detail": message, "errors": errors}, status_code=422)


def _location(loc: tuple | list) -> str:
    """A pydantic location as the field a caller wrote: ``config.max_cycles``, ``action[1] (decision)``.

    The tags by which the request models tell a body's forms apart (the role; typed or raw actions; scripted
    or run opponents) are pydantic's, not the caller's, so they are left out.
    """
    parts = list(loc)
    if parts[:1] == ["body"]:
        parts = parts[1:]
    if parts[:1] and parts[0] in ROLES:
        parts = parts[1:]
    names: list[str] = []
    index = 0
    while index < len(parts):
        part = parts[index]
        tagged = names[-1] if names and index > 0 and str(parts[index - 1]) == names[-1] else None
        if tagged in ("action", "opponent_action") and part in ROLES:
            index += 1
            continue
        if tagged in ("action", "opponent_action") and part in VECTOR_FIELDS:
            following = parts[index + 1] if index + 1 < len(parts) else None
            if isinstance(following, int) and following < len(VECTOR_FIELDS[part]):
                names[-1] = f"{tagged}[{following}] ({VECTOR_FIELDS[part][following]})"
                index += 2
            else:
                index += 1
            continue
        if tagged == "opponent" and part in ("scripted", "run"):
            index += 1
            continue
        names.append(str(part))
        index += 1
    return ".".join(names) or "body"


def _where(problem: dict) -> str:
    """The field a problem is about: the body's role when the body's form could not be told, else its location."""
    if problem.get("type") == "role":  # the discriminator of POST /sessions reports at the body itself
        return "role"
    return _location(problem.get("loc", ()))


def _describe_problem(problem: dict) -> str:
    """One pydantic problem as ``field: message (got value)``."""
    text = f"{_where(problem)}: {problem.get('msg', 'invalid')}"
    expected = (problem.get("ctx") or {}).get("expected")
    if expected and str(expected) not in text:
        text += f" (allowed values: {expected})"
    value = problem.get("input")
    if problem.get("type") != "missing" and isinstance(value, (str, int, float, bool)) and not isinstance(value, dict):
        shown = repr(value)
        text += f" (got {shown[:80] + '...' if len(shown) > 80 else shown})"
    return text


def _slots(slots: tuple[Slot, ...]) -> list[dict]:
    return [
        {"name": s.name, "start": part.start, "size": s.size, "low": s.low, "high": s.high, "meaning": s.doc}
        for s, part in zip(slots, slot_offsets(slots).values())
    ]


def _game_info(catalog: OpponentCatalog, store: SessionStore, limits: GameLimits, logs: LogDirectory | None) -> dict:
    default_game = GameConfig()
    spaces = build_action_spaces(default_game)
    return {
        "version": __version__,
        "roles": dict(AGENT_OF_ROLE),
        "agents": {
            ROUTER: {
                "role": "router",
                "action": {
                    "nvec": [int(n) for n in spaces[ROUTER].nvec],
                    "fields": list(ROUTER_ACTION_FIELDS),
                    "typed": {"gateway": list(range(NUM_GATEWAYS)), "decision": list(DECISIONS), "retry": [False, True]},
                },
                "observation": {"dim": sum(s.size for s in ROUTER_SLOTS), "slots": _slots(ROUTER_SLOTS)},
                "observation_table": slots_markdown(ROUTER_SLOTS),
                "view": "StepView",
            },
            FRAUDSTER: {
                "role": "fraudster",
                "action": {
                    "nvec": [int(n) for n in spaces[FRAUDSTER].nvec],
                    "fields": list(FRAUDSTER_ACTION_FIELDS),
                    "typed": {
                        "intensity": f"0..{len(default_game.intensity_levels) - 1} (index into config.intensity_levels)",
                        "stealth": f"0..{len(default_game.stealth_levels) - 1} (index into config.stealth_levels)",
                        "burst": f"0..{len(default_game.burst_levels) - 1} (index into config.burst_levels)",
                        "strategy": list(STRATEGIES),
                    },
                    "note": "the sizes shown are the default game's; they follow the config's level lists",
                },
                "observation": {"dim": sum(s.size for s in FRAUDSTER_SLOTS), "slots": _slots(FRAUDSTER_SLOTS)},
                "observation_table": slots_markdown(FRAUDSTER_SLOTS),
                "view": "FraudsterView",
            },
        },
        "decisions": list(DECISIONS),
        "strategies": list(STRATEGIES),
        "reward_modes": list(get_args(RewardMode)),
        "difficulties": list(DIFFICULTY_PRESETS),
        "config_defaults": default_game.model_dump(mode="json"),
        "opponents": catalog.describe(),
        "limits": {
            "max_sessions": store.max_sessions,
            "max_sessions_per_client": store.max_per_client,
            "idle_timeout_s": store.idle_timeout_s,
            "reclaim_idle_s": store.reclaim_idle_s,
            "transaction_logs": logs is not None,
            "max_cycles": limits.max_cycles,
            "max_delay": limits.max_delay,
            "max_levels": limits.max_levels,
        },
    }

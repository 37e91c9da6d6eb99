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

Status codes: 422 for bad input (the message names the field and the
allowed values), 404 for an unknown, closed or expired session, 409 for a
step after the episode ended, 429 when ``max_sessions`` are open.

Handlers are plain functions, which FastAPI runs in its thread pool; each
session's lock makes requests to one session run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from league.serving.errors import ServingError
from league.serving.opponents import OpponentCatalog
from league.serving.schemas import (
    CreateSessionRequest,
    ErrorReply,
    GameReply,
    SessionCreated,
    SimulateRequest,
    StepRequest,
)
from league.serving.sessions import GameLimits, GameSession, SessionStore
from smartpay_marl import __version__
from smartpay_marl.config import DIFFICULTY_PRESETS, GameConfig, RewardMode
from smartpay_marl.layout import (
    DECISIONS,
    FRAUDSTER,
    FRAUDSTER_ACTION_FIELDS,
    FRAUDSTER_SLOTS,
    NUM_GATEWAYS,
    ROUTER,
    ROUTER_ACTION_FIELDS,
    ROUTER_SLOTS,
    STRATEGIES,
    Slot,
    slot_offsets,
    slots_markdown,
)
from smartpay_marl.spaces import build_action_spaces

ERROR_RESPONSES = {
    404: {"model": ErrorReply, "description": "unknown, closed or expired session"},
    409: {"model": ErrorReply, "description": "the episode has ended"},
    422: {"model": ErrorReply, "description": "bad input: the message names the field and the allowed values"},
}


@dataclass(frozen=True)
class ServerSettings:
    """What ``smartpay-marl serve`` configures."""

    runs_dir: str | Path | None = None
    max_sessions: int = 64
    idle_timeout_s: float = 600.0
    limits: GameLimits = field(default_factory=GameLimits)
    #: torch threads once a league player is restored (small MLPs, one observation per call: 1 is fastest);
    #: None leaves torch's setting alone.
    torch_threads: int | None = None


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving the game; its session store and opponents live as long as the app."""
    settings = settings or ServerSettings()
    store = SessionStore(settings.max_sessions, settings.idle_timeout_s)
    catalog = OpponentCatalog(settings.runs_dir, torch_threads=settings.torch_threads)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        sweeper = asyncio.create_task(_sweep_forever(store, max(1.0, settings.idle_timeout_s / 4)))
        try:
            yield
        finally:
            sweeper.cancel()

    app = FastAPI(
        title="smartpay-marl game server",
        version=__version__,
        description=(
            "A payment router against a fraud ring, one side played by the caller and the other by a scripted "
            "baseline or a league player. Open a session, then step it until `done`."
        ),
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.catalog = catalog
    app.state.settings = settings

    @app.exception_handler(ServingError)
    async def _serving_error(_: Request, error: ServingError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def _request_error(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        message = "; ".join(_describe_problem(problem) for problem in problems)
        return JSONResponse({"detail": message, "errors": jsonable_encoder(problems)}, status_code=422)

    @app.get("/health", summary="liveness and open sessions")
    async def health() -> dict:
        return {"status": "ok", "version": __version__, "sessions": len(store), "max_sessions": store.max_sessions}

    @app.get("/info", summary="agents, spaces, observation tables, decisions, strategies, reward modes, opponents")
    def info() -> dict:
        return _game_info(catalog, store, settings.limits)

    @app.post("/sessions", summary="open a game", response_model=SessionCreated, status_code=201,
              responses={**ERROR_RESPONSES, 429: {"model": ErrorReply, "description": "too many open sessions"}})  # fmt: skip
    def create_session(request: CreateSessionRequest) -> Response:
        seed = request.seed if request.seed is not None else secrets.randbits(63)
        opponent_role = "fraudster" if request.role == "router" else "router"

        def build(session_id: str) -> GameSession:
            opponent = catalog.resolve(request.opponent, opponent_role, seed, request.config, settings.limits.make_game)
            return GameSession(session_id, request.role, opponent.policy, opponent.label, opponent.game, seed)

        session = store.open(build)
        with session.lock:
            return _json(session.created_reply(), status_code=201)

    @app.post("/sessions/{session_id}/step", summary="play one step", response_model=GameReply,
              responses=ERROR_RESPONSES)  # fmt: skip
    def step(session_id: str, request: StepRequest) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.step(request.action))

    @app.post("/sessions/{session_id}/simulate", summary="what-if: one step's outcome, without advancing",
              response_model=GameReply, responses=ERROR_RESPONSES)  # fmt: skip
    def simulate(session_id: str, request: SimulateRequest) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.simulate(request.action, request.opponent_action))

    @app.get("/sessions/{session_id}/state", summary="the latest view", response_model=GameReply,
             responses={404: ERROR_RESPONSES[404]})  # fmt: skip
    def state(session_id: str) -> Response:
        session = store.get(session_id)
        with session.lock:
            return _json(session.reply)

    @app.delete("/sessions/{session_id}", summary="close a session", responses={404: ERROR_RESPONSES[404]})
    def close(session_id: str) -> dict:
        store.close(session_id)
        return {"closed": session_id}

    return app


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


def _describe_problem(problem: dict) -> str:
    """One pydantic problem as ``body.field.sub: message (allowed values)``."""
    location = ".".join(str(part) for part in problem.get("loc", ()))
    text = f"{location}: {problem.get('msg', 'invalid')}"
    expected = (problem.get("ctx") or {}).get("expected")
    if expected and str(expected) not in text:
        text += f" (allowed values: {expected})"
    return text


def _slots(slots: tuple[Slot, ...]) -> list[dict]:
    return [
        {"name": s.name, "start": part.start, "size": s.size, "low": s.low, "high": s.high, "meaning": s.doc}
        for s, part in zip(slots, slot_offsets(slots).values())
    ]


def _game_info(catalog: OpponentCatalog, store: SessionStore, limits: GameLimits) -> dict:
    default_game = GameConfig()
    spaces = build_action_spaces(default_game)
    return {
        "version": __version__,
        "roles": {"router": ROUTER, "fraudster": FRAUDSTER},
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
            "idle_timeout_s": store.idle_timeout_s,
            "max_cycles": limits.max_cycles,
            "max_delay": limits.max_delay,
            "max_levels": limits.max_levels,
        },
    }

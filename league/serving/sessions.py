"""Served games: one PettingZoo env and one opponent policy per session, kept in a bounded, expiring store.

A :class:`GameSession` plays exactly the in-process episode: it holds a
:class:`~smartpay_marl.pettingzoo_env.SmartPayParallelEnv` reset with the
session's seed, and an opponent policy reset with ``reset(1, seed)`` that acts
on the opponent's own observation once per step. So a caller who sends the
same actions gets, bit for bit, what this loop gives in process::

    env = smartpay_marl.parallel_env(config=game, render_mode="ansi")
    observations, _ = env.reset(seed=seed)
    opponent.reset(1, seed=seed)
    while env.agents:
        theirs = opponent.act(observations[opponent_agent][None, :])[0]
        observations, rewards, terminations, truncations, infos = env.step({agent: mine, opponent_agent: theirs})

A what-if (:meth:`GameSession.simulate`) steps a copy of the env whose
simulator is :meth:`~smartpay_marl.simulator.Simulator.clone`\\ d. The
opponent's action for the current observation is computed once and kept until
the step, so asking what-ifs never advances a stateful opponent.

:class:`SessionStore` gives each session its own lock (requests to one session
run one at a time; different sessions run in parallel), bounds the sessions
open in all and per remote address, reclaims long-idle sessions when a new
one finds no room, and forgets sessions idle for ``idle_timeout_s``.
"""

from __future__ import annotations

import copy
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, TypeAdapter, ValidationError

from agents.base import Policy
from league.serving.errors import ActionNotPlayable, BadInput, EpisodeOver, SessionNotFound, TooManySessions
from league.serving.schemas import (
    ActionPayload,
    FraudsterActionInput,
    FraudsterView,
    GameReply,
    RouterActionInput,
    SessionCreated,
)
from smartpay_marl.config import GameConfig, make_game_config, validation_message
from smartpay_marl.layout import AGENT_OF_ROLE, FRAUDSTER, OTHER_ROLE, ROLE_OF_AGENT, ROUTER
from smartpay_marl.models import FraudsterAction
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv


@dataclass(frozen=True)
class GameLimits:
    """Bounds on what a request may ask of the server's memory and time (GameConfig's own bounds are wider)."""

    max_cycles: int = 100_000
    max_delay: int = 10_000  # chargeback_delay / review_delay: they size each session's event calendar
    max_levels: int = 16  # entries of intensity_levels, stealth_levels, burst_levels

    def make_game(self, fields: dict[str, Any]) -> GameConfig:
        """A validated :class:`GameConfig` within these limits; :class:`BadInput` naming the field otherwise."""
        for name in ("intensity_levels", "stealth_levels", "burst_levels"):
            value = fields.get(name)
            if isinstance(value, (list, tuple)) and len(value) > self.max_levels:
                raise BadInput(f"config.{name}: at most {self.max_levels} levels on this server, got {len(value)}")
        try:
            game = make_game_config(**fields)
        except ValueError as error:
            message = str(error).removeprefix("invalid game config: ")
            raise BadInput(message if message.startswith("config") else f"config: {message}") from None
        if game.max_cycles > self.max_cycles:
            raise BadInput(f"config.max_cycles: at most {self.max_cycles} on this server, got {game.max_cycles}")
        if game.longest_delay > self.max_delay:
            raise BadInput(
                f"config.chargeback_delay / config.review_delay: at most {self.max_delay} steps on this server, "
                f"got {game.longest_delay}"
            )
        return game


_ACTION_ADAPTER = TypeAdapter(ActionPayload)
ACTION_FORMS = {
    ROUTER: "a RouterAction {gateway, decision, retry} or the vector [gateway, decision, retry]",
    FRAUDSTER: "a FraudsterAction {intensity, stealth, burst, strategy} or the vector [intensity, stealth, burst, strategy]",
}


def parse_action(agent: str, payload: Any, env: SmartPayParallelEnv, field: str = "action") -> np.ndarray:
    """An agent's action from a typed model, its fields as a dict, or a raw MultiDiscrete vector, checked against the game.

    ``payload`` is what the request model parsed (``RouterActionInput``, ``FraudsterActionInput`` or a tuple)
    or, from Python callers, any of the forms before parsing. Raises :class:`BadInput` (422) for what no
    session could play and :class:`ActionNotPlayable` (409) for what this session cannot (the other side's
    action, a level beyond its config's levels), each naming the field and the allowed values.
    """
    if isinstance(payload, BaseModel) and not isinstance(payload, (RouterActionInput, FraudsterActionInput)):
        payload = payload.model_dump()
    elif isinstance(payload, np.ndarray):
        payload = payload.tolist()
    if not isinstance(payload, (RouterActionInput, FraudsterActionInput, tuple)):
        try:
            payload = _ACTION_ADAPTER.validate_python(payload)
        except ValidationError as error:
            message = validation_message(error).replace("\n", " ")
            raise BadInput(f"{field}: not a valid action for {agent}: {message}") from None
    if isinstance(payload, (RouterActionInput, FraudsterActionInput)):
        side, vector = (ROUTER if isinstance(payload, RouterActionInput) else FRAUDSTER), payload.to_array()
    else:
        side, vector = (ROUTER if len(payload) == 3 else FRAUDSTER), np.asarray(payload, dtype=np.int64)
    if side != agent:
        raise ActionNotPlayable(
            f"{field}: this is the {ROLE_OF_AGENT[side]}'s action, but {agent} plays this side of the session; "
            f"send {ACTION_FORMS[agent]}"
        )
    try:
        return env.simulator.check_actions(agent, vector)[0]
    except ValueError as error:  # within the schema's bounds, beyond this session's levels
        raise ActionNotPlayable(f"{field}: {error}") from None


class GameSession:
    """One served game: the caller plays ``role``, ``opponent`` plays the other side.

    Not thread-safe by itself; hold :attr:`lock` around every call (the app does).
    """

    def __init__(
        self, session_id: str, role: str, opponent: Policy, opponent_label: str, game: GameConfig, seed: int,
        client: str = "",
    ):  # fmt: skip
        self.session_id = session_id
        self.client = client  # the remote address that opened it, for the per-client limit
        self.role = role
        self.agent = AGENT_OF_ROLE[role]
        self.opponent_agent = AGENT_OF_ROLE[OTHER_ROLE[role]]
        self.opponent = opponent
        self.opponent_label = opponent_label
        self.seed = seed
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.env = SmartPayParallelEnv(config=game, render_mode="ansi")
        self._observations, _ = self.env.reset(seed=seed)
        self._opponent_action: np.ndarray | None = None
        self._returns = {ROUTER: 0.0, FRAUDSTER: 0.0}
        self.reply = self._reply(self.env, self._observations, None, None, None, dict(self._returns), simulated=False)

    @property
    def game(self) -> GameConfig:
        return self.env.config

    @property
    def done(self) -> bool:
        return not self.env.agents

    def created_reply(self) -> SessionCreated:
        return SessionCreated(**self.reply.model_dump(), config=self.game.model_dump(mode="json"))

    def opponent_action(self) -> np.ndarray:
        """What the opponent plays on its current observation: asked once per step, then kept."""
        if self._opponent_action is None:
            observation = self._observations[self.opponent_agent][None, :]
            action = np.asarray(self.opponent.act(observation))
            self._opponent_action = self.env.simulator.check_actions(self.opponent_agent, action)[0]
        return self._opponent_action

    def step(self, payload: dict[str, Any] | list[int]) -> GameReply:
        """Play the caller's action against the opponent's and advance the game one step."""
        self._refuse_when_over("step")
        mine = parse_action(self.agent, payload, self.env)
        actions = {self.agent: mine, self.opponent_agent: self.opponent_action()}
        observations, rewards, _, _, infos = self.env.step(actions)
        self._observations = observations
        self._opponent_action = None
        for agent in self._returns:
            self._returns[agent] += rewards[agent]
        self.reply = self._reply(self.env, observations, rewards, infos, actions, dict(self._returns), simulated=False)
        return self.reply

    def simulate(self, payload: dict[str, Any] | list[int], opponent_payload: dict[str, Any] | list[int] | None = None) -> GameReply:
        """The outcome of one step with these actions, leaving the session where it is."""
        self._refuse_when_over("simulate")
        mine = parse_action(self.agent, payload, self.env)
        if opponent_payload is None:
            theirs = self.opponent_action()
        else:
            theirs = parse_action(self.opponent_agent, opponent_payload, self.env, field="opponent_action")
        twin = copy.copy(self.env)
        twin.simulator = self.env.simulator.clone()
        actions = {self.agent: mine, self.opponent_agent: theirs}
        observations, rewards, _, _, infos = twin.step(actions)
        returns = {agent: total + rewards[agent] for agent, total in self._returns.items()}
        return self._reply(twin, observations, rewards, infos, actions, returns, simulated=True)

    def _refuse_when_over(self, what: str) -> None:
        if self.done:
            raise EpisodeOver(
                f"session {self.session_id}: the episode ended after {self.env.simulator.step_count} steps; "
                f"no {what} is possible. Read it with GET /sessions/{{id}}/state, close it with DELETE, "
                "and open a new session to play again"
            )

    def _reply(self, env, observations, rewards, infos, actions, returns, simulated: bool) -> GameReply:
        step, max_cycles = env.simulator.step_count, env.config.max_cycles
        if self.agent == ROUTER:
            view = env.view()
        else:
            extra: dict[str, Any] = {"ring_return": returns[FRAUDSTER]}
            if actions is not None:
                extra["last_action"] = FraudsterAction.from_array(actions[FRAUDSTER])
                extra["ring_reward"] = rewards[FRAUDSTER]
            view = FraudsterView.from_observation(observations[FRAUDSTER], step, max_cycles, **extra)
        router_info = infos[ROUTER] if infos else {}
        return GameReply(
            session_id=self.session_id,
            role=self.role,
            agent=self.agent,
            opponent=self.opponent_label,
            seed=self.seed,
            step=step,
            max_cycles=max_cycles,
            done=not env.agents,
            simulated=simulated,
            observation=[float(x) for x in observations[self.agent]],
            view=view,
            text=view.to_text(),
            reward=None if rewards is None else float(rewards[self.agent]),
            rewards={} if rewards is None else {agent: float(r) for agent, r in rewards.items()},
            episode_return={agent: float(r) for agent, r in returns.items()},
            actions={} if actions is None else {agent: [int(v) for v in a] for agent, a in actions.items()},
            pnl=dict(router_info.get("pnl", {})),
            metrics=dict(router_info.get("metrics", {})),
            fraudster_info=dict(infos[FRAUDSTER]) if infos else {},
        )


class SessionStore:
    """Open sessions by id: at most ``max_sessions`` in all and ``max_per_client`` per remote address.

    A session is forgotten after ``idle_timeout_s`` without a request. When a new session finds no room
    (the server's limit, or the client's own), the session idle the longest among those in the way (all
    sessions, or the client's own) is reclaimed if it has been idle for at least ``reclaim_idle_s``;
    otherwise the new session is refused with :class:`TooManySessions`, whose ``Retry-After`` says when
    the longest-idle session becomes reclaimable. So one client can hold at most ``max_per_client``
    sessions, and sessions left open but unused give their place up after ``reclaim_idle_s`` as soon as
    someone needs it, rather than after ``idle_timeout_s``.

    Args:
        max_sessions: open sessions allowed at once, from all clients together.
        idle_timeout_s: seconds without a request after which a session expires.
        max_per_client: open sessions allowed at once for one remote address (None: ``max_sessions``).
        reclaim_idle_s: seconds without a request after which a session may be reclaimed for a new one
            when there is no room (None: only expiry frees places).
        clock: seconds, monotonic (tests pass a fake one).
    """

    #: How many expired, closed or reclaimed ids are remembered, to say which rather than "unknown".
    REMEMBERED_IDS = 4096

    def __init__(
        self,
        max_sessions: int = 64,
        idle_timeout_s: float = 600.0,
        max_per_client: int | None = None,
        reclaim_idle_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        if idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {idle_timeout_s}")
        if max_per_client is not None and max_per_client < 1:
            raise ValueError(f"max_sessions_per_client must be >= 1, got {max_per_client}")
        if reclaim_idle_s is not None and reclaim_idle_s < 0:
            raise ValueError(f"reclaim_idle_s must be >= 0, got {reclaim_idle_s}")
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.max_per_client = min(max_per_client or max_sessions, max_sessions)
        self.reclaim_idle_s = reclaim_idle_s
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, GameSession] = {}
        self._reserved: dict[str, int] = {}  # client -> sessions being built outside the lock
        self._gone: OrderedDict[str, str] = OrderedDict()  # id -> "expired" / "closed" / "reclaimed"

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def count(self, client: str) -> int:
        """Open sessions of one remote address."""
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.client == client)

    def open(self, build: Callable[[str], GameSession], client: str = "") -> GameSession:
        """Reserve a place for ``client``, build the session with a fresh unguessable id outside the lock, store it."""
        with self._lock:
            self._sweep_locked()
            self._make_room_locked(client)
            self._reserved[client] = self._reserved.get(client, 0) + 1
        try:
            session_id = secrets.token_urlsafe(16)
            session = build(session_id)
        finally:
            with self._lock:
                self._reserved[client] -= 1
                if not self._reserved[client]:
                    del self._reserved[client]
        with self._lock:
            session.client = client
            session.last_used = self.clock()
            self._sessions[session_id] = session
        return session

    def _make_room_locked(self, client: str) -> None:
        """Reclaim one long-idle session if the server or ``client`` is full; TooManySessions if none may go."""
        own = [s for s in self._sessions.values() if s.client == client]
        if len(own) + self._reserved.get(client, 0) >= self.max_per_client:
            self._reclaim_or_refuse_locked(own, f"this client ({client or 'unknown address'}) already holds its "
                                                f"maximum of {self.max_per_client} open sessions")  # fmt: skip
        if len(self._sessions) + sum(self._reserved.values()) >= self.max_sessions:
            self._reclaim_or_refuse_locked(list(self._sessions.values()),
                                           f"this server holds its maximum of {self.max_sessions} open sessions")  # fmt: skip

    def _reclaim_or_refuse_locked(self, candidates: list[GameSession], why: str) -> None:
        now = self.clock()
        oldest = min(candidates, key=lambda s: s.last_used, default=None)
        if oldest is not None and self.reclaim_idle_s is not None and now - oldest.last_used >= self.reclaim_idle_s:
            self._forget_locked(oldest.session_id, "reclaimed")
            return
        if oldest is None:  # every place is taken by sessions still being built
            wait = 1.0
        elif self.reclaim_idle_s is not None:
            wait = self.reclaim_idle_s - (now - oldest.last_used)
        else:
            wait = self.idle_timeout_s - (now - oldest.last_used)
        reclaim = (
            f"a session idle for {self.reclaim_idle_s:g} s is reclaimed when there is no room"
            if self.reclaim_idle_s is not None
            else f"idle sessions expire after {self.idle_timeout_s:g} s"
        )
        raise TooManySessions(
            f"{why}; close one with DELETE /sessions/{{id}} or retry in {max(1, math.ceil(wait))} s ({reclaim})",
            retry_after_s=math.ceil(wait),
        )

    def get(self, session_id: str) -> GameSession:
        """The session, marked as used now; :class:`SessionNotFound` if unknown, closed, reclaimed or expired."""
        with self._lock:
            session = self._sessions.get(session_id)
            now = self.clock()
            if session is not None and now - session.last_used > self.idle_timeout_s:
                self._forget_locked(session_id, "expired")
                session = None
            if session is None:
                raise SessionNotFound(self._missing_message(session_id))
            session.last_used = now
            return session

    def close(self, session_id: str) -> None:
        """Forget a session; :class:`SessionNotFound` if there is no such open session."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or self.clock() - session.last_used > self.idle_timeout_s:
                if session is not None:
                    self._forget_locked(session_id, "expired")
                raise SessionNotFound(self._missing_message(session_id))
            self._forget_locked(session_id, "closed")

    def sweep(self) -> int:
        """Forget every expired session now; returns how many."""
        with self._lock:
            return self._sweep_locked()

    def _sweep_locked(self) -> int:
        now = self.clock()
        expired = [sid for sid, s in self._sessions.items() if now - s.last_used > self.idle_timeout_s]
        for session_id in expired:
            self._forget_locked(session_id, "expired")
        return len(expired)

    def _forget_locked(self, session_id: str, why: str) -> None:
        self._sessions.pop(session_id, None)
        self._gone[session_id] = why
        while len(self._gone) > self.REMEMBERED_IDS:
            self._gone.popitem(last=False)

    def _missing_message(self, session_id: str) -> str:
        shown = session_id if len(session_id) <= 64 else session_id[:64] + "..."
        why = self._gone.get(session_id)
        if why == "expired":
            return f"session {shown!r} expired after {self.idle_timeout_s:g} s without a request; open a new one"
        if why == "closed":
            return f"session {shown!r} was closed; open a new one"
        if why == "reclaimed":
            return (
                f"session {shown!r} was reclaimed for a new session after {self.reclaim_idle_s:g} s without a "
                "request while the server was full; open a new one"
            )
        return f"unknown session {shown!r}; open one with POST /sessions"

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
run one at a time; different sessions run in parallel), refuses new sessions
beyond ``max_sessions`` and forgets sessions idle for ``idle_timeout_s``.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from agents.base import Policy
from league.serving.errors import BadInput, EpisodeOver, SessionNotFound, TooManySessions
from league.serving.schemas import FraudsterView, GameReply, SessionCreated
from smartpay_marl.config import GameConfig, make_game_config, validation_message
from smartpay_marl.layout import FRAUDSTER, ROUTER
from smartpay_marl.models import FraudsterAction, RouterAction
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv

AGENT_OF_ROLE = {"router": ROUTER, "fraudster": FRAUDSTER}
ACTION_MODEL = {ROUTER: RouterAction, FRAUDSTER: FraudsterAction}


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
            raise BadInput(f"config: {error}") from None
        if game.max_cycles > self.max_cycles:
            raise BadInput(f"config.max_cycles: at most {self.max_cycles} on this server, got {game.max_cycles}")
        if game.longest_delay > self.max_delay:
            raise BadInput(
                f"config.chargeback_delay / config.review_delay: at most {self.max_delay} steps on this server, "
                f"got {game.longest_delay}"
            )
        return game


def parse_action(agent: str, payload: dict[str, Any] | list[int], env: SmartPayParallelEnv, field: str = "action") -> np.ndarray:
    """An agent's action from a typed model's fields or a raw MultiDiscrete vector, checked against the game.

    Raises :class:`BadInput` naming the field and the allowed values.
    """
    if isinstance(payload, dict):
        model = ACTION_MODEL[agent]
        try:
            vector = model.model_validate(payload).to_array()
        except ValidationError as error:
            message = validation_message(error).replace("\n", " ")
            raise BadInput(f"{field}: not a valid {model.__name__} for {agent}: {message}") from None
    else:
        vector = np.asarray(payload, dtype=np.int64)
    try:
        return env.simulator.check_actions(agent, vector)[0]
    except ValueError as error:
        raise BadInput(f"{field}: {error}") from None


class GameSession:
    """One served game: the caller plays ``role``, ``opponent`` plays the other side.

    Not thread-safe by itself; hold :attr:`lock` around every call (the app does).
    """

    def __init__(self, session_id: str, role: str, opponent: Policy, opponent_label: str, game: GameConfig, seed: int):
        self.session_id = session_id
        self.role = role
        self.agent = AGENT_OF_ROLE[role]
        self.opponent_agent = FRAUDSTER if self.agent == ROUTER else ROUTER
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
    """Open sessions by id: at most ``max_sessions``, each forgotten after ``idle_timeout_s`` without a request.

    Args:
        max_sessions: open sessions allowed at once; :meth:`open` raises :class:`TooManySessions` beyond.
        idle_timeout_s: seconds without a request after which a session expires.
        clock: seconds, monotonic (tests pass a fake one).
    """

    #: How many expired or closed ids are remembered, to say "expired" rather than "unknown".
    REMEMBERED_IDS = 4096

    def __init__(self, max_sessions: int = 64, idle_timeout_s: float = 600.0, clock: Callable[[], float] = time.monotonic):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
        if idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be > 0, got {idle_timeout_s}")
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, GameSession] = {}
        self._reserved = 0  # sessions being built outside the lock
        self._gone: OrderedDict[str, str] = OrderedDict()  # id -> "expired" / "closed"

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def open(self, build: Callable[[str], GameSession]) -> GameSession:
        """Reserve a place, build the session with a fresh unguessable id outside the lock, and store it."""
        with self._lock:
            self._sweep_locked()
            if len(self._sessions) + self._reserved >= self.max_sessions:
                raise TooManySessions(
                    f"this server holds its maximum of {self.max_sessions} open sessions; close one with "
                    f"DELETE /sessions/{{id}} or wait for idle sessions to expire ({self.idle_timeout_s:g} s)"
                )
            self._reserved += 1
        try:
            session_id = secrets.token_urlsafe(16)
            session = build(session_id)
        finally:
            with self._lock:
                self._reserved -= 1
        with self._lock:
            session.last_used = self.clock()
            self._sessions[session_id] = session
        return session

    def get(self, session_id: str) -> GameSession:
        """The session, marked as used now; :class:`SessionNotFound` if unknown, closed or expired."""
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
        return f"unknown session {shown!r}; open one with POST /sessions"

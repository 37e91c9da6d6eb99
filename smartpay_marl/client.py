"""A small client for the game server (``smartpay-marl serve``), standard library only.

One :class:`GameClient` plays one session at a time::

    from smartpay_marl.client import GameClient
    from smartpay_marl.models import RouterAction

    with GameClient("http://127.0.0.1:8000") as client:
        reply = client.reset(role="router", opponent="stealth_fraud", seed=42, max_cycles=200)
        while not reply["done"]:
            print(reply["text"])                       # the readable view, for a person or a prompt
            action = RouterAction(gateway=2, decision="3ds" if reply["view"]["transaction"] else "allow")
            what_if = client.simulate(action)          # the step's outcome, without advancing
            reply = client.step(action)
        print(reply["episode_return"])

Replies are the server's JSON as dicts (see ``GET /docs``): ``observation``,
``view`` (:class:`~smartpay_marl.models.StepView` fields for the router),
``text``, ``reward``, ``rewards``, ``pnl``, ``metrics``, ``done`` and more.
:func:`observation_array` turns ``reply["observation"]`` back into the
float32 array the in-process env returns, bit for bit. Errors raise
:class:`ServerError` with the HTTP status and the server's message.
"""

from __future__ import annotations

import http.client
import json
import select
import urllib.parse
from typing import Any

import numpy as np
from pydantic import BaseModel

from smartpay_marl.models import StepView

Action = BaseModel | dict[str, Any] | list[int] | tuple[int, ...] | np.ndarray


class ServerError(RuntimeError):
    """The server answered with an error status; ``status`` and ``detail`` hold its code and message."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def observation_array(reply: dict[str, Any]) -> np.ndarray:
    """The reply's observation as the float32 array the in-process env gives (the JSON floats are exact)."""
    return np.asarray(reply["observation"], dtype=np.float64).astype(np.float32)


def router_view(reply: dict[str, Any]) -> StepView:
    """The router's readable view of a reply as the typed :class:`StepView`."""
    return StepView.model_validate(reply["view"])


def scripted(name: str) -> dict[str, str]:
    """An opponent spec: the scripted baseline ``name`` (``GET /info`` lists them per role)."""
    return {"kind": "scripted", "name": name}


def run_player(run: str, player: str) -> dict[str, str]:
    """An opponent spec: player ``player`` of the run directory ``run`` under the server's ``--runs``."""
    return {"kind": "run", "run": run, "player": player}


class GameClient:
    """Play sessions on a game server: :meth:`reset`, :meth:`step`, :meth:`simulate`, :meth:`close`.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        timeout: seconds to wait for each reply.
    """

    def __init__(self, base_url: str = "http://127.0.0.1:8000", timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session_id: str | None = None
        self.last_reply: dict[str, Any] | None = None
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must look like http://HOST:PORT, got {base_url!r}")
        self._scheme, self._host, self._port = parts.scheme, parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")
        self._connection: http.client.HTTPConnection | None = None

    # ------------------------------------------------------------------ server
    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health")

    def info(self) -> dict[str, Any]:
        """Agents, spaces, observation tables, decisions, strategies, reward modes and available opponents."""
        return self._request("GET", "/info")

    # ------------------------------------------------------------------ a session
    def reset(
        self,
        role: str = "router",
        opponent: str | dict[str, str] = "mixed",
        seed: int | None = None,
        **config: Any,
    ) -> dict[str, Any]:
        """Close the current session, if any, and open a new one; returns the first reply.

        Args:
            role: ``"router"`` or ``"fraudster"``, the side this client plays.
            opponent: a scripted baseline's name, or a spec from :func:`scripted` / :func:`run_player`.
            seed: the episode seed; the server draws one (``reply["seed"]``) when None.
            config: GameConfig fields (``difficulty``, ``max_cycles``, ``reward_mode``, ...).
        """
        self.close()
        body = {"role": role, "opponent": scripted(opponent) if isinstance(opponent, str) else opponent, "config": config}
        if seed is not None:
            body["seed"] = seed
        reply = self._request("POST", "/sessions", body)
        self.session_id = reply["session_id"]
        self.last_reply = reply
        return reply

    def step(self, action: Action) -> dict[str, Any]:
        """Play ``action`` (a RouterAction / FraudsterAction, its fields as a dict, or the raw vector)."""
        reply = self._request("POST", f"/sessions/{self._session()}/step", {"action": _action_payload(action)})
        self.last_reply = reply
        return reply

    def simulate(self, action: Action, opponent_action: Action | None = None) -> dict[str, Any]:
        """The outcome of playing ``action`` now, without advancing; by default against the opponent's own move."""
        body: dict[str, Any] = {"action": _action_payload(action)}
        if opponent_action is not None:
            body["opponent_action"] = _action_payload(opponent_action)
        return self._request("POST", f"/sessions/{self._session()}/simulate", body)

    def state(self) -> dict[str, Any]:
        """The latest reply of the session again."""
        return self._request("GET", f"/sessions/{self._session()}/state")

    def close(self) -> None:
        """Close the current session (a no-op without one, or when the server already forgot it)."""
        if self.session_id is None:
            return
        session_id, self.session_id = self.session_id, None
        try:
            self._request("DELETE", f"/sessions/{session_id}")
        except ServerError as error:
            if error.status != 404:
                raise

    def __enter__(self) -> "GameClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.close()
        except (ServerError, OSError, http.client.HTTPException):
            pass  # the server is gone or unreachable: nothing left to close
        self._drop_connection()

    # ------------------------------------------------------------------ plumbing
    def _session(self) -> str:
        if self.session_id is None:
            raise RuntimeError("no open session; call reset() first")
        return self.session_id

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        connection = self._open_connection()
        try:
            connection.request(method, self._prefix + path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self._drop_connection()
            raise
        if response.getheader("connection", "").lower() == "close":
            self._drop_connection()
        if response.status >= 400:
            try:
                detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
            except (ValueError, AttributeError):
                detail = raw.decode(errors="replace")
            raise ServerError(response.status, str(detail))
        return json.loads(raw)

    def _open_connection(self) -> http.client.HTTPConnection:
        """The kept-alive connection; a new one when there is none or the server has closed the idle one."""
        connection = self._connection
        if connection is not None and connection.sock is not None:
            readable, _, _ = select.select([connection.sock], [], [], 0)
            if readable:  # an idle connection only turns readable when the server closed it
                self._drop_connection()
                connection = None
        if connection is None:
            kind = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
            connection = kind(self._host, self._port, timeout=self.timeout)
            self._connection = connection
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

def _action_payload(action: Action) -> dict[str, Any] | list[int]:
    if isinstance(action, BaseModel):
        return action.model_dump(mode="json")
    if isinstance(action, dict):
        return action
    return [int(v) for v in np.asarray(action).reshape(-1)]


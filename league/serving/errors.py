"""The server's errors, each with the HTTP status it is answered with.

Handlers raise these; the app turns every one into ``{"detail": message}``
with its status. Messages name the field and, where it applies, the allowed
values, so a caller (or a language model) can correct its request.

A request that the published schema allows is never answered with 422 for
a reason the schema states: the 4xx it can still get say what the server
holds (404: no such session, run, player or log file; 409: the episode is
over; 403: a transaction log outside ``--logs``; 429: no room for a session)
or what only the session knows (409: an action for the other side, a level
beyond the session config's levels). 422 is for what the schema refuses,
and for the two relations between config fields a JSON Schema cannot state.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class: ``status_code`` is the HTTP status, ``str(error)`` the message, ``headers`` extra reply headers."""

    status_code = 500
    headers: dict[str, str] | None = None


class BadInput(ServingError, ValueError):
    """A request the game cannot accept: an action out of range, an unknown opponent, an invalid config field."""

    status_code = 422


class NotFound(ServingError, LookupError):
    """Something a request names that this server does not hold: a run, a player of a run, a log file."""

    status_code = 404


class SessionNotFound(NotFound, KeyError):
    """No such session: never opened, closed, reclaimed, or expired after being idle."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class Forbidden(ServingError, PermissionError):
    """A request for something this server does not allow: a transaction log outside ``--logs``."""

    status_code = 403


class Conflict(ServingError):
    """A well-formed request that the session's state rules out (409): its side, its number of levels, its end."""

    status_code = 409


class EpisodeOver(Conflict):
    """A step or what-if after the episode ended."""


class ActionNotPlayable(Conflict):
    """An action the schema allows that this session cannot play: the other side's action, or a level index
    beyond the session config's levels. Only the session knows its side and levels, so the schema cannot."""


class TooManySessions(ServingError):
    """No room for a new session: the server's or this client's limit of open sessions is reached."""

    status_code = 429

    def __init__(self, message: str, retry_after_s: int | None = None):
        super().__init__(message)
        if retry_after_s is not None:
            self.headers = {"Retry-After": str(max(1, int(retry_after_s)))}

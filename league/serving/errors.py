"""The server's errors, each with the HTTP status it is answered with.

Handlers raise these; the app turns every one into ``{"detail": message}``
with its status. Messages name the field and, where it applies, the allowed
values, so a caller (or a language model) can correct its request.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class: ``status_code`` is the HTTP status, ``str(error)`` the message."""

    status_code = 500


class BadInput(ServingError, ValueError):
    """A request the game cannot accept: an action out of range, an unknown opponent, an invalid config field."""

    status_code = 422


class SessionNotFound(ServingError, KeyError):
    """No such session: never opened, closed, or expired after being idle."""

    status_code = 404

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class EpisodeOver(ServingError):
    """A step or what-if after the episode ended."""

    status_code = 409


class TooManySessions(ServingError):
    """The server already holds its maximum number of open sessions."""

    status_code = 429

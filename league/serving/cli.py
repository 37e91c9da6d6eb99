"""``smartpay-marl serve``: serve the game over HTTP (FastAPI + uvicorn) for language-model and remote agents.

The caller plays one side of a game; a scripted baseline or a player of a
league run under ``--runs`` plays the other. OpenAPI docs are at ``/docs``.

Fairness: one remote address holds at most ``--max-sessions-per-client``
sessions (default 8) of the server's ``--max-sessions`` (default 64); when a
new session finds no room, the longest-idle session in the way is reclaimed
if it has been idle ``--reclaim-idle`` seconds (default 60), else the request
gets 429 with ``Retry-After``. Behind a proxy every client has the proxy's
address, so the per-client limit applies to all of them together.

Transaction logs: a session config may name a log to replay only as a path
relative to ``--logs DIR``; without ``--logs`` every such request gets 403.

The server binds to 127.0.0.1 by default. It has no authentication: anyone who
can reach the port can open sessions and use the server's CPU, and the
players of every run under ``--runs`` can be played. Bind to another address
only on a network you trust, or behind a proxy that authenticates and
encrypts.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    parser.add_argument("--runs", metavar="DIR", default=None,
                        help="directory whose sub-directories are league runs; their players become opponents")  # fmt: skip
    parser.add_argument("--max-sessions", type=int, default=64, help="open sessions allowed at once (default 64)")
    parser.add_argument("--max-sessions-per-client", type=int, default=8, metavar="N",
                        help="open sessions allowed at once for one remote address (default 8; at most --max-sessions)")  # fmt: skip
    parser.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="close a session after this long without a request (default 600)")  # fmt: skip
    parser.add_argument("--reclaim-idle", type=float, default=60.0, metavar="SECONDS",
                        help="when a new session finds no room, reclaim the longest-idle session in the way if it "
                             "has been idle this long (default 60; a negative value: never reclaim)")  # fmt: skip
    parser.add_argument("--logs", metavar="DIR", default=None,
                        help="the only directory whose files a session config's transaction_log may name "
                             "(default: none; transaction logs are refused)")  # fmt: skip
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default info)")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    import uvicorn

    from league.serving.app import ServerSettings, create_app
    from league.serving.errors import BadInput

    if not _is_loopback(args.host):
        print(
            f"warning: binding to {args.host}: the server has no authentication; anyone who can reach "
            f"port {args.port} can play sessions and use this machine's CPU",
            file=sys.stderr,
        )
    try:
        settings = ServerSettings(
            runs_dir=args.runs, max_sessions=args.max_sessions, idle_timeout_s=args.idle_timeout,
            max_sessions_per_client=args.max_sessions_per_client,
            reclaim_idle_s=args.reclaim_idle if args.reclaim_idle >= 0 else None,
            logs_dir=args.logs, torch_threads=1,
        )  # fmt: skip
        app = create_app(settings)
    except (BadInput, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""Start or join Ray for league training and exploitation, quietly: one place for ``ray.init``.

:func:`ray_session` joins the cluster at ``--address`` (or ``$RAY_ADDRESS``),
or starts an embedded local instance without the dashboard, and shuts down
only what it started. ``smartpay-marl train`` and ``exploit`` both use it.

It also silences start-up messages that a user of this program cannot act
on; each is matched exactly, so anything else Ray says still shows:

- the notice that token authentication is enabled (it stays enabled);
- RLlib's warning that PPO runs on the new API stack (this project's choice);
- the ``RLModule(config=...)`` deprecation warning RLlib raises about itself;
- "Install gputil for GPU system monitoring.";
- the driver's ``E``-level ``core_worker.cc`` line about actor constructor
  arguments in the object store, which Ray's C++ core writes straight to the
  stderr file descriptor whenever RLlib creates a restartable env runner.

Everything also goes to Ray's own session logs (``/tmp/ray/session_latest/logs``).
``smartpay-marl --debug`` (the ``SMARTPAY_MARL_DEBUG`` variable) turns the
filtering off.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEBUG_ENV = "SMARTPAY_MARL_DEBUG"  # set by league.cli for --debug

#: logger name -> messages (substrings) dropped from that logger.
_QUIET_LOG_MESSAGES: dict[str, tuple[str, ...]] = {
    "ray._private.authentication.authentication_token_setup": ("Token authentication is enabled for this Ray cluster",),
    "ray.rllib.algorithms.algorithm_config": ("on the new API stack! This is the new default behavior",),
    "ray._common.deprecation": ("`RLModule(config=",),
    "ray.rllib.utils.deprecation": ("`RLModule(config=",),
    "ray.tune.utils.util": ("Install gputil for GPU system monitoring",),
}
#: Lines Ray's C++ core writes to file descriptor 2 that are dropped.
_QUIET_STDERR_LINES = (re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the object store"),)


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(fragment in message for fragment in self.fragments)


def debug_mode() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def quiet_ray_logs() -> None:
    """Drop the known start-up messages from Ray's Python loggers (idempotent)."""
    for name, fragments in _QUIET_LOG_MESSAGES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(fragments))


class _StderrLineFilter:
    """Route file descriptor 2 through a pipe and drop the lines that match ``patterns``.

    Needed for messages from Ray's C++ core, which bypass Python's ``sys.stderr``.
    Everything else is passed on line by line to the original stderr.
    """

    def __init__(self, patterns):
        self.patterns = patterns
        sys.stderr.flush()
        self.saved = os.dup(2)
        read, self.write = os.pipe()
        os.dup2(self.write, 2)
        self.thread = threading.Thread(target=self._pump, args=(read,), name="stderr-filter", daemon=True)
        self.thread.start()

    def _pump(self, read: int) -> None:
        with os.fdopen(read, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if not any(p.search(line) for p in self.patterns):
                        os.write(self.saved, line + b"\n")
            if pending:
                os.write(self.saved, pending)

    def close(self) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.write)
        # Processes started meanwhile may hold the pipe; the pump thread is a daemon and ends with them.
        self.thread.join(timeout=2.0)


def init_ray(address: str | None = None, **local_options) -> bool:
    """Join ``address`` (or ``$RAY_ADDRESS``), or start a quiet local instance; True if this call started Ray.

    Does nothing (and returns False) when Ray is already initialised, e.g. by
    a test that shares one instance between runs. ``local_options`` go to
    ``ray.init`` for a local instance only (e.g. ``num_cpus``).
    """
    import ray

    if not debug_mode():
        quiet_ray_logs()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # "local": a new instance of our own. Without an address, ray.init would join the latest cluster
        # that `ray start` left on this machine (/tmp/ray/ray_current_cluster): someone else's job, and
        # one that ends ours when it stops.
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False, **local_options)
    return True


@contextmanager
def ray_session(address: str | None = None, **local_options) -> Iterator[bool]:
    """:func:`init_ray` for a ``with`` block: yields whether it started Ray, and shuts down only what it started."""
    import ray

    quiet_stderr = None
    if not debug_mode():
        try:
            quiet_stderr = _StderrLineFilter(_QUIET_STDERR_LINES)
        except OSError:  # no usable file descriptor 2 (e.g. a closed stderr): keep going unfiltered
            quiet_stderr = None
    try:
        started = init_ray(address, **local_options)
        watchdog = None
        if started and not (address or os.environ.get("RAY_ADDRESS")):
            from league.rllib.watchdog import start_watchdog

            watchdog = start_watchdog()  # ends this local instance's processes if the driver is SIGKILLed
        try:
            yield started
        finally:
            if started:
                ray.shutdown()
            if watchdog is not None:
                watchdog.stop()
    finally:
        if quiet_stderr is not None:
            quiet_stderr.close()

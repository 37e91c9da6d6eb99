"""A watchdog that ends the Ray processes of a training run when the run itself is killed.

``ray.init`` on a local machine starts ``gcs_server``, ``raylet``, a dashboard
agent, a runtime-env agent and workers as descendants of the driver. A clean
exit (or SIGINT) shuts them down; a SIGKILL of the driver does not, and Ray's
agents stay behind as orphans. :func:`start_watchdog` starts a small process in
its own session (so that killing the driver's process group does not take it
along) which, every ``interval`` seconds, records the driver's descendants, and
once the driver is gone terminates every recorded process that is still the same
process (pid and start time). :meth:`Watchdog.stop` ends it on a normal exit.

Run as ``python -m league.rllib.watchdog PID`` (psutil ships with Ray, in ``ray/thirdparty_files``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

INTERVAL_S = 0.5
GRACE_S = 3.0


class Watchdog:
    """Handle on a running watchdog process."""

    def __init__(self, process: subprocess.Popen):
        self.process = process

    def stop(self) -> None:
        """End the watchdog without touching anything else (the run exits normally)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_watchdog(parent: int | None = None, interval: float = INTERVAL_S) -> Watchdog:
    """Watch ``parent`` (this process by default); see the module docstring."""
    parent = os.getpid() if parent is None else parent
    process = subprocess.Popen(
        [sys.executable, "-m", "league.rllib.watchdog", str(parent), str(interval)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return Watchdog(process)


def _import_psutil():
    """psutil, from the environment or from the copy Ray vendors in ``ray/thirdparty_files`` (without importing Ray)."""
    try:
        import psutil
    except ImportError:
        import importlib.util

        spec = importlib.util.find_spec("ray")
        if spec is None or spec.origin is None:
            raise
        sys.path.insert(0, os.path.join(os.path.dirname(spec.origin), "thirdparty_files"))
        import psutil
    return psutil


def watch(parent: int, interval: float = INTERVAL_S) -> None:
    """Record ``parent``'s descendants until it dies, then end those still running."""
    psutil = _import_psutil()

    try:
        driver = psutil.Process(parent)
        born = driver.create_time()
    except psutil.NoSuchProcess:
        return
    me = os.getpid()
    seen: dict[int, float] = {}  # pid -> create time
    stopping = False

    def on_term(signum, frame):  # a normal exit of the run: stop watching, kill nothing
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    while not stopping:
        try:
            if not driver.is_running() or driver.create_time() != born or driver.status() == psutil.STATUS_ZOMBIE:
                break
            for child in driver.children(recursive=True):
                if child.pid != me:
                    try:
                        seen.setdefault(child.pid, child.create_time())
                    except psutil.NoSuchProcess:
                        pass
        except psutil.NoSuchProcess:
            break
        time.sleep(interval)
    if stopping:
        return
    # The driver died without cleaning up: end what it started, workers first, then Ray's daemons.
    alive = []
    for pid, created in seen.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == created:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    for process in alive:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, remaining = psutil.wait_procs(alive, timeout=GRACE_S)
    for process in remaining:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


if __name__ == "__main__":
    watch(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else INTERVAL_S)

"""Load test of the game server on loopback: concurrent sessions stepping whole episodes through the client.

Starts ``smartpay-marl serve`` (``python -m league.cli serve``) on a free
loopback port, unless ``--url`` names a running server. Then, for each round,
``--sessions`` client threads each open a session against a scripted opponent,
play ``--steps`` steps (random raw actions, seeded), and close it. It reports
errors, steps per second over the round, the latency of a step request (p50,
p90, p99, max), the latency of opening a session, and the server's resident
memory after each round, which should stay flat.

    python experiments/serve_load.py --sessions 32 --steps 200 --rounds 2 --output experiments/serve/load.txt

A benchmark, not a test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from smartpay_marl.client import GameClient, ServerError

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(max_sessions: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "league.cli", "serve", "--port", str(port), "--max-sessions", str(max_sessions),
         "--max-sessions-per-client", str(max_sessions),  # every load thread comes from 127.0.0.1
         "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with opener.open(url + "/health", timeout=2):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 120 s")


def rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process in MiB (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def play_session(url: str, index: int, steps: int, opponent: str, barrier: threading.Barrier, out: dict) -> None:
    rng = np.random.default_rng(index)
    step_latencies: list[float] = []
    errors: list[str] = []
    played = 0
    barrier.wait()
    try:
        with GameClient(url, timeout=120) as client:
            started = time.perf_counter()
            reply = client.reset(role="router", opponent=opponent, seed=index, max_cycles=steps)
            out["open"][index] = time.perf_counter() - started
            while not reply["done"]:
                action = rng.integers(0, [3, 4, 2]).tolist()
                started = time.perf_counter()
                reply = client.step(action)
                step_latencies.append(time.perf_counter() - started)
                played += 1
    except (ServerError, OSError) as error:
        errors.append(f"session {index}: {error}")
    out["latencies"][index] = step_latencies
    out["errors"][index] = errors
    out["steps"][index] = played


def run_round(url: str, sessions: int, steps: int, opponent: str) -> dict:
    out: dict = {key: [None] * sessions for key in ("latencies", "errors", "steps", "open")}
    barrier = threading.Barrier(sessions + 1)
    threads = [
        threading.Thread(target=play_session, args=(url, i, steps, opponent, barrier, out)) for i in range(sessions)
    ]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    out["wall_s"] = time.perf_counter() - started
    return out


def summarise(out: dict) -> dict:
    latencies = np.concatenate([np.asarray(l or [], dtype=float) for l in out["latencies"]]) * 1000.0
    opens = np.asarray([v for v in out["open"] if v is not None], dtype=float) * 1000.0
    steps = sum(out["steps"])
    return {
        "steps": steps,
        "errors": [e for errs in out["errors"] for e in errs],
        "wall_s": out["wall_s"],
        "steps_per_s": steps / out["wall_s"],
        "p50": float(np.percentile(latencies, 50)),
        "p90": float(np.percentile(latencies, 90)),
        "p99": float(np.percentile(latencies, 99)),
        "max": float(latencies.max()),
        "open_p50": float(np.percentile(opens, 50)) if len(opens) else float("nan"),
        "open_max": float(opens.max()) if len(opens) else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="a running server; default: start one on a free loopback port")
    parser.add_argument("--sessions", type=int, default=32, help="concurrent sessions (client threads)")
    parser.add_argument("--steps", type=int, default=200, help="steps per session (the episode length)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of all sessions; memory is read after each")
    parser.add_argument("--opponent", default="adaptive", help="scripted fraudster playing against every session")
    parser.add_argument("--output", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)

    process = None
    url = args.url
    if url is None:
        process, url = start_server(max_sessions=args.sessions + 8)
    pid = process.pid if process else None
    lines = [
        f"command: python experiments/serve_load.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip(),
        f"machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}; server and client threads on the same machine, loopback; "
        f"load average at start {os.getloadavg()[0]:.2f} (other work on the machine slows both)",
        f"load: {args.sessions} concurrent sessions x {args.steps} steps (router vs scripted {args.opponent}, "
        f"random actions), {args.rounds} round(s)",
        f"server RSS before: {rss_mib(pid):.1f} MiB" if pid else "server RSS: not measured (external server)",
    ]
    print("\n".join(lines), flush=True)
    failed = False
    try:
        for round_index in range(args.rounds):
            s = summarise(run_round(url, args.sessions, args.steps, args.opponent))
            memory = rss_mib(pid)
            line = (
                f"round {round_index + 1}: {s['steps']} steps in {s['wall_s']:.2f} s = {s['steps_per_s']:,.0f} steps/s; "
                f"step latency p50 {s['p50']:.1f} ms, p90 {s['p90']:.1f} ms, p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms; "
                f"open session p50 {s['open_p50']:.1f} ms, max {s['open_max']:.1f} ms; errors {len(s['errors'])}"
                + (f"; server RSS after {memory:.1f} MiB" if memory is not None else "")
            )
            print(line, flush=True)
            lines.append(line)
            for error in s["errors"][:5]:
                print("  " + error, flush=True)
                lines.append("  " + error)
            failed |= bool(s["errors"]) or s["steps"] != args.sessions * args.steps
        open_sessions = GameClient(url).health()["sessions"]
        lines.append(f"open sessions at the end: {open_sessions}")
        print(lines[-1])
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

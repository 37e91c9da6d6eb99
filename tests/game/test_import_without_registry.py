"""The game imports and plays with a PettingZoo that has no registry (``pettingzoo.register`` came in 1.27).

Multi-agent libraries that cap ``pettingzoo<1.27`` install such a release
beside this package; ``import smartpay_marl`` must not fail there. The check
runs in a fresh interpreter so that the package is imported after
``register`` is removed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


def test_import_and_play_without_pettingzoo_register():
    result = _run("""
        import pettingzoo
        if hasattr(pettingzoo, "register"):
            del pettingzoo.register  # what a PettingZoo older than 1.27 looks like
        import smartpay_marl
        env = smartpay_marl.parallel_env(max_cycles=5)
        env.reset(seed=0)
        while env.agents:
            env.step({agent: env.action_space(agent).sample() for agent in env.agents})
        aec = smartpay_marl.env(max_cycles=5)
        aec.reset(seed=0)
        print("played", smartpay_marl.ENV_ID)
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "played smartpay_marl/SmartPay-v0" in result.stdout


def test_registered_where_the_registry_exists():
    result = _run("""
        import pettingzoo
        import smartpay_marl
        if hasattr(pettingzoo, "make"):
            env = pettingzoo.make("parallel", smartpay_marl.ENV_ID, max_cycles=5)
            env.reset(seed=0)
            print("made")
        else:
            print("no registry")
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() in ("made", "no registry")

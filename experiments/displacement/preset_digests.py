"""Digests of full episodes of the easy, medium and hard presets (single env and a 64-env vector env).

Run on main before the fraud-displacement change (commit c19ed02) and on this branch; the outputs are
identical (preset_digests.txt). Run: PYTHONPATH=$PWD python experiments/displacement/preset_digests.py
"""
import hashlib, numpy as np, smartpay_marl
from smartpay_marl.vector_env import vector_env
out = []
for diff in ("easy", "medium", "hard"):
    for seed in (0, 11):
        env = smartpay_marl.parallel_env(difficulty=diff, max_cycles=300)
        obs, _ = env.reset(seed=seed)
        d = hashlib.sha256(); rng = np.random.default_rng(7)
        while env.agents:
            a = {"router_0": rng.integers(0, [3, 4, 2]), "fraudster_0": rng.integers(0, [5, 4, 4, 5])}
            obs, r, t, tr, inf = env.step(a)
            for ag in ("router_0", "fraudster_0"):
                d.update(obs[ag].tobytes()); d.update(np.float64(r[ag]).tobytes())
            d.update(np.array(list(inf["router_0"]["pnl"].values())).tobytes())
            d.update(np.array(list(inf["router_0"]["metrics"].values())).tobytes())
        out.append(f"{diff} {seed} {d.hexdigest()}")
    v = vector_env(64, difficulty=diff, max_cycles=200); o, _ = v.reset(seed=3); d = hashlib.sha256(); rng = np.random.default_rng(1)
    done = False
    while not done:
        o, r, t, _, inf = v.step({"router_0": rng.integers(0, [3,4,2], size=(64,3)), "fraudster_0": rng.integers(0,[5,4,4,5], size=(64,4))})
        d.update(o["router_0"].tobytes()); d.update(o["fraudster_0"].tobytes()); d.update(r["router_0"].tobytes())
        done = bool(t["router_0"][0])
    out.append(f"{diff} vec64 {d.hexdigest()}")
print("\n".join(out))

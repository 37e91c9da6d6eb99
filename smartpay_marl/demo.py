"""Play a short episode with a simple rule-based router against an attacking ring, and print it.

The router routes each card to the gateway with the best lagged health, sends
medium-risk payments to 3-D Secure, blocks high risk and fails over on a
decline; the ring attacks with velocity bursts. The last lines summarise the
episode's P&L by term and the grader scores. --game PATH plays any game YAML
(--difficulty then overrides its preset only when given).
"""

from __future__ import annotations

import numpy as np

import smartpay_marl
from smartpay_marl.layout import FRAUDSTER, ROUTER, ROUTER_OBS
from smartpay_marl.rules import PNL_TERMS


def demo_router_action(obs: np.ndarray) -> np.ndarray:
    risk = obs[ROUTER_OBS["risk_score"].start]
    gateway = int(np.argmax(obs[ROUTER_OBS["health_rate"]]))
    decision = 1 if risk > 0.6 else (2 if risk > 0.25 else 0)
    return np.array([gateway, decision, 1])


def add_arguments(parser) -> None:
    parser.add_argument("--steps", type=int, default=12, help="steps to print (default 12)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the episode (default 0)")
    parser.add_argument(
        "--difficulty", choices=["easy", "medium", "hard"], default=None, help="game preset (default medium)"
    )
    parser.add_argument("--game", metavar="PATH", help="game config YAML (e.g. configs/game/displacement.yaml)")


def _game_fields(args) -> dict:
    """The demo's game: ``--game PATH`` if given (``--difficulty`` overriding it), else the preset at 200 steps."""
    overrides = {"difficulty": args.difficulty} if getattr(args, "difficulty", None) else {}
    if getattr(args, "game", None):
        from smartpay_marl.config import load_game_config

        return load_game_config(args.game, **overrides).model_dump()
    return {"difficulty": "medium", "max_cycles": 200, **overrides}


def main(args) -> None:
    if args.steps < 1:
        raise SystemExit("--steps must be >= 1")
    env = smartpay_marl.parallel_env(render_mode="ansi", **_game_fields(args))
    obs, _ = env.reset(seed=args.seed)
    ring = smartpay_marl.FraudsterAction(intensity=3, stealth=1, burst=2, strategy="velocity_attack")
    totals = dict.fromkeys(PNL_TERMS, 0.0)
    returns = {ROUTER: 0.0, FRAUDSTER: 0.0}
    step = 0
    while env.agents:
        obs, rewards, _, _, infos = env.step({ROUTER: demo_router_action(obs[ROUTER]), FRAUDSTER: ring})
        for agent in returns:
            returns[agent] += rewards[agent]
        for term, value in infos[ROUTER]["pnl"].items():
            totals[term] += value
        step += 1
        if step <= args.steps:
            print(env.render(), end="\n\n")
        last_metrics = infos[ROUTER]["metrics"]
    print(f"episode of {step} steps: router return {returns[ROUTER]:+.3f}, fraudster return {returns[FRAUDSTER]:+.3f}")
    print("router P&L $: " + ", ".join(f"{k} {v:+,.2f}" for k, v in totals.items()))
    print(
        "grader scores: "
        + ", ".join(f"{k} {last_metrics[k]:.3f}" for k in ("route_score", "fraud_score", "retention_score"))
    )

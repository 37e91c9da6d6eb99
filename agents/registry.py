"""Names of every scripted policy, mapped to a factory: the one place tables, tests and the CLI look them up.

``make_policy("risk_3ds_band")`` builds a fresh policy; keyword arguments go to
its constructor (thresholds, seeds, ``action_nvec`` for fraudsters of a
non-default config). Routers and fraudsters share one namespace except
``random``, which exists for both roles; pass ``role=`` to pick one.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from agents.base import Policy, RandomPolicy, Role
from agents.fraudsters import AdaptiveFraudster, max_everything_fraudster, neutral_fraudster, strategy_fraudster
from agents.routers import (
    AffinityRouter,
    BanditRouter,
    FixedRouter,
    RiskBandRouter,
    RiskThresholdRouter,
    SmartPayHeuristicRouter,
    VelocityRulesRouter,
)
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import ALLOW, BLOCK, REVIEW, STRATEGIES, THREEDS

PolicyFactory = Callable[..., Policy]

ROUTERS: dict[str, PolicyFactory] = {
    "allow_all": partial(FixedRouter, ALLOW, gateway=0, retry=False, name="allow_all"),
    "smart_routing": partial(AffinityRouter, name="smart_routing"),
    "risk_threshold": partial(RiskThresholdRouter, name="risk_threshold"),
    "risk_3ds_band": partial(RiskBandRouter, name="risk_3ds_band"),
    "velocity_rules": partial(VelocityRulesRouter, name="velocity_rules"),
    "smartpay_heuristic": partial(SmartPayHeuristicRouter, name="smartpay_heuristic"),
    "bandit": partial(BanditRouter, name="bandit"),
    "always_3ds": partial(FixedRouter, THREEDS, gateway=0, retry=False, name="always_3ds"),
    "always_review": partial(FixedRouter, REVIEW, gateway=0, retry=False, name="always_review"),
    "block_all": partial(FixedRouter, BLOCK, gateway=0, retry=False, name="block_all"),
    "random": partial(RandomPolicy, "router", name="random"),
}

FRAUDSTERS: dict[str, PolicyFactory] = {
    "neutral": neutral_fraudster,
    **{strategy: partial(strategy_fraudster, strategy) for strategy in STRATEGIES},
    "max_everything": max_everything_fraudster,
    "adaptive": AdaptiveFraudster,
    "random": partial(RandomPolicy, "fraudster", name="random"),
}

# The named line-ups below are the only lists of scripted players: configs, the league and the experiments
# refer to them rather than spelling names again.

#: Routers that send every transaction the same way, whatever it looks like.
CONSTANT_ROUTERS = ("allow_all", "always_3ds", "always_review", "block_all")
#: Routers with a fixed fraud rule and failover, and no memory: what a learning fraudster is scored against.
RULE_ROUTERS = ("risk_threshold", "risk_3ds_band", "velocity_rules", "smartpay_heuristic")
#: Routers with a fraud rule and failover: the "sensible" defenders of the balance claims.
SENSIBLE_ROUTERS = (*RULE_ROUTERS, "bandit")
#: The fraudsters that run one strategy at moderate settings.
STRATEGY_FRAUDSTERS = STRATEGIES
#: The one-strategy rings that attack one way (every strategy but ``mixed``).
ATTACK_FRAUDSTERS = tuple(strategy for strategy in STRATEGIES if strategy != "mixed")
#: The ring that does not attack, then each attacking ring: what a learning router is scored against.
EVAL_FRAUDSTERS = ("neutral", *ATTACK_FRAUDSTERS)
#: The experiments' panel of scripted fraudsters: :data:`EVAL_FRAUDSTERS` and the ring at every maximum.
FRAUDSTER_PANEL = (*EVAL_FRAUDSTERS, "max_everything")
#: The scripted round robin a league's win definition is calibrated on (its median and spread).
CALIBRATION_ROUTERS = ("risk_threshold", "risk_3ds_band", "velocity_rules", "allow_all")
CALIBRATION_FRAUDSTERS = EVAL_FRAUDSTERS
#: The scripted players of the displacement game's round robin (``configs/game/displacement.yaml``) that its
#: meta-game Nash supports; ``experiments/displacement/run.py`` plays them beside the learned players.
DISPLACEMENT_NASH_ROUTERS = ("smartpay_heuristic", "guard_big_ticket", "guard_big_ticket_travellers",
                             "guard_big_ticket_new_customers", "guard_big_ticket_gamers", "guard_gamers")  # fmt: skip
DISPLACEMENT_NASH_FRAUDSTERS = ("neutral", "mixed", "max_everything", "target_big_ticket", "target_gamers",
                                "target_travellers", "target_new_customers")  # fmt: skip


def policy_names(role: Role | None = None) -> list[str]:
    """Registered names for ``role`` (both roles when None)."""
    if role == "router":
        return list(ROUTERS)
    if role == "fraudster":
        return list(FRAUDSTERS)
    return list(dict.fromkeys([*ROUTERS, *FRAUDSTERS]))


def make_policy(name: str, role: Role | None = None, **kwargs: Any) -> Policy:
    """Build the registered policy ``name``; ``role`` disambiguates names both roles use (``random``).

    Raises:
        ValueError: unknown name or role, or an ambiguous name without ``role``.
    """
    tables = {"router": ROUTERS, "fraudster": FRAUDSTERS}
    if role is not None and role not in tables:
        raise ValueError(f"unknown role {role!r}; expected 'router' or 'fraudster'")
    matches = [r for r, table in tables.items() if name in table and role in (None, r)]
    if not matches:
        scope = f"{role} " if role else ""
        raise ValueError(f"unknown {scope}policy {name!r}; known: {', '.join(policy_names(role))}")
    if len(matches) > 1:
        raise ValueError(f"policy name {name!r} exists for both roles; pass role='router' or role='fraudster'")
    return tables[matches[0]][name](**kwargs)


# ----------------------------------------------------------------------------- fraud displacement (issue 20)
def round_robin_players(config: GameConfig | None = None) -> tuple[list[Policy], list[Policy]]:
    """Fresh routers and fraudsters of the ``baselines`` round robin for ``config``'s game.

    The default games play every registered router and fraudster. A game that
    turns on fraud displacement (``config.displacement``) adds the channel
    guards (:func:`agents.displacement.guard_routers`, within its budgets); a
    game with a strategy map replaces the one-strategy rings, whose names
    would no longer say what they play, by a ring per targeted segment
    (:func:`agents.displacement.target_fraudsters`) and the ``mixed`` ring.
    """
    from agents.displacement import guard_routers, target_fraudsters

    routers = [make_policy(name, role="router") for name in ROUTERS]
    if config is None or not config.displacement:
        return routers, [make_policy(name, role="fraudster") for name in FRAUDSTERS]
    routers += guard_routers(config)
    if config.strategy_templates is None:
        return routers, [make_policy(name, role="fraudster") for name in FRAUDSTERS]
    strategy_rings = set(STRATEGY_FRAUDSTERS) - {"mixed"}
    fraudsters = []
    for name in FRAUDSTERS:
        if name == "mixed":
            fraudsters.append(make_policy(name, role="fraudster"))
            fraudsters += target_fraudsters(config)
        elif name not in strategy_rings:
            fraudsters.append(make_policy(name, role="fraudster"))
    return routers, fraudsters

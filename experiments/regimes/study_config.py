"""What the regime study trains: its games, its regimes, their budgets and the scripted players each may meet.

Every regime of the study starts from the quick-start config (PPO settings,
batch, vectorised runner, the counterfactual fraud signal) with the game
replaced by the study's game file, and spends the same number of env steps.
The scripted players are split in two: a *training* set that the leagues
(``fixed``, ``pfsp``) and PSRO's initial population may play, and a
*held-out* set that no regime ever trains against, used only to score the
outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BASE_CONFIG = ROOT / "configs" / "quickstart.yaml"
REGIMES = ("fixed", "self_play", "fictitious", "pfsp", "psro")
#: What each regime name means in this study (``regime_config``).
REGIME_NOTES = {
    "fixed": "each side trains against the other side's scripted training set",
    "self_play": "latest main against latest main",
    "fictitious": "uniform over the other side's main and its snapshots",
    "pfsp": "AlphaStar's league as the project configures it by default: the mains' games 35% self-play, 50% PFSP "
            "over snapshots and the scripted training set, 15% verification; 1 main exploiter and 1 league "
            "exploiter per side, which spend part of the same budget",
    "psro": "PSRO from the scripted training set: each epoch one PPO best response per side to the other side's "
            "meta-Nash, as many epochs as the budget pays for",
}
SIDES = ("router", "fraudster")


@dataclass(frozen=True)
class StudyGame:
    """A game of the study and how its scripted players are split into training and held-out sets."""

    name: str
    game_file: Path
    training_routers: tuple[str, ...]  # agents.registry names the leagues may play
    training_fraudsters: tuple[str, ...]
    held_out_routers: tuple[str, ...]  # names from agents.registry.round_robin_players: never trained against
    held_out_fraudsters: tuple[str, ...]
    other_scripted_fraudsters: tuple[str, ...] = ("neutral",)  # in the population, neither trained against nor held out

    def game(self) -> dict:
        return yaml.safe_load(self.game_file.read_text())

    def scripted(self, side: str) -> tuple[str, ...]:
        """Every scripted player of ``side`` in the study's cross-play population."""
        if side == "router":
            return self.training_routers + self.held_out_routers
        return self.other_scripted_fraudsters + self.training_fraudsters + self.held_out_fraudsters

    def held_out(self, side: str) -> tuple[str, ...]:
        return self.held_out_routers if side == "router" else self.held_out_fraudsters

    def training(self, side: str) -> tuple[str, ...]:
        return self.training_routers if side == "router" else self.training_fraudsters


#: The quick-start's scripted training set is the study's on both games.
_TRAINING_ROUTERS = ("risk_3ds_band", "velocity_rules")
_TRAINING_FRAUDSTERS = ("fraud_surge", "stealth_fraud", "velocity_attack", "card_testing")
GAMES = {
    "medium": StudyGame(
        "medium", ROOT / "configs" / "game" / "medium.yaml", _TRAINING_ROUTERS, _TRAINING_FRAUDSTERS,
        held_out_routers=("risk_threshold", "smartpay_heuristic"),
        held_out_fraudsters=("mixed", "max_everything"),
    ),  # fmt: skip
    # Under displacement the registry's strategy rings point at channels; the held-out rings are the
    # channel-targeting rings and the channel guards of agents.displacement (the ones the scripted Nash
    # supports, experiments/displacement/), which no league can name as an opponent.
    "displacement": StudyGame(
        "displacement", ROOT / "configs" / "game" / "displacement.yaml", _TRAINING_ROUTERS, _TRAINING_FRAUDSTERS,
        held_out_routers=("risk_threshold", "smartpay_heuristic", "guard_big_ticket", "guard_gamers",
                          "guard_big_ticket_travellers", "guard_big_ticket_new_customers", "guard_big_ticket_gamers"),
        held_out_fraudsters=("mixed", "max_everything", "target_big_ticket", "target_gamers", "target_travellers",
                             "target_new_customers"),
    ),  # fmt: skip
}


@dataclass(frozen=True)
class Budgets:
    """Env-step budgets and evaluation sizes of one study (see ``FULL`` and ``QUICK`` in run.py)."""

    league_steps: int  # per regime and seed, every learner of the run together
    psro_best_response_steps: int  # per PSRO best response; epochs = league_steps // (2 x this)
    oracle_steps: int  # hard budget of each best response of the oracle
    episodes: int  # per cross-play pairing and per oracle evaluation point
    batch: int | None = None  # overrides the base config's train batch (tests use a tiny one)


def base_config(game: StudyGame, batch: int | None = None, path: Path = BASE_CONFIG) -> dict:
    """The quick-start config with ``game``'s game file, optionally with a smaller train batch."""
    data = yaml.safe_load(path.read_text())
    data["game"] = game.game()
    if batch:
        data["ppo"]["train_batch_size"] = batch
        data["ppo"]["minibatch_size"] = min(data["ppo"]["minibatch_size"], batch)
        data["resources"]["num_envs_per_env_runner"] = max(1, batch // data["game"].get("max_cycles", 200))
    data.pop("name", None)
    return data


def regime_config(regime: str, seed: int, budgets: Budgets, base: dict, game: StudyGame) -> dict:
    """The run config of ``regime`` at ``seed``: ``base`` trained for ``budgets.league_steps`` env steps."""
    if regime not in REGIMES:
        raise ValueError(f"unknown regime {regime!r}; the study's regimes are {', '.join(REGIMES)}")
    data = json.loads(json.dumps(base))  # a deep copy
    batch = data["ppo"]["train_batch_size"]
    iterations = max(2, budgets.league_steps // batch)
    data.update(name=f"{regime}-s{seed}", seed=seed, iterations=iterations, checkpoint_every=iterations,
                eval_every=max(1, iterations // 8), calibrate_win=False)  # fmt: skip
    league = data["league"]
    scripted = [f"fraudster_scripted:{name}" for name in game.training_fraudsters]
    scripted += [f"router_scripted:{name}" for name in game.training_routers]
    league.update(regime=regime, num_main_exploiters=0, num_league_exploiters=0, scripted_opponents=[])
    league["snapshot_rule"] = {"every_iterations": max(1, iterations // 10)}
    league.setdefault("win_definition", {"reference": 30.0, "scale": 3.0})
    if regime in ("fixed", "psro"):
        league["scripted_opponents"] = scripted
    elif regime == "pfsp":
        league.update(num_main_exploiters=1, num_league_exploiters=1, scripted_opponents=scripted)
        league["slots_per_side"] = max(int(league.get("slots_per_side", 4)), 3)  # a slot per learner of a side
    if regime == "psro":
        steps = min(budgets.psro_best_response_steps, budgets.league_steps // 2)
        data["psro"] = {"epochs": max(1, budgets.league_steps // (2 * steps)), "meta_solver": "nash",
                        "best_response_steps": steps, "payoff_episodes": 64, "warm_start": True, "sigma": 0.02}  # fmt: skip
    return data

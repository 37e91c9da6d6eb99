"""The regime study's phases, each resumable: train, name the outputs, cross-play, run the oracle.

Every phase writes its result next to the runs and reuses it when the study
is run again with the same settings, so a study that spans several sessions
only does what is missing. Nothing here computes a table: ``study_tables``
reads what these phases wrote.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from study_config import SIDES, Budgets, StudyGame

Log = Callable[[str], None]
DONE = "done"
#: Snapshots per side in the population whose meta-Nash is a league's mixture (evenly spaced, newest kept).
MIXTURE_MAX_SNAPSHOTS = 8
WARM, COLD = "warm", "cold"
ORACLE_STARTS = (WARM, COLD)
#: Seed offset of the from-scratch best response, so that it never shares the warm start's seed.
COLD_SEED_OFFSET = 1


@dataclass(frozen=True)
class Output:
    """What one regime produced on one side, as two players of its run: the main player and the mixture."""

    run: str  # <regime>-s<seed>
    side: str
    main: str
    mixture: str

    def player(self, kind: str) -> str:
        return self.main if kind == "main" else self.mixture


# ---------------------------------------------------------------------- training


def train_run(config: dict, run_dir: Path, log: Log) -> float:
    """Train one run unless a ``done`` marker with the same config exists; the training wall time in s."""
    from league.core.config import make_train_config

    marker = run_dir / DONE
    finished = json.loads(marker.read_text()) if marker.exists() else {}
    if finished.get("config") == config:
        return finished["wall_s"]
    if run_dir.exists():  # trained with other settings, or interrupted: start again
        shutil.rmtree(run_dir)
    regime = config["league"]["regime"]
    if regime == "psro":
        from league.rllib.psro import train_psro

        log(f"train {config['name']}: PSRO, {config['psro']['epochs']} epoch(s) x 2 x "
            f"{config['psro']['best_response_steps']:,} env steps")  # fmt: skip
        began = time.perf_counter()
        train_psro(make_train_config(config), run_dir, verbose=False)
    else:
        from league.rllib.train import train

        log(f"train {config['name']}: {config['iterations']} iterations x {config['ppo']['train_batch_size']:,} env steps")
        began = time.perf_counter()
        train(make_train_config(config), run_dir, verbose=False)
    wall_s = time.perf_counter() - began
    marker.write_text(json.dumps({"wall_s": wall_s, "config": config}))
    return wall_s


# ---------------------------------------------------------------------- outputs


def run_outputs(run_dir: Path, regime: str, episodes: int, seed: int, log: Log) -> dict[str, Output]:
    """The main player and the meta-Nash mixture of each side of a finished run, written into the run.

    The mixture is the Nash of the cross-play among the run's *learned*
    players (its learners and up to :data:`MIXTURE_MAX_SNAPSHOTS` snapshots
    per side), named ``<role>_nash@<iteration>-learned``. Scripted players
    are left out for every regime alike: ``fixed``, ``pfsp`` and PSRO keep
    scripted players in their populations and self-play does not, so a
    mixture that could play them would measure the scripted players, not
    what the regime learned. PSRO's main player is each side's last best
    response.
    """
    from league.core.players import snapshot_name
    from league.evaluation.loading import open_run
    from league.evaluation.mixture import known_mixtures, mixture_name

    run = open_run(run_dir)
    iteration = run.state.iteration
    names = {side: mixture_name(side, "nash", iteration, population="learned") for side in SIDES}
    if not all(name in known_mixtures(run_dir) for name in names.values()):
        log(f"meta-Nash mixtures of {run_dir.name}: cross-play of its learned players")
        write_learned_mixtures(run, episodes, seed)
    outputs = {}
    for side in SIDES:
        main = snapshot_name(f"{side}_main", iteration) if regime == "psro" else f"{side}_main"
        members = mixture_members(run_dir, names[side])
        # A mixture that plays only the main player (or its snapshot of the same weights) is the main: the
        # oracle and the cross-play then measure one player once, under both names.
        pure_main = len(members) == 1 and next(iter(members)) in (main, f"{side}_main", snapshot_name(f"{side}_main", iteration))
        outputs[side] = Output(run_dir.name, side, main, main if pure_main else names[side])
    return outputs


def write_learned_mixtures(run, episodes: int, seed: int) -> None:
    """Cross-play the run's learned players, solve the meta-game and write each side's Nash as a mixture."""
    from league.core.players import Role
    from league.evaluation.evaluate import analyse_meta_game, cross_play, select_population
    from league.evaluation.loading import load_player, torch_threads
    from league.evaluation.mixture import make_mixture, write_mixture

    population = select_population(run, {Role.ROUTER: [], Role.FRAUDSTER: []}, MIXTURE_MAX_SNAPSHOTS)
    routers = [r.name for r in population.routers if r.learned]
    fraudsters = [f.name for f in population.fraudsters if f.learned]
    with torch_threads(1):
        play = cross_play([_named(load_player(run, n), n) for n in routers], [_named(load_player(run, n), n) for n in fraudsters],
                          episodes, seed, run.game, run.state.config.win_definition, log=lambda *_: None)  # fmt: skip
    meta = analyse_meta_game(play.mean, routers, fraudsters)
    stable = {parent: snapshot for snapshot, parent in population.same_as.items()}  # a live learner trains on
    source = f"regime study: Nash of the cross-play of the run's learned players ({len(routers)} x {len(fraudsters)})"
    for role, names, weights in (("router", routers, meta.router_nash), ("fraudster", fraudsters, meta.fraudster_nash)):
        members = [stable.get(name, name) for name in names]
        write_mixture(run.run_dir, make_mixture(role, "nash", run.state.iteration, members, weights, source,
                                                float(meta.value), population="learned"))  # fmt: skip


def _named(policy, name: str):
    policy.name = name
    return policy


def mixture_members(run_dir: Path, name: str) -> dict[str, float]:
    from league.evaluation.mixture import mixture_path, read_mixture

    mixture = read_mixture(mixture_path(run_dir, name))
    return dict(zip(mixture.members, mixture.weights))


# ---------------------------------------------------------------------- cross-play


class CrossPlayCache:
    """Mean router return of every pairing played so far, in ``crossplay.json``; new players add rows and columns."""

    def __init__(self, path: Path, episodes: int, seed: int, game: str):
        self.path = path
        self.settings = {"episodes": episodes, "seed": seed, "game": game}
        document = json.loads(path.read_text()) if path.exists() else {}
        same = all(document.get(key) == value for key, value in self.settings.items())
        self.pairs: dict[str, dict[str, float]] = document.get("pairs", {}) if same else {}
        self.wall_s: float = document.get("wall_s", 0.0) if same else 0.0

    def save(self) -> None:
        self.path.write_text(json.dumps({**self.settings, "wall_s": self.wall_s, "pairs": self.pairs}, indent=1))

    def missing(self, routers: list[str], fraudsters: list[str]) -> bool:
        return any(f not in self.pairs.get(r, {}) for r in routers for f in fraudsters)

    def matrix(self, routers: list[str], fraudsters: list[str]):
        import numpy as np

        return np.array([[self.pairs[r][f] for f in fraudsters] for r in routers], dtype=float)


def scripted_players(game_config, study_game: StudyGame) -> dict[str, list]:
    """The study's scripted population as fresh policies, by side, from ``agents.registry.round_robin_players``."""
    from agents.registry import make_policy, round_robin_players

    routers, fraudsters = round_robin_players(game_config)
    available = {"router": {p.name: p for p in routers}, "fraudster": {p.name: p for p in fraudsters}}
    chosen = {}
    for side in SIDES:
        chosen[side] = [available[side].get(name) or make_policy(name, role=side) for name in study_game.scripted(side)]
    return chosen


def cross_play(cache: CrossPlayCache, run_dirs: dict[str, Path], outputs: dict[str, dict[str, Output]],
               study_game: StudyGame, log: Log) -> tuple[list[str], list[str]]:  # fmt: skip
    """Play every missing pairing of the outputs of every run and the scripted population; the two name lists."""
    from agents.evaluation import evaluate
    from league.evaluation.loading import load_player, open_run, torch_threads

    players: dict[str, dict[str, object]] = {side: {} for side in SIDES}
    game_config = None
    for run_name in sorted(run_dirs):
        run = open_run(run_dirs[run_name])
        game_config = run.game
        for side in SIDES:
            output = outputs[run_name][side]
            for kind in ("main", "mixture"):
                players[side][f"{run_name}/{kind}"] = (run, output.player(kind))
    for side, policies in scripted_players(game_config, study_game).items():
        for policy in policies:
            players[side][policy.name] = policy
    routers, fraudsters = list(players["router"]), list(players["fraudster"])
    if not cache.missing(routers, fraudsters):
        return routers, fraudsters

    def policy(side: str, name: str):
        entry = players[side][name]
        if isinstance(entry, tuple):
            entry = load_player(*entry)
            entry.name = name
            players[side][name] = entry
        return entry

    todo = sum(cache.missing([r], fraudsters) for r in routers)
    log(f"cross-play: {len(routers)} routers x {len(fraudsters)} fraudsters, {todo} router rows to play, "
        f"{cache.settings['episodes']} episodes per pairing")  # fmt: skip
    with torch_threads(1):
        for router_name in routers:
            row = cache.pairs.setdefault(router_name, {})
            absent = [f for f in fraudsters if f not in row]
            if not absent:
                continue
            began = time.perf_counter()
            router = policy("router", router_name)
            for fraudster_name in absent:
                stats = evaluate(router, policy("fraudster", fraudster_name), episodes=cache.settings["episodes"],
                                 seed=cache.settings["seed"], config=game_config)  # fmt: skip
                row[fraudster_name] = float(stats.router_return.mean)
            cache.wall_s += time.perf_counter() - began
            cache.save()  # one router row at a time: an interrupted cross-play resumes from here
    return routers, fraudsters


# ---------------------------------------------------------------------- the oracle


def oracle_path(run_dir: Path, player: str, start: str) -> Path:
    from league.rllib.exploit import file_stem

    return run_dir / "eval" / f"oracle-{start}" / f"{file_stem(player)}.json"


def run_oracle(run_dir: Path, player: str, start: str, seed: int, budgets: Budgets, eval_seed: int, log: Log) -> dict:
    """One best response to ``player`` (warm or cold start) for the whole hard budget; its JSON result.

    The value passed is 0, so every gain in the file is a plain router return
    (with the sign of the responder's side); the tables re-base them on the
    study's common value. The plateau rule is checked at the last doubling
    only (``min_steps`` = the budget), so ``flattened`` says whether the
    curve's last doubling gained anything.
    """
    from league.rllib.exploit import WARM_BEST, WARM_NONE, run_exploit

    path = oracle_path(run_dir, player, start)
    if path.exists():
        cached = json.loads(path.read_text())
        if cached.get("budget") == budgets.oracle_steps and cached.get("episodes") == budgets.episodes:
            return cached
    log(f"oracle ({start} start) against {run_dir.name}/{player}: {budgets.oracle_steps:,} env steps")
    # First evaluation at exploit's default, four train batches (204,800 env steps in the full study), then doubling.
    run_exploit(run_dir, player, budgets.oracle_steps, episodes=budgets.episodes,
                seeds=[seed + (COLD_SEED_OFFSET if start == COLD else 0)],
                warm_start=WARM_BEST if start == WARM else WARM_NONE, value=0.0,
                value_episodes=budgets.episodes, min_steps=budgets.oracle_steps, eval_seed=eval_seed,
                output=path.parent, verbose=False)  # fmt: skip
    return json.loads(path.read_text())

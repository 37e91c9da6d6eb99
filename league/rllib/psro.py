"""PSRO as a training regime (``league.regime: psro``): ``smartpay-marl psro --config FILE``.

Policy-Space Response Oracles on the league's RLlib machinery. The
population starts as the config's scripted players
(``league.scripted_opponents``, at least one per side). Each *epoch*:

1. the meta-solver (``psro.meta_solver``: ``nash``, ``uniform`` or ``prd``,
   from :data:`agents.meta_game.META_SOLVERS`) turns the empirical
   payoff matrix into a meta-strategy per side;
2. one new best response per side is trained with RLlib PPO (new API stack,
   the vectorised env runner, the run's PPO settings) for
   ``psro.best_response_steps`` env steps against the other side's
   meta-strategy, one member drawn per episode. Only the
   ``league.slots_per_side`` members with the most weight are loaded
   (renormalised), so the modules in memory stay bounded however large the
   population grows. With ``psro.warm_start`` a best response starts as a
   perturbed copy of its side's previous one;
3. both are saved as snapshots ``router_main@it<epoch>`` and
   ``fraudster_main@it<epoch>`` and join the population;
4. the payoff matrix gains the new row and column, played on the vector env
   (``psro.payoff_episodes`` episodes per pairing, one seed: common random
   numbers);
5. the meta-strategies of the extended matrix are written as mixtures
   ``router_<solver>@<epoch>`` / ``fraudster_<solver>@<epoch>`` (see
   :mod:`league.evaluation.mixture`), usable in ``evaluate``, ``exploit`` and
   ``serve`` like any player.

Each epoch also measures the NashConv of the meta-strategies ``(x, y)`` it
trained against: each new best response's gain over ``x^T A y``. Each side's
gap is at least 0 (the meta-strategy itself is a candidate response), so
``max(0, router gain) + max(0, fraudster gain)`` is a lower bound on their
NashConv (PPO finds *a* response, not the best; a negative gain means it
found a worse one).

The run directory is a league run directory (``config.yaml``,
``league_state.json``, ``snapshots/``) plus ``psro.json`` (the payoff matrix,
every epoch's meta-strategies and measurements). It is resumable: an epoch
is committed when ``league_state.json`` is saved, and ``--resume RUN_DIR``
continues from the last committed epoch (``--epochs`` raises the total).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import yaml

from league.core.config import TrainConfig, load_train_config, make_train_config
from league.core.players import PlayerKind, Role
from league.core.rundir import RunDir, atomic_write_text
from league.core.state import LeagueState
from league.rllib.ray_setup import ray_session

PSRO_FILE = "psro.json"


@dataclass
class EpochRecord:
    """One PSRO epoch: the meta-strategies trained against, the new players and what they measured."""

    epoch: int
    router_meta: dict[str, float]  # the meta-strategies the best responses were trained against
    fraudster_meta: dict[str, float]
    new_router: str
    new_fraudster: str
    router_best_response_gain: float  # (new router vs y) - (meta value): the fraudster meta's exploitability bound
    fraudster_best_response_gain: float  # (meta value) - (x vs new fraudster): the router meta's bound
    nash_conv_lower_bound: float  # max(0, router gain) + max(0, fraudster gain): each side's gap is >= 0
    meta_value: float  # x^T A y of the meta-strategies trained against
    env_steps: int
    wall_s: float


@dataclass
class PsroDocument:
    """``RUN_DIR/psro.json``: the population, its payoff matrix and every epoch."""

    meta_solver: str
    routers: list[str]
    fraudsters: list[str]
    payoff: list[list[float]]  # mean router return, rows routers, columns fraudsters
    payoff_episodes: int
    eval_seed: int
    epochs: list[EpochRecord] = field(default_factory=list)
    command: str = ""
    wall_s: float = 0.0

    @classmethod
    def read(cls, path: Path) -> PsroDocument:
        document = json.loads(Path(path).read_text())
        document["epochs"] = [EpochRecord(**epoch) for epoch in document.get("epochs", [])]
        return cls(**document)

    def write(self, path: Path) -> None:
        from agents.reporting import json_safe

        atomic_write_text(Path(path), json.dumps(json_safe(asdict(self)), indent=2))

    def truncated(self, epoch: int) -> PsroDocument:
        """The document as it was after ``epoch`` (a resumed run repeats the epochs after it)."""
        keep_r = [n for n in self.routers if _epoch_of(n) <= epoch]
        keep_f = [n for n in self.fraudsters if _epoch_of(n) <= epoch]
        rows = [self.routers.index(n) for n in keep_r]
        cols = [self.fraudsters.index(n) for n in keep_f]
        payoff = [[self.payoff[i][j] for j in cols] for i in rows]
        epochs = [e for e in self.epochs if e.epoch <= epoch]
        return PsroDocument(self.meta_solver, keep_r, keep_f, payoff, self.payoff_episodes, self.eval_seed, epochs,
                            self.command, self.wall_s)  # fmt: skip


def _epoch_of(name: str) -> int:
    """The epoch a population member joined: 0 for scripted players, N for ``<learner>@itN``."""
    return int(name.rsplit("@it", 1)[1]) if "@it" in name else 0


def check_config(config: TrainConfig) -> None:
    """Clear errors for configs PSRO cannot run."""
    if config.league.regime.value != "psro":
        raise ValueError(f"league.regime must be 'psro' for smartpay-marl psro, got {config.league.regime.value!r}")
    if config.league.num_main_exploiters or config.league.num_league_exploiters:
        raise ValueError("league.num_main_exploiters and num_league_exploiters must be 0 under regime psro")
    scripted = config.league.scripted_opponents
    for role in Role:
        if not any(name.startswith(f"{role.value}_scripted:") for name in scripted):
            raise ValueError(f"league.scripted_opponents must name at least one {role.value} under regime psro: "
                             "the population PSRO starts from")  # fmt: skip


def meta_strategies(solver: str, payoff: np.ndarray):
    """The meta-solver's router and fraudster mixtures (exact probability vectors)."""
    from agents.meta_game import get_meta_solver

    meta = get_meta_solver(solver)(payoff)
    return meta.row_strategy, meta.col_strategy


def slot_support(names: list[str], weights: np.ndarray, slots: int) -> tuple[list[str], list[float]]:
    """The ``slots`` members with the most weight (ties by name order), renormalised: what the modules hold."""
    order = sorted(range(len(names)), key=lambda k: (-weights[k], k))[:slots]
    order = [k for k in order if weights[k] > 0] or order[:1]
    kept = np.asarray([weights[k] for k in order], dtype=float)
    kept = kept / kept.sum() if kept.sum() > 0 else np.full(len(order), 1.0 / len(order))
    return [names[k] for k in order], [float(w) for w in kept]


# ---------------------------------------------------------------------- the driver


def train_psro(config: TrainConfig, run_dir: str | Path, resume: bool = False, epochs: int | None = None,
               address: str | None = None, verbose: bool = True, command: str = "") -> PsroDocument:  # fmt: skip
    """Run (or continue) PSRO in ``run_dir`` until ``epochs`` (default ``config.psro.epochs``) epochs in all."""
    log = print if verbose else (lambda *_: None)
    check_config(config)
    paths = RunDir(run_dir)
    total = epochs or config.psro.epochs
    start = time.perf_counter()
    if paths.state.exists():
        if not resume:
            raise ValueError(f"{paths.root} already holds a run; use --resume {paths.root} or another --output")
        state = LeagueState.load(paths.state)
        document = PsroDocument.read(paths.root / PSRO_FILE).truncated(state.iteration)
        start -= document.wall_s
        log(f"resumed {paths.root} at epoch {state.iteration}")
    else:
        if resume:
            raise ValueError(f"nothing to resume in {paths.root}: no {paths.state.name}")
        state = LeagueState.new(config.league)
        _write_run_files(config, paths, state)
        document = None
    with ray_session(address):
        if document is None:
            run = _league_run(config, paths, state)
            routers = [p.name for p in state.players if p.role is Role.ROUTER and p.kind is PlayerKind.SCRIPTED]
            fraudsters = [p.name for p in state.players if p.role is Role.FRAUDSTER and p.kind is PlayerKind.SCRIPTED]
            log(f"PSRO in {paths.root}: initial population {len(routers)} routers x {len(fraudsters)} fraudsters")
            payoff = _play(run, routers, fraudsters, config.psro.payoff_episodes, config.psro.eval_seed)
            document = PsroDocument(config.psro.meta_solver, routers, fraudsters, payoff.tolist(),
                                    config.psro.payoff_episodes, config.psro.eval_seed, command=command)  # fmt: skip
            _write_mixtures(paths.root, document, 0)
            document.write(paths.root / PSRO_FILE)
        while state.iteration < total:
            record = _epoch(config, paths, state, document, log)
            document.epochs.append(record)
            document.wall_s = time.perf_counter() - start
            document.write(paths.root / PSRO_FILE)
            state.save(paths.state)  # the epoch's commit point
            log(f"epoch {record.epoch}/{total}: NashConv of the epoch's meta-strategies >= "
                f"{record.nash_conv_lower_bound:.3f} (router BR gain {record.router_best_response_gain:+.3f}, "
                f"fraudster BR gain {record.fraudster_best_response_gain:+.3f}); {document.wall_s:.0f} s")  # fmt: skip
    return document


def _league_run(config: TrainConfig, paths: RunDir, state: LeagueState):
    """The run as the loaders see it, with the league state in memory (PSRO keeps no algorithm checkpoint)."""
    from league.evaluation.loading import LeagueRun

    return LeagueRun(paths.root, config, state, None, None)


def _write_run_files(config: TrainConfig, paths: RunDir, state: LeagueState) -> None:
    """``config.yaml``, ``versions.json`` and the initial ``league_state.json``, as ``train`` writes them."""
    from league.rllib.runtime import versions

    paths.make()
    dumped = config.model_dump(mode="json", by_alias=True)
    atomic_write_text(paths.config, yaml.safe_dump(dumped, sort_keys=False))
    atomic_write_text(paths.versions, json.dumps(versions(), indent=2))
    state.save(paths.state)


def _epoch(config: TrainConfig, paths: RunDir, state: LeagueState, document: PsroDocument, log) -> EpochRecord:
    """Train one best response per side against the other side's meta-strategy; extend the matrix."""
    epoch_start = time.perf_counter()
    epoch = state.iteration + 1
    payoff = np.asarray(document.payoff, dtype=float)
    x, y = meta_strategies(document.meta_solver, payoff)
    run = _league_run(config, paths, state)
    steps = 0
    new = {}
    for role, opponents, weights in ((Role.ROUTER, document.fraudsters, y), (Role.FRAUDSTER, document.routers, x)):
        names, probabilities = slot_support(opponents, weights, config.league.slots_per_side)
        learner = f"{role.value}_main"
        previous = [p for p in state.snapshots(role) if p.parent == learner]
        warm = max(previous, key=lambda p: p.created_iteration).name if previous and config.psro.warm_start else None
        seed = config.seed + 1000 * epoch + (0 if role is Role.ROUTER else 1)
        log(f"epoch {epoch}: {role.value} best response to {len(names)} of {len(opponents)} members "
            f"({', '.join(f'{n} {w:.2f}' for n, w in zip(names, probabilities))}); warm start {warm or 'none'}")  # fmt: skip
        weights_state, sampled = train_best_response(run, role, names, probabilities, seed, warm, config)
        steps += sampled
        new[role] = _save_best_response(config, paths, state, learner, epoch, weights_state)
    state.iteration = epoch
    run = _league_run(config, paths, state)  # the state in memory: the new snapshots, not yet committed
    _extend(run, document, new[Role.ROUTER], new[Role.FRAUDSTER])
    extended = np.asarray(document.payoff, dtype=float)
    value = float(x @ payoff @ y)
    router_gain = float(extended[-1, :-1] @ y) - value
    fraudster_gain = value - float(x @ extended[:-1, -1])
    _write_mixtures(paths.root, document, epoch)
    return EpochRecord(epoch, dict(zip(document.routers[:-1], map(float, x))),
                       dict(zip(document.fraudsters[:-1], map(float, y))), new[Role.ROUTER], new[Role.FRAUDSTER],
                       router_gain, fraudster_gain, max(0.0, router_gain) + max(0.0, fraudster_gain), value, steps,
                       time.perf_counter() - epoch_start)  # fmt: skip


def train_best_response(run, role: Role, names: list[str], probabilities: list[float], seed: int,
                        warm_start: str | None, config: TrainConfig) -> tuple[dict, int]:  # fmt: skip
    """PPO for ``psro.best_response_steps`` env steps as ``role`` against the frozen mixture; (weights, steps)."""
    from agents.rllib_modules import learner_module_spec
    from league.evaluation.loading import load_module_player
    from league.rllib.exploit import (
        BEST_RESPONSE,
        MAX_IDLE_ITERATIONS,
        _sampled_steps,
        best_response_config,
        frozen_members_of,
        load_module_states,
        perturbed_state,
    )

    budget = config.psro.best_response_steps
    members = frozen_members_of(run, names, probabilities)
    spec = learner_module_spec(role.value, config.ppo.hidden, run.game)
    states = {m.module_id: m.state for m in members if m.state is not None}
    if warm_start is not None:
        module = load_module_player(run.record(warm_start), run.game).module
        states[BEST_RESPONSE] = perturbed_state(module.get_state(), config.psro.sigma, seed)
    algorithm = best_response_config(run, members, role.opponent, budget, config.resources.num_env_runners, seed,
                                     spec).build_algo()  # fmt: skip
    try:
        load_module_states(algorithm, states)
        steps = idle = 0
        while steps < budget:
            sampled = _sampled_steps(algorithm.train())
            steps += sampled
            idle = 0 if sampled else idle + 1
            if idle >= MAX_IDLE_ITERATIONS:
                raise RuntimeError(f"no env steps sampled in {idle} iterations in a row; are the env runners alive?")
        weights = algorithm.learner_group.get_weights(module_ids=[BEST_RESPONSE])[BEST_RESPONSE]
    finally:
        algorithm.stop()
    return weights, steps


def _save_best_response(config: TrainConfig, paths: RunDir, state: LeagueState, learner: str, epoch: int,
                        weights: dict) -> str:  # fmt: skip
    from agents.snapshot_format import make_spec, save_snapshot
    from league.core.state import snapshot_name_for

    name = snapshot_name_for(learner, epoch)
    relative = RunDir.snapshot_relative(name)
    spec = make_spec(state.player(learner).role.value, config.ppo.hidden, config.game_config())
    checksum = save_snapshot(weights, paths.inside(relative, "snapshot path"), spec)
    state.add_snapshot(learner, epoch, relative, checksum=checksum)
    return name


def _play(run, routers: list[str], fraudsters: list[str], episodes: int, seed: int) -> np.ndarray:
    """Mean router return of every pairing, on the vector env from one seed."""
    from agents.evaluation import DEFAULT_MAX_ENVS, evaluate
    from league.evaluation.loading import load_player, torch_threads

    with torch_threads(1):
        router_players = [load_player(run, name) for name in routers]
        fraudster_players = [load_player(run, name) for name in fraudsters]
        return np.array([[evaluate(r, f, episodes=episodes, seed=seed, config=run.game,
                                   max_envs=DEFAULT_MAX_ENVS).router_return.mean for f in fraudster_players]
                         for r in router_players])  # fmt: skip


def _extend(run, document: PsroDocument, router: str, fraudster: str) -> None:
    """Add the new router's row and the new fraudster's column (the new pair included) to the matrix."""
    episodes, seed = document.payoff_episodes, document.eval_seed
    fraudsters = document.fraudsters + [fraudster]
    row = _play(run, [router], fraudsters, episodes, seed)[0]
    column = _play(run, document.routers, [fraudster], episodes, seed)[:, 0]
    payoff = [list(r) + [float(c)] for r, c in zip(document.payoff, column)]
    payoff.append([float(v) for v in row])
    document.routers.append(router)
    document.fraudsters = fraudsters
    document.payoff = payoff


def _write_mixtures(run_dir: Path, document: PsroDocument, epoch: int) -> None:
    """The meta-strategies of the current matrix as mixtures ``<role>_<solver>@<epoch>``."""
    from league.evaluation.mixture import make_mixture, write_mixture

    payoff = np.asarray(document.payoff, dtype=float)
    x, y = meta_strategies(document.meta_solver, payoff)
    value = float(x @ payoff @ y)
    source = f"PSRO epoch {epoch}, {len(document.routers)} x {len(document.fraudsters)} payoff matrix"
    for role, names, weights in ((Role.ROUTER, document.routers, x), (Role.FRAUDSTER, document.fraudsters, y)):
        write_mixture(run_dir, make_mixture(role.value, document.meta_solver, epoch, names, weights, source, value))


# ---------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="YAML run config with league.regime: psro")
    parser.add_argument("--output", metavar="DIR", help="run directory (default: runs/<name>-psro)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this PSRO run from its last epoch")
    parser.add_argument("--epochs", type=int, metavar="N", help="run until this many epochs in all (default: psro.epochs)")
    parser.add_argument("--address", help="join this Ray cluster (default: $RAY_ADDRESS, else a local instance)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def is_psro_request(train_args: argparse.Namespace) -> bool:
    """Whether ``smartpay-marl train`` was given a PSRO config (or a PSRO run to resume)."""
    path = RunDir(train_args.resume).config if train_args.resume else train_args.config
    if not path or not Path(path).is_file():
        return False
    try:
        return (yaml.safe_load(Path(path).read_text()) or {}).get("league", {}).get("regime") == "psro"
    except (yaml.YAMLError, AttributeError):
        return False  # train reports the config error itself


def main_from_train(train_args: argparse.Namespace) -> int:
    """``smartpay-marl train`` with ``league.regime: psro``: run this driver, ``--iterations`` as ``--epochs``."""
    return main(argparse.Namespace(config=train_args.config, output=train_args.output, resume=train_args.resume,
                                   epochs=train_args.iterations, address=train_args.address, quiet=train_args.quiet))


def main(args: argparse.Namespace) -> int:
    import shlex
    import sys

    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    if args.resume:
        run_dir = Path(args.resume)
        config = load_train_config(RunDir(run_dir).config)
    else:
        if not args.config:
            raise ValueError("give --config FILE (or --resume RUN_DIR)")
        config = load_train_config(args.config)
        run_dir = Path(args.output or Path("runs") / f"{config.name}-psro")
    if config.league.regime.value != "psro":
        config = make_train_config({**config.model_dump(by_alias=True),
                                    "league": {**config.league.model_dump(mode="json"), "regime": "psro"}})  # fmt: skip
    command = shlex.join(["smartpay-marl", *sys.argv[1:]]) if len(sys.argv) > 1 else ""
    train_psro(config, run_dir, resume=bool(args.resume), epochs=args.epochs, address=args.address,
               verbose=not args.quiet, command=command)  # fmt: skip
    return 0

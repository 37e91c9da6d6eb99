"""The driver side of league training: build the PPO algorithm, run iterations, snapshot, checkpoint, resume.

:class:`LeagueRuntime` owns the :class:`~league.core.state.LeagueState` and the run
directory. Each iteration it

1. computes each learner's opponent mix (AlphaStar's rules,
   :class:`~league.core.matchmaking.Matchmaker`), draws which snapshots to load
   into the bounded opponent slots so that the games played follow that mix
   (:mod:`league.core.slots`), refreshes the frozen opponent copies of the
   learners with their current weights (one learner per game, see
   :mod:`league.rllib.callbacks`), and pushes the per-episode mapping to every
   env runner (:meth:`prepare_iteration`);
2. lets RLlib sample and train (``algorithm.train()``);
3. turns the finished episodes into payoff statistics and the matchups played
   (``matchups.csv``: learner, opponent, games, learner's wins per iteration),
   takes snapshots by the league's rule and resets exploiters after them
   (:meth:`record_results`, :meth:`take_snapshots`).

A run directory holds ``config.yaml`` (the resolved config), ``versions.json``,
``league_state.json``, ``progress.csv``, ``snapshots/<name>/`` (the league's
safe snapshot format, :mod:`agents.snapshot_format`: ``weights.pt`` with the
module's tensors plus ``spec.json``, loadable without Ray and without running
code; their checksums are recorded in the league state) and
``checkpoints/iter_NNNNN/`` (an RLlib algorithm checkpoint plus the league
state at that iteration; ``latest`` names the newest complete one).
"""

from __future__ import annotations

import csv
import io
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.learned import ModulePolicy
from agents.rllib_modules import learner_module_spec, scripted_module_spec
from league.core.matchmaking import Matchmaker, MatchupPlan, threshold_opponents
from league.core.players import Player, PlayerKind, Regime, Role, parse_scripted_name
from league.core.slots import draw_slots
from league.rllib.env_runner import env_runner_settings
from league.rllib.plumbing import learner_policy, push_mapping, seconds, set_module_states
from league.rllib.callbacks import (
    ENV_SECONDS_KEY,
    EPISODES_KEY,
    FORWARD_SECONDS_KEY,
    SAMPLE_SECONDS_KEY,
    EpisodeMapping,
    LeagueCallbacks,
    module_for_player,
    opponent_copy_id,
    scripted_module_id,
)
from league.core.config import TrainConfig
from league.core.rundir import STATE_FILE, RunDir, atomic_write_text
from league.core.state import LeagueState
from league.core.win import WinDefinition


class LeagueRuntime:
    """Runs one league training run in ``run_dir``; see the module docstring."""

    def __init__(self, config: TrainConfig, run_dir: Path, state: LeagueState):
        self.config = config
        self.paths = RunDir(run_dir)
        self.run_dir = self.paths.root  # absolute: RLlib's checkpoint writers reject relative paths
        self.state = state
        self.game = config.game_config()
        self.slot_ids = {role: state.slot_ids(role) for role in Role}
        self.last_plan: dict[str, dict[str, float]] = {}
        #: Each learner's opponent mix (player name -> probability) for the current iteration's slots.
        self.iteration_mixes: dict[str, dict[str, float]] | None = None

    # ------------------------------------------------------------------ roster and modules
    def learners(self) -> list[Player]:
        """Learning players that have at least one legal opponent under the regime (the ones trained)."""
        matchmaker = Matchmaker.from_state(self.state, seed=0)
        return [p for p in self.state.learning_players() if matchmaker.candidates(p)]

    def module_specs(self) -> dict[str, Any]:
        hidden = self.config.ppo.hidden
        specs: dict[str, Any] = {}
        for player in self.state.learning_players():
            specs[player.name] = learner_module_spec(player.role.value, hidden, self.game)
            if not self.state.config.both_learners_train:
                specs[opponent_copy_id(player.name)] = learner_module_spec(player.role.value, hidden, self.game)
        for role in Role:
            for slot in self.slot_ids[role]:
                specs[slot] = learner_module_spec(role.value, hidden, self.game)
        for name in self.config.league.scripted_opponents:
            role, policy = parse_scripted_name(name)
            specs[scripted_module_id(name)] = scripted_module_spec(role.value, policy, self.game)
        return specs

    def algorithm_config(self):
        """The PPO config of this run (new API stack)."""
        from ray.rllib.algorithms.ppo import PPOConfig
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

        from smartpay_marl.rllib_env import SmartPayRLlibEnv

        ppo, resources = self.config.ppo, self.config.resources
        specs = self.module_specs()
        trained = [p.name for p in self.learners()]
        env_config, runner_settings = env_runner_settings(
            resources, self.config.fraudster_baseline, ppo.train_batch_size, self.config.game
        )
        algorithm_config = (
            PPOConfig()
            .environment(SmartPayRLlibEnv, env_config=env_config)
            .env_runners(
                num_env_runners=resources.num_env_runners,
                num_cpus_per_env_runner=resources.num_cpus_per_env_runner,
                **runner_settings,
            )
            .learners(num_gpus_per_learner=resources.num_gpus_per_learner)
            .multi_agent(
                policies=sorted(specs),  # a set would order module initialisation by string hash
                policy_mapping_fn=self.mapping(),
                policies_to_train=trained,
            )
            .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
            .training(**ppo.rllib_training_kwargs())
            .callbacks(LeagueCallbacks)
            .fault_tolerance(
                restart_failed_env_runners=resources.restart_failed_env_runners,
                max_num_env_runner_restarts=1000,
            )
            .debugging(seed=self.config.seed, log_level="ERROR")
            .reporting(metrics_num_episodes_for_smoothing=20)
        )
        # The league's learner (bulk train batch, optional overlap, threads): league/rllib/learner.py (issue 25).
        from league.rllib.learner import configure_learning

        return configure_learning(algorithm_config, ppo)

    # ------------------------------------------------------------------ matchmaking and slots
    def _rng(self, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, self.state.iteration, purpose])

    def targets(self) -> dict[str, dict[str, float]]:
        """Each trained learner's configured opponent mix, ``{learner: {player name: probability}}``."""
        matchmaker = Matchmaker.from_state(self.state, seed=0)
        return {learner.name: matchmaker.opponent_probabilities(learner) for learner in self.learners()}

    def choose_slot_contents(self) -> dict[Role, list[str]]:
        """Draw this iteration's slot contents and mixes (:mod:`league.core.slots`); returns the snapshots wanted."""
        players = {p.name: p for p in self.state.players}
        draw = draw_slots(self.learners(), self.targets(), players, self.state.config.slots_per_side, self._rng(1))
        self.iteration_mixes = draw.mixes
        return draw.wanted

    def plan(self) -> tuple[dict[str, dict[str, float]], EpisodeMapping]:
        """Opponent probabilities per learner over the modules available now, and the mapping fn.

        Before :meth:`choose_slot_contents` has run (when the algorithm is built) the
        configured mixes are used without the snapshots that have no slot yet; the
        mapping pushed for every iteration is built from the iteration's mixes.
        """
        slots_by_snapshot = {name: slot for slot, name in self.state.slots.items()}
        mixes = self.iteration_mixes if self.iteration_mixes is not None else self.targets()
        both = self.state.config.both_learners_train
        learners, opponents, plan = [], {}, {}
        for learner in self.learners():
            modules: dict[str, float] = {}
            for name, probability in mixes.get(learner.name, {}).items():
                module = module_for_player(self.state.player(name), slots_by_snapshot, as_opponent=True,
                                           both_learners_train=both)  # fmt: skip
                if module is not None and probability > 0:
                    modules[module] = modules.get(module, 0.0) + probability
            if not modules:
                continue
            total = sum(modules.values())
            probabilities = {module: p / total for module, p in modules.items()}
            learners.append((learner.name, learner.role))
            opponents[learner.name] = (list(probabilities), list(probabilities.values()))
            plan[learner.name] = probabilities
        seed = int(self._rng(2).integers(2**31))
        return plan, EpisodeMapping(MatchupPlan(learners, opponents, seed))

    def mapping(self) -> EpisodeMapping:
        return self.plan()[1]

    def prepare_iteration(self, algorithm) -> None:
        """Load the snapshots drawn for this iteration, refresh the opponent copies, send every env runner the mapping."""
        wanted = self.choose_slot_contents()
        changed: dict[str, str] = {}
        for role, names in wanted.items():
            for name in names:
                before = dict(self.state.slots)
                slot, evicted = self.state.assign_slot(name, role)
                if before.get(slot) != name:
                    changed[slot] = name
                    if evicted:
                        self.state.record_event("slot_evicted", slot=slot, player=evicted)
        states = self._snapshot_states(changed) if changed else {}
        states.update(self._opponent_copy_states(algorithm))
        if states:
            set_module_states(algorithm, states)
        plan, mapping = self.plan()
        self.last_plan = plan
        push_mapping(algorithm, mapping)

    def _opponent_copy_states(self, algorithm) -> dict[str, dict]:
        """The current learner weights of every learner met as an opponent this iteration, for its frozen copy."""
        if self.state.config.both_learners_train:
            return {}
        met = sorted({name for mix in (self.iteration_mixes or {}).values() for name, p in mix.items()
                      if p > 0 and self.state.player(name).learning})  # fmt: skip
        if not met:
            return {}
        known = set(algorithm.config.policies)
        missing = [opponent_copy_id(name) for name in met if opponent_copy_id(name) not in known]
        if missing:
            raise ValueError(
                f"the algorithm has no frozen opponent module(s) {', '.join(missing)}: it was built before each game "
                "trained one learner; its league state must say both_learners_train: true (league state files of "
                "format 1 load that way), or start a new run"
            )
        weights = algorithm.learner_group.get_weights(module_ids=met)
        return {opponent_copy_id(name): weights[name] for name in met}

    def _snapshot_states(self, changed: dict[str, str]) -> dict[str, dict]:
        """``{slot: module state}`` of the snapshots to load, read from their safe files and checked."""
        from agents.learned import CheckpointError
        from agents.snapshot_format import load_snapshot

        states = {}
        for slot, name in changed.items():
            path = self.paths.inside(self.state.player(name).checkpoint_path, f"checkpoint_path of snapshot {name!r}")
            try:  # the safe format, verified against the checksum taken when it was saved
                module = load_snapshot(path, self.state.snapshot_checksums.get(name), what=f"snapshot {name!r}")
            except CheckpointError as error:
                raise type(error)(
                    f"{error}; resume with --retire-broken-snapshots to take it out of the league"
                ) from None
            states[slot] = module.get_state()
            self.state.record_event("slot_loaded", slot=slot, player=name)
        return states

    # ------------------------------------------------------------------ results and snapshots
    def record_results(self, result: dict) -> dict[str, Any]:
        """Payoff updates and matchups from the iteration's finished episodes; returns return means and shares.

        Each episode is booked to the learner(s) it trained: one, unless
        ``both_learners_train`` lets a game between two learners train both.
        ``learner_shares`` is each learner's share of the trained games (and so
        of the samples: every episode has the same length).
        """
        runner_results = result.get("env_runners", {})
        episodes = runner_results.get(EPISODES_KEY, []) or []
        slot_owner = dict(self.state.slots)
        trained = {p.name for p in self.state.learning_players()}
        win = self.state.config.win_definition
        by_pair: dict[tuple[str, str], list[tuple[float, float]]] = {}
        played: dict[tuple[str, str], list[float]] = {}  # (learner, opponent) -> the learner's soft wins
        for router_module, fraudster_module, router_return, fraudster_return in episodes:
            router = self._player_name(slot_owner.get(router_module, router_module))
            fraudster = self._player_name(slot_owner.get(fraudster_module, fraudster_module))
            by_pair.setdefault((router, fraudster), []).append((router_return, fraudster_return))
            router_win = float(win.router_win(router_return))
            if router_module in trained:
                played.setdefault((router, fraudster), []).append(router_win)
            if fraudster_module in trained:
                played.setdefault((fraudster, router), []).append(1.0 - router_win)
        returns_by_player: dict[str, list[float]] = {}
        for (router, fraudster), pairs in sorted(by_pair.items()):
            router_returns, fraudster_returns = (list(column) for column in zip(*pairs))
            self.state.payoff.update(router, fraudster, win.router_win(np.asarray(router_returns)))
            returns_by_player.setdefault(router, []).extend(router_returns)
            returns_by_player.setdefault(fraudster, []).extend(fraudster_returns)
        matchups = [(learner, opponent, len(wins), float(np.sum(wins))) for (learner, opponent), wins in sorted(played.items())]
        self._append_matchups(matchups)
        games_by_learner: dict[str, int] = {}
        for learner, _, games, _ in matchups:
            games_by_learner[learner] = games_by_learner.get(learner, 0) + games
        total = sum(games_by_learner.values())
        return {
            "episodes": len(episodes),
            "mean_return": {name: float(np.mean(values)) for name, values in returns_by_player.items()},
            "learner_shares": {name: games / total for name, games in sorted(games_by_learner.items())} if total else {},
            "matchups": matchups,
            "env_seconds": seconds(runner_results.get(ENV_SECONDS_KEY)),
            "forward_seconds": seconds(runner_results.get(FORWARD_SECONDS_KEY)),
            "sample_seconds": seconds(runner_results.get(SAMPLE_SECONDS_KEY)),
        }

    def _append_matchups(self, matchups: list[tuple[str, str, int, float]]) -> None:
        """Append this iteration's ``(learner, opponent, games, learner's soft wins)`` to ``matchups.csv``."""
        path = self.paths.matchups
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(MATCHUP_FIELDS)
            for learner, opponent, games, wins in matchups:
                writer.writerow([self.state.iteration, learner, opponent, games, round(wins, 4)])

    def _player_name(self, module_id: str) -> str:
        for name in self.config.league.scripted_opponents:
            if scripted_module_id(name) == module_id:
                return name
        for player in self.state.learning_players():
            if module_id == opponent_copy_id(player.name):
                return player.name
        return module_id

    def take_snapshots(self, algorithm) -> list[str]:
        """Snapshot every learner whose rule fires (weights to ``snapshots/<name>/``), then reset exploiters by the rules.

        The threshold trigger needs the learner's win rate against EVERY opponent
        of :func:`~league.core.matchmaking.threshold_opponents` to reach it (AlphaStar).
        """
        taken = []
        iteration = self.state.iteration
        rule = self.state.config.snapshot_rule
        for learner in self.learners():
            previous = [p.created_iteration for p in self.state.snapshots(learner.role) if p.parent == learner.name]
            opponents = threshold_opponents(self.state.config.regime, learner, self.state.players)
            lowest = float(self.state.payoff.win_rates(learner, opponents).min()) if opponents else None
            if rule.should_snapshot(iteration, max(previous) if previous else None, lowest):
                taken.append(self.save_snapshot(algorithm, learner))
                self.reset_after_snapshot(algorithm, learner)
        return taken

    def reset_after_snapshot(self, algorithm, learner: Player) -> bool:
        """Re-initialise an exploiter after its snapshot when the rules say so (AlphaStar); True if it was reset."""
        config = self.state.config
        if config.regime is not Regime.PFSP:
            return False
        if learner.kind is PlayerKind.MAIN_EXPLOITER:
            due = config.main_exploiter_reset_on_snapshot
        elif learner.kind is PlayerKind.LEAGUE_EXPLOITER:
            index = [p.name for p in self.state.players].index(learner.name)
            due = bool(self._rng(3 + index).random() < config.league_exploiter_reset_probability)
        else:
            due = False
        if due:
            reset_module(algorithm, learner.name, learner.role.value, self.config.ppo.hidden, self.game,
                         seed=[self.config.seed, self.state.iteration, 4])  # fmt: skip
            self.state.record_event("reset", player=learner.name)
        return due

    def save_snapshot(self, algorithm, learner: Player) -> str:
        from agents.snapshot_format import make_spec, save_snapshot

        weights = algorithm.learner_group.get_weights(module_ids=[learner.name])[learner.name]
        relative = RunDir.snapshot_relative(f"{learner.name}@it{self.state.iteration}")
        spec = make_spec(learner.role.value, self.config.ppo.hidden, self.game)
        checksum = save_snapshot(weights, self.paths.inside(relative, "snapshot path"), spec)
        self.state.add_snapshot(learner.name, self.state.iteration, relative, checksum=checksum)
        return f"{learner.name}@it{self.state.iteration}"

    def learner_policy(self, algorithm, name: str) -> ModulePolicy:
        """A live learner as a batched policy (its current learner weights, deterministic)."""
        role = self.state.player(name).role.value
        return learner_policy(algorithm, name, role, self.config.ppo.hidden, self.game)

    # ------------------------------------------------------------------ persistence
    def write_run_files(self) -> None:
        """``config.yaml`` (with the league settings in use: decay, branch shares, reset rules) and ``versions.json``.

        A resumed run also drops the ``matchups.csv`` rows after its checkpoint (they are played again).
        """
        self.paths.make()
        config = self.config.model_dump(mode="json", by_alias=True)
        config["league"] = self.state.config.model_dump(mode="json")
        atomic_write_text(self.paths.config, yaml.safe_dump(config, sort_keys=False))
        _truncate_matchups(self.paths.matchups, self.state.iteration)
        atomic_write_text(self.paths.versions, json.dumps(versions(), indent=2))

    def save_checkpoint(self, algorithm) -> Path:
        """RLlib checkpoint plus league state in ``checkpoints/iter_NNNNN``; then point ``latest`` at it."""
        directory = self.paths.checkpoint_dir(self.state.iteration)
        algorithm.save_to_path(str(directory))
        self.state.save(directory / STATE_FILE)
        atomic_write_text(self.paths.latest_pointer, directory.name)
        self.state.save(self.paths.state)
        return directory


#: Columns of ``matchups.csv``: one row per iteration, learner and opponent (player names).
MATCHUP_FIELDS = ("iteration", "learner", "opponent", "games", "learner_wins")


def _truncate_matchups(path: Path, iteration: int) -> None:
    if not path.exists():
        return
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle)][1:]
    kept = [row for row in rows if row and int(row[0]) <= iteration]
    if len(kept) != len(rows):
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(MATCHUP_FIELDS)
        writer.writerows(kept)
        atomic_write_text(path, text.getvalue())


def reset_module(algorithm, module_id: str, role: str, hidden: list[int], game, seed) -> None:
    """Give a learner fresh initial weights (seeded) and an empty optimizer state, in the learner and env runners."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        state = learner_module_spec(role, hidden, game).build().get_state()
    set_module_states(algorithm, {module_id: state})

    def clear_optimizer(learner, _module_id=module_id):
        for _, optimizer in learner.get_optimizers_for_module(_module_id):
            optimizer.state.clear()  # Adam's moments and step counts start again

    algorithm.learner_group.foreach_learner(clear_optimizer)


def calibrated_win_definition(config: TrainConfig, episodes: int = 64) -> WinDefinition:
    """A win definition centred on the scripted round robin: reference = median pairing, scale = half its IQR."""
    from agents.evaluation import round_robin
    from agents.registry import CALIBRATION_FRAUDSTERS, CALIBRATION_ROUTERS, make_policy

    routers = [make_policy(name, "router") for name in CALIBRATION_ROUTERS]
    fraudsters = [make_policy(name, "fraudster") for name in CALIBRATION_FRAUDSTERS]
    result = round_robin(routers, fraudsters, episodes=episodes, seed=config.seed, config=config.game_config())
    values = np.asarray(result.router_returns, dtype=float).ravel()
    q25, median, q75 = np.percentile(values, [25, 50, 75])
    return WinDefinition(reference=float(median), scale=float(max((q75 - q25) / 2.0, 1e-3)))


def versions() -> dict[str, str]:
    import numba
    import pettingzoo
    import ray
    import torch

    import smartpay_marl

    return {
        "smartpay_marl": smartpay_marl.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "ray": ray.__version__,
        "torch": torch.__version__,
        "pettingzoo": pettingzoo.__version__,
        "numba": numba.__version__,
        "platform": platform.platform(),
    }

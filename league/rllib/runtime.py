"""The driver side of league training: build the PPO algorithm, run iterations, snapshot, checkpoint, resume.

:class:`LeagueRuntime` owns the :class:`~league.core.state.LeagueState` and the run
directory. Each iteration it

1. chooses which snapshots to load into the bounded opponent slots and pushes
   the per-episode mapping to every env runner (:meth:`prepare_iteration`);
2. lets RLlib sample and train (``algorithm.train()``);
3. turns the finished episodes into payoff statistics, takes snapshots by the
   league's rule, and scores the main players against scripted baselines
   (:meth:`finish_iteration`).

A run directory holds ``config.yaml`` (the resolved config), ``versions.json``,
``league_state.json``, ``progress.csv``, ``snapshots/<name>/`` (the league's
safe snapshot format, :mod:`agents.snapshot_format`: ``weights.pt`` with the
module's tensors plus ``spec.json``, loadable without Ray and without running
code; their checksums are recorded in the league state) and
``checkpoints/iter_NNNNN/`` (an RLlib algorithm checkpoint plus the league
state at that iteration; ``latest`` names the newest complete one).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from agents.learned import ModulePolicy
from agents.rllib_modules import learner_module_spec, scripted_module_spec
from league.core.matchmaking import Matchmaker, MatchupPlan
from league.core.players import Player, PlayerKind, Role, parse_scripted_name
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

    def choose_slot_contents(self) -> dict[Role, list[str]]:
        """Snapshots to have loaded this iteration, per role: all wanted ones, or a PFSP-weighted sample."""
        matchmaker = Matchmaker.from_state(self.state, seed=0)
        learners = self.learners()
        demand: dict[Role, dict[str, float]] = {role: {} for role in Role}
        for learner in learners:
            for name, probability in matchmaker.opponent_probabilities(learner).items():
                player = self.state.player(name)
                if player.kind is PlayerKind.HISTORICAL and probability > 0:
                    bucket = demand[player.role]
                    bucket[name] = bucket.get(name, 0.0) + probability / len(learners)
        chosen: dict[Role, list[str]] = {}
        rng = self._rng(1)
        for role, wanted in demand.items():
            names = sorted(wanted)
            capacity = len(self.slot_ids[role])
            if len(names) <= capacity:
                chosen[role] = names
            else:
                weights = np.array([wanted[n] for n in names])
                picks = rng.choice(len(names), size=capacity, replace=False, p=weights / weights.sum())
                chosen[role] = [names[i] for i in sorted(picks)]
        return chosen

    def plan(self) -> tuple[dict[str, dict[str, float]], EpisodeMapping]:
        """Opponent probabilities per learner over the modules available now, and the mapping fn."""
        matchmaker = Matchmaker.from_state(self.state, seed=0)
        slots_by_snapshot = {name: slot for slot, name in self.state.slots.items()}
        learners, opponents, plan = [], {}, {}
        for learner in self.learners():
            modules: dict[str, float] = {}
            for name, probability in matchmaker.opponent_probabilities(learner).items():
                module = module_for_player(self.state.player(name), slots_by_snapshot)
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
        """Load the snapshots PFSP wants into slots and send every env runner the new mapping."""
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
        if changed:
            self._load_snapshots_into_slots(algorithm, changed)
        plan, mapping = self.plan()
        self.last_plan = plan
        push_mapping(algorithm, mapping)

    def _load_snapshots_into_slots(self, algorithm, changed: dict[str, str]) -> None:
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
        set_module_states(algorithm, states)

    # ------------------------------------------------------------------ results and snapshots
    def record_results(self, result: dict) -> dict[str, Any]:
        """Payoff updates from the iteration's finished episodes; returns per-module return means."""
        runner_results = result.get("env_runners", {})
        episodes = runner_results.get(EPISODES_KEY, []) or []
        slot_owner = dict(self.state.slots)
        win = self.state.config.win_definition
        by_pair: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for router_module, fraudster_module, router_return, fraudster_return in episodes:
            router = self._player_name(slot_owner.get(router_module, router_module))
            fraudster = self._player_name(slot_owner.get(fraudster_module, fraudster_module))
            by_pair.setdefault((router, fraudster), []).append((router_return, fraudster_return))
        returns_by_player: dict[str, list[float]] = {}
        for (router, fraudster), pairs in sorted(by_pair.items()):
            router_returns, fraudster_returns = (list(column) for column in zip(*pairs))
            self.state.payoff.update(router, fraudster, win.router_win(np.asarray(router_returns)))
            returns_by_player.setdefault(router, []).extend(router_returns)
            returns_by_player.setdefault(fraudster, []).extend(fraudster_returns)
        return {
            "episodes": len(episodes),
            "mean_return": {name: float(np.mean(values)) for name, values in returns_by_player.items()},
            "env_seconds": seconds(runner_results.get(ENV_SECONDS_KEY)),
            "forward_seconds": seconds(runner_results.get(FORWARD_SECONDS_KEY)),
            "sample_seconds": seconds(runner_results.get(SAMPLE_SECONDS_KEY)),
        }

    def _player_name(self, module_id: str) -> str:
        for name in self.config.league.scripted_opponents:
            if scripted_module_id(name) == module_id:
                return name
        return module_id

    def take_snapshots(self, algorithm) -> list[str]:
        """Snapshot every learner whose rule fires; weights go to ``snapshots/<name>/``."""
        taken = []
        iteration = self.state.iteration
        rule = self.config.league.snapshot_rule
        matchmaker = Matchmaker.from_state(self.state, seed=0)
        for learner in self.learners():
            previous = [p.created_iteration for p in self.state.snapshots(learner.role) if p.parent == learner.name]
            probabilities = matchmaker.opponent_probabilities(learner)
            win_rate = None
            if probabilities:
                opponents = [self.state.player(name) for name in probabilities]
                rates = self.state.payoff.win_rates(learner, opponents)
                win_rate = float(np.dot(rates, list(probabilities.values())))
            if rule.should_snapshot(iteration, max(previous) if previous else None, win_rate):
                taken.append(self.save_snapshot(algorithm, learner))
        return taken

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
        self.paths.make()
        config = self.config.model_dump(mode="json", by_alias=True)
        config["league"]["win_definition"] = self.state.config.win_definition.model_dump()
        atomic_write_text(self.paths.config, yaml.safe_dump(config, sort_keys=False))
        atomic_write_text(self.paths.versions, json.dumps(versions(), indent=2))

    def save_checkpoint(self, algorithm) -> Path:
        """RLlib checkpoint plus league state in ``checkpoints/iter_NNNNN``; then point ``latest`` at it."""
        directory = self.paths.checkpoint_dir(self.state.iteration)
        algorithm.save_to_path(str(directory))
        self.state.save(directory / STATE_FILE)
        atomic_write_text(self.paths.latest_pointer, directory.name)
        self.state.save(self.paths.state)
        return directory


def calibrated_win_definition(config: TrainConfig, episodes: int = 64) -> WinDefinition:
    """A win definition centred on the scripted round robin: reference = median pairing, scale = half its IQR."""
    from agents.evaluation import round_robin
    from agents.registry import make_policy

    routers = [make_policy(name, "router") for name in ("risk_threshold", "risk_3ds_band", "velocity_rules", "allow_all")]
    fraudsters = [make_policy(name, "fraudster") for name in ("neutral", "fraud_surge", "stealth_fraud", "velocity_attack", "card_testing")]
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

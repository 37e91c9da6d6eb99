"""Who plays the other side of a served game: scripted baselines and players of league runs.

A scripted opponent is named by its registry name (a bare string, the
shorthand, or ``{"kind": "scripted", "name": ...}``). A run or run player the
server does not hold answers 404 (:class:`UnknownOpponent`); an opponent that
exists but cannot play this session (the wrong side, other action sizes)
answers 422 (:class:`OpponentError`).

Scripted baselines come from :func:`agents.registry.make_policy`, a fresh
instance per session (some keep state: the bandit, the adaptive ring, random
players), reset with the session's seed.

League players come from run directories directly under the server's
``--runs`` directory and are restored with the existing loader
(:mod:`league.evaluation.loading`, no Ray). A learned player is restored once
per server and shared read-only by every session that plays it: it acts
deterministically (the mode of its action distribution) and keeps no state
between calls. A request only ever names a run (one path component under
``--runs``, resolved and checked to stay there) and a player of that run's
league state; anything else is refused before the disk is touched. The
loader reads the weights without running code from the files (the league's
snapshot format, and an arrays-only reader for learners' checkpoints).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Policy
from agents.registry import make_policy, policy_names
from league.serving.errors import BadInput, NotFound
from league.serving.schemas import SAFE_NAME, OpponentSpec, RunOpponent, ScriptedOpponent
from smartpay_marl.config import GameConfig
from smartpay_marl.layout import AGENT_OF_ROLE, OTHER_ROLE, ROLES
from smartpay_marl.spaces import build_action_spaces, fraudster_action_nvec

_SAFE_NAME = re.compile(SAFE_NAME)


class OpponentError(BadInput):
    """An opponent that cannot be played: unknown name, wrong side, a run name that is not a name, unreadable checkpoint."""


class UnknownOpponent(NotFound):
    """A run or a run's player that this server does not hold (404: the request was well formed)."""


class SharedPolicy(Policy):
    """A restored league player shared by many sessions: deterministic, stateless, so ``reset`` does nothing."""

    def __init__(self, policy: Policy):
        self._policy = policy
        self.name = policy.name
        self.role = policy.role
        self.action_nvec = tuple(policy.action_nvec)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        pass  # deterministic play draws no random numbers; nothing to reseed

    def act(self, observations: np.ndarray) -> np.ndarray:
        return self._policy.act(observations)


def _mixtures(run) -> list[str]:
    """The meta-strategy mixtures written into a run (``router_nash@12``), playable like its players."""
    from league.evaluation.mixture import known_mixtures

    return known_mixtures(run.run_dir)


@dataclass(frozen=True)
class ResolvedOpponent:
    """An opponent ready for one session: its policy (already reset), its label, and the session's game."""

    policy: Policy
    label: str
    game: GameConfig


#: Builds the session's game from GameConfig fields; raises BadInput naming the field.
GameFactory = Callable[[dict[str, Any]], GameConfig]


class OpponentCatalog:
    """Scripted baselines by name, and the players of the runs under ``runs_dir``, restored once.

    Args:
        runs_dir: the directory whose sub-directories are league runs; None disables run opponents.
        torch_threads: torch's thread count to set when the first league player is restored; None leaves it.
    """

    def __init__(self, runs_dir: str | Path | None = None, torch_threads: int | None = None):
        self.torch_threads = torch_threads
        self.runs_dir = Path(runs_dir).resolve() if runs_dir is not None else None
        if self.runs_dir is not None and not self.runs_dir.is_dir():
            raise OpponentError(f"--runs must be an existing directory, got {runs_dir}")
        self._lock = threading.Lock()
        self._runs: dict[str, object] = {}  # run name -> LeagueRun, opened once
        self._learned: dict[tuple[str, str], SharedPolicy] = {}  # (run, player) -> restored module, shared

    # ------------------------------------------------------------------ listing
    @staticmethod
    def scripted_names(role: str) -> list[str]:
        return policy_names(role)

    def run_names(self) -> list[str]:
        """Sub-directories of ``runs_dir`` that look like league runs (they hold a league state file)."""
        if self.runs_dir is None:
            return []
        from league.core.rundir import STATE_FILE

        return sorted(
            p.name for p in self.runs_dir.iterdir()
            if p.is_dir() and _SAFE_NAME.match(p.name) and (p / STATE_FILE).is_file()
        )  # fmt: skip

    def describe(self) -> dict:
        """Every available opponent, for ``GET /info``: scripted names per role, and each run's players per role."""
        runs: dict[str, dict] = {}
        for name in self.run_names():
            try:
                run = self._open_run(name)
            except (OpponentError, UnknownOpponent) as error:
                runs[name] = {"error": str(error)}
                continue
            runs[name] = {
                role: [p.name for p in run.state.players if p.role.value == role]
                + [name for name in _mixtures(run) if name.startswith(f"{role}_")]
                for role in ROLES
            }
        return {
            "scripted": {role: self.scripted_names(role) for role in ROLES},
            "runs": runs,
            "runs_dir": str(self.runs_dir) if self.runs_dir is not None else None,
        }

    # ------------------------------------------------------------------ resolving
    def resolve(self, spec: OpponentSpec, role: str, seed: int, config: dict[str, Any], make_game: GameFactory) -> ResolvedOpponent:
        """The policy that plays ``role`` (the caller's opponent's side) in one session, and the session's game.

        The game is ``make_game(config)`` against a scripted baseline, and the run's own game with
        ``config`` laid over it against a run's player.
        """
        if isinstance(spec, str):  # the shorthand: a bare scripted name
            spec = ScriptedOpponent(name=spec)
        if isinstance(spec, ScriptedOpponent):
            game = make_game(config)
            return ResolvedOpponent(self._scripted(spec.name, role, game, seed), f"scripted:{spec.name}", game)
        if isinstance(spec, RunOpponent):
            return self._run_player(spec, role, seed, config, make_game)
        raise OpponentError(f"opponent.kind must be 'scripted' or 'run', got {spec!r}")

    @staticmethod
    def _scripted(name: str, role: str, game: GameConfig, seed: int) -> Policy:
        known = policy_names(role)
        if name not in known:
            raise OpponentError(f"opponent.name: unknown scripted {role} {name!r}; allowed values: {', '.join(known)}")
        kwargs = {"action_nvec": fraudster_action_nvec(game)} if role == "fraudster" else {}
        try:
            policy = make_policy(name, role, **kwargs)
        except ValueError as error:  # a fixed ring whose level index this config's level lists do not have
            raise OpponentError(
                f"opponent.name: scripted {role} {name!r} cannot play this session's levels: {error}; give "
                "config.intensity_levels, stealth_levels and burst_levels more levels, or choose another opponent"
            ) from None
        policy.reset(1, seed=seed)
        return policy

    def _run_player(self, spec: RunOpponent, role: str, seed: int, config: dict[str, Any], make_game: GameFactory) -> ResolvedOpponent:
        from league.core.players import PlayerKind, parse_scripted_name

        run = self._open_run(spec.run)
        player = next((p for p in run.state.players if p.name == spec.player), None)
        if player is None and self._is_mixture(run, spec.player):
            return self._mixture_member(run, spec, role, seed, config, make_game)
        if player is None:
            known = ", ".join(p.name for p in run.state.players if p.role.value == role)
            raise UnknownOpponent(
                f"opponent.player: {spec.player!r} is not a player of run {spec.run!r}; its {role} players are: {known}"
            )
        if player.role.value != role:
            raise OpponentError(
                f"opponent.player: {spec.player!r} plays the {player.role.value}, but the opponent of a "
                f"{OTHER_ROLE[role]} session must play the {role}"
            )
        label = f"run:{spec.run}/{spec.player}"
        game = make_game({**run.config.game, **config})
        if player.kind is PlayerKind.SCRIPTED:
            _, policy_name = parse_scripted_name(player.name)
            return ResolvedOpponent(self._scripted(policy_name, role, game, seed), label, game)
        policy = self._learned_player(run, spec.run, spec.player)
        expected = tuple(int(n) for n in build_action_spaces(game)[AGENT_OF_ROLE[role]].nvec)
        if tuple(policy.action_nvec) != expected:
            raise OpponentError(
                f"config: {label} plays {role} actions of sizes {list(policy.action_nvec)}, but this config's "
                f"levels give {list(expected)}; leave intensity_levels, stealth_levels and burst_levels as the run's"
            )
        return ResolvedOpponent(policy, label, game)

    @staticmethod
    def _is_mixture(run, name: str) -> bool:
        from league.evaluation.mixture import parse_mixture_name

        return parse_mixture_name(name) is not None and name in _mixtures(run)

    def _mixture_member(self, run, spec: RunOpponent, role: str, seed: int, config: dict[str, Any],
                        make_game: GameFactory) -> ResolvedOpponent:  # fmt: skip
        """A meta-strategy mixture (``router_nash@12``): one member drawn per session from the session's seed.

        A session is one episode, so the mixture's per-episode draw is a draw per session
        (:meth:`MixturePolicy.member_for_episode`). Learned members are shared read-only like any run
        player; a scripted member keeps state, so each session gets its own copy.
        """
        import copy

        mixture = self._learned_player(run, spec.run, spec.player)._policy
        if mixture.role != role:
            raise OpponentError(
                f"opponent.player: {spec.player!r} plays the {mixture.role}, but the opponent of a "
                f"{OTHER_ROLE[role]} session must play the {role}"
            )
        game = make_game({**run.config.game, **config})
        expected = tuple(int(n) for n in build_action_spaces(game)[AGENT_OF_ROLE[role]].nvec)
        if tuple(mixture.action_nvec) != expected:
            raise OpponentError(
                f"config: run:{spec.run}/{spec.player} plays {role} actions of sizes {list(mixture.action_nvec)}, "
                f"but this config's levels give {list(expected)}; leave the level lists as the run's"
            )
        member = mixture.member_for_episode(seed)
        if getattr(member, "module", None) is not None:  # a learned module: deterministic and stateless
            policy: Policy = SharedPolicy(member)
        else:
            policy = copy.deepcopy(member)
            policy.reset(1, seed=seed)
        return ResolvedOpponent(policy, f"run:{spec.run}/{spec.player} (member {member.name})", game)

    def _learned_player(self, run, run_name: str, player: str) -> SharedPolicy:
        from league.evaluation.loading import RunLoadError, load_player

        key = (run_name, player)
        with self._lock:
            shared = self._learned.get(key)
            if shared is None:
                try:
                    shared = SharedPolicy(load_player(run, player, deterministic=True))
                    if self.torch_threads is not None:
                        import torch

                        torch.set_num_threads(self.torch_threads)
                except RunLoadError as error:
                    raise OpponentError(f"opponent.player: {player!r} of run {run_name!r} cannot be restored: {error}") from None
                self._learned[key] = shared
        return shared

    def _open_run(self, name: str):
        """The run ``name`` directly under ``runs_dir``, opened once; never a path outside it."""
        from league.evaluation.loading import RunLoadError, open_run

        if self.runs_dir is None:
            raise OpponentError("opponent.kind 'run' needs a server started with --runs DIR; allowed values: scripted")
        if not _SAFE_NAME.match(name) or Path(name).name != name:
            raise OpponentError(f"opponent.run must be a directory name under --runs, got {name!r}")
        with self._lock:
            run = self._runs.get(name)
            if run is not None:
                return run
            candidate = (self.runs_dir / name).resolve()
            available = self.run_names()
            if candidate.parent != self.runs_dir or name not in available:
                raise UnknownOpponent(
                    f"opponent.run: unknown run {name!r}; allowed values: {', '.join(available) or '(none under --runs)'}"
                )
            try:
                run = open_run(candidate)
            except RunLoadError as error:
                raise OpponentError(f"opponent.run: run {name!r} cannot be opened: {error}") from None
            self._runs[name] = run
            return run

    @property
    def loaded_players(self) -> list[str]:
        """``run/player`` of every learned player restored so far (each exactly once)."""
        with self._lock:
            return [f"{run}/{player}" for run, player in self._learned]

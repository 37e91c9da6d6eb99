"""The league inside RLlib: module ids, the per-episode mapping, the callback, and bounded opponent slots.

The league's logic (players, payoff, PFSP, snapshot rules) is plain Python in
this package; this module is the integration with an RLlib PPO ``Algorithm``
on the new API stack:

- **Modules.** Every learning player is one PPO module, trained. Scripted
  opponents are :class:`~agents.rllib_modules.ScriptedRLModule` s. Frozen
  snapshots never get a module of their own: the league keeps a fixed number
  of *slots* per side (``slots_per_side``), PPO modules that are never
  trained, and copies a snapshot's weights from disk into a slot when PFSP
  needs it. However long the league's history grows, learners and env
  runners hold the same number of modules.
- **One learner per game.** Every learning player also has a frozen copy
  (:func:`opponent_copy_id`, never trained) that the league refreshes with its
  current weights before each iteration. When a learner's opponent is another
  learner (a main meeting the other main), the opponent plays through that
  copy: it plays with its current weights and the game trains only the
  learner it was drawn for, as in AlphaStar. ``league.both_learners_train``
  maps the opponent to its trained module instead (the earlier behaviour).
- **Per-episode matchmaking.** Before each iteration the driver draws which
  snapshots to load (:mod:`league.core.slots`, so that the games played follow
  the configured mix), then pushes an :class:`EpisodeMapping` to every env
  runner. At an episode's first step it draws a learner (uniformly) and that
  learner's opponent by the iteration's probabilities, keyed by the episode id
  so both agents of the episode agree.
- **Results.** :class:`LeagueCallbacks` records, for every finished episode,
  which modules played and both agents' returns; the driver turns the
  router's return into payoff statistics under the league's win definition.
"""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from league.core.matchmaking import MatchupPlan
from league.core.players import Player, PlayerKind
from smartpay_marl.layout import FRAUDSTER, ROUTER

#: Metric key under which every env runner reports finished episodes.
EPISODES_KEY = "league_episodes"
ENV_SECONDS_KEY = "league_env_seconds"
SAMPLE_SECONDS_KEY = "league_sample_seconds"
FORWARD_SECONDS_KEY = "league_forward_seconds"


def scripted_module_id(player_name: str) -> str:
    """Module id of a scripted player: ``fraudster_scripted:neutral`` -> ``fraudster_scripted_neutral``."""
    return player_name.replace(":", "_")


class EpisodeMapping:
    """A picklable ``policy_mapping_fn`` that carries the iteration's :class:`MatchupPlan`.

    The vectorised env runner reads :attr:`plan` and draws every env's matchup
    at episode start. RLlib's stock ``MultiAgentEnvRunner`` calls the mapping
    per agent; it draws the episode's matchup from the same plan on first use
    and remembers it by episode id, so both agents of an episode agree.
    """

    def __init__(self, plan: MatchupPlan):
        self.plan = plan
        self._rng: np.random.Generator | None = None
        self._cache: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def matchup(self, episode_id: str) -> tuple[str, str]:
        """The (router module, fraudster module) of an episode, drawn once and then remembered."""
        found = self._cache.get(episode_id)
        if found is not None:
            return found
        if self._rng is None:
            self._rng = np.random.default_rng(self.plan.seed)
        pair = self.plan.draw(self._rng, 1)[0]
        self._cache[episode_id] = pair
        if len(self._cache) > 4096:  # episodes end long before this; forget the oldest
            self._cache.popitem(last=False)
        return pair

    def __call__(self, agent_id: str, episode, **kwargs) -> str:
        router_module, fraudster_module = self.matchup(episode.id_)
        return router_module if agent_id == ROUTER else fraudster_module


class LeagueCallbacks(RLlibCallback):
    """Reports every finished episode's matchup and both agents' returns, and the time spent in the env."""

    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        router_module = episode.module_for(ROUTER)
        fraudster_module = episode.module_for(FRAUDSTER)
        router_return = float(episode.agent_episodes[ROUTER].get_return())
        fraudster_return = float(episode.agent_episodes[FRAUDSTER].get_return())  # not -router outside zero_sum
        item = (router_module, fraudster_module, router_return, fraudster_return)
        metrics_logger.log_value(EPISODES_KEY, item, reduce="item_series")

    def on_sample_end(self, *, env_runner=None, metrics_logger=None, **kwargs) -> None:
        now = time.perf_counter()
        envs = _game_envs(env_runner)
        starts = [env.window_start for env in envs if env.window_start is not None]
        env_seconds = sum(env.env_seconds for env in envs)
        for env in envs:
            env.env_seconds, env.window_start = 0.0, None
        metrics_logger.log_value(ENV_SECONDS_KEY, env_seconds, reduce="sum")
        metrics_logger.log_value(SAMPLE_SECONDS_KEY, now - min(starts) if starts else 0.0, reduce="sum")


def _game_envs(env_runner) -> list:
    """The SmartPayRLlibEnv instances inside an env runner's (vectorised) env."""
    from smartpay_marl.rllib_env import SmartPayRLlibEnv

    env = getattr(env_runner, "env", None)
    if env is None:
        return []
    vector = getattr(env, "unwrapped", env)
    found = []
    for sub in getattr(vector, "envs", [vector]):
        game = getattr(sub, "unwrapped", sub)
        if isinstance(game, SmartPayRLlibEnv):
            found.append(game)
    return found


#: Suffix of the frozen copy through which a learning player plays as another learner's opponent.
OPPONENT_COPY_SUFFIX = "_as_opponent"


def opponent_copy_id(learner_name: str) -> str:
    """Module id of the frozen copy of a learner: ``router_main`` -> ``router_main_as_opponent``."""
    return f"{learner_name}{OPPONENT_COPY_SUFFIX}"


def module_for_player(player: Player, slots_by_snapshot: dict[str, str], as_opponent: bool = False,
                      both_learners_train: bool = False) -> str | None:  # fmt: skip
    """The module id a player plays through right now, or None if it is a snapshot not loaded in a slot.

    A learning player met as an opponent (``as_opponent``) plays through its frozen copy, unless
    ``both_learners_train`` is set.
    """
    if player.kind is PlayerKind.SCRIPTED:
        return scripted_module_id(player.name)
    if player.kind is PlayerKind.HISTORICAL:
        return slots_by_snapshot.get(player.name)
    if as_opponent and not both_learners_train:
        return opponent_copy_id(player.name)
    return player.name

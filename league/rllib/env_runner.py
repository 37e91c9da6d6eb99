"""The league's fast sampler: an RLlib env runner that steps N games in one compiled call.

RLlib's stock ``MultiAgentEnvRunner`` steps one game at a time through
per-agent Python bookkeeping, and its vectorisation steps N separate
single-game envs in turn: on this game it spends over 85% of sampling time
outside the game. :class:`VectorLeagueEnvRunner` keeps RLlib's learner, PPO
loss, learner connectors (GAE), weight sync, checkpoints and scheduling, and
replaces only ``sample()``:

- It owns one :class:`~smartpay_marl.vector_env.VectorEnv` of ``N`` games
  (``vector_envs``); all N share the horizon, so they reset together.
- At each episode start it draws every env's matchup from the iteration's
  :class:`~league.core.matchmaking.MatchupPlan` (the league's PFSP plan), so
  one batch holds many matchups; an env keeps its matchup for the episode.
- Each step it runs each module's forward pass once, over all envs that
  module plays in (torch, batched; scripted modules act on their batch the
  same way), samples actions from the logits with Gumbel noise drawn from a
  seeded numpy generator, and steps all N games at once.
- At the end of ``sample()`` it builds RLlib episodes for the learner from
  the collected arrays in bulk: one ``SingleAgentEpisode`` per env and
  learning agent, wrapped in a ``MultiAgentEpisode``. Agents played by
  frozen modules (snapshot slots, scripted baselines) are left out: the
  learner would discard them.
- Finished episodes are reported to the driver under
  :data:`~league.rllib.callbacks.EPISODES_KEY` (matchup and both agents' true
  returns) for the payoff table, with the time spent in the game and in
  module forward passes.

**The fraudster's counterfactual baseline** (``fraudster_baseline:
counterfactual``). In the zero-sum game the fraudster's reward is minus the
router's P&L, which carries the noise of every legitimate sale the ring
cannot touch. The runner steps a *shadow* copy of each game, seeded like the
real one, in which the ring does nothing (intensity 0) and the same router
module plays on the shadow's own observations with the same action noise. A
scripted router plays the shadow through its own copy of the policy
(:meth:`VectorLeagueEnvRunner._shadow_module`): a stateful one (the bandit
router learns from what it observes) would otherwise carry what it saw in the
real game, which the fraudster's actions shape, into the shadow.
The game draws its random numbers ahead and never from actions, so the
shadow sees the same customers. A learning fraudster is trained on
``r_f + r_router_shadow``: its zero-sum reward minus the reward it would get
in the shadow (``-r_router_shadow``). The shadow's reward does not depend on
the fraudster's actions at all (its ring is idle; its randomness is
exogenous), so for any router policy the subtracted term has an expectation
that depends on the router's policy alone. Every fraudster best response,
and therefore every equilibrium, is exactly that of the zero-sum game,
while the variance of the legitimate traffic cancels. Evaluation and payoffs
always use the true zero-sum returns.

Episodes are reproducible: with one env runner the games' seeds, the
matchups and the action noise all derive from the config's seed, the env
runner's index and a counter of resets.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import defaultdict

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer
from ray.rllib.utils.metrics import (
    EPISODE_LEN_MEAN,
    EPISODE_RETURN_MEAN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    SAMPLE_TIMER,
)

from agents.rllib_modules import ScriptedRLModule
from league.rllib.callbacks import (
    ENV_SECONDS_KEY,
    EPISODES_KEY,
    FORWARD_SECONDS_KEY,
    SAMPLE_SECONDS_KEY,
    EpisodeMapping,
)
from smartpay_marl.config import make_game_config
from smartpay_marl.layout import AGENT_COLUMN, AGENTS, FRAUDSTER, ROUTER
from smartpay_marl.vector_env import VectorEnv

#: Key of ``env_config`` holding this runner's own settings (removed before the game config is read).
RUNNER_SETTINGS_KEY = "vector_runner"
COUNTERFACTUAL = "counterfactual"


def env_runner_settings(resources, fraudster_baseline: str, train_batch_size: int, game_fields: dict) -> tuple[dict, dict]:
    """``(env_config, env_runners kwargs)`` for ``PPOConfig`` under a run's ``resources``.

    With ``resources.env_runner == "vector"`` the env runners are
    :class:`VectorLeagueEnvRunner` s of ``num_envs_per_env_runner`` batched games,
    each sampling its share of the train batch per iteration; otherwise RLlib's
    stock runner steps ``num_envs_per_env_runner`` copies of the game.
    """
    env_config = dict(game_fields)
    if resources.env_runner != "vector":
        return env_config, {"num_envs_per_env_runner": resources.num_envs_per_env_runner}
    env_config[RUNNER_SETTINGS_KEY] = {
        "num_envs": resources.num_envs_per_env_runner,
        "fraudster_baseline": fraudster_baseline,
    }
    return env_config, {
        "env_runner_cls": VectorLeagueEnvRunner,
        "num_envs_per_env_runner": 1,  # the runner batches its own games
        "rollout_fragment_length": -(-train_batch_size // max(1, resources.num_env_runners)),
    }


_ACTIVATIONS = {torch.nn.Tanh: torch.tanh, torch.nn.ReLU: torch.relu, torch.nn.SiLU: torch.nn.functional.silu,
                torch.nn.ELU: torch.nn.functional.elu}


def _functional_layers(module):
    """``[(weight, bias, activation)]`` of a PPO module's actor (encoder then head), or None if it has another shape."""
    try:
        stack = list(module.encoder.actor_encoder.net.modules()) + list(module.pi.net.modules())
    except AttributeError:
        return None
    layers: list = []
    for layer in stack:
        if isinstance(layer, torch.nn.Linear):
            layers.append([layer.weight, layer.bias, None])
        elif type(layer) in _ACTIVATIONS:
            if not layers or layers[-1][2] is not None:
                return None
            layers[-1][2] = _ACTIVATIONS[type(layer)]
        elif isinstance(layer, torch.nn.Identity) or list(layer.children()):
            continue  # a no-op, or a container whose children ``modules()`` visits in turn
        else:
            return None  # a layer this fast path does not know (e.g. normalisation): use the module itself
    return [tuple(layer) for layer in layers] or None


class _Segment:
    """One stretch of lockstep steps of all N games inside one episode (a fragment of it)."""

    def __init__(self, episode_ids: list[str], matchups: list[tuple[str, str]], env_t_started: int):
        self.episode_ids = episode_ids
        self.matchups = matchups
        self.env_t_started = env_t_started
        self.observations: dict[str, list[np.ndarray]] = {agent: [] for agent in AGENTS}
        self.actions: dict[str, list[np.ndarray]] = {agent: [] for agent in AGENTS}
        self.logp: dict[str, list[np.ndarray]] = {agent: [] for agent in AGENTS}
        self.logits: dict[str, list[np.ndarray]] = {agent: [] for agent in AGENTS}
        self.rewards: list[np.ndarray] = []  # (N, 2) per step: the training rewards
        self.terminated = False

    def __len__(self) -> int:
        return len(self.rewards)


class VectorLeagueEnvRunner(MultiAgentEnvRunner):
    """Samples the league's games N at a time; see the module docstring.

    Settings come from ``env_config["vector_runner"]``: ``num_envs`` (N, the
    batched games per runner) and ``fraudster_baseline`` (``"none"`` or
    ``"counterfactual"``). The rest of ``env_config`` is the game's config.
    """

    def __init__(self, config, **kwargs):
        torch.set_num_threads(1)  # batches of a few hundred rows: extra threads only fight the game for cores
        super().__init__(config=config, **kwargs)
        self._resets = 0
        self._action_rng = np.random.default_rng([int(self.config.seed or 0), int(self.worker_index or 0), 7])
        self._actors: dict[str, tuple[object, object]] = {}
        self._shadow_modules: dict[str, tuple[ScriptedRLModule, ScriptedRLModule]] = {}
        self._segment: _Segment | None = None
        #: ``(router module, fraudster module, router return, fraudster return)`` of the episodes the last
        #: ``sample()`` finished, with the games' true returns.
        self.last_finished: list[tuple[str, str, float, float]] = []
        self._observations: dict[str, np.ndarray] | None = None
        self._shadow_observations: np.ndarray | None = None
        self._returns = np.zeros((0, len(AGENTS)))
        self._step_in_episode = 0

    # ------------------------------------------------------------------ environment
    def make_env(self) -> None:
        fields = dict(self.config.env_config)
        settings = fields.pop(RUNNER_SETTINGS_KEY, None)
        if settings is not None:
            self._settings = dict(settings)
            # The stock env built by the parent (one game) only serves RLlib's space and connector set-up.
            self.config.env_config = fields
        elif not hasattr(self, "_settings"):
            self._settings = {}
        super().make_env()
        game = make_game_config(**{k: v for k, v in fields.items() if k != "seed_offset"})
        self.num_vector_envs = int(self._settings.get("num_envs", 256))
        self.baseline = str(self._settings.get("fraudster_baseline", "none"))
        self.vector = VectorEnv(self.num_vector_envs, config=game)
        self.shadow = VectorEnv(self.num_vector_envs, config=game) if self.baseline == COUNTERFACTUAL else None
        self._neutral_fraudster = np.zeros((self.num_vector_envs, len(self.vector.single_action_spaces[FRAUDSTER].nvec)), dtype=np.int64)
        self._splits = {agent: [int(n) for n in self.vector.single_action_spaces[agent].nvec] for agent in AGENTS}
        self._segment = None
        self._observations = None

    # ------------------------------------------------------------------ sampling
    def sample(self, *, num_timesteps: int | None = None, num_episodes: int | None = None, explore: bool | None = None,
               random_actions: bool = False, force_reset: bool = False, **kwargs) -> list[MultiAgentEpisode]:
        if num_episodes is not None:
            raise NotImplementedError("VectorLeagueEnvRunner samples timesteps; num_episodes is not supported")
        explore = self.config.explore if explore is None else explore
        if num_timesteps is None:
            num_timesteps = self.config.get_rollout_fragment_length(self.worker_index)
        steps = max(1, -(-int(num_timesteps) // self.num_vector_envs))
        if force_reset:
            self._observations = None
        began = time.perf_counter()
        timing = {"env": 0.0, "forward": 0.0}
        with self.metrics.log_time(SAMPLE_TIMER):
            segments: list[_Segment] = []
            finished: list[tuple[str, str, float, float]] = []
            for _ in range(steps):
                if self._observations is None:
                    if self._segment is not None and len(self._segment):
                        segments.append(self._segment)
                    self._start_episodes(timing)
                self._step(explore, timing, finished)
                if self._segment.terminated:
                    segments.append(self._segment)
                    self._segment = None
                    self._observations = None
            if self._segment is not None and len(self._segment):
                segments.append(self._segment)
                # Continue the same episodes in the next call, as a new fragment.
                self._segment = self._continue(self._segment)
            episodes = self._build_episodes(segments)
        self._log_metrics(segments, finished, timing, time.perf_counter() - began)
        self.last_finished = finished
        return episodes

    def _plan(self):
        mapping = self.config.policy_mapping_fn
        if not isinstance(mapping, EpisodeMapping):
            raise TypeError(
                "VectorLeagueEnvRunner needs the league's EpisodeMapping as policy_mapping_fn, "
                f"got {type(mapping).__name__}"
            )
        return mapping.plan

    def _reset_seeds(self, resets: int) -> tuple[int, int]:
        """The game seed and the matchup seed of the ``resets``-th reset of this env runner."""
        seeds = np.random.SeedSequence([int(self.config.seed or 0), int(self.worker_index or 0), resets])
        env_seed, matchup_seed = (int(s) for s in seeds.generate_state(2))
        return env_seed, matchup_seed

    def _start_episodes(self, timing: dict[str, float]) -> None:
        plan = self._plan()
        env_seed, matchup_seed = self._reset_seeds(self._resets)
        matchups = plan.draw(np.random.default_rng([matchup_seed, plan.seed]), self.num_vector_envs)
        self._resets += 1
        start = time.perf_counter()
        observations, _ = self.vector.reset(seed=env_seed)
        if self.shadow is not None:
            shadow_observations, _ = self.shadow.reset(seed=env_seed)
            self._shadow_observations = shadow_observations[ROUTER]
        timing["env"] += time.perf_counter() - start
        self._observations = observations
        self._returns = np.zeros((self.num_vector_envs, len(AGENTS)))
        self._step_in_episode = 0
        episode_ids = [uuid.UUID(int=int(self._action_rng.integers(2**63)) << 64 | i).hex for i in range(self.num_vector_envs)]
        self._segment = _Segment(episode_ids, matchups, 0)
        self._groups = self._group_envs(matchups)
        if self.shadow is not None:  # copy scripted routers for the shadow before the real game moves them
            for module_id, _ in self._groups[ROUTER]:
                if isinstance(self.module[module_id], ScriptedRLModule):
                    self._shadow_module(module_id, self.module[module_id])

    def _continue(self, segment: _Segment) -> _Segment:
        return _Segment(segment.episode_ids, segment.matchups, segment.env_t_started + len(segment))

    @staticmethod
    def _group_envs(matchups: list[tuple[str, str]]) -> dict[str, list[tuple[str, np.ndarray]]]:
        """For each agent: ``[(module id, env indices)]`` of the modules that play it."""
        groups: dict[str, list[tuple[str, np.ndarray]]] = {}
        for agent, column in AGENT_COLUMN.items():
            by_module: dict[str, list[int]] = defaultdict(list)
            for env_index, matchup in enumerate(matchups):
                by_module[matchup[column]].append(env_index)
            groups[agent] = [(module, np.asarray(indices)) for module, indices in sorted(by_module.items())]
        return groups

    def _shadow_module(self, module_id: str, module: ScriptedRLModule) -> ScriptedRLModule:
        """The shadow game's own copy of a scripted module, made once from its initial state.

        Every shadow step goes through the copy, so a stateful policy's memory in the
        shadow holds only what the shadow showed it, which the fraudster cannot affect.
        """
        cached = self._shadow_modules.get(module_id)
        if cached is None or cached[0] is not module:
            cached = (module, copy.deepcopy(module))
            self._shadow_modules[module_id] = cached
        return cached[1]

    def _act(self, agent: str, observations: np.ndarray, noise: np.ndarray, explore: bool, timing: dict[str, float],
             groups=None, shadow: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Actions, their log-probabilities and the logits for every env, one forward pass per module."""
        n = observations.shape[0]
        splits = self._splits[agent]
        actions = np.zeros((n, len(splits)), dtype=np.int64)
        logp = np.zeros(n, dtype=np.float32)
        logits = np.zeros((n, sum(splits)), dtype=np.float32)
        start = time.perf_counter()
        learned = np.zeros(n, dtype=bool)
        for module_id, indices in groups if groups is not None else self._groups[agent]:
            module = self.module[module_id]
            batch = observations[indices]
            if isinstance(module, ScriptedRLModule) and shadow:
                module = self._shadow_module(module_id, module)
            if isinstance(module, ScriptedRLModule):
                actions[indices] = module.act(batch)
                continue
            with torch.no_grad():
                logits[indices] = self._actor(module_id, module)(torch.from_numpy(batch)).numpy()
            learned[indices] = True
        if learned.any():
            # One pass over every env a learned module plays: the same row-wise arithmetic as per module,
            # at a fraction of the numpy calls.
            rows = np.flatnonzero(learned)
            offset = 0
            for k, size in enumerate(splits):
                part = logits[rows, offset : offset + size]
                shifted = part - part.max(axis=1, keepdims=True)
                log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
                chosen = (part + noise[rows, offset : offset + size]).argmax(axis=1) if explore else part.argmax(axis=1)
                actions[rows, k] = chosen
                logp[rows] += log_probs[np.arange(len(rows)), chosen]
                offset += size
        timing["forward"] += time.perf_counter() - start
        return actions, logp, logits

    def _actor(self, module_id: str, module):
        """The module's policy network as one torch callable (observations -> logits).

        RLlib's ``forward_exploration`` wraps the same layers in dict plumbing,
        and ``torch.nn.Module`` calls add their own dispatch: at these batch
        sizes both cost more than the arithmetic. The callable applies the
        actor's linear layers and activations directly to the module's own
        parameter tensors (weight syncs copy into them in place), so it gives
        the same logits. Modules of another shape fall back to
        ``forward_exploration``.
        """
        cached = self._actors.get(module_id)
        if cached is not None and cached[0] is module:
            return cached[1]
        layers = _functional_layers(module)
        if layers is None:
            def actor(observations, _module=module):
                return _module.forward_exploration({Columns.OBS: observations})[Columns.ACTION_DIST_INPUTS]
        else:
            def actor(observations, _layers=layers):
                for weight, bias, activation in _layers:
                    observations = torch.nn.functional.linear(observations, weight, bias)
                    if activation is not None:
                        observations = activation(observations)
                return observations
        self._actors[module_id] = (module, actor)
        return actor

    def _gumbel(self, agent: str) -> np.ndarray:
        uniforms = self._action_rng.random((self.num_vector_envs, sum(self._splits[agent])))
        return -np.log(-np.log(np.clip(uniforms, 1e-12, 1.0 - 1e-12))).astype(np.float32)

    def _step(self, explore: bool, timing: dict[str, float], finished: list) -> None:
        segment = self._segment
        observations = self._observations
        router_noise = self._gumbel(ROUTER)
        fraudster_noise = self._gumbel(FRAUDSTER)
        router_actions, router_logp, router_logits = self._act(ROUTER, observations[ROUTER], router_noise, explore, timing)
        fraudster_actions, fraudster_logp, fraudster_logits = self._act(
            FRAUDSTER, observations[FRAUDSTER], fraudster_noise, explore, timing
        )
        for agent, obs, act, lp, lg in (
            (ROUTER, observations[ROUTER], router_actions, router_logp, router_logits),
            (FRAUDSTER, observations[FRAUDSTER], fraudster_actions, fraudster_logp, fraudster_logits),
        ):
            segment.observations[agent].append(obs)
            segment.actions[agent].append(act)
            segment.logp[agent].append(lp)
            segment.logits[agent].append(lg)
        start = time.perf_counter()
        result = self.vector.simulator.step(router_actions, fraudster_actions)
        timing["env"] += time.perf_counter() - start
        rewards = result.rewards.copy()
        self._returns += result.rewards
        if self.shadow is not None:
            # The same router module plays the shadow game on its own observations with the same noise.
            shadow_actions, _, _ = self._act(ROUTER, self._shadow_observations, router_noise, explore, timing, shadow=True)
            start = time.perf_counter()
            shadow = self.shadow.simulator.step(shadow_actions, self._neutral_fraudster)
            timing["env"] += time.perf_counter() - start
            self._shadow_observations = shadow.router_obs
            # The fraudster's reward in the shadow (minus the router's there, in zero_sum) is its baseline.
            rewards[:, AGENT_COLUMN[FRAUDSTER]] -= shadow.fraudster_reward
        segment.rewards.append(rewards)
        self._step_in_episode += 1
        self._observations = {ROUTER: result.router_obs, FRAUDSTER: result.fraudster_obs}
        if result.done:
            segment.terminated = True
            for agent in AGENTS:
                segment.observations[agent].append(self._observations[agent])
            for (router_module, fraudster_module), (router_return, fraudster_return) in zip(
                segment.matchups, self._returns.tolist()
            ):
                finished.append((router_module, fraudster_module, router_return, fraudster_return))

    # ------------------------------------------------------------------ episodes for the learner
    def _trainable(self, module_id: str) -> bool:
        should = self.config.policies_to_train
        if should is None:
            return not isinstance(self.module[module_id], ScriptedRLModule)
        if callable(should):
            return bool(should(module_id, None))
        return module_id in should

    def _build_episodes(self, segments: list[_Segment]) -> list[MultiAgentEpisode]:
        episodes = []
        trainable_cache: dict[str, bool] = {}
        for segment in segments:
            length = len(segment)
            if not segment.terminated:
                # A fragment that goes on: its last observation (for the value bootstrap) is the current one.
                for agent in AGENTS:
                    segment.observations[agent].append(self._observations[agent])
            arrays = {
                agent: (
                    np.stack(segment.observations[agent], axis=1),  # (N, T+1, obs)
                    np.stack(segment.actions[agent], axis=1),
                    np.stack(segment.logp[agent], axis=1),
                    np.stack(segment.logits[agent], axis=1),
                )
                for agent in AGENTS
            }
            rewards = np.stack(segment.rewards, axis=1)  # (N, T, 2)
            env_t_to_agent_t = np.arange(length + 1)
            for env_index, episode_id in enumerate(segment.episode_ids):
                modules = dict(zip(AGENTS, segment.matchups[env_index]))
                agent_episodes = {}
                for agent, module_id in modules.items():
                    if module_id not in trainable_cache:
                        trainable_cache[module_id] = self._trainable(module_id)
                    if not trainable_cache[module_id]:
                        continue
                    obs, actions, logp, logits = (array[env_index] for array in arrays[agent])
                    agent_episodes[agent] = SingleAgentEpisode(
                        id_=f"{episode_id}_{agent}",
                        agent_id=agent,
                        module_id=module_id,
                        multi_agent_episode_id=episode_id,
                        observations=InfiniteLookbackBuffer(obs, lookback=0),
                        infos=InfiniteLookbackBuffer([{}] * (length + 1), lookback=0),
                        actions=InfiniteLookbackBuffer(actions, lookback=0),
                        rewards=InfiniteLookbackBuffer(rewards[env_index, :, AGENT_COLUMN[agent]], lookback=0),
                        extra_model_outputs={
                            Columns.ACTION_LOGP: InfiniteLookbackBuffer(logp, lookback=0),
                            Columns.ACTION_DIST_INPUTS: InfiniteLookbackBuffer(logits, lookback=0),
                        },
                        terminated=segment.terminated,
                        t_started=segment.env_t_started,
                        len_lookback_buffer=0,
                    )
                if not agent_episodes:
                    continue
                episode = MultiAgentEpisode(
                    id_=episode_id,
                    agent_module_ids=modules,
                    env_t_started=segment.env_t_started,
                    len_lookback_buffer=0,
                )
                episode.env_t = segment.env_t_started + length
                episode.agent_episodes = agent_episodes
                for agent in agent_episodes:
                    episode.env_t_to_agent_t[agent] = InfiniteLookbackBuffer(env_t_to_agent_t, lookback=0)
                    episode.agent_t_started[agent] = segment.env_t_started
                episode.is_terminated = segment.terminated
                episodes.append(episode)
        return episodes

    # ------------------------------------------------------------------ metrics
    def _log_metrics(self, segments: list[_Segment], finished: list, timing: dict[str, float], seconds: float) -> None:
        env_steps = sum(len(segment) for segment in segments) * self.num_vector_envs
        self.num_env_steps_sampled_lifetime += env_steps
        self.metrics.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        self.metrics.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        for agent in AGENTS:
            self.metrics.log_value((NUM_AGENT_STEPS_SAMPLED, agent), env_steps, reduce="sum")
            self.metrics.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, agent), env_steps, reduce="lifetime_sum")
        module_steps: dict[str, int] = defaultdict(int)
        for segment in segments:
            for router_module, fraudster_module in segment.matchups:
                module_steps[router_module] += len(segment)
                module_steps[fraudster_module] += len(segment)
        for module_id, count in module_steps.items():
            self.metrics.log_value((NUM_MODULE_STEPS_SAMPLED, module_id), count, reduce="sum")
            self.metrics.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, module_id), count, reduce="lifetime_sum")
        if finished:
            self.metrics.log_value(NUM_EPISODES, len(finished), reduce="sum")
            self.metrics.log_value(NUM_EPISODES_LIFETIME, len(finished), reduce="lifetime_sum")
            returns = np.array([[r, f] for _, _, r, f in finished])
            self.metrics.log_value(EPISODE_RETURN_MEAN, float(returns.sum(axis=1).mean()), window=1)
            self.metrics.log_value(EPISODE_LEN_MEAN, float(self.vector.config.max_cycles), window=1)
            for item in finished:
                self.metrics.log_value(EPISODES_KEY, item, reduce="item_series")
        self.metrics.log_value(ENV_SECONDS_KEY, timing["env"], reduce="sum")
        self.metrics.log_value(FORWARD_SECONDS_KEY, timing["forward"], reduce="sum")
        self.metrics.log_value(SAMPLE_SECONDS_KEY, seconds, reduce="sum")


"""The league's learner settings: a bulk train-batch builder and sampling overlapped with learning.

RLlib's Learner, PPO loss, optimizer, checkpoints and schedules stay as they
are. Two pieces change what surrounds them (measured in
``experiments/learner_profile.txt`` and ``docs/speed.md``):

- :class:`BulkPPOBatch` replaces PPO's default learner connector pipeline
  (one artificial timestep added per episode, columns gathered episode by
  episode, a loss mask, GAE episode by episode) with one connector that
  concatenates each module's episodes into arrays, runs each module's value
  function once over all observations, and computes GAE for all episodes of
  one length at once (a loop over time, vectorised over episodes). It gives
  the same advantages and value targets as RLlib's pipeline (tested), and a
  batch without the masked bootstrap rows.
- :class:`LeaguePPO` is PPO with an optional overlapped ``training_step``
  (``ppo.overlap_sampling``): while the learner updates on batch k, the remote
  env runners sample batch k+1 with the weights they hold, one update stale,
  as APPO and IMPALA do. PPO's importance ratio stays correct: it divides by
  the probabilities of the policy that acted (the ``action_logp`` each sample
  carries), and the clip range is centred on that policy. The first iteration
  of a run (and of a resumed run) only samples. Without remote env runners it
  trains as PPO does.

:func:`configure_learning` applies both to a ``PPOConfig``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPO
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core import ALL_MODULES
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

#: Tag of the overlapped sample requests (RLlib's weight syncs keep their own untagged requests in flight).
SAMPLE_TAG = "league_overlapped_sample"
#: Rows per value-function forward pass in :class:`BulkPPOBatch` (bounds the activations' memory).
VALUE_CHUNK = 65_536


def gae(values: np.ndarray, rewards: np.ndarray, terminated: np.ndarray, gamma: float, lambda_: float) -> np.ndarray:
    """GAE advantages of ``E`` episodes of one length ``T`` at once.

    ``values`` is ``(E, T + 1)``: the value of every observation, the last one
    the bootstrap; ``rewards`` is ``(E, T)``; ``terminated`` is ``(E,)``: a
    terminated episode bootstraps from 0, a truncated fragment from the value
    of its last observation (as RLlib's ``compute_value_targets``).
    """
    values = values.astype(np.float64)
    bootstrap = np.where(terminated, 0.0, values[:, -1])
    next_values = np.concatenate([values[:, 1:-1], bootstrap[:, None]], axis=1)
    deltas = rewards + gamma * next_values - values[:, :-1]
    advantages = np.empty_like(deltas)
    running = np.zeros(deltas.shape[0])
    decay = gamma * lambda_
    for t in range(deltas.shape[1] - 1, -1, -1):
        running = deltas[:, t] + decay * running
        advantages[:, t] = running
    return advantages


class BulkPPOBatch(ConnectorV2):
    """PPO's train batch from episodes in bulk: observations, actions, log-probs, logits, advantages, value targets.

    Use it as the whole learner connector pipeline (with
    ``add_default_connectors_to_learner_pipeline=False``). Advantages are
    standardised per module, as RLlib's ``GeneralAdvantageEstimation`` does.
    Stateless (non-recurrent) modules only.
    """

    def __init__(self, input_observation_space=None, input_action_space=None, *, gamma: float, lambda_: float, **kwargs):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.gamma = float(gamma)
        self.lambda_ = float(lambda_)

    def __call__(self, *, rl_module, batch: dict[str, Any], episodes, **kwargs) -> dict[str, Any]:
        by_module: dict[str, list] = defaultdict(list)
        for episode in episodes:
            for agent_episode in self.single_agent_episode_iterator([episode], agents_that_stepped_only=False):
                if len(agent_episode):
                    by_module[agent_episode.module_id].append(agent_episode)
        for module_id, module_episodes in by_module.items():
            module = rl_module[module_id]
            if not isinstance(module, ValueFunctionAPI):
                continue  # a scripted opponent: nothing to train (the learner drops it anyway)
            if module.is_stateful():
                raise TypeError(f"BulkPPOBatch needs stateless modules; {module_id!r} is recurrent")
            batch[module_id] = self.module_batch(module, module_episodes)
        return batch

    def module_batch(self, module, episodes: list) -> dict[str, torch.Tensor]:
        lengths = np.array([len(e) for e in episodes])
        observations = [np.asarray(e.get_observations()) for e in episodes]  # T + 1 each: the last is the bootstrap
        all_observations = np.concatenate(observations).astype(np.float32, copy=False)
        values = self.value_pass(module, all_observations)
        rewards = [np.asarray(e.get_rewards(), dtype=np.float64) for e in episodes]
        terminated = np.array([e.is_terminated for e in episodes])
        # Where each episode's rows start among all observations (T + 1 each) and among the train rows (T each).
        observation_starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
        row_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        advantages = np.empty(int(lengths.sum()), dtype=np.float64)
        value_predictions = np.empty(int(lengths.sum()), dtype=np.float32)
        for length in np.unique(lengths):
            same = np.flatnonzero(lengths == length)
            columns = observation_starts[same][:, None] + np.arange(length + 1)
            episode_values = values[columns]
            episode_rewards = np.stack([rewards[i] for i in same])
            rows = (row_starts[same][:, None] + np.arange(length)).ravel()
            advantages[rows] = gae(episode_values, episode_rewards, terminated[same], self.gamma, self.lambda_).ravel()
            value_predictions[rows] = episode_values[:, :-1].ravel()
        value_targets = (advantages + value_predictions).astype(np.float32)
        # As GeneralAdvantageEstimation: advantages are target minus prediction in float32, then standardised.
        advantages = value_targets - value_predictions
        advantages = (advantages - advantages.mean()) / max(1e-4, float(advantages.std()))
        keep = np.ones(len(all_observations), dtype=bool)
        keep[observation_starts + lengths] = False  # drop each episode's bootstrap observation
        actions = np.concatenate([np.asarray(e.get_actions()) for e in episodes])
        logp = np.concatenate([np.asarray(e.get_extra_model_outputs(Columns.ACTION_LOGP)) for e in episodes])
        logits = np.concatenate([np.asarray(e.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS)) for e in episodes])
        device = next(module.parameters()).device
        columns = {
            Columns.OBS: all_observations[keep],
            Columns.ACTIONS: actions,
            Columns.ACTION_LOGP: logp.astype(np.float32, copy=False),
            Columns.ACTION_DIST_INPUTS: logits.astype(np.float32, copy=False),
            Postprocessing.ADVANTAGES: advantages.astype(np.float32),
            Postprocessing.VALUE_TARGETS: value_targets,
        }
        return {key: torch.from_numpy(np.ascontiguousarray(value)).to(device) for key, value in columns.items()}

    @staticmethod
    def value_pass(module, observations: np.ndarray) -> np.ndarray:
        """The module's value of every observation, in chunks of :data:`VALUE_CHUNK` rows."""
        device = next(module.parameters()).device
        parts = []
        with torch.no_grad():
            for start in range(0, len(observations), VALUE_CHUNK):
                chunk = torch.from_numpy(observations[start : start + VALUE_CHUNK]).to(device)
                parts.append(module.compute_values({Columns.OBS: chunk}).cpu().numpy())
        return np.concatenate(parts).astype(np.float32, copy=False)


class LeaguePPO(PPO):
    """PPO whose ``training_step`` can overlap sampling with learning (``overlap_sampling`` in the learner config).

    See the module docstring. The batch held between iterations is not part
    of checkpoints: a restored run refills the pipeline with one sample-only
    iteration.
    """

    _held_episodes: list | None = None

    def setup(self, config) -> None:
        super().setup(config)
        threads = (config.learner_config_dict or {}).get("torch_threads")
        if threads:
            # After the set-up: the driver's local vectorised env runner sets 1 thread for its own process.
            torch.set_num_threads(int(threads))  # the local learner runs in this (the driver's) process

    def training_step(self) -> None:
        overlap = bool((self.config.learner_config_dict or {}).get("overlap_sampling"))
        if not overlap or self.env_runner_group.num_remote_workers() == 0:
            return super().training_step()
        group = self.env_runner_group
        launched = group.foreach_env_runner_async(lambda runner: (runner.sample(), runner.get_metrics()), tag=SAMPLE_TAG)
        held, self._held_episodes = self._held_episodes, None
        learner_results = None
        if held:
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = self._update(held)
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            ready = group.fetch_ready_async_reqs(tags=SAMPLE_TAG, timeout_seconds=None) if launched else []
            episodes = [episode for _, (sampled, _) in ready for episode in sampled]
            if ready:
                self.metrics.aggregate([metrics for _, (_, metrics) in ready], key=ENV_RUNNER_RESULTS)
        if learner_results is not None:
            with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
                group.sync_weights(
                    from_worker_or_learner_group=self.learner_group,
                    policies=set(learner_results[0].keys()) - {ALL_MODULES},
                    inference_only=True,
                )
        self._held_episodes = episodes or None

    def _update(self, episodes: list):
        learner_results = self.learner_group.update(
            episodes=episodes,
            timesteps={
                NUM_ENV_STEPS_SAMPLED_LIFETIME: self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                NUM_MODULE_STEPS_TRAINED_LIFETIME: self.metrics.peek(
                    (LEARNER_RESULTS, ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), default=0
                ),
            },
            num_epochs=self.config.num_epochs,
            minibatch_size=self.config.minibatch_size,
            shuffle_batch_per_epoch=self.config.shuffle_batch_per_epoch,
        )
        self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
        return learner_results


class FastLossPPOLearner(PPOTorchLearner):
    """RLlib's PPO torch learner, its loss reading each module's actions through :class:`FastMultiCategorical`.

    Only the distribution the loss builds from the new logits changes
    (:func:`league.rllib.fast_distribution.use_fast_train_distribution`);
    the loss itself, the optimizer and checkpoints are RLlib's.
    """

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        from league.rllib.fast_distribution import use_fast_train_distribution

        use_fast_train_distribution(self.module[module_id].unwrapped())
        return super().compute_loss_for_module(module_id=module_id, config=config, batch=batch, fwd_out=fwd_out)


def configure_learning(algorithm_config, ppo) -> Any:
    """``algorithm_config`` (a ``PPOConfig``) with the league's learner: :class:`LeaguePPO`, the bulk batch, threads.

    ``ppo`` is the run's :class:`~league.core.config.PPOSettings`
    (``bulk_batch``, ``fast_loss_distribution``, ``overlap_sampling``, ``learner_torch_threads``).
    """
    algorithm_config.algo_class = LeaguePPO
    if ppo.fast_loss_distribution:
        algorithm_config.learners(learner_class=FastLossPPOLearner)
    algorithm_config.learners(
        learner_config_dict={
            "overlap_sampling": bool(ppo.overlap_sampling),
            "torch_threads": ppo.learner_torch_threads,
        }
    )
    if ppo.bulk_batch:
        gamma, lambda_ = ppo.gamma, ppo.lambda_
        algorithm_config.learners(
            learner_connector=lambda *spaces: BulkPPOBatch(*spaces, gamma=gamma, lambda_=lambda_),
            add_default_connectors_to_learner_pipeline=False,
        )
    return algorithm_config

"""RLlib plumbing the league needs in several places, written once.

- :func:`set_module_states`: put weights into modules of a running algorithm
  (its learner, then every env runner);
- :func:`push_mapping`: give every env runner a new ``policy_mapping_fn``;
- :func:`learner_policy`: a learner's current weights as a greedy batched policy;
- :func:`counter` and :func:`seconds`: RLlib's result values as plain numbers.
"""

from __future__ import annotations

import math
from typing import Any

from agents.learned import ModulePolicy
from agents.rllib_modules import learner_module_spec


def set_module_states(algorithm, states: dict[str, dict]) -> None:
    """Load ``{module id: module state}`` into the learner and sync the env runners' inference copies."""
    algorithm.set_state({"learner_group": {"learner": {"rl_module": states}}})
    algorithm.env_runner_group.sync_weights(from_worker_or_learner_group=algorithm.learner_group, inference_only=True)


def push_mapping(algorithm, mapping) -> None:
    """Set the ``policy_mapping_fn`` of every env runner (new episodes use it).

    An env runner's config is its own unfrozen copy, so this is a public call.
    A runner that Ray recreates after a crash starts from the algorithm's
    original config and receives the current mapping at the next push (the
    league pushes one every iteration).
    """

    def update(env_runner, _mapping=mapping):
        env_runner.config.multi_agent(policy_mapping_fn=_mapping)

    algorithm.env_runner_group.foreach_env_runner(update, local_env_runner=True)


def learner_policy(algorithm, module_id: str, role: str, hidden: list[int], game, name: str | None = None) -> ModulePolicy:
    """The module's current learner weights (not the env runners' inference copy) as a greedy policy."""
    weights = algorithm.learner_group.get_weights(module_ids=[module_id])[module_id]
    module = learner_module_spec(role, hidden, game).build()
    module.set_state(weights)
    return ModulePolicy(module, name=name or module_id, role=role)


def counter(value: Any) -> int:
    """An RLlib counter as an int; 0 when missing or NaN (e.g. the iteration an env runner crashed)."""
    number = seconds(value)
    return int(number)


def seconds(value: Any) -> float:
    """An RLlib timer or sum as a float; 0.0 when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0

"""Wrappers for multi-agent libraries that need plain or uniform spaces, on the PettingZoo parallel env.

The game gives each agent its own spaces: the router a ``MultiDiscrete([3, 4,
2])`` action (24 actions) and a 47-long observation, the fraudster a
``MultiDiscrete([5, 4, 4, 5])`` action (400 actions, default levels) and a
13-long observation. RLlib takes that as it is. Libraries that train one
shared network for all agents (Stable-Baselines3 through SuperSuit, Tianshou)
or that need ``Discrete`` actions (SB3, AgileRL's MADDPG) need one of these:

- :class:`FlatDiscreteActions`: each agent's ``MultiDiscrete`` becomes one
  ``Discrete``, index ``i`` being the ``i``-th action in row-major order of
  the ``MultiDiscrete`` (``numpy.unravel_index``). Sizes:

  - ``shared_size=None``: each agent its own size (24 and 400);
  - ``shared_size="max"`` or a number: one size for all; the indices past an
    agent's own size are padding, marked 0 in ``info[agent]["action_mask"]``,
    and choosing one raises ``ValueError`` (never folded onto a real action);
  - ``shared_size="even"``: the least common multiple of the sizes (1200),
    index ``i`` meaning action ``i % own size``, so every real action has the
    same number of indices and a uniform policy stays uniform over real
    actions. For clients that cannot mask (plain SB3 PPO).

  Every step's ``info[agent]["action_mask"]`` (int8, one entry per index)
  says which indices are real actions.
- :class:`PadObservations`: every observation zero-padded to the longest
  (47), ``info[agent]["observation_length"]`` giving the agent's own length;
  all agents get one ``Box``, the widest bounds of any agent at each position.
- :class:`MaskInObservation`: the observation becomes PettingZoo's classic
  ``{"observation": ..., "action_mask": ...}`` dict, for clients that read the
  mask there (Tianshou's ``PettingZooEnv``).

:func:`uniform_parallel_env` stacks them: the env most shared-network
clients take without further glue. The wrapped env still passes PettingZoo's
``parallel_api_test``; ``pettingzoo.utils.parallel_to_aec`` gives its AEC form.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

SharedSize = int | Literal["max", "even"] | None

#: The key of the action mask in each agent's info (and in the dict observation of :class:`MaskInObservation`).
ACTION_MASK = "action_mask"
#: The key of the agent's own observation length in its info (:class:`PadObservations`).
OBSERVATION_LENGTH = "observation_length"


class _ParallelWrapper(ParallelEnv):
    """A parallel env around another: everything not overridden is the inner env's."""

    def __init__(self, env: ParallelEnv):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "env":
            raise AttributeError(name)
        return getattr(self.env, name)

    # Properties, not copies: the inner env changes its agents list during the episode.
    @property
    def agents(self) -> list[str]:
        return self.env.agents

    @property
    def possible_agents(self) -> list[str]:
        return self.env.possible_agents

    @property
    def metadata(self) -> dict[str, Any]:
        return self.env.metadata

    @property
    def render_mode(self) -> str | None:
        return self.env.render_mode

    @property
    def unwrapped(self) -> ParallelEnv:
        return self.env.unwrapped

    def observation_space(self, agent: str) -> spaces.Space:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> spaces.Space:
        return self.env.action_space(agent)

    def reset(self, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict[str, Any]):
        return self.env.step(actions)

    def render(self):
        return self.env.render()

    def state(self) -> np.ndarray:
        return self.env.state()

    def close(self) -> None:
        self.env.close()


class FlatDiscreteActions(_ParallelWrapper):
    """Each agent's ``MultiDiscrete`` action as one ``Discrete`` index (see the module docstring for the sizes).

    Args:
        env: a parallel env whose action spaces are ``MultiDiscrete``.
        shared_size: ``None`` (each agent its own size), ``"max"`` or a number
            (one size, padding indices masked), ``"even"`` (one size, the least
            common multiple, every real action equally often).
    """

    def __init__(self, env: ParallelEnv, shared_size: SharedSize = None):
        super().__init__(env)
        self._nvec: dict[str, np.ndarray] = {}
        for agent in env.possible_agents:
            space = env.action_space(agent)
            if not isinstance(space, spaces.MultiDiscrete) or space.nvec.ndim != 1:
                raise TypeError(f"FlatDiscreteActions: {agent}'s action space must be a 1-D MultiDiscrete, got {space}")
            self._nvec[agent] = space.nvec.astype(np.int64)
        self.own_sizes: dict[str, int] = {agent: int(np.prod(nvec)) for agent, nvec in self._nvec.items()}
        largest = max(self.own_sizes.values())
        if shared_size is None:
            sizes = dict(self.own_sizes)
        elif shared_size == "max":
            sizes = dict.fromkeys(self.own_sizes, largest)
        elif shared_size == "even":
            sizes = dict.fromkeys(self.own_sizes, math.lcm(*self.own_sizes.values()))
        elif isinstance(shared_size, (int, np.integer)) and not isinstance(shared_size, bool):
            if shared_size < largest:
                raise ValueError(
                    f"FlatDiscreteActions: shared_size must be at least the largest action count {largest} "
                    f"({self._largest_agent()}), got {shared_size}"
                )
            sizes = dict.fromkeys(self.own_sizes, int(shared_size))
        else:
            raise ValueError(
                f"FlatDiscreteActions: shared_size must be None, 'max', 'even' or an int, got {shared_size!r}"
            )
        self.shared_size = shared_size
        #: Whether index i means action i % own size (``"even"``), rather than i < own size being real.
        self.folds_evenly = shared_size == "even"
        self._spaces = {agent: spaces.Discrete(size) for agent, size in sizes.items()}
        self._masks = {agent: self._mask(agent) for agent in sizes}

    def _largest_agent(self) -> str:
        return max(self.own_sizes, key=self.own_sizes.__getitem__)

    def _mask(self, agent: str) -> np.ndarray:
        mask = np.zeros(self._spaces[agent].n, dtype=np.int8)
        mask[: self._spaces[agent].n if self.folds_evenly else self.own_sizes[agent]] = 1
        mask.flags.writeable = False
        return mask

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._spaces[agent]

    def action_mask(self, agent: str) -> np.ndarray:
        """int8 array, one entry per index: 1 for a real action, 0 for padding (read-only)."""
        return self._masks[agent]

    def to_multi_discrete(self, agent: str, index: Any) -> np.ndarray:
        """The agent's ``MultiDiscrete`` action for a flat index; ``ValueError`` for padding or out of range."""
        try:
            value = int(np.asarray(index).reshape(()))
        except (TypeError, ValueError):
            raise ValueError(f"{agent}: a flat action must be one integer, got {index!r}") from None
        size, own = self._spaces[agent].n, self.own_sizes[agent]
        if not 0 <= value < size:
            raise ValueError(f"{agent}: flat action must be in 0..{size - 1}, got {value}")
        if self.folds_evenly:
            value %= own
        elif value >= own:
            raise ValueError(
                f"{agent}: flat action {value} is padding (its actions are 0..{own - 1}); "
                f"choose among the indices info[{agent!r}][{ACTION_MASK!r}] marks 1"
            )
        return np.array(np.unravel_index(value, self._nvec[agent]), dtype=np.int64)

    def to_flat(self, agent: str, action: Any) -> int:
        """The flat index (the smallest, under ``"even"``) of the agent's ``MultiDiscrete`` action."""
        return int(np.ravel_multi_index(tuple(np.asarray(action, dtype=np.int64)), self._nvec[agent]))

    def _with_masks(self, infos: dict[str, dict]) -> dict[str, dict]:
        # A fresh copy per step: clients may keep or change the arrays they are given.
        return {agent: {**info, ACTION_MASK: self._masks[agent].copy()} for agent, info in infos.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return observations, self._with_masks(infos)

    def step(self, actions: dict[str, Any]):
        if not isinstance(actions, dict):
            raise TypeError(f"step() takes a dict of actions keyed by agent, got {type(actions).__name__}")
        unknown = [agent for agent in actions if agent not in self._spaces]
        if unknown:
            raise ValueError(f"actions for unknown agents {unknown}; the agents are {list(self._spaces)}")
        multi = {agent: self.to_multi_discrete(agent, index) for agent, index in actions.items()}
        observations, rewards, terminations, truncations, infos = self.env.step(multi)
        return observations, rewards, terminations, truncations, self._with_masks(infos)


class PadObservations(_ParallelWrapper):
    """Every agent's ``Box`` observation zero-padded to one length, its own length in ``info``.

    Args:
        env: a parallel env whose observation spaces are 1-D ``Box``.
        size: the padded length; ``None``: the longest observation.
    """

    def __init__(self, env: ParallelEnv, size: int | None = None):
        super().__init__(env)
        boxes = {agent: env.observation_space(agent) for agent in env.possible_agents}
        for agent, box in boxes.items():
            if not isinstance(box, spaces.Box) or len(box.shape) != 1:
                raise TypeError(f"PadObservations: {agent}'s observation space must be a 1-D Box, got {box}")
        longest = max(box.shape[0] for box in boxes.values())
        if size is None:
            size = longest
        if not isinstance(size, (int, np.integer)) or size < longest:
            raise ValueError(
                f"PadObservations: size must be an int of at least the longest observation {longest}, got {size!r}"
            )
        self.size = int(size)
        self.own_lengths = {agent: box.shape[0] for agent, box in boxes.items()}
        # One space for all: position by position the widest bounds of any agent (padding counts as 0), so
        # that clients comparing the agents' spaces (SuperSuit's vector env, Tianshou) find them equal.
        lows = [self._padded(box.low) for box in boxes.values()]
        highs = [self._padded(box.high) for box in boxes.values()]
        dtype = np.result_type(*(box.dtype for box in boxes.values()))
        shared = spaces.Box(np.minimum.reduce(lows).astype(dtype), np.maximum.reduce(highs).astype(dtype), dtype=dtype)
        self._spaces = dict.fromkeys(boxes, shared)

    def _padded(self, values: np.ndarray) -> np.ndarray:
        return np.concatenate([values, np.zeros(self.size - values.shape[0], dtype=values.dtype)])

    def observation_space(self, agent: str) -> spaces.Box:
        return self._spaces[agent]

    def _pad(self, observations: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        padded = {}
        for agent, observation in observations.items():
            out = np.zeros(self.size, dtype=self._spaces[agent].dtype)
            out[: self.own_lengths[agent]] = observation
            padded[agent] = out
        return padded

    def _with_lengths(self, infos: dict[str, dict]) -> dict[str, dict]:
        return {agent: {**info, OBSERVATION_LENGTH: self.own_lengths[agent]} for agent, info in infos.items()}

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._pad(observations), self._with_lengths(infos)

    def step(self, actions: dict[str, Any]):
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._pad(observations), rewards, terminations, truncations, self._with_lengths(infos)


class MaskInObservation(_ParallelWrapper):
    """The observation as ``{"observation": obs, "action_mask": mask}``, PettingZoo's classic-game convention.

    The mask is the one :class:`FlatDiscreteActions` (which must be inside this
    wrapper) puts in ``info``; it stays in ``info`` too.
    """

    def __init__(self, env: ParallelEnv):
        super().__init__(env)
        flat = env
        while not isinstance(flat, FlatDiscreteActions):
            if not isinstance(flat, _ParallelWrapper):
                raise TypeError(
                    "MaskInObservation needs FlatDiscreteActions inside it, "
                    "e.g. MaskInObservation(FlatDiscreteActions(env))"
                )
            flat = flat.env
        self._flat = flat
        self._spaces = {
            agent: spaces.Dict(
                {
                    "observation": env.observation_space(agent),
                    ACTION_MASK: spaces.Box(0, 1, shape=(env.action_space(agent).n,), dtype=np.int8),
                }
            )
            for agent in env.possible_agents
        }

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._spaces[agent]

    def _dicts(self, observations: dict[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        return {
            agent: {"observation": obs, ACTION_MASK: self._flat.action_mask(agent).copy()}
            for agent, obs in observations.items()
        }

    def reset(self, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self._dicts(observations), infos

    def step(self, actions: dict[str, Any]):
        observations, rewards, terminations, truncations, infos = self.env.step(actions)
        return self._dicts(observations), rewards, terminations, truncations, infos


def uniform_parallel_env(
    shared_size: SharedSize = "max", mask_in_observation: bool = False, env: ParallelEnv | None = None, **config: Any
) -> ParallelEnv:
    """The game with the same spaces for every agent: ``Discrete`` actions, observations padded to one length.

    Args:
        shared_size: see :class:`FlatDiscreteActions`; ``"max"`` (masked padding) or ``"even"``.
        mask_in_observation: also put the action mask in a dict observation (:class:`MaskInObservation`).
        env: the parallel env to wrap; ``None``: ``smartpay_marl.parallel_env(**config)``.
        config: keyword arguments of :func:`smartpay_marl.parallel_env` (``max_cycles``, ``difficulty``...).
    """
    if env is None:
        from smartpay_marl.pettingzoo_env import parallel_env

        env = parallel_env(**config)
    elif config:
        raise ValueError(f"uniform_parallel_env: pass either env or config keywords, not both (got {sorted(config)})")
    if shared_size is None:
        raise ValueError("uniform_parallel_env: shared_size must be 'max', 'even' or an int (None keeps sizes apart)")
    wrapped: ParallelEnv = PadObservations(FlatDiscreteActions(env, shared_size=shared_size))
    return MaskInObservation(wrapped) if mask_in_observation else wrapped

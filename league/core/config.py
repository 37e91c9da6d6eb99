"""The configuration of a league training run: game, league, PPO, resources, run length.

One pydantic model, loaded from the YAML files under ``configs/``. Unknown keys
and out-of-range values are rejected with the field's dotted path in the
message, e.g. ``ppo.lr: Input should be greater than 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from league.core.players import parse_scripted_name
from league.core.state import LeagueConfig
from smartpay_marl.config import GameConfig, make_game_config, read_yaml_mapping, validation_message


class PPOSettings(BaseModel):
    """PPO hyper-parameters shared by every learning player."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(3e-4, gt=0, le=1)
    gamma: float = Field(0.99, gt=0, le=1)
    lambda_: float = Field(0.95, ge=0, le=1, alias="lambda")
    clip_param: float = Field(0.2, gt=0, le=1)
    entropy_coeff: float = Field(0.01, ge=0)
    vf_loss_coeff: float = Field(0.5, ge=0)
    vf_clip_param: float = Field(50.0, gt=0)
    train_batch_size: int = Field(4000, ge=64, description="env steps sampled per iteration")
    minibatch_size: int = Field(500, ge=16)
    num_epochs: int = Field(6, ge=1)
    hidden: list[int] = Field(default_factory=lambda: [64, 64], min_length=1)
    use_kl_loss: bool = Field(True, description="add PPO's adaptive KL penalty (coefficient kl_coeff) to the loss")
    kl_coeff: float = Field(0.2, ge=0, description="initial coefficient of the KL penalty (with use_kl_loss)")
    bulk_batch: bool = Field(
        True,
        description=(
            "build the train batch (GAE, value targets) for all episodes at once as arrays "
            "(league.rllib.learner.BulkPPOBatch) instead of RLlib's per-episode learner connectors; same values"
        ),
    )
    overlap_sampling: bool = Field(
        False,
        description=(
            "sample batch k+1 on the remote env runners while the learner updates on batch k, with weights one "
            "update stale (the importance ratio uses the acting policy's log-probabilities); needs num_env_runners >= 1"
        ),
    )
    learner_torch_threads: int | None = Field(
        1,
        ge=1,
        description=(
            "torch threads of the driver's learner (None: leave torch's setting). 1: on the shared 2-core machine "
            "one quickstart update took 2.4 s with 1 thread and 37-43 s with 2 (experiments/learner_update.txt); "
            "with overlap the env runner needs the other core"
        ),
    )

    @field_validator("hidden")
    @classmethod
    def _layer_sizes_positive(cls, sizes: list[int]) -> list[int]:
        bad = [size for size in sizes if size < 1]
        if bad:
            raise ValueError(f"every layer size must be > 0, got {sizes}")
        return sizes

    def rllib_training_kwargs(self, batch: int | None = None) -> dict[str, Any]:
        """Arguments for ``PPOConfig.training``; ``batch`` caps the train batch (e.g. at a small budget)."""
        batch = self.train_batch_size if batch is None else min(batch, self.train_batch_size)
        return {
            "train_batch_size_per_learner": batch,
            "minibatch_size": min(self.minibatch_size, batch),
            "num_epochs": self.num_epochs,
            "lr": self.lr,
            "gamma": self.gamma,
            "lambda_": self.lambda_,
            "clip_param": self.clip_param,
            "entropy_coeff": self.entropy_coeff,
            "vf_loss_coeff": self.vf_loss_coeff,
            "vf_clip_param": self.vf_clip_param,
            "use_kl_loss": self.use_kl_loss,
            "kl_coeff": self.kl_coeff,
        }


class Resources(BaseModel):
    """Where sampling and learning run. ``num_env_runners=0`` samples in the driver process.

    ``env_runner: vector`` (the default) is the league's batched sampler
    (:mod:`league.rllib.env_runner`): each env runner steps
    ``num_envs_per_env_runner`` games in one compiled call. ``stock`` is RLlib's
    own ``MultiAgentEnvRunner`` over one game per env copy, kept for comparison.

    With the vectorised runner, make ``ppo.train_batch_size`` a multiple of
    ``num_envs_per_env_runner x game.max_cycles x max(1, num_env_runners)``
    (the quick-start: 256 x 200 x 1 = 51,200), so that every iteration ends
    every episode. Otherwise an episode continues into the next iteration, and
    if the league swaps another snapshot into its opponent's slot in between,
    the episode's result is booked against the new snapshot.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_runner: Literal["vector", "stock"] = "vector"
    num_env_runners: int = Field(1, ge=0, le=256)
    num_envs_per_env_runner: int = Field(256, ge=1, le=65536)
    num_cpus_per_env_runner: float = Field(1.0, gt=0)
    num_gpus_per_learner: float = Field(0.0, ge=0, description="GPUs per learner; 0 learns on the CPU")
    restart_failed_env_runners: bool = True


class TrainConfig(BaseModel):
    """A whole training run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("league", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0)
    iterations: int = Field(20, ge=1)
    checkpoint_every: int = Field(5, ge=1, description="iterations between checkpoints (and at the end)")
    eval_every: int = Field(2, ge=0, description="iterations between evaluations of the main players; 0: never")
    eval_episodes: int = Field(128, ge=1, description="episodes per scripted opponent in each evaluation")
    eval_opponents: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "router": ["neutral", "fraud_surge", "stealth_fraud", "velocity_attack", "card_testing"],
            "fraudster": ["risk_threshold", "risk_3ds_band", "velocity_rules", "smartpay_heuristic"],
        },
        description="scripted baselines (agents.registry names) the main players are scored against",
    )
    game: dict[str, Any] = Field(default_factory=dict, description="GameConfig fields")
    league: LeagueConfig = Field(default_factory=LeagueConfig)
    ppo: PPOSettings = Field(default_factory=PPOSettings)
    resources: Resources = Field(default_factory=Resources)
    fraudster_baseline: Literal["none", "counterfactual"] = Field(
        "none",
        description=(
            "training signal of learning fraudsters: 'counterfactual' subtracts its reward in a shadow game "
            "with an idle ring (same customers, same router); equilibria are unchanged (vector env runner only)"
        ),
    )
    calibrate_win: bool = Field(
        True,
        description="set the win definition's reference and scale from a scripted round robin at the start",
    )

    @field_validator("game")
    @classmethod
    def _game_is_valid(cls, fields: dict[str, Any]) -> dict[str, Any]:
        make_game_config(**fields)
        return fields

    @field_validator("league")
    @classmethod
    def _scripted_opponents_known(cls, league: LeagueConfig) -> LeagueConfig:
        from agents.registry import policy_names

        for name in league.scripted_opponents:
            role, policy = parse_scripted_name(name)
            if policy not in policy_names(role.value):
                raise ValueError(
                    f"scripted_opponents: unknown scripted {role.value} policy {policy!r} in {name!r}; "
                    f"agents.registry has: {', '.join(policy_names(role.value))}"
                )
        return league

    @field_validator("eval_opponents")
    @classmethod
    def _eval_opponents_known(cls, opponents: dict[str, list[str]]) -> dict[str, list[str]]:
        from agents.registry import policy_names

        for role, names in opponents.items():
            if role not in ("router", "fraudster"):
                raise ValueError(f"keys must be 'router' or 'fraudster', got {role!r}")
            # The main router is scored against scripted fraudsters, and the other way round.
            other = "fraudster" if role == "router" else "router"
            unknown = [name for name in names if name not in policy_names(other)]
            if unknown:
                raise ValueError(
                    f"{role}: unknown scripted {other} policies {unknown}; agents.registry has: "
                    f"{', '.join(policy_names(other))}"
                )
        return opponents

    @model_validator(mode="after")
    def _baseline_needs_vector_runner(self) -> "TrainConfig":
        if self.fraudster_baseline == "counterfactual" and self.resources.env_runner != "vector":
            raise ValueError("fraudster_baseline: 'counterfactual' needs resources.env_runner: vector")
        return self

    def game_config(self) -> GameConfig:
        return make_game_config(**self.game)


def make_train_config(data: dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        raise ValueError(f"invalid training config: {validation_message(error)}") from None


def load_train_config(path: str | Path, **overrides: Any) -> TrainConfig:
    """Load a run config from YAML; top-level keyword overrides win over the file."""
    data = read_yaml_mapping(path, "training config")
    if not data:
        raise ValueError(
            f"{path}: the training config is empty; give at least its fields that differ from the defaults "
            "(see configs/ for examples)"
        )
    data.update({key: value for key, value in overrides.items() if value is not None})
    try:
        return make_train_config(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None

"""The configuration of a league training run: game, league, PPO, resources, run length.

One pydantic model, loaded from the YAML files under ``configs/``. Unknown keys
and out-of-range values are rejected with the field's dotted path in the
message, e.g. ``ppo.lr: Input should be greater than 0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from agents.registry import EVAL_FRAUDSTERS, RULE_ROUTERS
from league.core.players import parse_scripted_name
from league.core.state import LeagueConfig
from smartpay_marl.config import (
    GameConfig,
    make_game_config,
    read_yaml_mapping,
    transaction_log_error_type,
    validation_message,
)
from smartpay_marl.layout import OTHER_ROLE, ROLES


class PPOSettings(BaseModel):
    """PPO hyper-parameters shared by every learning player.

    The defaults are the quick-start's measured-best settings
    (``configs/quickstart.yaml``), so that a config that leaves ``ppo`` out
    trains as well as the quick-start; each field says where its evidence is.
    ``tests/league/core/test_defaults.py`` checks that they stay equal.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(3e-4, gt=0, le=1, description="Adam learning rate (the quick-start's; RLlib's PPO default too)")
    gamma: float = Field(
        0.995,
        gt=0,
        le=1,
        description=(
            "discount. 0.995: chargebacks land 20-44 steps after the decision; with gamma 0.99 / lambda 0.95 the "
            "router plateaued about 7 points lower (configs/quickstart.yaml), and a fraudster trained alone "
            "against smartpay_heuristic for 2M env steps gained 0.48x the best scripted attack's gain with "
            "0.99/0.95 and the zero-sum signal, 0.85x with 0.995/0.98 and the counterfactual signal (issue 25; "
            "experiments/both_sides_learn)"
        ),
    )
    lambda_: float = Field(
        0.98, ge=0, le=1, alias="lambda", description="GAE lambda; 0.98 with gamma 0.995, same evidence as gamma"
    )
    clip_param: float = Field(0.2, gt=0, le=1, description="PPO clip range (the quick-start's; RLlib's default)")
    entropy_coeff: float = Field(0.01, ge=0, description="entropy bonus (the quick-start's)")
    vf_loss_coeff: float = Field(0.5, ge=0, description="value-loss weight (the quick-start's)")
    vf_clip_param: float = Field(
        50.0,
        gt=0,
        description=(
            "cap on the squared value error (the quick-start's); 1e6 (off) gave the router +35.03 +- 2.32 "
            "against +34.88 +- 2.49 at 3M env steps, 3 seeds (experiments/both_sides_learn/vf_clip, /long)"
        ),
    )
    train_batch_size: int = Field(
        51_200,
        ge=64,
        description=(
            "env steps sampled per iteration. 51,200 = the default 256 games per env runner x the default "
            "200-step episodes x 1 env runner: every iteration ends every episode, and large batches keep "
            "the learner's per-update overhead small (the quick-start's; experiments/throughput.txt)"
        ),
    )
    minibatch_size: int = Field(4096, ge=16, description="rows per SGD minibatch (the quick-start's)")
    num_epochs: int = Field(4, ge=1, description="passes over each train batch (the quick-start's)")
    hidden: list[int] = Field(
        default_factory=lambda: [64, 64], min_length=1, description="hidden layer sizes of policy and value nets"
    )
    use_kl_loss: bool = Field(
        False,
        description=(
            "add PPO's adaptive KL penalty (coefficient kl_coeff) to the clipped loss. Off: it cost about 10% of "
            "a quickstart iteration (experiments/learner_profile.txt), and 30 quickstart iterations with it off "
            "scored router/fraudster +30.13/-20.62 against +30.78/-20.13 with it on (seed 0; "
            "experiments/learner_curves.txt): no measurable difference"
        ),
    )
    kl_coeff: float = Field(0.2, ge=0, description="initial coefficient of the KL penalty (with use_kl_loss)")
    bulk_batch: bool = Field(
        True,
        description=(
            "build the train batch (GAE, value targets) for all episodes at once as arrays "
            "(league.rllib.learner.BulkPPOBatch) instead of RLlib's per-episode learner connectors; same values"
        ),
    )
    fast_loss_distribution: bool = Field(
        True,
        description=(
            "the loss's log-probabilities and entropy as plain tensor arithmetic per action component "
            "(league.rllib.fast_distribution) instead of a torch Categorical object per component; equal up to "
            "rounding, acting unchanged (experiments/learner_update.txt)"
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


class PsroSettings(BaseModel):
    """PSRO (``league.regime: psro``, see :mod:`league.rllib.psro`): epochs of one best response per side."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(3, ge=1, description="epochs; each adds one best response per side to the population")
    meta_solver: Literal["nash", "uniform", "prd"] = Field("nash", description="agents.meta_game.META_SOLVERS")
    best_response_steps: int = Field(409_600, ge=1, description="env steps of PPO per best response")
    payoff_episodes: int = Field(64, ge=2, description="episodes per new pairing of the empirical payoff matrix")
    warm_start: bool = Field(True, description="start each best response from its side's previous one, perturbed")
    sigma: float = Field(0.02, ge=0, lt=1, description="multiplicative weight noise of the warm start")
    eval_seed: int = Field(0, ge=0, description="seed of every payoff pairing (common random numbers)")


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
        default_factory=lambda: {"router": list(EVAL_FRAUDSTERS), "fraudster": list(RULE_ROUTERS)},
        description="scripted baselines (agents.registry names) the main players are scored against",
    )
    game: dict[str, Any] = Field(default_factory=dict, description="GameConfig fields")
    league: LeagueConfig = Field(default_factory=LeagueConfig)
    ppo: PPOSettings = Field(default_factory=PPOSettings)
    resources: Resources = Field(default_factory=Resources)
    psro: PsroSettings = Field(default_factory=PsroSettings, description="used when league.regime is psro")
    fraudster_baseline: Literal["none", "counterfactual"] = Field(
        "counterfactual",
        description=(
            "training signal of learning fraudsters: 'counterfactual' subtracts its reward in a shadow game "
            "with an idle ring (same customers, same router); equilibria are unchanged (vector env runner only). "
            "Default 'counterfactual' (the quick-start's): it halves the ring's per-episode return noise "
            "(std ratio 0.49, experiments/both_sides_learn/signal_variance.txt) and against risk_threshold the "
            "ring gained 1.38x the best scripted attack's gain against 1.06x zero-sum (1M env steps, 3 seeds, "
            "experiments/both_sides_learn/signals). With resources.env_runner: stock and no "
            "fraudster_baseline given: 'none'"
        ),
    )
    calibrate_win: bool = Field(
        True,
        description="set the win definition's reference and scale from a scripted round robin at the start",
    )
    _game: GameConfig = PrivateAttr()

    @field_validator("game")
    @classmethod
    def _game_is_valid(cls, fields: dict[str, Any]) -> dict[str, Any]:
        game = make_game_config(**fields)
        # A transaction log's path is kept absolute, so env-runner processes and later commands
        # reading the saved run config find the same file whatever their working directory.
        for name in ("transaction_log", "transaction_log_mapping"):
            if fields.get(name) is not None:
                fields = {**fields, name: getattr(game, name)}
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
            if role not in ROLES:
                raise ValueError(f"keys must be 'router' or 'fraudster', got {role!r}")
            # The main router is scored against scripted fraudsters, and the other way round.
            other = OTHER_ROLE[role]
            unknown = [name for name in names if name not in policy_names(other)]
            if unknown:
                raise ValueError(
                    f"{role}: unknown scripted {other} policies {unknown}; agents.registry has: "
                    f"{', '.join(policy_names(other))}"
                )
        return opponents

    @model_validator(mode="before")
    @classmethod
    def _stock_runner_default_signal(cls, data: Any) -> Any:
        # The counterfactual default needs the vector runner; a stock-runner config that names no signal gets none.
        if isinstance(data, dict) and "fraudster_baseline" not in data:
            resources = data.get("resources")
            runner = resources.get("env_runner") if isinstance(resources, dict) else getattr(resources, "env_runner", None)
            if runner == "stock":
                return {**data, "fraudster_baseline": "none"}
        return data

    @model_validator(mode="after")
    def _baseline_needs_vector_runner(self) -> "TrainConfig":
        if self.fraudster_baseline == "counterfactual" and self.resources.env_runner != "vector":
            raise ValueError("fraudster_baseline: 'counterfactual' needs resources.env_runner: vector")
        return self

    @model_validator(mode="after")
    def _enough_slots_for_exact_draws(self) -> "TrainConfig":
        needed = self.league.slots_needed()
        if self.league.slots_per_side < needed:
            raise ValueError(
                f"league.slots_per_side must be >= {needed} (one per learning player of a side that meets "
                f"snapshots: the main, {self.league.num_main_exploiters} main and "
                f"{self.league.num_league_exploiters} league exploiters), got {self.league.slots_per_side}"
            )
        return self

    @model_validator(mode="after")
    def _parse_game_once(self) -> "TrainConfig":
        # ``game`` stays the fields the config gives (as config.yaml records them, and as sessions merge theirs
        # into); the parsed game is built here once and every user of the run config shares it.
        self._game = make_game_config(**self.game)
        return self

    def game_config(self) -> GameConfig:
        """The run's game, parsed once when the config was validated (GameConfig is frozen, so it is shared)."""
        return self._game


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
        if transaction_log_error_type(error):
            raise  # it names the log file, row and column already
        raise ValueError(f"{path}: {error}") from None

"""Game configuration: one validated pydantic model, difficulty presets, YAML loading.

Every number that shapes the game lives here, with the reason for its default.
Defaults follow ``CALIBRATION.md`` (real payment and fraud figures) where an RL
agent can still learn from them; where a default departs for learnability the
field's description says so.

A config is built from a difficulty preset plus overrides::

    GameConfig()                                   # medium difficulty
    GameConfig(difficulty="hard", max_cycles=500)  # preset + override
    load_game_config("configs/game/hard.yaml")     # the same from YAML

Unknown keys and out-of-range values are rejected with a message naming the
field (pydantic ``extra="forbid"`` and field constraints).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Re-exported: callers have long imported these from here.
from smartpay_marl.config_errors import (  # noqa: F401
    read_yaml_mapping,
    transaction_log_error,
    transaction_log_error_type,
    validation_message,
)

Difficulty = Literal["easy", "medium", "hard"]
RewardMode = Literal["zero_sum", "profit", "graded"]

#: Per-difficulty values for the fields left as ``None`` in :class:`GameConfig`.
#: Background fraud (1-4% of transactions) is 30-100x the real card-fraud rate
#: by count (~0.015-0.1%, CALIBRATION.md) so that a router sees fraud within a
#: 200-step episode. Gateway instability is lower than SmartPayEnv's
#: 0.05/0.15/0.30, which left gateways outside "normal" most of the time,
#: pushed approval rates below the realistic 80-95% band and made smart
#: routing worth ~11 points instead of the real 1-3.
DIFFICULTY_PRESETS: dict[str, dict[str, float]] = {
    "easy": {
        "background_fraud_rate": 0.01,
        "gateway_instability": 0.01,
        "churn_hazard": 0.05,
        "systemic_outage_prob": 0.003,
    },
    "medium": {
        "background_fraud_rate": 0.02,
        "gateway_instability": 0.02,
        "churn_hazard": 0.10,
        "systemic_outage_prob": 0.006,
    },
    "hard": {
        "background_fraud_rate": 0.04,
        "gateway_instability": 0.05,
        "churn_hazard": 0.20,
        "systemic_outage_prob": 0.01,
    },
}


#: Upper bounds that keep every reward finite and every env's memory small; the messages name them.
MAX_DOLLARS = 1_000_000.0
MAX_DELAY = 1_000
MAX_LEVELS = 16


class GameConfig(BaseModel):
    """Everything that defines one game: difficulty, horizon, economics, fraud ring.

    Fields set to ``None`` take their value from :data:`DIFFICULTY_PRESETS` for the
    chosen ``difficulty``; read the resolved values from the same attributes after
    construction.
    """

    # Infinite or NaN numbers would make every reward non-finite: refuse them for every float field.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # --- episode --------------------------------------------------------------
    difficulty: Difficulty = Field("medium", description="Preset for fraud rate, instability, churn.")
    max_cycles: int = Field(200, ge=1, le=1_000_000, description="Steps (transactions) per episode.")
    reward_mode: RewardMode = Field(
        "zero_sum",
        description=(
            "zero_sum: fraudster reward = -router reward (win rates and exploitability are "
            "well defined); profit: general-sum, the fraud ring earns what it extracts minus "
            "its attack costs; graded: SmartPayEnv's blend of routing, fraud-MCC and "
            "retention scores."
        ),
    )
    reward_scale: float = Field(
        0.01, gt=0, le=1000, description="Dollars to reward units (0.01: a $100 chargeback costs 1.0)."
    )
    steps_per_hour: int = Field(20, ge=1, le=100_000, description="Steps (checkout slots) per simulated hour (SmartPayEnv: 20).")
    customer_arrival_rate: float = Field(
        0.8,
        gt=0,
        le=1,
        description=(
            "Share of steps in which a customer pays. The other steps are idle checkout slots, and "
            "only those can carry the fraud ring's attempts: attacks add traffic, they never displace "
            "a customer's purchase."
        ),
    )

    # --- difficulty-driven (None = from preset) -------------------------------
    background_fraud_rate: float | None = Field(
        None, ge=0, le=0.5, description="Share of transactions that are organic fraud, not the ring's."
    )
    gateway_instability: float | None = Field(
        None, ge=0, le=1, description="Per-step chance that a healthy gateway degrades."
    )
    churn_hazard: float | None = Field(
        None, ge=0, le=5, description="Lambda in churn = 1 - exp(-lambda * streak^2) (SmartPayEnv)."
    )
    systemic_outage_prob: float | None = Field(
        None, ge=0, le=1, description="Per-step chance of an outage degrading most gateways at once."
    )

    # --- gateways ---------------------------------------------------------------
    gateway_base_success: tuple[float, float, float] = (0.96, 0.98, 0.99)
    gateway_fee_pct: tuple[float, float, float] = (0.02, 0.025, 0.035)
    gateway_fee_fixed: tuple[float, float, float] = (0.10, 0.30, 0.50)
    health_lag: int = Field(2, ge=0, le=16, description="Steps by which the router's health view lags.")
    legit_issuer_decline: float = Field(
        0.08,
        ge=0,
        lt=1,
        description=(
            "Share of legitimate payments the issuer declines (insufficient funds, limits). Failover "
            "cannot recover them. Brings approval of a sensible router to ~90%, inside the real "
            "card-not-present band (81-96%)."
        ),
    )

    # --- merchant economics ---------------------------------------------------
    gross_margin: float = Field(
        0.30, gt=0, lt=1, description="Contribution margin on a captured sale (e-commerce ~20-40%)."
    )
    dispute_fee: float = Field(15.0, ge=0, le=MAX_DOLLARS, description="Fee per chargeback ($15: Stripe).")
    review_cost: float = Field(5.0, ge=0, le=MAX_DOLLARS, description="Cost of one manual review (~10 analyst minutes).")
    threeds_cost: float = Field(0.10, ge=0, le=MAX_DOLLARS, description="Authentication fee per 3-D Secure challenge.")
    threeds_abandon: tuple[float, float, float] = Field(
        (0.25, 0.10, 0.05), description="Chance a legitimate customer abandons a 3DS challenge, by segment."
    )
    customer_value: tuple[float, float, float] = Field(
        (15.0, 40.0, 100.0), description="Future margin lost when a customer churns, by segment."
    )
    chargeback_delay: tuple[int, int] = Field(
        (20, 44), description="Steps until an approved fraud comes back as a chargeback (inclusive)."
    )
    review_delay: tuple[int, int] = Field(
        (10, 24), description="Steps until a manual review resolves (inclusive)."
    )

    # --- fraud ring (fraudster_0) ----------------------------------------------
    intensity_levels: tuple[float, ...] = Field(
        (0.0, 0.03, 0.06, 0.12, 0.2),
        description="Share of all steps that carry the ring's attempts, per intensity action.",
    )
    stealth_levels: tuple[float, ...] = Field(
        (0.0, 0.33, 0.67, 1.0), description="Masking strength in [0, 1], per stealth action."
    )
    burst_levels: tuple[float, ...] = Field(
        (0.0, 0.02, 0.05, 0.10), description="Per-step chance to launch an attack burst, per burst action."
    )
    burst_length: int = Field(5, ge=1, le=100, description="Consecutive attempts in one burst (SmartPayEnv: 5).")
    attempt_cost: float = Field(
        2.0, ge=0, le=MAX_DOLLARS, description="Ring's cost per attempt (credentials, proxies); profit mode only."
    )
    stealth_cost_factor: float = Field(
        2.0, ge=0, le=100, description="Attempt cost multiplier per unit stealth (aged accounts cost more)."
    )
    cashout_rate: float = Field(
        0.5, ge=0, le=1, description="Share of a fraudulent sale's amount the ring turns into cash."
    )
    heat_decay: float = Field(0.97, ge=0, le=1, description="Per-step decay of the ring's exposure ('heat').")
    heat_per_attempt: float = Field(0.01, ge=0, le=1, description="Heat added by each attempt.")
    heat_per_caught: float = Field(0.06, ge=0, le=1, description="Heat added when an attempt is caught.")

    # --- fraud displacement (issue 20; every default leaves the game as it was) --------------
    # Defending an attack channel costs the legitimate customers who look like it, review and
    # 3-D Secure have a budget per window, and the ring's strategies can be pointed at any
    # template. Sources for every figure: docs/displacement.md.
    lookalike_share: tuple[float, float, float, float] = Field(
        (0.0, 0.0, 0.0, 0.0),
        description=(
            "Share of legitimate customers who look like one attack channel, in the order of "
            "LOOKALIKE_TEMPLATES: big-ticket buyers (high_value_spike), gamers and subscription "
            "top-ups (velocity_burst), travellers (geo_anomaly), new customers on a new device "
            "(device_spoof). Their amount, velocity and flags are drawn as that template's, without "
            "its hidden risk signal. All 0: no look-alikes (the default game)."
        ),
    )
    lookalike_value: tuple[float, float, float, float] = Field(
        (100.0, 100.0, 100.0, 100.0),
        description="Future margin lost when a look-alike customer churns, per channel (replaces customer_value).",
    )
    false_decline_churn: float = Field(
        0.0,
        ge=0,
        le=1,
        description=(
            "Chance that a legitimate customer whose payment is blocked leaves for good, on top of the "
            "failure-streak hazard (about a third of falsely declined shoppers do). 0: off."
        ),
    )
    review_capacity: int | None = Field(
        None, ge=0, le=100_000,
        description="Manual reviews the team can take per capacity window; beyond it a review is allowed unchecked. None: unlimited.",
    )  # fmt: skip
    threeds_capacity: int | None = Field(
        None, ge=0, le=100_000,
        description="3-D Secure challenges per capacity window (the merchant's friction budget); beyond it the payment is allowed. None: unlimited.",
    )  # fmt: skip
    capacity_window: int = Field(20, ge=1, le=100_000, description="Steps per capacity window (20: one simulated hour).")
    channel_amount_shift: tuple[float, float, float, float] | None = Field(
        None,
        description=(
            "Log amount shift of the four look-alike channels' attacks and look-alike customers, in the "
            "order of lookalike_share; None: the template table's. Lets only big-ticket fraud be big."
        ),
    )
    volume_velocity: bool = Field(
        True,
        description=(
            "Whether the ring's volume (intensity, burst position) raises the velocity of the card it "
            "uses. False: a ring spreads its attempts over many stolen cards, so only velocity_burst "
            "attacks look fast."
        ),
    )
    fraud_signal_scale: float = Field(
        1.0,
        ge=0,
        le=10,
        description=(
            "Multiplier of fraud's hidden signal in the upstream risk score (1: the default game). "
            "Below 1, the model has not learnt the attacks (drift), so the score mostly reflects the "
            "visible features that look-alike customers share."
        ),
    )
    strategy_templates: tuple[str, ...] | None = Field(
        None,
        description=(
            "Template each ring strategy plays, one per strategy in order (\"mixed\" draws one per "
            "attempt); None: fraud.STRATEGY_TABLE. Points the present action space at other channels."
        ),
    )

    @model_validator(mode="after")
    def _resolve_and_check(self) -> "GameConfig":
        preset = DIFFICULTY_PRESETS[self.difficulty]
        for name, value in preset.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("chargeback_delay", "review_delay"):
            low, high = getattr(self, name)
            if not 1 <= low <= high <= MAX_DELAY:
                # Every env keeps a calendar as long as the longest delay, so the bound is also a memory bound.
                raise ValueError(f"{name} must satisfy 1 <= low <= high <= {MAX_DELAY}, got ({low}, {high})")
        for name in ("gateway_base_success", "threeds_abandon"):
            if not all(0.0 <= v <= 1.0 for v in getattr(self, name)):
                raise ValueError(f"{name} values must lie in [0, 1], got {getattr(self, name)}")
        for name in ("gateway_fee_fixed", "customer_value"):
            if not all(0 <= v <= MAX_DOLLARS for v in getattr(self, name)):
                raise ValueError(f"{name} values must lie in [0, {MAX_DOLLARS:g}], got {getattr(self, name)}")
        if not all(0 <= v <= 1 for v in self.gateway_fee_pct):
            raise ValueError(f"gateway_fee_pct values must lie in [0, 1], got {self.gateway_fee_pct}")
        idle = 1.0 - self.customer_arrival_rate
        if max(self.intensity_levels) > idle + 1e-12:
            raise ValueError(
                f"intensity_levels must not exceed the idle share 1 - customer_arrival_rate = {idle:g}, "
                f"got max {max(self.intensity_levels):g}"
            )
        for name in ("intensity_levels", "stealth_levels", "burst_levels"):
            levels = getattr(self, name)
            if not 2 <= len(levels) <= MAX_LEVELS:
                raise ValueError(f"{name} needs between 2 and {MAX_LEVELS} levels, got {len(levels)}: {levels}")
            if not all(0.0 <= v <= 1.0 for v in levels):
                raise ValueError(f"{name} values must lie in [0, 1], got {levels}")
        self._check_displacement()
        return self

    def _check_displacement(self) -> None:
        """The fraud-displacement fields (issue 20): shares, values and the strategy map."""
        from smartpay_marl.fraud import STRATEGY_NAMES, TEMPLATE_NAMES

        if not all(0.0 <= v <= 1.0 for v in self.lookalike_share) or sum(self.lookalike_share) > 1.0 + 1e-12:
            raise ValueError(f"lookalike_share values must lie in [0, 1] and sum to at most 1, got {self.lookalike_share}")
        if not all(0 <= v <= MAX_DOLLARS for v in self.lookalike_value):
            raise ValueError(f"lookalike_value values must lie in [0, {MAX_DOLLARS:g}], got {self.lookalike_value}")
        if self.channel_amount_shift is not None and not all(-3.0 <= v <= 3.0 for v in self.channel_amount_shift):
            raise ValueError(f"channel_amount_shift values must lie in [-3, 3], got {self.channel_amount_shift}")
        if self.strategy_templates is not None:
            allowed = ("mixed", *TEMPLATE_NAMES)
            if len(self.strategy_templates) != len(STRATEGY_NAMES):
                raise ValueError(
                    f"strategy_templates needs one template per strategy {STRATEGY_NAMES}, "
                    f"got {len(self.strategy_templates)}: {self.strategy_templates}"
                )
            unknown = [t for t in self.strategy_templates if t not in allowed]
            if unknown:
                raise ValueError(f"strategy_templates: unknown template {unknown[0]!r}; allowed: {', '.join(allowed)}")

    @property
    def displacement(self) -> bool:
        """True when any fraud-displacement mechanic is on (look-alikes, capacities, a strategy map)."""
        return (
            any(v > 0 for v in self.lookalike_share)
            or self.false_decline_churn > 0
            or self.review_capacity is not None
            or self.threeds_capacity is not None
            or self.strategy_templates is not None
            or self.fraud_signal_scale != 1.0
            or self.channel_amount_shift is not None
            or not self.volume_velocity
        )

    @property
    def longest_delay(self) -> int:
        """The longest delay of any scheduled event, which sizes the event calendars."""
        return max(self.chargeback_delay[1], self.review_delay[1])

    # --- recorded customers (smartpay_marl.transaction_log) -------------------------------
    transaction_log: str | None = Field(
        None,
        description=(
            "A CSV or Parquet log of payment attempts whose rows replace the generator's customers and "
            "organic fraud (docs/transaction_logs.md). A relative path starts at the current directory; "
            "it is stored absolute. Validated when the config is built."
        ),
    )
    transaction_log_mapping: str | None = Field(
        None, description="A YAML column mapping for transaction_log (configs/logs/ has examples)."
    )

    @field_validator("transaction_log", "transaction_log_mapping")
    @classmethod
    def _absolute_log_path(cls, value: str | None) -> str | None:
        # Absolute from here on, so RLlib's env-runner processes and saved run configs find the same file.
        return None if value is None else str(Path(value).expanduser().resolve())

    # Defined after _resolve_and_check, so the cheap checks fail first and a log is read only for a valid game.
    @model_validator(mode="after")
    def _transaction_log_is_valid(self) -> "GameConfig":
        if self.transaction_log_mapping is not None and self.transaction_log is None:
            raise ValueError("transaction_log_mapping is set but transaction_log is not")
        if self.transaction_log is not None and any(v > 0 for v in self.lookalike_share):
            # The log is the whole customer stream, so there are no generated look-alike customers to add.
            raise ValueError(
                "transaction_log cannot be combined with lookalike_share > 0: the log's rows are the "
                "customers; set lookalike_share to zeros (the other displacement mechanics still apply)"
            )
        if self.transaction_log is not None:
            from smartpay_marl.transaction_log import load_transaction_log

            load_transaction_log(self.transaction_log, self.transaction_log_mapping)  # read once, cached
        return self


def make_game_config(**overrides: Any) -> GameConfig:
    """Build a :class:`GameConfig`, re-raising pydantic's error as a ``ValueError`` that names fields."""
    try:
        return GameConfig(**overrides)
    except ValidationError as error:
        log_error = transaction_log_error(error)
        if log_error is not None:
            raise log_error from None
        raise ValueError(f"invalid game config: {validation_message(error)}") from None


def load_game_config(path: str | Path, **overrides: Any) -> GameConfig:
    """Load a game config from a YAML mapping; keyword overrides win over the file."""
    data = read_yaml_mapping(path, "game config")
    data.update(overrides)
    try:
        return make_game_config(**data)
    except ValueError as error:
        if transaction_log_error_type(error):
            raise
        raise ValueError(f"{path}: {error}") from None

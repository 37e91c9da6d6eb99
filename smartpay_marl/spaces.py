"""Gymnasium spaces of both agents, built once from :mod:`smartpay_marl.layout` and the config."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from smartpay_marl.config import GameConfig
from smartpay_marl.layout import (
    FRAUDSTER,
    FRAUDSTER_SLOTS,
    ROUTER,
    ROUTER_ACTION_NVEC,
    ROUTER_SLOTS,
    STRATEGIES,
    slot_bounds,
)


def fraudster_action_nvec(config: GameConfig) -> tuple[int, int, int, int]:
    """Sizes of the fraudster's ``[intensity, stealth, burst, strategy]`` action."""
    return (len(config.intensity_levels), len(config.stealth_levels), len(config.burst_levels), len(STRATEGIES))


def build_observation_spaces() -> dict[str, spaces.Box]:
    router_low, router_high = slot_bounds(ROUTER_SLOTS)
    fraud_low, fraud_high = slot_bounds(FRAUDSTER_SLOTS)
    return {
        ROUTER: spaces.Box(router_low, router_high, dtype=np.float32),
        FRAUDSTER: spaces.Box(fraud_low, fraud_high, dtype=np.float32),
    }


def build_action_spaces(config: GameConfig, seed: int | None = None) -> dict[str, spaces.MultiDiscrete]:
    return {
        ROUTER: spaces.MultiDiscrete(ROUTER_ACTION_NVEC, seed=seed),
        FRAUDSTER: spaces.MultiDiscrete(fraudster_action_nvec(config), seed=seed),
    }

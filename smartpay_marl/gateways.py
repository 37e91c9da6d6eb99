"""Batched gateway health: normal -> degraded -> recovering -> normal, with systemic outages.

Each of the three gateways in each environment follows SmartPayEnv's state
machine: from *normal* it degrades with probability ``gateway_instability``
per step (success rate cut to 20-50% of base for 3-9 steps), then *recovers*
for 2-4 steps closing 40% of the gap per step. A rare systemic outage
(``systemic_outage_prob``) degrades each gateway with probability 0.7 to 10% of
its base rate for 5-14 steps. In *normal* the rate mean-reverts to base with a
little noise (SmartPayEnv let it random-walk, which drifts over long episodes).

The router sees these rates and states through a ring buffer, ``health_lag``
steps late. All draws come from the chunk's uniforms.
"""

from __future__ import annotations

import numpy as np

from smartpay_marl.generator import U_COUNTDOWN, U_DEGRADE, U_FACTOR, U_NOISE, U_OUTAGE, U_OUTAGE_GATEWAY
from smartpay_marl.layout import NUM_GATEWAYS

NORMAL, DEGRADED, RECOVERING = 0, 1, 2
DEGRADED_FACTOR = (0.2, 0.5)
DEGRADED_STEPS = (3, 9)
RECOVERING_STEPS = (2, 4)
RECOVERY_SHARE = 0.4
OUTAGE_GATEWAY_PROB = 0.7
OUTAGE_FACTOR = 0.1
OUTAGE_STEPS = (5, 14)
NORMAL_REVERSION = 0.9
NORMAL_NOISE = 0.01


class GatewayHealth:
    """Health of ``NUM_GATEWAYS`` gateways in ``num_envs`` environments, with a lagged view."""

    def __init__(self, num_envs: int, base_success: np.ndarray, instability: float, outage_prob: float, lag: int):
        self.base = np.asarray(base_success, dtype=np.float64)
        self.instability = instability
        self.outage_prob = outage_prob
        self.lag = lag
        shape = (num_envs, NUM_GATEWAYS)
        self.state = np.zeros(shape, dtype=np.int64)
        self.countdown = np.zeros(shape, dtype=np.int64)
        self.rate = np.empty(shape)
        # Lagged history as one array: [:, k, 0:3] rates, [:, k, 3:6] degraded, [:, k, 6:9] recovering.
        self.history = np.empty((num_envs, lag + 1, 3 * NUM_GATEWAYS), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self.state[:] = NORMAL
        self.countdown[:] = 0
        self.rate[:] = self.base
        self.history[:] = self._snapshot()[:, None, :]

    def _snapshot(self) -> np.ndarray:
        return np.concatenate(
            [self.rate, self.state == DEGRADED, self.state == RECOVERING], axis=1, dtype=np.float32
        )

    def lagged(self, step: int) -> np.ndarray:
        """Health as the router sees it at ``step``: a ``(num_envs, 9)`` float32 view."""
        return self.history[:, (step - self.lag) % (self.lag + 1)]

    def advance(self, step: int, uniforms: np.ndarray) -> None:
        """Move every gateway one step; record the new health as seen at ``step``."""
        state, countdown, rate, base = self.state, self.countdown, self.rate, self.base
        u_degrade = uniforms[:, U_DEGRADE : U_DEGRADE + 3]
        u_count = uniforms[:, U_COUNTDOWN : U_COUNTDOWN + 3]
        u_factor = uniforms[:, U_FACTOR : U_FACTOR + 3]

        countdown -= 1
        normal = state == NORMAL
        degraded = state == DEGRADED
        recovering = state == RECOVERING
        start_degrade = normal & (u_degrade < self.instability)
        end_degrade = degraded & (countdown <= 0)
        end_recover = recovering & (countdown <= 0)

        # Recovery closes part of the gap; normal mean-reverts with noise.
        noise = (uniforms[:, U_NOISE : U_NOISE + 3] - 0.5) * (2.0 * NORMAL_NOISE)
        rate += np.where(recovering, RECOVERY_SHARE * (base - rate), 0.0)
        rate[:] = np.where(normal, base + NORMAL_REVERSION * (rate - base) + noise, rate)
        low, high = DEGRADED_FACTOR
        rate[:] = np.where(start_degrade, base * (low + (high - low) * u_factor), rate)
        rate[:] = np.where(end_recover, base, rate)
        d_low, d_high = DEGRADED_STEPS
        r_low, r_high = RECOVERING_STEPS
        countdown[:] = np.where(start_degrade, d_low + (u_count * (d_high - d_low + 1)).astype(np.int64), countdown)
        countdown[:] = np.where(end_degrade, r_low + (u_count * (r_high - r_low + 1)).astype(np.int64), countdown)
        state[start_degrade] = DEGRADED
        state[end_degrade] = RECOVERING
        state[end_recover] = NORMAL

        outage = uniforms[:, U_OUTAGE] < self.outage_prob
        if outage.any():
            hit = outage[:, None] & (uniforms[:, U_OUTAGE_GATEWAY : U_OUTAGE_GATEWAY + 3] < OUTAGE_GATEWAY_PROB)
            o_low, o_high = OUTAGE_STEPS
            state[hit] = DEGRADED
            countdown[:] = np.where(hit, o_low + (u_count * (o_high - o_low + 1)).astype(np.int64), countdown)
            rate[:] = np.where(hit, base * OUTAGE_FACTOR, rate)
        np.clip(rate, 0.0, 1.0, out=rate)
        self.history[:, step % (self.lag + 1)] = self._snapshot()

    def copy_from(self, other: "GatewayHealth") -> None:
        """Make this gateway state an exact copy of ``other`` (for branching)."""
        for name in ("state", "countdown", "rate", "history"):
            getattr(self, name)[:] = getattr(other, name)

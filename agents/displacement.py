"""Scripted players of the fraud-displacement game: routers that guard attack channels, rings that target them.

In ``configs/game/displacement.yaml`` every attack channel has a legitimate
look-alike segment (big-ticket buyers, gamers, travellers, new customers:
:data:`smartpay_marl.fraud.LOOKALIKE_SEGMENTS`), and manual review and 3-D
Secure have a budget per window. A :class:`ChannelGuardRouter` watches a set
of channels: a payment that shows a watched channel's signature goes to
manual review while the window's review budget lasts, then to 3-D Secure
while that budget lasts, then is blocked; every other payment is allowed, and
routing is smart (health x BIN affinity, with failover). A ring that targets a
segment plays the strategy whose template is that channel's, at the moderate
stealth of :mod:`agents.fraudsters`, at full volume (see :func:`target_fraudsters`).

The guard knows the budgets (a public rule of the game) and counts its own
reviews and challenges; it counts steps itself, from the batch's reset, so it
follows the game's windows (which start at step 0).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from agents.fraudsters import MODERATE_STEALTH, FixedFraudster
from agents.routers import ScriptedRouter, affinity_gateway, retry_choice, router_actions
from smartpay_marl.config import GameConfig
from smartpay_marl.fraud import LOOKALIKE_SEGMENTS, LOOKALIKE_TEMPLATES, TEMPLATE_NAMES
from smartpay_marl.generator import MERCHANT_LOG_SPEND
from smartpay_marl.layout import ALLOW, BLOCK, REVIEW, ROUTER_OBS, THREEDS
from smartpay_marl.rules import LOG_AMOUNT_SCALE
from smartpay_marl.simulator import strategy_template_ids
from smartpay_marl.spaces import fraudster_action_nvec

_AMOUNT = ROUTER_OBS["amount"].start
_VELOCITY = ROUTER_OBS["velocity"].start
_GEO = ROUTER_OBS["geo_mismatch"].start
_NEW_DEVICE = ROUTER_OBS["new_device"].start
_PAYMENT = ROUTER_OBS["payment"].start
_MERCHANT = ROUTER_OBS["merchant"]

#: A big-ticket purchase: at least this many times the merchant category's median spend.
BIG_TICKET_RATIO = 2.5
#: Card velocity feature (transactions in the last hour / 10) from which a card looks like a top-up burst.
VELOCITY_SIGNATURE = 0.3


def channel_signature(observations: np.ndarray, segment: str, big_ticket_ratio: float = BIG_TICKET_RATIO) -> np.ndarray:
    """Which pending payments show ``segment``'s channel signature, ``(N,)`` bool.

    Big ticket: the amount is at least ``big_ticket_ratio`` times the median
    spend of its merchant category (a merchant knows its own categories' spend).
    """
    if segment == "big_ticket":
        dollars = np.expm1(observations[:, _AMOUNT].astype(np.float64) * LOG_AMOUNT_SCALE)
        median = np.exp(MERCHANT_LOG_SPEND[np.argmax(observations[:, _MERCHANT], axis=1)])
        return dollars >= big_ticket_ratio * median
    if segment == "gamers":
        return observations[:, _VELOCITY] >= VELOCITY_SIGNATURE
    if segment == "travellers":
        return observations[:, _GEO] > 0.5
    if segment == "new_customers":
        return observations[:, _NEW_DEVICE] > 0.5
    raise ValueError(f"unknown segment {segment!r}; expected one of {LOOKALIKE_SEGMENTS}")


class ChannelGuardRouter(ScriptedRouter):
    """Reviews, then challenges, then blocks payments that show a guarded channel's signature; allows the rest.

    Args:
        segments: the look-alike segments (channels) to guard.
        review_capacity, threeds_capacity: the game's budgets per window (None: unlimited).
        window: steps per capacity window.
        overflow: decision once both budgets are spent: ``"block"`` or ``"allow"``.
        big_ticket_ratio: the big-ticket channel's threshold, in medians of the merchant category's spend.
    """

    def __init__(
        self,
        segments: tuple[str, ...],
        review_capacity: int | None = None,
        threeds_capacity: int | None = None,
        window: int = 20,
        overflow: str = "block",
        retry: bool = True,
        name: str | None = None,
        big_ticket_ratio: float = BIG_TICKET_RATIO,
    ):
        unknown = [s for s in segments if s not in LOOKALIKE_SEGMENTS]
        if unknown or not segments:
            raise ValueError(f"segments must name some of {LOOKALIKE_SEGMENTS}, got {segments}")
        if overflow not in ("block", "allow"):
            raise ValueError(f"overflow must be 'block' or 'allow', got {overflow!r}")
        self.segments, self.window, self.retry = tuple(segments), int(window), bool(retry)
        self.review_capacity = np.inf if review_capacity is None else review_capacity
        self.threeds_capacity = np.inf if threeds_capacity is None else threeds_capacity
        self.overflow = BLOCK if overflow == "block" else ALLOW
        self.big_ticket_ratio = float(big_ticket_ratio)
        self.name = name or "guard_" + "_".join(segments)
        self.reset(1)

    def reset(self, num_envs: int, seed: int | None = None) -> None:
        self._step = 0
        self._reviews = np.zeros(num_envs)
        self._challenges = np.zeros(num_envs)

    def act(self, observations: np.ndarray) -> np.ndarray:
        num_envs = observations.shape[0]
        if self._reviews.shape[0] != num_envs:
            self.reset(num_envs)
        if self._step % self.window == 0:
            self._reviews[:] = 0.0
            self._challenges[:] = 0.0
        self._step += 1
        watched = np.zeros(num_envs, dtype=bool)
        for segment in self.segments:
            watched |= channel_signature(observations, segment, self.big_ticket_ratio)
        watched &= observations[:, _PAYMENT] > 0.5
        review = watched & (self._reviews < self.review_capacity)
        challenge = watched & ~review & (self._challenges < self.threeds_capacity)
        self._reviews += review
        self._challenges += challenge
        decision = np.where(watched, self.overflow, ALLOW)
        decision = np.where(challenge, THREEDS, decision)
        decision = np.where(review, REVIEW, decision)
        return router_actions(affinity_gateway(observations), decision, retry_choice(self.retry), num_envs)


def guard_routers(
    config: GameConfig, max_channels: int = 2, big_ticket_ratio: float = BIG_TICKET_RATIO
) -> list[ChannelGuardRouter]:
    """A guard for every channel and every pair of channels (up to ``max_channels``), within ``config``'s budgets."""
    routers = []
    for size in range(1, max_channels + 1):
        for segments in combinations(LOOKALIKE_SEGMENTS, size):
            routers.append(
                ChannelGuardRouter(
                    segments, config.review_capacity, config.threeds_capacity, config.capacity_window,
                    big_ticket_ratio=big_ticket_ratio,
                )  # fmt: skip
            )
    return routers


def segment_strategy(config: GameConfig, segment: str) -> int:
    """The ring strategy index whose template is ``segment``'s channel under ``config``'s strategy map."""
    template_name = LOOKALIKE_TEMPLATES[LOOKALIKE_SEGMENTS.index(segment)]
    matches = np.flatnonzero(strategy_template_ids(config) == TEMPLATE_NAMES.index(template_name))
    if matches.size == 0:
        raise ValueError(f"no ring strategy plays {template_name} in this game")
    return int(matches[0])


def target_fraudsters(
    config: GameConfig, intensity: int = -1, stealth: int = MODERATE_STEALTH, burst: int = -1
) -> list[FixedFraudster]:
    """A ring targeting each look-alike segment whose channel a strategy plays.

    By default at the highest intensity and burst rate (volume costs a ring
    nothing in the zero-sum game, so a weaker ring would only measure volume)
    and light stealth.
    """
    rings = []
    for segment in LOOKALIKE_SEGMENTS:
        try:
            strategy = segment_strategy(config, segment)
        except ValueError:
            continue
        name, nvec = f"target_{segment}", fraudster_action_nvec(config)
        rings.append(FixedFraudster(intensity, stealth, burst, strategy, name=name, action_nvec=nvec))
    return rings

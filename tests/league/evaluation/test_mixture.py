"""The meta-strategy mixture as a player: per-episode draws, routing of rows, names and files."""

from __future__ import annotations

import numpy as np
import pytest

from agents.base import Policy
from league.evaluation.mixture import (
    MixturePolicy,
    make_mixture,
    mixture_name,
    parse_mixture_name,
    read_mixture,
    write_mixture,
)


class ConstantPolicy(Policy):
    """Always plays ``value`` in every action component; counts its resets."""

    def __init__(self, value: int, name: str):
        self.name, self.role, self.action_nvec = name, "fraudster", (4, 4)
        self.value = value
        self.resets: list[int] = []

    def reset(self, num_envs, seed=None):
        self.resets.append(num_envs)

    def act(self, observations):
        return np.full((observations.shape[0], 2), self.value, dtype=np.int64)


def test_each_episode_plays_one_member_drawn_with_the_mixture_weights():
    members = [ConstantPolicy(0, "a"), ConstantPolicy(1, "b"), ConstantPolicy(2, "c")]
    mixture = MixturePolicy(members, [0.2, 0.3, 0.5], name="fraudster_nash@3")
    mixture.reset(20_000, seed=5)
    shares = np.bincount(mixture.assignment, minlength=3) / 20_000
    np.testing.assert_allclose(shares, [0.2, 0.3, 0.5], atol=0.015)
    # Every member is reset with the number of episodes it plays, so a stateful member keeps one state per episode.
    assert [m.resets[-1] for m in members] == list(np.bincount(mixture.assignment, minlength=3))
    actions = mixture.act(np.zeros((20_000, 7), dtype=np.float32))
    np.testing.assert_array_equal(actions[:, 0], mixture.assignment)  # each row played by its episode's member
    # The draw holds for the whole episode: acting again does not redraw.
    np.testing.assert_array_equal(mixture.act(np.zeros((20_000, 7), dtype=np.float32))[:, 0], mixture.assignment)
    first = mixture.assignment.copy()
    mixture.reset(20_000, seed=5)
    np.testing.assert_array_equal(mixture.assignment, first)  # same seed, same draws
    mixture.reset(20_000, seed=6)
    assert not np.array_equal(mixture.assignment, first)  # a new batch of episodes draws anew


def test_one_episode_sessions_draw_a_member_by_seed():
    members = [ConstantPolicy(0, "a"), ConstantPolicy(1, "b")]
    mixture = MixturePolicy(members, [0.25, 0.75], name="fraudster_nash@1")
    drawn = [mixture.member_for_episode(seed).name for seed in range(4000)]
    assert abs(drawn.count("b") / 4000 - 0.75) < 0.03
    assert mixture.member_for_episode(17) is mixture.member_for_episode(17)


def test_a_mixture_refuses_bad_weights_and_mixed_roles():
    with pytest.raises(ValueError, match="sum"):
        MixturePolicy([ConstantPolicy(0, "a")], [0.5], name="m")
    router = ConstantPolicy(0, "r")
    router.role = "router"
    with pytest.raises(ValueError, match="mixes roles"):
        MixturePolicy([ConstantPolicy(0, "a"), router], [0.5, 0.5], name="m")
    with pytest.raises(RuntimeError, match="after reset"):
        mixture = MixturePolicy([ConstantPolicy(0, "a")], [1.0], name="m")
        mixture.reset(3, seed=0)
        mixture.act(np.zeros((4, 7)))


def test_names_and_files(tmp_path):
    assert mixture_name("router", "nash", 12) == "router_nash@12"
    assert parse_mixture_name("router_nash@12") == ("router", "nash", 12)
    assert parse_mixture_name("fraudster_prd@3") == ("fraudster", "prd", 3)
    assert parse_mixture_name("router_main@it12") is None and parse_mixture_name("router_bogus@3") is None
    mixture = make_mixture("router", "nash", 4, ["a", "b", "c"], [0.7, 1e-9, 0.3], source="test", value=1.5)
    assert mixture.members == ["a", "c"] and sum(mixture.weights) == pytest.approx(1.0)  # round-off dropped
    path = write_mixture(tmp_path, mixture)
    assert path == tmp_path / "mixtures" / "router_nash@4.json"
    assert read_mixture(path) == mixture
    path.write_text("{")
    with pytest.raises(ValueError, match="malformed"):
        read_mixture(path)


def test_a_mixture_over_part_of_the_population_carries_it_in_its_name(tmp_path):
    assert mixture_name("router", "nash", 12, population="learned") == "router_nash@12-learned"
    assert parse_mixture_name("router_nash@12-learned") == ("router", "nash", 12)
    assert parse_mixture_name("router_nash@12-bogus") is None
    with pytest.raises(ValueError, match="population must be one of"):
        mixture_name("router", "nash", 12, population="bogus")
    mixture = make_mixture("fraudster", "nash", 3, ["a"], [1.0], population="learned")
    assert write_mixture(tmp_path, mixture).name == "fraudster_nash@3-learned.json"

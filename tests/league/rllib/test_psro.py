"""PSRO (``league.regime: psro``) at smoke scale: epochs add players, meta-strategies are distributions, it resumes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from league.core.config import load_train_config
from league.rllib.psro import PsroDocument, check_config, slot_support

PSRO_SMOKE = Path(__file__).parents[3] / "configs" / "psro_smoke.yaml"


def test_slot_support_keeps_the_heaviest_members_renormalised():
    names, weights = slot_support(["a", "b", "c", "d"], np.array([0.1, 0.5, 0.0, 0.4]), slots=2)
    assert names == ["b", "d"] and weights == pytest.approx([5 / 9, 4 / 9])
    assert slot_support(["a", "b"], np.array([0.0, 1.0]), slots=4) == (["b"], [1.0])


def test_psro_config_errors_name_the_field():
    config = load_train_config(PSRO_SMOKE)
    check_config(config)
    league = {**config.league.model_dump(mode="json"), "scripted_opponents": ["fraudster_scripted:neutral"]}
    from league.core.config import make_train_config

    with pytest.raises(ValueError, match="scripted_opponents must name at least one router"):
        check_config(make_train_config({**config.model_dump(by_alias=True), "league": league}))
    with pytest.raises(ValueError, match="meta_solver"):
        make_train_config({**config.model_dump(by_alias=True), "psro": {"meta_solver": "alpharank"}})


@pytest.mark.ray
def test_two_epochs_add_two_players_per_side_and_resume_adds_a_third(tmp_path):
    import ray

    from league.evaluation.loading import load_player, open_run
    from league.evaluation.mixture import MixturePolicy, read_mixture
    from league.rllib.psro import train_psro

    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        config = load_train_config(PSRO_SMOKE)
        run_dir = tmp_path / "psro"
        document = train_psro(config, run_dir, verbose=False)
        assert document.routers == ["router_scripted:risk_threshold", "router_main@it1", "router_main@it2"]
        assert document.fraudsters == ["fraudster_scripted:neutral", "fraudster_main@it1", "fraudster_main@it2"]
        payoff = np.asarray(document.payoff)
        assert payoff.shape == (3, 3) and np.isfinite(payoff).all()
        assert [e.epoch for e in document.epochs] == [1, 2]
        for epoch in document.epochs:
            assert sum(epoch.router_meta.values()) == pytest.approx(1.0)
            assert sum(epoch.fraudster_meta.values()) == pytest.approx(1.0)
            assert epoch.env_steps >= 2 * config.psro.best_response_steps
            assert epoch.nash_conv_lower_bound == pytest.approx(
                max(0.0, epoch.router_best_response_gain) + max(0.0, epoch.fraudster_best_response_gain))
        # Epoch 1 trained against the one scripted player of each side, epoch 2 against the 2-member population.
        assert document.epochs[0].fraudster_meta == {"fraudster_scripted:neutral": 1.0}
        assert set(document.epochs[1].router_meta) == {"router_scripted:risk_threshold", "router_main@it1"}
        run = open_run(run_dir)
        assert [p.name for p in run.state.snapshots("router")] == ["router_main@it1", "router_main@it2"]
        mixture = read_mixture(run_dir / "mixtures" / "router_nash@2.json")
        assert sum(mixture.weights) == pytest.approx(1.0) and set(mixture.members) <= set(document.routers)
        assert isinstance(load_player(run, "fraudster_nash@2"), MixturePolicy)
        assert load_player(run, "router_main").name == "router_main"  # the newest best response
        # Resume: one more epoch; the first two are kept as they were.
        before = json.loads((run_dir / "psro.json").read_text())
        again = train_psro(config, run_dir, resume=True, epochs=3, verbose=False)
        assert again.routers[-1] == "router_main@it3" and np.asarray(again.payoff).shape == (4, 4)
        np.testing.assert_array_equal(np.asarray(again.payoff)[:3, :3], np.asarray(before["payoff"]))
        assert [e.epoch for e in PsroDocument.read(run_dir / "psro.json").epochs] == [1, 2, 3]
        with pytest.raises(ValueError, match="already holds a run"):
            train_psro(config, run_dir, verbose=False)
    finally:
        if started:
            ray.shutdown()

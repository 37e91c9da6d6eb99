"""Config validation: presets, overrides, YAML, and errors that name the field."""

import pytest

import smartpay_marl
from smartpay_marl.config import DIFFICULTY_PRESETS, GameConfig, load_game_config, make_game_config


def test_presets_really_change_the_game():
    easy, hard = GameConfig(difficulty="easy"), GameConfig(difficulty="hard")
    for field in ("background_fraud_rate", "gateway_instability", "churn_hazard"):
        assert getattr(easy, field) < getattr(hard, field)
        assert getattr(easy, field) == DIFFICULTY_PRESETS["easy"][field]


def test_override_beats_preset():
    assert GameConfig(difficulty="hard", background_fraud_rate=0.001).background_fraud_rate == 0.001


def test_unknown_key_is_rejected_by_name():
    with pytest.raises(ValueError, match="fraud_rat"):
        make_game_config(fraud_rat=0.1)
    with pytest.raises(ValueError, match="colour"):
        smartpay_marl.parallel_env(colour="red")


@pytest.mark.parametrize(
    "field,value,pattern",
    [
        ("max_cycles", 0, "max_cycles"),
        ("background_fraud_rate", 0.9, "background_fraud_rate"),
        ("difficulty", "extreme", "difficulty"),
        ("reward_mode", "win", "reward_mode"),
        ("chargeback_delay", (10, 5), "chargeback_delay"),
        ("intensity_levels", (0.0,), "intensity_levels"),
        ("gateway_base_success", (0.9, 1.2, 0.9), "gateway_base_success"),
        ("reward_scale", -1.0, "reward_scale"),
    ],
)
def test_out_of_range_values_name_the_field(field, value, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_game_config(**{field: value})


def test_yaml_configs_load(tmp_path):
    path = tmp_path / "game.yaml"
    path.write_text("difficulty: hard\nmax_cycles: 50\n")
    config = load_game_config(path, reward_mode="profit")
    assert (config.difficulty, config.max_cycles, config.reward_mode) == ("hard", 50, "profit")
    path.write_text("difficulty: hard\nmax_cyclez: 50\n")
    with pytest.raises(ValueError, match=r"game\.yaml.*max_cyclez"):
        load_game_config(path)
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_game_config(tmp_path / "missing.yaml")


def test_shipped_game_configs_load():
    from pathlib import Path

    paths = sorted((Path(__file__).parents[2] / "configs" / "game").glob("*.yaml"))
    assert paths, "configs/game/ should ship the difficulty presets"
    for path in paths:
        load_game_config(path)

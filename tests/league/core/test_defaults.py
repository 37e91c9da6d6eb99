"""A config that leaves ``ppo`` and ``fraudster_baseline`` out trains with the quick-start's measured-best settings."""

from pathlib import Path

from league.core.config import PPOSettings, load_train_config, make_train_config
from smartpay_marl.config import make_game_config

QUICKSTART = Path(__file__).parents[3] / "configs" / "quickstart.yaml"


def test_ppo_defaults_equal_the_quickstarts_settings():
    quickstart = load_train_config(QUICKSTART)
    defaults = PPOSettings()
    differing = {
        name: (getattr(defaults, name), getattr(quickstart.ppo, name))
        for name in PPOSettings.model_fields
        if getattr(defaults, name) != getattr(quickstart.ppo, name)
    }
    assert not differing, f"PPO defaults differ from configs/quickstart.yaml (default, quick-start): {differing}"
    assert make_train_config({}).ppo == quickstart.ppo


def test_training_signal_default_is_the_quickstarts():
    assert make_train_config({}).fraudster_baseline == load_train_config(QUICKSTART).fraudster_baseline == "counterfactual"
    # RLlib's stock runner cannot play the shadow game: left unsaid, its signal is the zero-sum reward.
    assert make_train_config({"resources": {"env_runner": "stock"}}).fraudster_baseline == "none"


def test_default_batch_ends_every_episode_of_the_default_runner():
    config = make_train_config({})
    resources = config.resources
    per_iteration = resources.num_envs_per_env_runner * make_game_config().max_cycles * max(1, resources.num_env_runners)
    assert config.ppo.train_batch_size % per_iteration == 0


def test_every_ppo_default_states_its_evidence():
    missing = [name for name, field in PPOSettings.model_fields.items() if not field.description]
    assert not missing, f"PPO fields without a description: {missing}"

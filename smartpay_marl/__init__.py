"""smartpay-marl: a payment router against a learnable fraud ring, as a PettingZoo game."""

from smartpay_marl.config import GameConfig, load_game_config, make_game_config
from smartpay_marl.simulator import Simulator
from smartpay_marl.vector_env import VectorEnv, vector_env

__version__ = "0.1.0"
__all__ = ["GameConfig", "Simulator", "VectorEnv", "vector_env", "load_game_config", "make_game_config", "__version__"]

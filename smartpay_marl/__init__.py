"""smartpay-marl: a payment router against a learnable fraud ring, as a PettingZoo game."""

from smartpay_marl.config import GameConfig, load_game_config, make_game_config
from smartpay_marl.simulator import Simulator

__version__ = "0.1.0"
__all__ = ["GameConfig", "Simulator", "load_game_config", "make_game_config", "__version__"]

"""smartpay-marl: a payment router against a learnable fraud ring, as a PettingZoo game.

Entry points:

- :func:`parallel_env` / :func:`env`: the game as a PettingZoo parallel / AEC environment.
- :func:`vector_env`: N games stepped together, batched numpy in and out.
- :class:`GameConfig`: every parameter of the game, validated; :func:`load_game_config` reads YAML.
"""

import pettingzoo as _pettingzoo

from smartpay_marl.config import GameConfig, load_game_config, make_game_config
from smartpay_marl.models import FraudsterAction, RouterAction, StepView
from smartpay_marl.pettingzoo_env import SmartPayParallelEnv, env, parallel_env
from smartpay_marl.simulator import Simulator
from smartpay_marl.vector_env import VectorEnv, vector_env

__version__ = "0.1.0"
ENV_ID = "smartpay_marl/SmartPay-v0"

# PettingZoo's registry (pettingzoo.make) arrived in 1.27. Older releases, which some multi-agent libraries
# pin, run the env just as well; there it is simply not registered.
if hasattr(_pettingzoo, "register"):
    _pettingzoo.register("parallel", ENV_ID, entry_point="smartpay_marl:parallel_env")
    _pettingzoo.register("aec", ENV_ID, entry_point="smartpay_marl:env")

__all__ = [
    "ENV_ID",
    "FraudsterAction",
    "GameConfig",
    "RouterAction",
    "Simulator",
    "SmartPayParallelEnv",
    "StepView",
    "VectorEnv",
    "env",
    "load_game_config",
    "make_game_config",
    "parallel_env",
    "vector_env",
    "__version__",
]

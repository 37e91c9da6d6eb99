"""The ``smartpay-marl`` command line: one subcommand per job, each in its own module.

``smartpay-marl demo``      play and print a short episode
``smartpay-marl bench``     measure the game's throughput
``smartpay-marl baselines`` play every scripted router against every scripted fraudster
``smartpay-marl train``     train a league with RLlib
``smartpay-marl evaluate``  cross-play, ratings and meta-Nash of a league run
``smartpay-marl exploit``   approximate exploitability of a player by a best response

The CLI lives in ``league``, the top of the package stack (``smartpay_marl`` <-
``agents`` <- ``league``), so that it imports every subcommand downwards. Each
subcommand module exposes ``add_arguments(parser)`` and ``main(args)`` and
keeps its heavy imports (Ray, torch) inside ``main``, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType


def _subcommands() -> dict[str, tuple[ModuleType, str]]:
    """subcommand -> (module with add_arguments(parser) and main(args), one-line help)."""
    from agents import baselines
    from league.evaluation import evaluate
    from league.rllib import exploit, train
    from league.serving import cli as serve
    from smartpay_marl import bench, demo

    return {
        "demo": (demo, "play a short episode and print it step by step"),
        "bench": (bench, "env-steps/s of the single env and the vector env"),
        "baselines": (baselines, "round robin of the scripted routers and fraudsters"),
        "train": (train, "train a league with RLlib"),
        "evaluate": (evaluate, "cross-play, ratings and meta-Nash of a league run"),
        "exploit": (exploit, "approximate exploitability of a player by a best response"),
        "serve": (serve, "serve the game over HTTP for language-model and remote agents"),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartpay-marl", description="A payment router against a learnable fraud ring: game, league, evaluation."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _subcommands().items():
        sub = commands.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.main)
    return parser


def _version() -> str:
    from smartpay_marl import __version__

    return __version__


#: Subcommands that train with RLlib, whose results depend on Python's string hashing (see below).
_TRAINING_COMMANDS = ("train", "exploit")


def _reexec_with_fixed_hash_seed() -> None:
    """Restart this process with ``PYTHONHASHSEED=0`` for the training subcommands.

    RLlib's learner shuffles each module's minibatches with the global numpy
    generator, visiting the modules in an order that follows Python's
    per-process string hashing, so two runs with the same seed diverge after
    the first update unless the hash seed is fixed. Ray's worker processes
    inherit the variable.
    """
    if os.environ.get("PYTHONHASHSEED") is not None:
        return
    if not any(word in _TRAINING_COMMANDS for word in sys.argv[1:3]):
        return
    os.execve(sys.executable, [sys.executable, "-m", "league.cli", *sys.argv[1:]], {**os.environ, "PYTHONHASHSEED": "0"})


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        _reexec_with_fixed_hash_seed()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

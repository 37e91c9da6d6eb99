"""The ``smartpay-marl`` command line: one subcommand per job, each in its own module.

``smartpay-marl demo``      play and print a short episode
``smartpay-marl bench``     measure the game's throughput
``smartpay-marl baselines`` play every scripted router against every scripted fraudster
``smartpay-marl train``     train a league with RLlib
``smartpay-marl evaluate``  cross-play, ratings and meta-Nash of a league run
``smartpay-marl exploit``   a lower bound on a player's exploitability, from a best-response oracle
``smartpay-marl psro``      train by PSRO (league.regime: psro)
``smartpay-marl export-log`` write the generator's customers as a transaction log to replay

The CLI lives in ``league``, the top of the package stack (``smartpay_marl`` <-
``agents`` <- ``league``), so that it imports every subcommand downwards. Each
subcommand module exposes ``add_arguments(parser)`` and ``main(args)``. Only
the module of the subcommand being run is imported (``smartpay-marl --help``
imports none), and those modules keep Ray and torch inside the functions
that need them, so every ``--help`` stays fast.

Errors: :func:`main` turns an exception from a subcommand into one line,
``smartpay-marl <command>: error: <message>``, on stderr. User errors (bad
values, missing or malformed files: ``ValueError`` and its subclasses,
``FileNotFoundError``, ``NotADirectoryError``, ``IsADirectoryError``,
``PermissionError``, YAML and pydantic validation errors) exit with 2, like
argparse's own usage errors; anything else exits with 1 and names the
exception type. ``--debug`` (before or after the subcommand) re-raises, so
the traceback shows. Ctrl-C prints ``interrupted`` and exits with 130.

Extras: ``pip install smartpay-marl`` installs the game alone. A subcommand
that needs an extra (:data:`COMMAND_NEEDS`) checks, before it runs, that the
modules it needs are installed, and otherwise stops with one line naming the
extra to install (exit code 2). A missing module of an extra met later, while
a subcommand runs, gets the same line. ``--help`` works without the extra.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

#: subcommand -> (module with add_arguments(parser) and main(args), one-line help). Imported on use only.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("smartpay_marl.demo", "play a short episode and print it step by step"),
    "bench": ("smartpay_marl.bench", "env-steps/s of the single env and the vector env"),
    "baselines": ("agents.baselines", "round robin of the scripted routers and fraudsters"),
    "train": ("league.rllib.train", "train a league with RLlib"),
    "evaluate": ("league.evaluation.evaluate", "cross-play, ratings and meta-Nash of a league run"),
    "exploit": ("league.rllib.exploit", "a lower bound on a player's exploitability, from a best-response oracle"),
    "psro": ("league.rllib.psro", "train by PSRO: best responses to the meta-strategy, epoch by epoch"),
    "serve": ("league.serving.cli", "serve the game over HTTP for language-model and remote agents"),
    "export-log": ("smartpay_marl.log_export", "write the generator's customers as a transaction log to replay"),
}
#: Extra -> the top-level modules it installs beyond the core (pyproject.toml's optional dependencies).
EXTRAS: dict[str, tuple[str, ...]] = {
    "league": ("ray", "torch", "scipy", "matplotlib"),
    "serve": ("fastapi", "uvicorn"),
    "logs": ("pyarrow",),
}
#: Subcommand -> (its extra, the modules of that extra it cannot run without). Not listed: the core suffices.
COMMAND_NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "baselines": ("league", ("scipy",)),  # confidence intervals; --png also needs matplotlib
    "train": ("league", ("ray", "torch", "scipy")),
    "evaluate": ("league", ("scipy",)),  # learned snapshots also need torch, checked when one is loaded
    "exploit": ("league", ("ray", "torch", "scipy")),
    "psro": ("league", ("ray", "torch", "scipy")),
    "serve": ("serve", ("fastapi", "uvicorn")),
    "export-log": ("logs", ("pyarrow",)),
}
#: Set in the environment by ``--debug`` so that code below the CLI (e.g. Ray start-up) can show more.
DEBUG_ENV = "SMARTPAY_MARL_DEBUG"
EXIT_USER_ERROR = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def plain_text(text: str) -> str:
    """Docstring markup made readable in a terminal: ``x`` and :func:`x` become x."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return re.sub(r"``([^`]+)``", r"\1", text)


def _chosen_command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is not an option (top-level options take no value)."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and given its options (None: all of them)."""
    parser = argparse.ArgumentParser(
        prog="smartpay-marl",
        description="A payment router against a learnable fraud ring: game, league, evaluation.",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=28),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_debug(parser, False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        load = command is None or name == command
        module = importlib.import_module(module_name) if load else None
        description = plain_text((module.__doc__ or help_text).strip()) if module else help_text
        sub = commands.add_parser(
            name, help=help_text, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        # The sub-parser's default must not overwrite a --debug given before the subcommand.
        _add_debug(sub, argparse.SUPPRESS)
        if module is not None:
            module.add_arguments(sub)
            sub.set_defaults(handler=module.main)
    return parser


def _add_debug(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show the full traceback of an error and Ray's own log lines"
    )


def _version() -> str:
    # Read from the installed metadata: importing smartpay_marl would cost the start-up time --help saves.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("smartpay-marl")
    except PackageNotFoundError:
        return "unknown"


def is_user_error(error: BaseException) -> bool:
    """True for errors the user can fix from the message alone (exit code 2)."""
    if isinstance(error, (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return True
    # pydantic's ValidationError is a ValueError; YAML errors are checked by name so that yaml is not imported here.
    return any(f"{cls.__module__}.{cls.__name__}" == "yaml.error.YAMLError" for cls in type(error).__mro__)


def error_line(command: str, error: BaseException) -> str:
    """The one line printed for ``error``: the message, with the exception type for unexpected errors."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.strerror}: {error.filename}"
    else:
        message = str(error) or type(error).__name__
    if not is_user_error(error):
        message = f"{type(error).__name__}: {message}"
    message = " ".join(message.split())  # one line, even for messages that span several
    return f"smartpay-marl {command}: error: {message}"


#: Subcommands that train with RLlib, whose results depend on Python's string hashing (see below).
_TRAINING_COMMANDS = ("train", "exploit", "psro")


def _reexec_with_fixed_hash_seed(command: str | None) -> None:
    """Restart this process with ``PYTHONHASHSEED=0`` for the training subcommands.

    RLlib's learner shuffles each module's minibatches with the global numpy
    generator, visiting the modules in an order that follows Python's
    per-process string hashing, so two runs with the same seed diverge after
    the first update unless the hash seed is fixed. Ray's worker processes
    inherit the variable. Only a real process invocation (``argv`` not given)
    is restarted.
    """
    if command not in _TRAINING_COMMANDS or os.environ.get("PYTHONHASHSEED") is not None:
        return
    os.execve(sys.executable, [sys.executable, "-m", "league.cli", *sys.argv[1:]], {**os.environ, "PYTHONHASHSEED": "0"})


def missing_extra_line(command: str, modules: list[str], extra: str) -> str:
    """The one line for a subcommand whose ``extra`` is not installed, naming the missing modules."""
    return (
        f"smartpay-marl {command}: error: needs {', '.join(modules)}, not installed; "
        f"install the '{extra}' extra: pip install 'smartpay-marl[{extra}]'"
    )


def _extra_of(module: str) -> str | None:
    return next((extra for extra, modules in EXTRAS.items() if module in modules), None)


def missing_modules(command: str) -> list[str]:
    """The modules ``command`` needs (:data:`COMMAND_NEEDS`) that are not installed; found without importing them."""
    from importlib.util import find_spec

    _, modules = COMMAND_NEEDS.get(command, ("", ()))
    return [module for module in modules if find_spec(module) is None]


def _missing_extra_module(error: BaseException) -> str | None:
    """The top-level module of an extra whose absence raised ``error``, or None for any other error."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    top = error.name.split(".")[0]
    return top if _extra_of(top) is not None else None


def main(argv: list[str] | None = None) -> int:
    invoked = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _chosen_command(argv)
    if invoked:
        _reexec_with_fixed_hash_seed(command)
    try:
        parser = build_parser(command or "")
    except ModuleNotFoundError as error:
        # A subcommand module that imports an extra at the top cannot even give its --help without it.
        module = _missing_extra_module(error)
        if module is None or command is None:
            raise
        print(missing_extra_line(command, [module], _extra_of(module)), file=sys.stderr)
        return EXIT_USER_ERROR
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USER_ERROR
    missing = missing_modules(args.command)
    if missing:
        print(missing_extra_line(args.command, missing, COMMAND_NEEDS[args.command][0]), file=sys.stderr)
        return EXIT_USER_ERROR
    previous_debug = os.environ.get(DEBUG_ENV)
    if args.debug:
        os.environ[DEBUG_ENV] = "1"
    try:
        return int(args.handler(args) or 0)
    except SystemExit as exit_:
        # A subcommand's SystemExit("message") is a usage error in the same style as argparse's.
        if args.debug or not isinstance(exit_.code, str):
            raise
        print(f"smartpay-marl {args.command}: error: {' '.join(exit_.code.split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001  (the contract: every error becomes one line)
        if args.debug:
            raise
        module = _missing_extra_module(error)
        if module is not None:
            print(missing_extra_line(args.command, [module], _extra_of(module)), file=sys.stderr)
            return EXIT_USER_ERROR
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_USER_ERROR if is_user_error(error) else EXIT_FAILURE
    finally:
        # main() may be called in-process (tests, notebooks): --debug must not outlive the call.
        if previous_debug is None:
            os.environ.pop(DEBUG_ENV, None)
        else:
            os.environ[DEBUG_ENV] = previous_debug


if __name__ == "__main__":
    sys.exit(main())

"""``python -m league.serving [--host H] [--port P] [--runs DIR] [--logs DIR] ...``: the same as ``smartpay-marl serve``."""

from __future__ import annotations

import argparse
import sys

from league.serving import cli


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m league.serving", description=cli.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    cli.add_arguments(parser)
    return cli.main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(run())

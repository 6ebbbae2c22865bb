"""`mudjack` command line: a thin layer over the library. Run `mudjack COMMAND --help`.

One module per command, each with ``add_parser(sub)`` (its arguments) and ``run(args)`` (its
work); :func:`main` parses, checks the device, dispatches, and turns every
:class:`~mudjack.errors.MudjackError` into ``mudjack COMMAND: error: ...`` and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mudjack.cli import (
    attack,
    bug,
    check,
    demo,
    diff,
    evaluate,
    history,
    patch,
    pretrain,
    replay,
    report,
    reproduce,
    reverse,
    zoo,
)
from mudjack.cli._common import EPILOG
from mudjack.errors import MudjackError
from mudjack.utils import resolve_device

# The command line is offline and quiet about Hugging Face internals; the library leaves the
# environment alone. transformers is imported lazily, after main() has set these.
HF_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}

COMMANDS = {
    "demo": demo,
    "bug": bug,
    "reverse": reverse,
    "patch": patch,
    "evaluate": evaluate,
    "pretrain": pretrain,
    "attack": attack,
    "reproduce": reproduce,
    "zoo": zoo,
    "check": check,
    "history": history,
    "diff": diff,
    "replay": replay,
    "report": report,
}

__all__ = ["COMMANDS", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The `mudjack` parser with every command's sub-parser."""
    parser = argparse.ArgumentParser(
        prog="mudjack",
        description="Patch backdoored foundation models (Mudjacking).",
        epilog=EPILOG,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (0 done, 2 bad input, 130 interrupted).

    Bad arguments (a missing option, a number out of range) exit through argparse with its
    usage line and code 2.
    """
    for key, value in HF_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    args = build_parser().parse_args(argv)
    try:
        resolve_device(args.device)  # an unknown or absent device fails before any work
        return COMMANDS[args.command].run(args)
    except MudjackError as exc:
        print(f"mudjack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

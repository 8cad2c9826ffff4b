"""The ``catlm`` console script: one subcommand per module of ``catlm.commands``.

Each command module defines ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``.
Errors of catlm reach the terminal as ``file:line:col: error: message`` with the source line and
a caret, exit status 1, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from catlm.errors import CatlmError

DESCRIPTION = ("Markov categories for language modelling: write kernels as .cat string diagrams, "
               "decide their laws, compile them to exact stochastic tensors or torch language models.")

# subcommand -> module; a table, so `catlm --help` loads none of the heavy modules
COMMANDS = {
    "check": "catlm.commands.check",
    "draw": "catlm.commands.draw",
    "eval": "catlm.commands.eval",
    "laws": "catlm.commands.laws",
    "train": "catlm.commands.train",
    "sample": "catlm.commands.sample",
    "analyze": "catlm.commands.analyze",
    "speculate": "catlm.commands.speculate",
    "demo": "catlm.commands.demo",
    "convert": "catlm.commands.convert",
    "score": "catlm.commands.score",
    "generate": "catlm.commands.generate",
}


def build_parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="catlm", description=DESCRIPTION,
                                     epilog="`catlm COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"catlm {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in names or list(COMMANDS):
        module = importlib.import_module(COMMANDS[name])
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # load only the named command's module when it is known: `catlm check` never imports torch
    known = [argv[0]] if argv and argv[0] in COMMANDS else None
    args = build_parser(known).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except CatlmError as err:
        print(err.render(_source_of(err)), file=sys.stderr)
        return 1
    except (OSError, UnicodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _source_of(err: CatlmError) -> str | None:
    if err.span is None or err.span.file.startswith("<"):
        return None
    try:
        return Path(err.span.file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _version() -> str:
    from catlm import __version__
    return __version__


if __name__ == "__main__":
    if os.environ.get("CATLM_DEBUG"):
        sys.tracebacklimit = 1000
    sys.exit(main())

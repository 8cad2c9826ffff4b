"""The ``catlm`` console script: one subcommand per module of ``catlm.commands``.

Each command module defines ``HELP`` (one line), ``configure(parser)`` and ``run(args) -> int``.
Errors of catlm reach the terminal as ``file:line:col: error: message`` with the source line and
a caret, exit status 1, never a traceback. Three things hold for every command because they live
here, once: a bad command line is a ``UsageError`` (exit 1, like every other error); ``--help``
shows each option's default (``HelpFormatter``); and a command whose optional dependencies are
missing (``NEEDS``) stops before any work with ``error: catlm sample needs torch``.

>>> print(build_parser(["sample"]).parse_args(["sample", "run", "--max-new", "-3"]))
Traceback (most recent call last):
  ...
catlm.errors.UsageError: argument --max-new: -3 is negative; give an integer >= 0 (see `catlm sample --help`)
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path
from typing import Callable

from catlm.errors import EXTRAS, CatlmError, UsageError, missing_extra, require

DESCRIPTION = ("Markov categories for language modelling: write kernels as .cat string diagrams, "
               "decide their laws, compile them to exact stochastic tensors or torch language models.")

# subcommand -> module; a table, so `catlm --help` loads none of the heavy modules
COMMANDS = {
    "check": "catlm.commands.check",
    "draw": "catlm.commands.draw",
    "eval": "catlm.commands.eval",
    "fmt": "catlm.commands.fmt",
    "laws": "catlm.commands.laws",
    "train": "catlm.commands.train",
    "sample": "catlm.commands.sample",
    "analyze": "catlm.commands.analyze",
    "speculate": "catlm.commands.speculate",
    "demo": "catlm.commands.demo",
    "experiment": "catlm.commands.experiment",
    "convert": "catlm.commands.convert",
    "score": "catlm.commands.score",
    "generate": "catlm.commands.generate",
}

# the modules of the torch extra that a torch command imports (safetensors: its checkpoints)
TORCH = ("torch", "safetensors")

# subcommand -> the optional modules it needs for these arguments; absent: none
NEEDS: dict[str, Callable[[argparse.Namespace], tuple[str, ...]]] = {
    "train": lambda args: TORCH,
    "sample": lambda args: () if args.checkpoint.endswith(".cat") else TORCH,  # exact draws: no torch
    "speculate": lambda args: TORCH,
    "demo": lambda args: TORCH,
    "analyze": lambda args: TORCH if Path(args.target).is_dir() else (),  # a run folder, not a .cat
    "experiment": lambda args: TORCH if args.name == "drafter_entropy" else (),  # it trains a GPT
    "convert": lambda args: TORCH + (() if Path(args.source).is_dir() else ("gguf",)),  # a GGUF file
    "score": lambda args: TORCH,
    "generate": lambda args: TORCH,
}


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, unless it is a flag, unset, or already said."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        unset = default is None or default is False or default == [] or default == argparse.SUPPRESS
        if not action.option_strings or unset or "default" in text:
            return text
        shown = "%(default)r" if isinstance(default, str) else "%(default)s"
        return f"{text} (default: {shown})"


class Parser(argparse.ArgumentParser):
    """argparse, except that a bad command line raises ``UsageError`` (exit 1 with a hint)
    instead of printing usage and exiting 2."""

    def error(self, message: str):
        raise UsageError(message, hint=f"see `{self.prog} --help`")


def build_parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(prog="catlm", description=DESCRIPTION, formatter_class=HelpFormatter,
                    epilog="`catlm COMMAND --help` describes each command.")
    parser.add_argument("--version", action="version", version=f"catlm {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in names or list(COMMANDS):
        module = importlib.import_module(COMMANDS[name])
        command = sub.add_parser(name, help=module.HELP, description=module.HELP,
                                 formatter_class=HelpFormatter)
        module.configure(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # load only the named command's module when it is known: `catlm check` never imports torch
    known = [argv[0]] if argv and argv[0] in COMMANDS else None
    try:
        args = build_parser(known).parse_args(argv)
        require(NEEDS.get(args.command, lambda _: ())(args), f"catlm {args.command}")
        return int(args.run(args) or 0)
    except CatlmError as err:
        print(err.render(_source_of(err)), file=sys.stderr)
        return 1
    except ModuleNotFoundError as err:  # an optional module a command reached without NEEDS saying so
        if err.name is None or err.name.partition(".")[0] not in EXTRAS:
            raise
        print(missing_extra(err.name.partition(".")[0], f"catlm {argv[0]}").render(), file=sys.stderr)
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

"""``catlm draw FILE [-k NAME] [-o OUT]``: the string diagrams of a spec's kernels.

Where the pictures go (``{stem}`` is the file's name without ``.cat``):

* no ``-o``: ``{stem}-{kernel}.svg`` in the current directory, one per kernel drawn;
* ``-o -``: terminal art on standard output, each kernel under its name and type;
* ``-o DIR`` (an existing folder, or a name ending in ``/`` or without a suffix):
  ``DIR/{stem}-{kernel}.svg``;
* ``-o PATTERN`` containing ``{kernel}`` (and optionally ``{stem}``), e.g. ``out/{kernel}.png``;
* ``-o FILE.svg`` or ``FILE.png``: one picture, of the ``-k`` kernel or else the last kernel.

Without ``-k`` every kernel is drawn (except into a single file).

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> configure(parser)
>>> vars(parser.parse_args(["coin.cat", "-k", "joint", "-o", "-"]))
{'file': 'coin.cat', 'kernel': 'joint', 'output': '-'}
"""
from __future__ import annotations

import argparse
from pathlib import Path

from catlm.errors import SpecError, UsageError

HELP = "draw the string diagrams of a .cat file's kernels (SVG, PNG, or text with -o -)"
DEFAULT_SUFFIX = ".svg"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the .cat file")
    parser.add_argument("-k", "--kernel", metavar="NAME",
                        help="the kernel to draw (default: every kernel)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="'-' for text on the terminal, a folder, a pattern with {kernel}, "
                             "or one .svg/.png file (default: FILE-KERNEL.svg here)")


def run(args: argparse.Namespace) -> int:
    from catlm.elaborate import load
    spec = load(args.file)
    names = _chosen(spec, args.kernel, args.output, args.file)
    if args.output == "-":
        _print(spec, names)
        return 0
    from catlm.drawing.render import check_format, render
    stem = Path(args.file).stem
    targets = {name: check_format(_target(args.output, stem, name)) for name in names}
    for name, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {render(spec.kernels[name], path)}")
    return 0


def _chosen(spec, kernel: str | None, output: str | None, file: str) -> list[str]:
    """The kernels to draw: the named one, the last one for a single file, or all of them."""
    if not spec.kernels:
        raise SpecError(f"{file} defines no kernels, so there is nothing to draw",
                        hint="add a line such as `kernel f : A -> B`")
    if kernel is not None and kernel not in spec.kernels:
        raise UsageError(f"unknown kernel '{kernel}' in {file}; it defines "
                        f"{', '.join(spec.kernels)}", hint="pass one of these names with -k")
    if kernel is not None:
        return [kernel]
    return [spec.last_kernel] if _is_single_file(output) else list(spec.kernels)


def _is_single_file(output: str | None) -> bool:
    if output is None or output == "-" or "{kernel}" in output:
        return False
    return not _is_folder(output)


def _is_folder(output: str) -> bool:
    return output.endswith(("/", "\\")) or Path(output).is_dir() or not Path(output).suffix


def _target(output: str | None, stem: str, name: str) -> Path:
    default = f"{stem}-{name}{DEFAULT_SUFFIX}"
    if output is None:
        return Path(default)
    if "{kernel}" in output:
        return Path(output.replace("{kernel}", name).replace("{stem}", stem))
    return Path(output) / default if _is_folder(output) else Path(output)


def _print(spec, names: list[str]) -> None:
    from catlm.drawing import ascii_art
    for i, name in enumerate(names):
        print(("\n" if i else "") + str(spec.kernels[name]))
        print(ascii_art(spec.kernels[name]))

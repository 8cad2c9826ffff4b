"""The front end of catlm: ``.cat`` text <-> the frozen syntax tree of ``catlm.syntax.ast``.

``parse`` and ``parse_file`` read one file, ``load_files`` follows its imports, and ``format``
writes canonical text back, so that ``parse(format(spec)) == spec``. The syntax itself is
``grammar/catlm.lark``; docs/language.md describes it.

>>> from catlm.syntax import parse, format
>>> spec = parse("kernel gen2 = head ∘ emb")
>>> print(format(spec), end="")
kernel gen2 = head . emb
>>> parse(format(spec)) == spec
True
"""
from __future__ import annotations

from catlm.syntax.format import format, format_expr, format_ob
from catlm.syntax.parser import load_files, parse, parse_file

__all__ = ["format", "format_expr", "format_ob", "load_files", "parse", "parse_file"]

"""The Lark parser is built once per process: every later parse reuses its LALR tables."""
from __future__ import annotations

from catlm.syntax import parser


def test_parsing_twice_builds_the_parser_once(monkeypatch):
    built = []

    class CountingLark(parser.Lark):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(parser, "Lark", CountingLark)
    parser._lark.cache_clear()
    try:
        first = parser.parse("object A = fin 2\n")
        second = parser.parse("object B = fin 3\nkernel f : B -> B = id\n", "b.cat")
    finally:
        parser._lark.cache_clear()  # the next test builds the real parser again
    assert len(built) == 1
    assert [s.name for s in first.statements] == ["A"]
    assert [type(s).__name__ for s in second.statements] == ["ObjectDecl", "KernelDecl"]

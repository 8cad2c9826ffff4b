"""Laws as tests: ``pytest --catlm`` collects every ``.cat`` file under the test paths.

Each ``law`` and each ``check`` of a spec is one test item, ``file.cat::name`` (a check is
``check_deterministic[expr]`` or ``check_markov[Obj]``), selectable with ``-k``. An item decides its
relation as ``catlm laws`` does (``catlm.laws``, exactly, seed 0) and fails when a row does not
come out as stated; the report shows the located message (``file:line:col``), the verdict with
its scope and the counterexample. A spec that does not load is a collection error with catlm's
message. The plugin is registered through the ``pytest11`` entry point of the catlm package, so it
is available wherever catlm is installed and inert without ``--catlm``.

>>> import catlm
>>> spec = catlm.parse("object A = fin 2\\nkernel f : A -> A\\nlaw causal : f >> del == del\\n"
...                    "check deterministic copy[A]\\ncheck markov A\\n")
>>> [law.name for law in spec.laws] + [item_name(check) for check in spec.checks]
['causal', 'check_deterministic[copy[A]]', 'check_markov[A]']
"""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("catlm")
    group.addoption("--catlm", action="store_true", default=False,
                    help="collect the laws and checks of .cat files as test items")


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if file_path.suffix == ".cat" and parent.config.getoption("catlm"):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    """A ``.cat`` file: one item per law and per check, decided against one shared context."""

    def collect(self):
        from catlm.errors import CatlmError
        from catlm.elaborate import load
        from catlm.laws import Context

        try:
            self.spec = load(str(self.path))
        except CatlmError as err:
            raise self.CollectError(err.render(_source(self.path))) from None
        self.context = Context.exact()
        for law in self.spec.laws:
            yield RelationItem.from_parent(self, name=law.name, relation=law)
        for check in self.spec.checks:
            yield RelationItem.from_parent(self, name=item_name(check), relation=check)


def item_name(check) -> str:
    """The test item of a check: ``check_deterministic[expr]`` or ``check_markov[Obj]``."""
    from catlm.core.presentation import DeterministicCheck
    if isinstance(check, DeterministicCheck):
        return f"check_deterministic[{check.diagram.diagram.expr}]"
    return f"check_markov[{check.name}]"


def _source(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


class RelationFailed(Exception):
    """A law or check that did not come out as stated; carries the rows to report."""

    def __init__(self, where: str, rows: list):
        super().__init__(where)
        self.where = where
        self.rows = rows


class RelationItem(pytest.Item):
    """One law or check of a spec."""

    def __init__(self, *, relation, **kwargs):
        super().__init__(**kwargs)
        self.relation = relation

    def runtest(self) -> None:
        from catlm.core.presentation import LawDecl
        from catlm.laws import _decide_check, decide_law

        spec, context = self.parent.spec, self.parent.context
        if isinstance(self.relation, LawDecl):
            rows = [decide_law(self.relation, context)]
        else:
            rows = _decide_check(self.relation, spec, context)
        wrong = [r for r in rows if not r.ok]
        if wrong:
            span = self.relation.span
            raise RelationFailed(str(span) if span else str(self.path), wrong)

    def repr_failure(self, excinfo, style=None):
        if not isinstance(excinfo.value, RelationFailed):
            return super().repr_failure(excinfo, style)
        lines = []
        for r in excinfo.value.rows:
            stated = "stated to hold" if r.expected else "stated to fail"
            lines.append(f"{excinfo.value.where}: {r.kind} {r.name} ({stated}): {r.verdict}")
            if r.counterexample is not None:
                lines.append(f"  counterexample: {r.counterexample}")
            elif r.detail:
                lines.append(f"  {r.detail}")
        return "\n".join(lines)

    def reportinfo(self):
        span = self.relation.span
        return self.path, (span.line - 1 if span else None), self.name

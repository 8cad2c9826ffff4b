"""Errors of catlm: one root class, one family per stage, every one with a source span.

Each stage of the pipeline (parse, elaborate, typecheck, compile, evaluate) raises one family.
Each family also inherits the matching builtin, as Lark's errors do, so that ``except ValueError``
keeps working for callers that do not know catlm.

>>> err = SpecError("unknown kernel 'f'", Span("x.cat", 2, 12, 2, 12), hint="declare it with `kernel f : A -> B`")
>>> print(err.render("object A = fin 2\\nkernel g = f\\n"))
x.cat:2:12: error: unknown kernel 'f'
  kernel g = f
             ^
  hint: declare it with `kernel f : A -> B`
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file; lines and columns count from 1, ends are inclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class CatlmError(Exception):
    """The root of every error catlm raises on purpose."""

    def __init__(self, message: str, span: Span | None = None, *, hint: str | None = None,
                 related: Span | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint
        self.related = related

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"

    def render(self, source: str | None = None) -> str:
        """The compiler-style report: ``file:line:col: error: message``, the line and a caret."""
        lines = [f"{self.span}: error: {self.message}" if self.span else f"error: {self.message}"]
        lines += _excerpt(source, self.span)
        if self.related is not None:
            lines.append(f"{self.related}: note: the other side is here")
            if self.span is not None and self.related.file == self.span.file:
                lines += _excerpt(source, self.related)
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def _excerpt(source: str | None, span: Span | None) -> list[str]:
    if source is None or span is None:
        return []
    text_lines = source.splitlines()
    if not 1 <= span.line <= len(text_lines):
        return []
    text = text_lines[span.line - 1]
    if len(text) > 200:  # a minified or binary line: show the neighbourhood of the column only
        start = max(0, span.column - 80)
        text, column = text[start:start + 160], span.column - start
    else:
        column = span.column
    width = span.end_column - span.column + 1 if span.end_line == span.line else 1
    width = max(1, min(width, len(text) - column + 2))
    return [f"  {text}", "  " + " " * (column - 1) + "^" * width]


class ParseError(CatlmError, SyntaxError):
    """The text is not in the .cat grammar (or not readable text at all)."""


class SpecError(CatlmError, ValueError):
    """The text parses but says something invalid: an unknown or duplicate name, a bad literal."""


class WiringError(CatlmError, TypeError):
    """Types do not compose; names both types and, where known, both spans."""


class KernelError(CatlmError, ValueError):
    """A kernel's entries are not a Markov kernel: a negative or NaN entry, a row not summing to 1."""


class BackendError(CatlmError, RuntimeError):
    """A backend cannot interpret a diagram (unknown backend, missing parameter, unsupported object)."""


class BudgetError(CatlmError, MemoryError):
    """A computation would exceed its memory budget; says the predicted size and how to raise it."""


class UsageError(CatlmError, ValueError):
    """A command or function was called with nonsense arguments (``--max-new -3``, a NaN
    temperature, a batch of 0, an option a backend cannot honour), caught before any work; the
    .cat text, if any, is not at fault."""


class MissingExtra(CatlmError, ImportError):
    """An optional dependency is not installed: names who needs it and the extra that provides it."""


# optional module -> the extra of setup.cfg that installs it
EXTRAS = {"torch": "torch", "safetensors": "torch", "tokenizers": "torch", "tqdm": "torch", "gguf": "llm"}


def require(modules: tuple[str, ...], who: str) -> None:
    """Raise ``MissingExtra`` naming ``who`` (e.g. ``catlm sample``) unless every module imports;
    checked before any work, so a command without its extra fails at once and says why.

    >>> require(("json",), "catlm sample")
    >>> require(("no_such_module_xyz",), "catlm sample")
    Traceback (most recent call last):
      ...
    catlm.errors.MissingExtra: catlm sample needs no_such_module_xyz (pip install 'catlm[no_such_module_xyz]')
    """
    from importlib.util import find_spec
    for name in modules:
        if find_spec(name) is None:
            raise missing_extra(name, who)


def missing_extra(module: str, who: str) -> MissingExtra:
    extra = EXTRAS.get(module, module)
    return MissingExtra(f"{who} needs {module}", hint=f"pip install 'catlm[{extra}]'")


@contextmanager
def located(span: Span | None) -> Iterator[None]:
    """An error raised inside without a place of its own takes ``span`` (e.g. the spec line that
    defined the diagram being compiled), so the CLI can still show file, line and caret."""
    try:
        yield
    except CatlmError as err:
        if err.span is None:
            err.span = span
        raise


def format_bytes(n: float) -> str:
    """``format_bytes(3 * 2**30) == '3.0 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")

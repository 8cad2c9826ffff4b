"""A griffe extension for the API reference: doctest examples render as code.

Docstrings hold runnable ``>>>`` examples (the test suite runs them). Markdown reads a line that
starts with ``>`` as a block quote, so untouched they render as nested quotes; this extension
wraps each run of doctest lines (prompts, continuations and the expected output up to a blank
line) in a ``pycon`` fence before mkdocstrings renders the docstring.
"""
from __future__ import annotations

from typing import Any

from griffe import Extension, Object

PROMPT, CONTINUATION = ">>> ", "... "


def fence_doctests(text: str) -> str:
    """Wrap every doctest block of ``text`` in a fenced ``pycon`` code block.

    >>> print(fence_doctests("Intro.\\n\\n>>> 1 + 1\\n2\\n\\nAfter."))
    Intro.
    <BLANKLINE>
    ```pycon
    >>> 1 + 1
    2
    ```
    <BLANKLINE>
    After.
    """
    out: list[str] = []
    inside = fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            fenced = not fenced
        starts = not fenced and (stripped.startswith(PROMPT) or stripped == ">>>")
        if starts and not inside:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            inside = True
        elif inside and not stripped:
            out.append(f"{indent}```")
            inside = False
        out.append(line)
    if inside:
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(Extension):
    """Fence the doctest examples of every documented object."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None and PROMPT.strip() in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)

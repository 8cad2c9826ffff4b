"""Bottom-up folds over syntax trees with an explicit stack, so deep input cannot overflow Python.

>>> children = lambda n: n[1:] if isinstance(n, tuple) else ()
>>> fold(("+", 1, ("+", 2, 3)), children, lambda n, vals: sum(vals) if vals else n)
6
"""
from __future__ import annotations

from typing import Any, Callable, Iterable


def fold(root: Any, children: Callable[[Any], Iterable[Any]],
         combine: Callable[[Any, list[Any]], Any]) -> Any:
    """``combine(node, [values of children])`` for every node, children first, without recursion."""
    stack: list[tuple[Any, bool]] = [(root, False)]
    values: list[Any] = []
    arity: list[int] = []
    while stack:
        node, expanded = stack.pop()
        if expanded:
            n = arity.pop()
            args = values[len(values) - n:] if n else []
            del values[len(values) - n:]
            values.append(combine(node, args))
            continue
        kids = list(children(node))
        arity.append(len(kids))
        stack.append((node, True))
        stack.extend((kid, False) for kid in reversed(kids))
    return values[0]

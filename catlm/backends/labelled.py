"""Compiled FinStoch kernels that carry the names of their elements.

``catlm.compile`` returns a ``LabelledKernel``: the tensor of shape dom sizes + cod sizes together
with the kernel's domain and codomain types, whose finite objects name their elements. It is
still a numpy array wherever numpy looks: ``np.asarray`` gives the tensor itself, ufuncs and
operators act on it (``k.sum(axis=-1)``, ``k == 0``, ``k[0, 1]``), and any other attribute is the
tensor's. A notebook shows it as a table (``_repr_html_``), one row per domain element and one
column per codomain element; ``print(k)`` and ``k.text()`` give the same table as text (``catlm eval``).

>>> from fractions import Fraction
>>> import numpy as np
>>> from catlm.core.types import Finite, Ty
>>> coin = Ty(Finite("Coin", ("heads", "tails")))
>>> k = LabelledKernel(np.array([Fraction(1, 3), Fraction(2, 3)], dtype=object), Ty(), coin, "flip")
>>> print(k)
flip : I -> Coin
   heads  tails
I    1/3    2/3
>>> k.sum(), np.asarray(k).shape, k.cod_elements
(Fraction(1, 1), (2,), (('heads', 'tails'),))
"""
from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from itertools import product
from math import prod

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from catlm.core.types import Ty

MAX_ROWS, MAX_COLS = 40, 20  # a larger table is shown by its corners, with an ellipsis between


@dataclass(frozen=True, eq=False)
class LabelledKernel(NDArrayOperatorsMixin):
    """``array`` (shape ``dom.shape + cod.shape``) of the kernel ``name : dom -> cod``."""

    array: np.ndarray
    dom: Ty
    cod: Ty
    name: str | None = None

    # --- a numpy array wherever numpy looks ------------------------------------------------------

    def __array__(self, dtype=None, copy=None):
        if dtype is None and not copy:
            return self.array
        return np.array(self.array, dtype=dtype, copy=True)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = tuple(x.array if isinstance(x, LabelledKernel) else x for x in inputs)
        return getattr(ufunc, method)(*plain, **kwargs)

    def __getattr__(self, name: str):
        if name.startswith("__"):  # copy, pickle and dataclass machinery look for dunders
            raise AttributeError(name)
        return getattr(self.array, name)

    def __getitem__(self, key):
        return self.array[key]

    def __len__(self) -> int:
        return len(self.array)

    def __iter__(self):
        return iter(self.array)

    def __repr__(self) -> str:
        return f"LabelledKernel({self.title}, {self.array!r})"

    def __str__(self) -> str:  # what print() shows: the kernel as a mathematician writes it, a table
        return self.text()

    # --- names -------------------------------------------------------------------------------------

    @property
    def title(self) -> str:
        return f"{self.name or 'kernel'} : {self.dom} -> {self.cod}"

    @property
    def dom_elements(self) -> tuple[tuple[str, ...], ...]:
        """The element names along each domain axis."""
        return tuple(tuple(ob.elements) for ob in self.dom)

    @property
    def cod_elements(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(ob.elements) for ob in self.cod)

    def rows(self) -> list[str]:
        """The row labels: a domain element, or a tuple ``a,b`` of them; ``I`` for a state."""
        return [",".join(t) or "I" for t in product(*self.dom_elements)]

    def cols(self) -> list[str]:
        return [",".join(t) or "I" for t in product(*self.cod_elements)]

    # --- tables ------------------------------------------------------------------------------------

    def matrix(self) -> np.ndarray:
        """One row per domain element, one column per codomain element."""
        return self.array.reshape(prod(self.dom.shape), prod(self.cod.shape))

    def text(self) -> str:
        """The whole table, aligned, under its title (``catlm eval``)."""
        grid = [[""] + self.cols()] + [[r] + [show(x) for x in row]
                                       for r, row in zip(self.rows(), self.matrix())]
        widths = [max(len(line[j]) for line in grid) for j in range(len(grid[0]))]
        return "\n".join([self.title] + ["  ".join(s.rjust(w) for s, w in zip(line, widths))
                                         for line in grid])

    def _repr_html_(self) -> str:
        m = self.matrix()
        rows, cols = _cut(m.shape[0], MAX_ROWS), _cut(m.shape[1], MAX_COLS)
        head = "".join(f"<th>{_label(self.cod_elements, j)}</th>" for j in cols)
        body = "".join(f"<tr><th>{_label(self.dom_elements, i)}</th>"
                       + "".join(f"<td>{'…' if i is None or j is None else html.escape(show(m[i, j]))}</td>"
                                 for j in cols) + "</tr>" for i in rows)
        return (f"<table><caption>{html.escape(self.title)}</caption>"
                f"<thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")


def show(x) -> str:
    """An entry as text: floats to 6 significant digits, exact values as they are (``1/3``)."""
    return f"{x:.6g}" if isinstance(x, (float, np.floating)) else exact_text(x)


def exact_text(x) -> str:
    """An exact value as text, however many digits it has. Python refuses to print an int of more
    than ``sys.get_int_max_str_digits()`` digits, a guard against parsing untrusted text; the
    numbers printed here are catlm's own results (a long exact chain has thousands of digits)."""
    try:
        return str(x)
    except ValueError:
        limit = sys.get_int_max_str_digits()
        sys.set_int_max_str_digits(0)
        try:
            return str(x)
        finally:
            sys.set_int_max_str_digits(limit)


def _label(axes: tuple[tuple[str, ...], ...], i: int | None) -> str:
    """The HTML label of row or column ``i`` (row-major over ``axes``); None is the ellipsis."""
    if i is None:
        return "…"
    index = np.unravel_index(i, tuple(len(a) for a in axes)) if axes else ()
    return html.escape(",".join(a[k] for a, k in zip(axes, index)) or "I")


def _cut(n: int, most: int) -> list[int | None]:
    """Indices to show of ``n``: all, or the first and last halves of ``most`` around a None."""
    if n <= most:
        return list(range(n))
    return list(range(most // 2)) + [None] + list(range(n - most // 2, n))

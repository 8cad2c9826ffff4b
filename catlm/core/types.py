"""Objects and types of the Markov category: the object part of every diagram.

An ``Ob`` is a generating object: a finite set with named elements (``{heads, tails}``, ``fin 6``),
a real space (``real 256``) or the sequences over another object (``Tok*``). A ``Ty`` is a
monoidal product of generating objects; the empty product is the unit ``I``. This is the free
monoid on objects, as in DisCoPy's ``Ty`` and Catlab's ``FreeSymmetricMonoidalCategory``.

>>> coin = Finite("Coin", ("heads", "tails"))
>>> die = Finite.range("Die", 6)
>>> t = Ty(coin) @ Ty(die)
>>> t, len(t), t.shape
(Ty(Coin, Die), 2, (2, 6))
>>> str(Ty(coin) ** 3), str(I)
('Coin @ Coin @ Coin', 'I')
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True, slots=True)
class Ob:
    """A generating object. Objects compare by name and structure (nominal, as in DisCoPy)."""

    name: str

    def __str__(self) -> str:
        return self.name

    @property
    def is_finite(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Finite(Ob):
    """A finite set; ``elements`` name its points in order (index ``i`` is ``elements[i]``)."""

    elements: tuple[str, ...] = ()

    @classmethod
    def range(cls, name: str, n: int) -> "Finite":
        """The set ``fin n`` = {0, ..., n-1}."""
        return cls(name, tuple(str(i) for i in range(n)))

    @property
    def size(self) -> int:
        return len(self.elements)

    @property
    def is_finite(self) -> bool:
        return True

    def index(self, element: str) -> int:
        return self.elements.index(element)


@dataclass(frozen=True, slots=True)
class Real(Ob):
    """The real space R^dim with its Borel sets."""

    dim: int = 1


@dataclass(frozen=True, slots=True)
class Seq(Ob):
    """Finite sequences over ``base``: the disjoint union of base^n for n >= 0 (the paper's V*)."""

    base: Ob = Ob("?")


@dataclass(frozen=True, slots=True, init=False)
class Ty:
    """A monoidal product of objects; ``Ty()`` is the unit ``I``."""

    objects: tuple[Ob, ...]

    def __init__(self, *objects: Ob):
        object.__setattr__(self, "objects", tuple(objects))

    def __matmul__(self, other: "Ty") -> "Ty":
        return Ty(*self.objects, *other.objects)

    def __pow__(self, n: int) -> "Ty":
        return Ty(*(self.objects * n))

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[Ob]:
        return iter(self.objects)

    def __getitem__(self, key: int | slice) -> "Ty | Ob":
        if isinstance(key, slice):
            return Ty(*self.objects[key])
        return self.objects[key]

    def __repr__(self) -> str:
        return f"Ty({', '.join(ob.name for ob in self.objects)})"

    def __str__(self) -> str:
        return " @ ".join(ob.name for ob in self.objects) or "I"

    @property
    def is_finite(self) -> bool:
        return all(ob.is_finite for ob in self.objects)

    @property
    def shape(self) -> tuple[int, ...]:
        """The axis sizes of a tensor over this type (finite objects only)."""
        return tuple(ob.size for ob in self.objects)  # type: ignore[attr-defined]


I = Ty()
"""The monoidal unit: the one-point space."""

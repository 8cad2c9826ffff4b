"""catlm: Markov categories for language modelling.

Write composites of Markov kernels as ``.cat`` text, check them as string diagrams, decide the
laws of a Markov category on them, and compile them to exact stochastic tensors (numpy, sympy) or
to torch language models. Heavy modules load on first use, so ``import catlm`` needs neither
torch nor matplotlib.

>>> import catlm
>>> spec = catlm.parse("object A = fin 2\\nkernel f : A -> A = [[1, 0], [1/2, 1/2]]\\n")
>>> spec.kernels["f"]
TypedDiagram(f : A -> A)
"""
from __future__ import annotations

from catlm.core import display as _display
from catlm.lazy import exports

__version__ = "0.1.0"

# public name -> module that defines it; loaded lazily (PEP 562)
_EXPORTS = {
    "parse": "catlm.elaborate",
    "load": "catlm.elaborate",
    "Presentation": "catlm.elaborate",
    "compile": "catlm.backends.functor",
    "typecheck": "catlm.core.check",
    "TypedDiagram": "catlm.core.check",
    "Ob": "catlm.core.types",
    "Ty": "catlm.core.types",
    "Finite": "catlm.core.types",
    "Real": "catlm.core.types",
    "Seq": "catlm.core.types",
    "I": "catlm.core.types",
    "Box": "catlm.core.diagram",
    "Diagram": "catlm.core.diagram",
    "identity": "catlm.core.diagram",
    "copy": "catlm.core.diagram",
    "delete": "catlm.core.diagram",
    "swap": "catlm.core.diagram",
    "marginal": "catlm.core.marginal",
    "generate": "catlm.runs.generate",
    "CatlmError": "catlm.errors",
    "ParseError": "catlm.errors",
    "SpecError": "catlm.errors",
    "WiringError": "catlm.errors",
    "KernelError": "catlm.errors",
    "BackendError": "catlm.errors",
    "BudgetError": "catlm.errors",
    "UsageError": "catlm.errors",
    "MissingExtra": "catlm.errors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = exports(__name__, _EXPORTS, globals())


# core's diagrams draw themselves with the drawing layer above them, named here: the package is
# where the layers are wired together, and catlm.drawing loads on the first picture only
_display.install("catlm.drawing.render")

"""Backends: functors from typed diagrams to FinStoch (numpy, sympy) or to torch modules.

``functor.compile`` looks a backend up in ``functor.BACKENDS``; ``finstoch`` contracts a wiring,
``params`` supplies and verifies the generators' tensors, ``symbolic`` holds the exact rings.
The torch backend is imported only when asked for.

>>> from catlm.backends.functor import BACKENDS
>>> sorted(BACKENDS)
['numpy', 'sympy', 'torch']
"""

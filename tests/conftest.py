"""Test-session settings: one BLAS/OpenMP thread per pytest worker.

``make test`` runs two workers on two cores; each torch or numpy process defaulting to every core
would oversubscribe the machine several times over and slow small steps by an order of magnitude.
"""
import os

for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

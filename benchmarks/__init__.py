"""Benchmarks: nyang against PyTorch, interleaved in one process.

PyTorch's OpenMP threads spin between calls by default and then starve NumPy's
BLAS threads in the same process (a 60 ms step was seen taking 1.8 s), so the
benchmarks ask for passive waiting before torch is imported, unless the user's
environment already says otherwise. The value is printed with the results.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

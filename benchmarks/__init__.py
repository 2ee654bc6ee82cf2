"""Benchmarks: nyang against PyTorch, taking turns in one process (see ``harness``).

They run in the environment they are given: thread counts, BLAS core type and OpenMP's
wait policy are the user's (printed with the results), never set here.
"""

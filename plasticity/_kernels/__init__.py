"""Numba kernels: arrays and scalars in, no Python objects; public wrappers validate input."""

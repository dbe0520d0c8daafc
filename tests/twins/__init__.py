"""Plain-NumPy twins of the Numba kernels, used only by the tests and the benchmarks."""

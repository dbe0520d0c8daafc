"""Speed of the rate RNN's forward and BPTT kernels against their NumPy twins.

Run from the repository root::

    python benchmarks/rnn_kernels.py [--repeat 7] [--threads 1]

For every batch size ``B`` in 16, 64, 256 and hidden size ``n`` in 32, 64 (``T = 40``
steps, ``n_in = 2``, ``n_out = 2``, tanh, ``alpha = 0.5``: the sizes of the sequence
tasks), the Numba kernels of :mod:`plasticity._kernels.rnn` and the NumPy twins of
``tests/twins/rnn.py`` (whose per-step work is one BLAS matmul over the batch) are timed
on the same arrays, forward and backward separately, best of ``--repeat`` after a warm-up.
Both results are compared, so the same computation is timed. The backward timings
include computing ``f'(a)`` with NumPy (the kernel takes it as an array).

``--threads N`` limits BLAS to ``N`` threads (threadpoolctl); without it BLAS uses its
default (all cores). The Numba kernels are serial. The ratio is NumPy's time over
Numba's: above 1 the kernel is faster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plasticity._kernels import rnn as kernels  # noqa: E402
from tests.twins import rnn as twins  # noqa: E402

T, N_IN, N_OUT, ALPHA, TANH = 40, 2, 2, 0.5, 1


def best(fn, repeat):
    """Best wall time of ``repeat`` calls of ``fn`` (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def case(B, n, repeat, seed=0):
    """Time forward and backward at one size; return a dict of seconds."""
    rng = np.random.default_rng(seed)
    W_in = rng.normal(0, 1 / np.sqrt(N_IN), (n, N_IN))
    W_rec = rng.normal(0, 1 / np.sqrt(n), (n, n))
    b = np.zeros(n)
    W_out = rng.normal(0, 1 / np.sqrt(n), (N_OUT, n))
    c = np.zeros(N_OUT)
    x = rng.normal(size=(B, T, N_IN))
    empty = np.empty((0, 0, 0))
    fwd = (W_in, W_rec, b, W_out, c, x, empty, False, ALPHA, TANH)
    a, h, h_prev, y = twins.rnn_forward(*fwd)
    got = kernels.rnn_forward(*fwd)
    assert np.allclose(got[1], h, rtol=1e-12, atol=1e-14)
    error = rng.normal(size=y.shape) / (B * T)

    def backward(impl):
        # f'(a) by NumPy's vectorised tanh in both, as RateRNN.backward does
        t = np.tanh(a)
        return impl.rnn_backward(W_rec, W_out, x, 1.0 - t * t, h, h_prev, error, ALPHA)

    assert np.allclose(backward(kernels)[1], backward(twins)[1], rtol=1e-10, atol=1e-14)
    return {
        "fwd_numba": best(lambda: kernels.rnn_forward(*fwd), repeat),
        "fwd_numpy": best(lambda: twins.rnn_forward(*fwd), repeat),
        "bwd_numba": best(lambda: backward(kernels), repeat),
        "bwd_numpy": best(lambda: backward(twins), repeat),
    }


def blas_limit(threads):
    """A context limiting BLAS to ``threads`` threads (a null context for None)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads, user_api="blas")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for the NumPy twin (default: BLAS's own)")
    args = parser.parse_args(argv)
    import numba

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"Numba {numba.__version__}, BLAS threads: {args.threads or 'default'}")
    print(f"T = {T}, n_in = {N_IN}, n_out = {N_OUT}, tanh, alpha = {ALPHA}; "
          f"best of {args.repeat}, milliseconds; ratio = NumPy / Numba")
    print()
    print("| B | n | forward Numba | forward NumPy | ratio | backward Numba | backward NumPy "
          "| ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with blas_limit(args.threads):
        for n in (32, 64):
            for B in (16, 64, 256):
                r = case(B, n, args.repeat)
                print(f"| {B} | {n} | {1e3 * r['fwd_numba']:.2f} | {1e3 * r['fwd_numpy']:.2f} "
                      f"| {r['fwd_numpy'] / r['fwd_numba']:.2f}x "
                      f"| {1e3 * r['bwd_numba']:.2f} | {1e3 * r['bwd_numpy']:.2f} "
                      f"| {r['bwd_numpy'] / r['bwd_numba']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

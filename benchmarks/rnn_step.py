"""One step of RTRL (O(n^4)) and of the e-prop/RFLO eligibility trace (O(n^2)), each
against its NumPy twin, at n = 64 hidden units.

Run from the repository root::

    python benchmarks/rnn_step.py [--n 64] [--repeat 5] [--threads 1]

One sequence (B = 1, n_in = 2, n_out = 2, tanh, alpha = 0.5) is run through each kernel;
the time per step is the kernel's time over ``T`` steps divided by ``T`` (T = 10 for
RTRL, 40 for the trace), best of ``--repeat`` after a warm-up call. Rows:

* ``RTRL step``: :func:`plasticity._kernels.rnn.rtrl_step` (``M <- J_t M + Mbar_t`` in
  place, ``n^2 P`` multiply-adds with ``P = n (n + n_in + 1)``) against the twin's
  ``rtrl_step`` (one batched BLAS matmul ``W_rec @ M`` plus the immediate influence).
* ``RTRL gradient``: :func:`plasticity._kernels.rnn.rtrl_gradient` over the sequence
  (steps plus the readout ``sum_t (W_out^T e_t) M_t``), per step.
* ``e-prop/RFLO trace``: :func:`plasticity._kernels.rnn_online.eprop_trace_grad` (the
  rules engineer's kernel, ``n m`` per step) against ``tests/twins/rnn_online.py``;
  skipped with a note if that module is absent.

``--threads N`` limits BLAS (the twins) to N threads; the kernels are serial. Ratio =
NumPy / Numba (above 1 the kernel is faster). Results are compared before timing.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
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

N_IN, N_OUT, ALPHA = 2, 2, 0.5


def best(fn, repeat):
    """Best wall time of ``repeat`` calls of ``fn`` after one warm-up call."""
    fn()
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def sequence(n, T, seed=0):
    """A forward pass of one sequence: the arrays every kernel reads."""
    rng = np.random.default_rng(seed)
    W_in = rng.normal(0, 1 / np.sqrt(N_IN), (n, N_IN))
    W_rec = rng.normal(0, 1 / np.sqrt(n), (n, n))
    W_out = rng.normal(0, 1 / np.sqrt(n), (N_OUT, n))
    x = rng.normal(size=(1, T, N_IN))
    a, h, h_prev, y = twins.rnn_forward(W_in, W_rec, np.zeros(n), W_out, np.zeros(N_OUT),
                                        x, np.empty((0, 0, 0)), False, ALPHA, 1)
    fprime = 1.0 - np.tanh(a) ** 2
    error = rng.normal(size=y.shape) / T
    return W_rec, W_out, x, fprime, h_prev, error


def rtrl_rows(n, repeat):
    """(name, seconds per step Numba, seconds per step NumPy) for the RTRL rows."""
    T = 10
    W_rec, W_out, x, fprime, h_prev, error = sequence(n, T)
    P = n * (n + N_IN + 1)
    rng = np.random.default_rng(1)
    M0 = rng.normal(size=(n, P)) / np.sqrt(P)
    M, scratch = M0.copy(), np.empty_like(M0)

    def step_numba():
        for t in range(T):
            kernels.rtrl_step(M, scratch, W_rec, fprime[0, t], h_prev[0, t], x[0, t], ALPHA)

    def step_numpy():
        m = M0[None]
        for t in range(T):
            m = twins.rtrl_step(m, W_rec, fprime[:, t], h_prev[:, t], x[:, t], ALPHA)
        return m

    M[:] = M0
    step_numba()
    assert np.allclose(M, step_numpy()[0], rtol=1e-10, atol=1e-12 * np.abs(M).max())
    args = (W_rec, W_out, x, fprime, h_prev, error, ALPHA)
    g = kernels.rtrl_gradient(*args)
    assert np.allclose(g, twins.rtrl_gradient(*args), rtol=1e-10, atol=1e-12 * np.abs(g).max())
    return [
        (f"RTRL step (n^2 P = {n * n * P / 1e6:.1f} M mult-adds)",
         best(step_numba, repeat) / T, best(step_numpy, repeat) / T),
        ("RTRL gradient over a sequence, per step",
         best(lambda: kernels.rtrl_gradient(*args), repeat) / T,
         best(lambda: twins.rtrl_gradient(*args), repeat) / T),
    ]


def trace_rows(n, repeat):
    """The e-prop/RFLO eligibility-trace row, or a note if its kernel is absent."""
    try:
        online = importlib.import_module("plasticity._kernels.rnn_online")
        twin = importlib.import_module("tests.twins.rnn_online")
    except ImportError as exc:   # the hook: the rules' kernels are not there yet
        return [], f"e-prop/RFLO kernels not found ({exc}); row skipped"
    T = 40
    W_rec, W_out, x, fprime, h_prev, error = sequence(n, T)
    D = ALPHA * fprime
    pre = np.concatenate([h_prev, x, np.ones((1, T, 1))], axis=2)
    L = error @ W_out
    leak = 1.0 - ALPHA
    got = online.eprop_trace_grad(D, pre, L, leak)
    assert np.allclose(got, twin.eprop_trace_grad(D, pre, L, leak), rtol=1e-10,
                       atol=1e-12 * np.abs(got).max())
    m = pre.shape[2]
    return [(f"e-prop/RFLO trace step (n m = {n * m / 1e3:.1f} k mult-adds)",
             best(lambda: online.eprop_trace_grad(D, pre, L, leak), repeat) / T,
             best(lambda: twin.eprop_trace_grad(D, pre, L, leak), repeat) / T)], None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    import numba

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"Numba {numba.__version__}, BLAS threads: {args.threads or 'default'}")
    print(f"n = {args.n}, n_in = {N_IN}, one sequence; microseconds per step, best of "
          f"{args.repeat}; ratio = NumPy / Numba")
    print()
    if args.threads is None:
        limit = contextlib.nullcontext()
    else:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=args.threads, user_api="blas")
    with limit:
        rows = rtrl_rows(args.n, args.repeat)
        more, note = trace_rows(args.n, args.repeat)
    print("| step | Numba (us) | NumPy twin (us) | ratio |")
    print("|---|---:|---:|---:|")
    for name, t_numba, t_numpy in rows + more:
        print(f"| {name} | {1e6 * t_numba:.1f} | {1e6 * t_numpy:.1f} | "
              f"{t_numpy / t_numba:.2f}x |")
    if note:
        print(note)


if __name__ == "__main__":
    main()

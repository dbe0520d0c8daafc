"""One epoch of MNIST-1D for a 40-256-256-10 ReLU MLP under each feedback-family rule,
against a plain NumPy minibatch loop.

``python benchmarks/feedback_epoch.py [--repeats 3]``

Each rule trains one epoch (4,000 signals, batches of 100, 40 updates) through the
package's engine (:func:`plasticity.engine.train` with the problem's signals, the rule's
``update`` and ``apply_delta``), without alignment measurements. The reference is a
straightforward NumPy loop written here: forward pass, softmax cross-entropy error,
backward pass through ``W.T`` and an SGD step, in place, per minibatch. Both use one BLAS
thread (the setting of the experiments). Times are the best of ``--repeats`` epochs after
a warm-up epoch; the ratio is rule time over the NumPy loop's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def numpy_epoch(params, x, y, order, eta=0.1, batch=100):
    """One epoch of plain minibatch SGD backprop, in place (the reference loop)."""
    W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W_out", "b_out"))
    for start in range(0, x.shape[0], batch):
        rows = order[start:start + batch]
        xb, yb = x[rows], y[rows]
        n = xb.shape[0]
        u1 = xb @ W1.T + b1
        h1 = np.maximum(u1, 0.0)
        u2 = h1 @ W2.T + b2
        h2 = np.maximum(u2, 0.0)
        z = h2 @ W3.T + b3
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), yb] -= 1.0
        e3 = p / n
        e2 = (e3 @ W3) * (u2 > 0)
        e1 = (e2 @ W2) * (u1 > 0)
        W3 -= eta * (e3.T @ h2)
        b3 -= eta * e3.sum(axis=0)
        W2 -= eta * (e2.T @ h1)
        b2 -= eta * e2.sum(axis=0)
        W1 -= eta * (e1.T @ xb)
        b1 -= eta * e1.sum(axis=0)


def main(argv=None):
    from threadpoolctl import threadpool_limits

    from plasticity.engine import train
    from plasticity.problems import FeedForwardProblem
    from plasticity.registry import load
    from plasticity.tasks.batch import Batch
    from plasticity.tasks.mnist1d import MNIST1D

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import sys

    fam = sys.modules[load("feedback-family").run.__module__]
    cfg = fam.FeedbackFamilyConfig()
    task = MNIST1D()
    net = task.student([256, 256], activation="relu")
    problem = FeedForwardProblem(task, net)
    params0 = net.init_params(np.random.default_rng(0))
    order = np.random.default_rng(1).permutation(task.y_train.size)

    def batches(step):
        rows = order[(step - 1) * 100:step * 100]
        return Batch(x=task.x_train[rows], target=task.y_train[rows])

    def best(fn):
        fn()  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    with threadpool_limits(limits=1, user_api="blas"):
        ref = best(lambda: numpy_epoch({k: v.copy() for k, v in params0.items()},
                                       task.x_train, task.y_train, order))
        print(f"{'rule':<22} {'epoch (s)':>10} {'ratio':>7}")
        print(f"{'numpy loop':<22} {ref:>10.4f} {1.0:>7.2f}")
        for name in fam.RULES:
            rule = fam.make_rule(name, net, cfg, [0, fam.RULES.index(name)])

            def epoch(rule=rule):
                train(rule, params0, n_updates=40, next_batch=batches,
                      signals=problem.signals, rng=np.random.default_rng(2))

            t = best(epoch)
            print(f"{name:<22} {t:>10.4f} {t / ref:>7.2f}", flush=True)


if __name__ == "__main__":
    main()

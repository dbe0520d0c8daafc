"""Cost of the alignment analysis: recording it at every update, and the expected update.

Run from the repository root::

    python benchmarks/bench_alignment.py [--updates 500] [--hidden 100] [--draws 1000]

(a) Backprop trains a 64-``hidden``-10 tanh MLP on the digits task (batches of 32) for
``--updates`` updates, five ways, best of ``--repeats`` (3) rounds that time each way once
in turn:

* ``plain``: the engine alone;
* ``aligned``: the rule wrapped by :func:`plasticity.analysis.measured` with the exact
  gradient, recording every update (per array and in total) into a run file through a
  :class:`~plasticity.io.recorder.Recorder`, including the measured loss change
  (``actual_dloss``), i.e. the full record;
* ``aligned, no actual_dloss``: the same without the two loss evaluations per update that
  ``actual_dloss`` needs;
* ``aligned, shared forward pass`` (and its ``no actual_dloss`` variant): the same record,
  with the oracle's batch gradient and the loss before the update read off the forward
  pass the signals already hold (:meth:`FeedForwardProblem.batch_gradient_from_signals`,
  :meth:`~FeedForwardProblem.loss_from_signals`, as
  :func:`plasticity.alignment.measure_problem` does): only the backward pass and the loss
  after the update are computed again. The numbers recorded are the same to the bit.

The ratio aligned / plain is the overhead of the analysis (target <= 1.5x).

(b) :func:`plasticity.analysis.expected_cosine` of node perturbation on a 64-100-10
network (digits, batch 32) over ``--draws`` draws at one fixed state, best of 3
(target < 2 s).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from plasticity.analysis import expected_cosine, measured  # noqa: E402
from plasticity.engine import Batch, train  # noqa: E402
from plasticity.io.recorder import Recorder  # noqa: E402
from plasticity.problems.feedforward import FeedForwardProblem  # noqa: E402
from plasticity.rules import Backprop, NodePerturbation  # noqa: E402
from plasticity.tasks.supervised import Digits  # noqa: E402


def best_of(fn, repeats=3):
    """Smallest wall time of ``repeats`` calls (the least disturbed by other jobs)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_recording(n_updates, hidden, batch, repeats=3):
    task = Digits(rng=0)
    net = task.student(hidden)
    params = net.init_params(np.random.default_rng(1))
    rule = Backprop(net=net, eta=0.1, loss_kind=task.loss_kind)
    problem = FeedForwardProblem(task, net)

    def gradient(p, s):
        return task.gradient(net, p, Batch(x=s["input"], target=s["target"]))

    def shared_gradient(p, s):
        return problem.batch_gradient_from_signals(p, Batch(x=s["input"], target=s["target"]),
                                                   s)

    def shared_loss(p, s):
        return problem.loss_from_signals(p, Batch(x=s["input"], target=s["target"]), s)

    def once(mode):
        data = np.random.default_rng(2)
        kwargs = {}
        with tempfile.TemporaryDirectory() as tmp:
            rec = None
            the_rule = rule
            if mode != "plain":
                rec = Recorder(Path(tmp) / "b.h5", experiment="bench", seed=0, config={})
                if mode.startswith("aligned, shared"):
                    the_rule = measured(rule, shared_gradient, recorder=rec,
                                        loss_before_fn=shared_loss)
                else:
                    the_rule = measured(rule, gradient, recorder=rec)
            if mode in ("aligned", "aligned, shared forward pass"):
                kwargs["loss"] = lambda p, b: task.loss(net, p, b)
            train(the_rule, params, n_updates=n_updates,
                  next_batch=lambda step: task.batch(batch, data),
                  signals=lambda p, b: task.signals(net, p, b), **kwargs)
            if rec is not None:
                rec.close("complete")

    modes = ("plain", "aligned", "aligned, no actual_dloss", "aligned, shared forward pass",
             "aligned, shared forward pass, no actual_dloss")
    # Round robin (each mode once per round, best per mode over the rounds) rather than
    # all repeats of one mode in a row: on a shared machine the load drifts over seconds,
    # and the ratios should compare modes timed under the same load.
    best = dict.fromkeys(modes, float("inf"))
    for _ in range(repeats):
        for mode in modes:
            best[mode] = min(best[mode], best_of(lambda m=mode: once(m), repeats=1))
    return best


def bench_expected(n_draws, batch):
    task = Digits(rng=0)
    net = task.student(100)
    params = net.init_params(np.random.default_rng(1))
    rule = NodePerturbation(net=net, eta=0.05, sigma=1e-3, loss_kind=task.loss_kind)
    fixed = task.batch(batch, np.random.default_rng(3))
    signals = task.signals(net, params, fixed)
    grad = task.gradient(net, params, fixed)
    result = {}

    def once():
        result.update(expected_cosine(rule, signals, None, params, grad, n_draws=n_draws,
                                      rng=4, loss_fn=lambda p: task.loss(net, p, fixed)))

    seconds = best_of(once)
    return seconds, result["expected_cos"], result["mean_cos"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of (a); the best time of each run over them")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.processor() or platform.machine()}")
    times = bench_recording(args.updates, args.hidden, args.batch, args.repeats)
    plain = times["plain"]
    print(f"\n(a) digits 64-{args.hidden}-10, backprop, batch {args.batch}, "
          f"{args.updates} updates (best of {args.repeats}, modes in turn)")
    print("| run | seconds | ratio to plain |")
    print("|---|---:|---:|")
    for mode, sec in times.items():
        print(f"| {mode} | {sec:.3f} | {sec / plain:.2f}x |")
    seconds, exp_cos, mean_cos = bench_expected(args.draws, args.batch)
    print(f"\n(b) expected_cosine, node perturbation, 64-100-10, batch {args.batch}, "
          f"{args.draws} draws: {seconds:.3f} s (best of 3); expected_cos = {exp_cos:.4f}, "
          f"mean per-draw cos = {mean_cos:.4f}")


if __name__ == "__main__":
    main()

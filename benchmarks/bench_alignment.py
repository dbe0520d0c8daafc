"""Cost of the alignment analysis: recording it at every update, and the expected update.

Run from the repository root::

    python benchmarks/bench_alignment.py [--updates 500] [--hidden 100] [--draws 1000]
        [--repeats 5] [--json out.json]

(a) Backprop trains a 64-``hidden``-10 tanh MLP on the digits task (batches of 32) for
``--updates`` updates, timed these ways, best of ``--repeats`` rounds that time each way
once in turn (round robin: the load of a shared machine drifts over seconds, and the
ratios should compare ways timed under the same load):

* ``plain``: the engine alone (``Backprop`` as the library has it, signals from
  :meth:`FeedForwardProblem.signals`);
* ``aligned, full record`` (the issue's case, the headline): the rule wrapped by
  :func:`plasticity.analysis.measured` and recording every update (per array and in
  total, with the measured loss change ``actual_dloss``) into a run file through a
  :class:`~plasticity.io.recorder.Recorder` that is opened and closed inside the timed
  run, the way :func:`plasticity.alignment.measure_problem` wires it: the oracle's
  batch gradient and the loss before the update are read off the forward pass the
  signals hold (:meth:`FeedForwardProblem.batch_gradient_from_signals`,
  :meth:`~FeedForwardProblem.loss_from_signals`), the loss after the update is
  :meth:`FeedForwardProblem.loss`, and backprop's update is taken from the oracle's
  gradient (``share_gradient``, checked bit for bit against the rule's own update);
* ``aligned, no actual_dloss``: the same without the loss after the update;
* ``aligned, full record, nothing shared``: the same record with the task's own gradient
  and loss (every pass recomputed, ``share_gradient=False``), for comparison;
* ``plain, with its run file``: ``plain`` with a run file opened and closed around it
  (no rows), as every run of the command line has one: the aligned runs' fixed cost of
  the file (its provenance asks git for the commit, about 5 ms) is then on both sides;
* ``plain, backprop from the signals`` (not the library's rule): a backprop whose update
  reads the forward pass off the signals, as the oracle does; what the bare run would
  cost if ``Backprop`` did not repeat the forward pass (the library's ``Backprop`` does,
  and the aligned run does not, since its update comes from the oracle's gradient).

The headline ratio is the whole aligned run (run file opened and closed included) over
the whole bare run, at ``--updates`` updates (target <= 1.5x). Because the run file's
opening and closing is a fixed cost per run, not per update, plain and the aligned runs
are also timed at 4x as many updates: the ratio of the slopes (seconds per extra update)
is the marginal per-update overhead, and the difference of the intercepts the fixed cost.
All recorded numbers are the same to the bit in every way of running.

(b) :func:`plasticity.analysis.expected_cosine` of node perturbation on a 64-100-10
network (digits, batch 32) over ``--draws`` draws at one fixed state, best of 3
(target < 2 s).

``--json FILE`` writes ``plain_s``, ``aligned_full_s``, ``aligned_no_dloss_s`` (seconds,
best of the rounds, at ``updates``), ``ratio_full``, ``ratio_no_dloss`` (the aligned run
over the plain one), ``per_update_ratio_full`` (slope ratio, see above), ``updates`` and
``load`` (``os.getloadavg()`` after (a): 1, 5 and 15 minutes), plus ``modes`` (seconds
of every way at both lengths), ``per_update_ratio_no_dloss``, ``fixed_overhead_full_s``
and ``ratio_full_vs_lean_plain``, ``paired_ratios_full`` (the full record over plain
within each round) and their ``paired_median_full``, ``plain_file_s``,
``ratio_full_vs_plain_file`` (the full record over ``plain, with its run file``) and
``ratio_full_long`` (the full record over plain at 4x the updates).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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

PLAIN, FULL, NO_DLOSS = "plain", "aligned, full record", "aligned, no actual_dloss"
NAIVE, LEAN = "aligned, full record, nothing shared", "plain, backprop from the signals"
PLAIN_FILE = "plain, with its run file"
MODES = (PLAIN, PLAIN_FILE, FULL, NO_DLOSS, NAIVE, LEAN)
#: the ways also timed at 4x the updates (slopes and intercepts)
LONG = (PLAIN, PLAIN_FILE, FULL, NO_DLOSS)


def best_of(fn, repeats=3):
    """Smallest wall time of ``repeats`` calls (the least disturbed by other jobs)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


class _LeanBackprop:
    """Backprop's update from the forward pass in the signals (benchmark only)."""

    def __init__(self, problem, eta):
        self.problem, self.eta, self.name = problem, eta, "backprop"

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        batch = Batch(x=signals["input"], target=signals["target"])
        grad = self.problem.batch_gradient_from_signals(params, batch, signals)
        return {k: -self.eta * g for k, g in grad.items()}, state


def bench_recording(n_updates, hidden, batch, repeats=3):
    """Best seconds of every way of (a): ``{(mode, n): seconds}`` for ``n`` in
    ``(n_updates, 4 * n_updates)`` (the long runs only for :data:`LONG`)."""
    task = Digits(rng=0)
    net = task.student(hidden)
    params = net.init_params(np.random.default_rng(1))
    rule = Backprop(net=net, eta=0.1, loss_kind=task.loss_kind)
    problem = FeedForwardProblem(task, net)
    lean = _LeanBackprop(problem, 0.1)

    def gradient(p, s):
        return task.gradient(net, p, Batch(x=s["input"], target=s["target"]))

    def shared_gradient(p, s):
        return problem.batch_gradient_from_signals(p, Batch(x=s["input"], target=s["target"]),
                                                   s)

    def shared_loss(p, s):
        return problem.loss_from_signals(p, Batch(x=s["input"], target=s["target"]), s)

    def once(mode, n):
        data = np.random.default_rng(2)
        kwargs = {}
        # garbage of the previous run (the aligned runs keep their rows) is collected
        # before the clock starts, not by the collector inside the next run's timing
        gc.collect()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            rec = None
            the_rule = lean if mode == LEAN else rule
            if mode in (PLAIN_FILE, FULL, NO_DLOSS, NAIVE):
                rec = Recorder(Path(tmp) / "b.h5", experiment="bench", seed=0, config={})
                if mode == PLAIN_FILE:
                    pass
                elif mode == NAIVE:
                    the_rule = measured(rule, gradient, recorder=rec, share_gradient=False)
                    kwargs["loss"] = lambda p, b: task.loss(net, p, b)
                else:
                    the_rule = measured(rule, shared_gradient, recorder=rec,
                                        loss_before_fn=shared_loss)
                    if mode == FULL:
                        kwargs["loss"] = problem.loss
            train(the_rule, params, n_updates=n, next_batch=lambda step: task.batch(batch, data),
                  signals=problem.signals, **kwargs)
            if rec is not None:
                rec.close("complete")
            seconds = time.perf_counter() - t0
        if mode in (FULL, NO_DLOSS) and the_rule.gradient_shared is not True:
            raise RuntimeError("backprop's update was not taken from the oracle's gradient")
        return seconds

    once(FULL, 50)  # the first run file of the process reads the package versions
    runs = [(m, n_updates) for m in MODES] + [(m, 4 * n_updates) for m in LONG]
    best = dict.fromkeys(runs, float("inf"))
    paired = []  # per round: the full record over plain, both timed in that round
    for _ in range(repeats):
        this = {}
        for mode, n in runs:
            this[mode, n] = once(mode, n)
            best[mode, n] = min(best[mode, n], this[mode, n])
        paired.append(this[FULL, n_updates] / this[PLAIN, n_updates])
    return best, paired


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


def summarise(times, n, paired=()):
    """The JSON record of (a) (module docstring) from :func:`bench_recording`'s times."""
    def slope(mode):
        return (times[mode, 4 * n] - times[mode, n]) / (3 * n)

    plain = times[PLAIN, n]
    return {
        "plain_s": plain, "aligned_full_s": times[FULL, n],
        "aligned_no_dloss_s": times[NO_DLOSS, n],
        "ratio_full": times[FULL, n] / plain, "ratio_no_dloss": times[NO_DLOSS, n] / plain,
        "per_update_ratio_full": slope(FULL) / slope(PLAIN),
        "per_update_ratio_no_dloss": slope(NO_DLOSS) / slope(PLAIN),
        "fixed_overhead_full_s": ((times[FULL, n] - n * slope(FULL))
                                  - (plain - n * slope(PLAIN))),
        "ratio_full_vs_lean_plain": times[FULL, n] / times[LEAN, n],
        "plain_file_s": times[PLAIN_FILE, n],
        "ratio_full_vs_plain_file": times[FULL, n] / times[PLAIN_FILE, n],
        "ratio_full_long": times[FULL, 4 * n] / times[PLAIN, 4 * n],
        "paired_ratios_full": [float(r) for r in paired],
        "paired_median_full": float(np.median(paired)) if len(paired) else None,
        "updates": n, "load": [round(v, 2) for v in os.getloadavg()],
        "modes": {f"{mode} ({k} updates)": sec for (mode, k), sec in times.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of (a); the best time of each run over them")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE",
                        help="also write the results of (a) as JSON")
    parser.add_argument("--skip-expected", action="store_true", help="leave out (b)")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()}, NumPy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, "
          f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    n = args.updates
    times, paired = bench_recording(n, args.hidden, args.batch, args.repeats)
    out = summarise(times, n, paired)
    plain, plain_long = times[PLAIN, n], times[PLAIN, 4 * n]
    print(f"\n(a) digits 64-{args.hidden}-10, backprop, batch {args.batch} (best of "
          f"{args.repeats} rounds, ways in turn; load after: "
          f"{' '.join(f'{v:.2f}' for v in out['load'])})")
    print(f"| run | {n} updates | ratio to plain | {4 * n} updates | ratio to plain |")
    print("|---|---:|---:|---:|---:|")
    for mode in MODES:
        long = (f"{times[mode, 4 * n]:.3f} s | {times[mode, 4 * n] / plain_long:.2f}x"
                if (mode, 4 * n) in times else "|")
        print(f"| {mode} | {times[mode, n]:.3f} s | {times[mode, n] / plain:.2f}x | {long} |")
    print(f"\nHeadline (whole aligned run over the whole bare run, {n} updates): "
          f"{out['ratio_full']:.2f}x full record, {out['ratio_no_dloss']:.2f}x without "
          f"actual_dloss (target <= 1.5x).")
    print(f"Paired (the full record over plain within each round, {n} updates): median "
          f"{out['paired_median_full']:.2f}x, range {min(paired):.2f}-{max(paired):.2f}x "
          f"over {len(paired)} rounds.")
    print(f"Marginal per-update overhead (slope ratio, {n} to {4 * n} updates): "
          f"{out['per_update_ratio_full']:.2f}x full record, "
          f"{out['per_update_ratio_no_dloss']:.2f}x without actual_dloss; fixed cost per "
          f"run (intercept difference, run file opened and closed): "
          f"{out['fixed_overhead_full_s'] * 1e3:.1f} ms.")
    print(f"Full record over the bare run with its own run file (opened and closed, as "
          f"every run of the CLI has one): {out['ratio_full_vs_plain_file']:.2f}x; at "
          f"{4 * n} updates, over the bare run: {out['ratio_full_long']:.2f}x.")
    print(f"Full record over a bare backprop that reads the signals' forward pass: "
          f"{out['ratio_full_vs_lean_plain']:.2f}x.")
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.skip_expected:
        return
    seconds, exp_cos, mean_cos = bench_expected(args.draws, args.batch)
    print(f"\n(b) expected_cosine, node perturbation, 64-100-10, batch {args.batch}, "
          f"{args.draws} draws: {seconds:.3f} s (best of 3); expected_cos = {exp_cos:.4f}, "
          f"mean per-draw cos = {mean_cos:.4f}")


if __name__ == "__main__":
    main()

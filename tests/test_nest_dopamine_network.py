"""A dopamine network on NEST and on the Numba engine gives statistically the same result
(issue 20: "with the same tolerance as Brian2", tests/test_spiking_cross_backend.py).

The network: 200 Poisson inputs at 20 Hz onto 10 current-based LIF neurons (each pair
connected with probability 0.5, ~1,000 synapses, weights uniform in [0, 4] mV), the
projection learning with RewardSTDP (all pairing, ``a_plus = 0.03``,
``a_minus = 0.036``, ``tau_c = 200`` ms, ``tau_d = 50`` ms, ``eta = 0.02``,
``d_tonic = 0``) whose dopamine comes from a modulator group of 4 Poisson neurons at
3 Hz (``d_jump = 0.5``: mean ``d = d_jump * 12 Hz * tau_d = 0.3``). In 5 s the mean
relative weight falls from 0.499 to ~0.43 (depression dominates ``c``), ~21 % of the
weights end at a bound, so the comparison is of learning, not of the initial weights.

A seed gives both backends the same connectivity and initial weights; each draws its own
Poisson trains, so the two are compared as samples of the same process. Measured here,
seeds 1-8, 5 s (mean and seed-to-seed standard deviation, engine / NEST):

===========================  ==================  ==================
output rate (Hz)             21.97 +- 2.22       21.21 +- 1.51
mean relative weight         0.4305 +- 0.0097    0.4266 +- 0.0090
mean eligibility ``c``       -0.0140 +- 0.0050   -0.0132 +- 0.0035
sd of ``c`` over synapses    0.1226 +- 0.0081    0.1201 +- 0.0035
mean ``d`` (100-ms samples)  0.278 +- 0.055      0.291 +- 0.050
===========================  ==================  ==================

Same-seed differences NEST - engine: rate -3.6 to +2.9 Hz (sd 2.3 Hz, i.e. 10 % of the
rate: one pair may differ by more than 15 %), mean weight -0.020 to +0.009 (sd 0.0095).
KS p-values of the final weights, same seed (engine vs NEST), seeds 1-8: 0.089, 0.192,
0.108, 0.940, 0.518, 0.148, 0.073, 0.188; engine vs engine at neighbouring seeds (other
connectivity as well): 0.026-0.59; NEST vs NEST: 0.071-0.75.

Tolerances (the slow test, seeds 1-6 per backend):

* the issue's: the mean rate over the seeds within 15 % (3.3 Hz: 3.5 standard errors of
  a difference of 6-seed means, sd 2.3 / sqrt(6) = 0.94 Hz), the mean relative weight
  within 0.05 (5 sd of a single pair's difference), and a KS test on every seed pair's
  final weights not rejecting at 1 % family-wise (p > 0.01 / 6, Bonferroni: the
  comparison is deterministic for given seeds, but the seeds are not chosen);
* derived from the spread measured in the test itself: for the rate, the mean weight,
  the mean and the spread of ``c`` and the mean ``d``, the difference of the two means
  over seeds within the two-sided 99.9 % quantile of Student's t (10 degrees of freedom,
  4.59) times its standard error ``sqrt((s_engine^2 + s_NEST^2) / 6)``: a two-sample t
  test that must not reject at 0.1 %. The known systematic differences are far below
  these errors: NEST's ``c`` is larger by ``exp(s dt / tau_c) - 1 <= 1e-3`` of each
  pairing's term (tests/test_spiking_nest.py), its weights differ by Euler steps of
  relative ``dt / 2 (1 / tau_c + 1 / tau_d) = 1.25e-3``;
* dopamine against theory on each backend: the mean ``d`` over all samples and seeds
  within 4 standard errors of ``d_jump * R * tau_d`` (``R``: the modulator spikes
  counted in the run, per ms), the standard error from the samples' spread (100-ms
  samples correlate by ``exp(-100 / tau_d) = 0.14``, which widens the true error by
  ~15 %: the bound is ~3.5 true errors, about 20 % of ``d``). On NEST, ``d`` is the
  backend's reconstruction from the modulator spikes (``mapping.dopamine_level``);
  NEST's own ``n`` enters through the weights.

Margins at seeds 1-6 (|difference| / tolerance of the t test): rate 0.19 (-1.0 against
5.3 Hz), mean weight 0.18, mean ``c`` 0.16, sd of ``c`` 0.10, mean ``d`` 0.05; the KS
p-values' minimum 0.089 against 0.0017.

The fast test runs seed 1 alone (about 3 s): mean weight within 0.05, KS at 1 %, both
backends learned (mean weight down by more than 0.03: measured 0.068-0.072).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from scipy import stats

os.environ.setdefault("PYNEST_QUIET", "1")
pytest.importorskip("nest")

from plasticity.spiking import (  # noqa: E402
    LIF,
    Network,
    PoissonGroup,
    Recording,
    RewardSTDP,
    Synapses,
    simulator,
)

W_MAX, N_OUT, N_DA, DA_HZ, D_JUMP, TAU_D = 4.0, 10, 4, 3.0, 0.5, 50.0
T_MS, CHUNK_MS = 5000.0, 100.0
SEEDS = (1, 2, 3, 4, 5, 6)


def _network():
    rule = RewardSTDP(a_plus=0.03, a_minus=0.036, tau_c_ms=200.0, tau_d_ms=TAU_D, eta=0.02,
                      d_tonic=0.0, d_jump=D_JUMP, modulator="da")
    return Network(dt_ms=0.1, groups={
        "in": PoissonGroup(n=200, rate_hz=20.0), "da": PoissonGroup(n=N_DA, rate_hz=DA_HZ),
        "out": LIF(n=N_OUT, model="current", t_ref_ms=2.0)},
        synapses=[Synapses(source="in", target="out", connect="random", p=0.5,
                           w_init=(0.0, W_MAX), w_max=W_MAX, plasticity=rule)])


def _run(backend, seed):
    """Output rate (Hz), the da spikes' count, ``d`` every 100 ms, ``c`` every 500 ms and
    the initial and final relative weights of one run."""
    sim = simulator(_network(), backend=backend, seed=seed,
                    recording=Recording(rate_bin_ms=1000.0))
    try:
        w0 = sim.weights("in_out") / W_MAX
        n_out = n_da = 0
        d, c = [], []
        for k in range(int(T_MS / CHUNK_MS)):
            res = sim.run(CHUNK_MS)
            n_out += res.counts["out"]
            n_da += res.counts["da"]
            d.append(sim.modulator("in_out"))
            if k % 5 == 4:
                c.append(sim.eligibility("in_out"))
        w = sim.weights("in_out") / W_MAX
    finally:
        if backend == "nest":
            sim.close()
    c = np.array(c)
    return {"rate": n_out / N_OUT / (T_MS / 1000.0), "n_da": n_da, "d": np.array(d),
            "c_mean": c.mean(), "c_sd": c.std(), "w0": w0, "w": w}


def test_one_seed_weights_agree():
    a, b = _run("numba", 1), _run("nest", 1)
    # same synapses (NEST's weights went through its scale and back: rounding)
    np.testing.assert_allclose(b["w0"], a["w0"], rtol=1e-12, atol=0)
    for r in (a, b):
        assert r["w0"].mean() - r["w"].mean() > 0.03  # learning happened
    assert abs(a["w"].mean() - b["w"].mean()) < 0.05
    p = stats.ks_2samp(a["w"], b["w"]).pvalue
    assert p > 0.01, p


@pytest.fixture(scope="module")
def runs():
    return {b: [_run(b, s) for s in SEEDS] for b in ("numba", "nest")}


@pytest.mark.slow
def test_issue_tolerances(runs):
    a, b = runs["numba"], runs["nest"]
    r_a, r_b = np.mean([r["rate"] for r in a]), np.mean([r["rate"] for r in b])
    assert abs(r_b - r_a) <= 0.15 * r_a, (r_a, r_b)
    w_a, w_b = (np.mean([r["w"].mean() for r in x]) for x in (a, b))
    assert abs(w_b - w_a) < 0.05, (w_a, w_b)
    ps = [stats.ks_2samp(x["w"], y["w"]).pvalue for x, y in zip(a, b, strict=True)]
    assert min(ps) > 0.01 / len(SEEDS), ps


@pytest.mark.slow
@pytest.mark.parametrize("stat", ["rate", "w_mean", "c_mean", "c_sd", "d_mean"])
def test_means_over_seeds_agree(runs, stat):
    """Two-sample t test at 0.1 % (module docstring)."""
    get = {"w_mean": lambda r: r["w"].mean(), "d_mean": lambda r: r["d"].mean()}.get(
        stat, lambda r: r[stat])
    x = np.array([get(r) for r in runs["numba"]])
    y = np.array([get(r) for r in runs["nest"]])
    se = np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / len(SEEDS))
    t = stats.t.ppf(1 - 0.0005, 2 * len(SEEDS) - 2)
    assert abs(y.mean() - x.mean()) <= t * se, (stat, x, y)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numba", "nest"])
def test_dopamine_follows_the_modulator_spikes(runs, backend):
    """Mean d against d_jump * R * tau_d with R the counted modulator spikes per ms
    (module docstring)."""
    rs = runs[backend]
    d = np.concatenate([r["d"] for r in rs])
    rate_per_ms = sum(r["n_da"] for r in rs) / (len(rs) * T_MS)
    want = D_JUMP * rate_per_ms * TAU_D
    se = d.std(ddof=1) / np.sqrt(d.size)
    assert abs(d.mean() - want) <= 4 * se, (d.mean(), want, se)

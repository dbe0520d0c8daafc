"""The Numba engine's step loop compiled per set of network features (issue 20, cold
start): each network gets the variant of :func:`plasticity._kernels.spiking.step_loop`
for the features it uses, which must give the full loop's result bit for bit.

Exact equality is the contract tested here (not a tolerance): a variant only leaves out
code that the network cannot reach, so every value is computed by the same expressions in
the same order as by the full loop (:data:`plasticity._kernels.spiking.simulate`).
"""

import numpy as np
import pytest

from plasticity._kernels import spiking as K
from plasticity.spiking import (
    LIF,
    Izhikevich,
    Network,
    PairSTDP,
    PoissonGroup,
    Recording,
    RewardSTDP,
    SpikeGenerator,
    Synapses,
    TripletSTDP,
)
from plasticity.spiking.numba import NumbaSimulator
from plasticity.spiking.numba import simulator as sim_module

try:
    from tests.twins import spiking as twin
except ModuleNotFoundError:  # plain `pytest` puts tests/, not the repo root, on sys.path
    from twins import spiking as twin


def song():
    """song2000's network (1,000 Poisson inputs at 15 Hz, pair STDP onto one neuron)."""
    return Network(groups={"input": PoissonGroup(n=1000, rate_hz=15.0),
                           "neuron": LIF(n=1, model="current", v_rest_mV=-74.0,
                                         v_reset_mV=-60.0, v_th_mV=-54.0)},
                   synapses=[Synapses(source="input", target="neuron", w_init=(0.0, 0.6),
                                      w_min=0.0, w_max=0.6, plasticity=PairSTDP())])


def mixed():
    """Every kind the song2000 variant leaves out (Izhikevich neurons, a dense Poisson draw
    (prob > 0.05), a generator, triplet STDP with deferred potentiation, a sparse plastic
    recurrent projection, reward-modulated STDP with a modulator group), and its own (a
    dense eager pair-STDP projection onto few targets)."""
    return Network(groups={"in": PoissonGroup(n=60, rate_hz=800.0),
                           "da": PoissonGroup(n=4, rate_hz=10.0),
                           "gen": SpikeGenerator(n=2, indices=[0, 1, 0],
                                                 times_ms=[1.0, 2.5, 40.0]),
                           "exc": LIF(n=40, t_ref_ms=2.0),
                           "out": LIF(n=4, model="current"),
                           "izh": Izhikevich(n=10, noise=1.0)},
                   synapses=[Synapses(source="in", target="exc", w_init=(0.0, 0.05),
                                      w_min=0.0, w_max=0.05, plasticity=TripletSTDP(),
                                      delay_ms=1.0),
                             Synapses(source="exc", target="exc", connect="random", p=0.2,
                                      w_init=(0.0, 0.05), w_min=0.0, w_max=0.05,
                                      plasticity=PairSTDP()),
                             Synapses(source="gen", target="exc", w_init=1.0, receptor="i"),
                             Synapses(source="exc", target="out", w_init=(0.0, 2.0),
                                      w_min=0.0, w_max=2.0, plasticity=PairSTDP()),
                             Synapses(source="in", target="izh", w_init=(0.0, 3.0),
                                      w_min=0.0, w_max=3.0,
                                      plasticity=RewardSTDP(modulator="da"))])


def _flags(sim, n_monitored=0):
    flags = K.features(sim._groups, sim._probs, sim._proj, n_monitored)
    return dict(zip(K.FEATURES, flags, strict=True))


def test_song2000_needs_few_features():
    """song2000 compiles the LIF, sparse Poisson and dense eager pair-STDP code only."""
    flags = _flags(NumbaSimulator(song(), seed=0))
    on = {k for k, v in flags.items() if v}
    assert on == {"lif", "poisson_sparse", "stdp", "eager_dense", "eager_post_dense"}


def test_features_of_a_mixed_network():
    flags = _flags(NumbaSimulator(mixed(), seed=0), n_monitored=2)
    off = {k for k, v in flags.items() if not v}
    # "in" fires with probability 0.08 per step (drawn per source), "da" with 0.001
    # (drawn as a count); no two-compartment neurons, so no dendrites either
    assert off == {"tc", "dendritic"}, off
    assert not _flags(NumbaSimulator(mixed(), seed=0), n_monitored=0)["monitor"]


def test_step_loop_is_made_once_per_flags():
    flags = K.features(*(lambda s: (s._groups, s._probs, s._proj))(
        NumbaSimulator(song(), seed=0)))
    assert K.step_loop(flags) is K.step_loop(tuple(flags))
    with pytest.raises(ValueError):
        K.step_loop(flags[:-1])


def _run(net, seed, monkeypatch=None, full=False):
    if full:
        monkeypatch.setattr(K, "step_loop", lambda flags: K.simulate)
    rec = Recording(spikes=tuple(g for g in net.groups),
                    state={g: list(range(min(grp.n, 2))) for g, grp in net.groups.items()
                           if grp.kind in ("lif", "izhikevich")})
    sim = NumbaSimulator(net, seed=seed, recording=rec, threads=1)
    runs = [sim.run(120.0), sim.run(80.0)]
    return sim, runs


def _same(net, a, b):
    sim_a, runs_a = a
    sim_b, runs_b = b
    for ra, rb in zip(runs_a, runs_b, strict=True):
        for g in net.groups:
            for x, y in zip(ra.spikes[g], rb.spikes[g], strict=True):
                assert np.array_equal(x, y), g
        for g, st in ra.state.items():
            for key, val in st.items():
                assert np.array_equal(val, rb.state[g][key]), (g, key)
    for s in net.synapses:
        assert np.array_equal(sim_a.weights(s.label), sim_b.weights(s.label)), s.label


@pytest.mark.slow
@pytest.mark.parametrize("make", [song, mixed])
def test_variant_equals_the_full_loop(make, monkeypatch):
    """Bit for bit the full loop's spikes, sampled state and weights (compiling the full
    loop takes over 10 s when the cache is empty: slow)."""
    net = make()
    lean = _run(net, 5)
    full = _run(net, 5, monkeypatch, full=True)
    assert sum(r.counts[g] for r in lean[1] for g in net.groups) > 0
    _same(net, lean, full)


def test_sparse_poisson_draw_is_its_numpy_twin():
    """The sparse draw (geometric skips between firing sources) gives the plain-NumPy
    twin's ids to the bit from the same generator state, increasing and in range, and
    leaves the generator where the twin leaves it."""
    n, prob, gid0 = 5000, 0.04, 7
    ids = np.zeros(n, np.int64)
    for seed in range(5):
        rng = np.random.default_rng(seed)
        twin_rng = np.random.default_rng(seed)
        cnt = K._poisson_sparse(rng, gid0, n, prob, ids, np.int64(3))
        want = twin.poisson_sparse(twin_rng, gid0, n, prob)
        np.testing.assert_array_equal(ids[3:cnt], want)
        seg = ids[3:cnt]
        assert np.all(np.diff(seg) > 0)  # increasing, distinct
        assert seg[0] >= gid0 and seg[-1] < gid0 + n
        assert rng.random() == twin_rng.random()  # the same draws were used
    # no draw at all for a silent group
    assert K._poisson_sparse(np.random.default_rng(0), gid0, n, 0.0, ids, np.int64(0)) == 0


def test_sparse_poisson_draw_has_independent_bernoulli_law():
    """Over many steps the count per step has the binomial mean n p and variance
    n p (1 - p), and every source fires with probability p (first and last sources
    included: the skips start before source 0 and stop at source n - 1): each within 4
    standard errors of its estimate."""
    n, prob, steps = 200, 0.02, 20000
    rng = np.random.default_rng(11)
    ids = np.zeros(n, np.int64)
    hits = np.zeros(n)
    counts = np.empty(steps)
    for s in range(steps):
        cnt = K._poisson_sparse(rng, 0, n, prob, ids, np.int64(0))
        counts[s] = cnt
        hits[ids[:cnt]] += 1
    mean, var = n * prob, n * prob * (1 - prob)
    # SE of the mean count, and of the sample variance (kurtosis of a binomial count)
    assert abs(counts.mean() - mean) < 4 * np.sqrt(var / steps)
    kurt = (1 - 6 * prob * (1 - prob)) / var  # excess kurtosis of Binomial(n, p)
    se_var = var * np.sqrt((2 + kurt) / steps)
    assert abs(counts.var(ddof=1) - var) < 4 * se_var
    # per source: Binomial(steps, p) hits; the two ends and the bulk
    se_p = np.sqrt(prob * (1 - prob) / steps)
    for j in (0, n - 1):
        assert abs(hits[j] / steps - prob) < 4.5 * se_p
    # all sources together: chi-square-like check of the spread of the frequencies
    z = (hits / steps - prob) / se_p
    assert abs(np.mean(z * z) - 1.0) < 4 * np.sqrt(2.0 / n)


def test_first_chunk_is_traced(tmp_path, monkeypatch):
    """``$PLASTICITY_TRACE_START`` receives one line per process: the time after the
    first compiled chunk and its steps."""
    path = tmp_path / "trace"
    monkeypatch.setenv(sim_module.TRACE_START_ENV, str(path))
    monkeypatch.setattr(sim_module, "_trace_done", False)
    sim = NumbaSimulator(song(), seed=1)
    sim.run(5.0)
    sim.run(5.0)
    lines = path.read_text().splitlines()
    assert len(lines) == 1
    stamp, t0, t1 = lines[0].split()
    assert (int(t0), int(t1)) == (0, 50)
    assert float(stamp) > 1.6e9

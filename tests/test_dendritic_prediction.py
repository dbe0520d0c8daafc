"""Dendritic prediction (Urbanczik & Senn 2014): the Numba kernel against its NumPy twin,
the rule's update against its formula and against finite differences of the loss it
descends, input validation, and the experiment's quick preset from the CLI."""

import json

import numpy as np
import pytest
from conftest import assert_seeds_interval

try:
    from tests.conftest import module_run
except ImportError:  # pragma: no cover - run from inside tests/
    from conftest import module_run

import plasticity as pl
from plasticity._kernels import dendritic as k
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules.dendritic_prediction import (
    DendriticPredictionTrial,
    rate_kl,
    simulate_trial,
    spike_nll,
)
from plasticity.testing import check_grads

try:
    from tests.twins import dendritic as twin
except ImportError:  # pragma: no cover - run from inside tests/
    from twins import dendritic as twin


def _case(T=300, n=12, seed=0, teacher=True):
    rng = np.random.default_rng(seed)
    X = (rng.random((T, n)) < 0.05).astype(float)
    X[5, 0] = 2.0  # a double spike in one step
    w = rng.normal(1.0, 2.0, n)
    g_E = rng.uniform(0, 1.5, T) if teacher else np.zeros(T)
    g_I = rng.uniform(0, 1.5, T) if teacher else np.zeros(T)
    return rng, X, w, g_E, g_I


def _args(rule):
    return (rule.dt, rule.tau_L, rule.tau_s, rule.g_L, rule.g_D, rule.E_E, rule.E_I,
            rule.phi_max, rule.k, rule.beta, rule.theta, rule.eta, rule.tau_delta)


# -- kernel vs twin -------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["spiking", "rate"])
@pytest.mark.parametrize("tau_delta", [0.0, 50.0])
@pytest.mark.parametrize("learn", [True, False])
def test_kernel_matches_twin(model, tau_delta, learn):
    rng, X, w, g_E, g_I = _case()
    T, n = X.shape
    rule = DendriticPredictionTrial(eta=0.5, model=model, tau_delta=tau_delta)
    noise = rng.random(T)
    state = [rng.random(n), rng.random(n), np.array([0.3]), 0.01 * rng.standard_normal(n)]
    got_w, got_state = w.copy(), [a.copy() for a in state]
    U, V, S = np.empty(T), np.empty(T), np.empty(T)
    k.dendritic_trial(got_w, X, g_E, g_I, noise, learn, 0 if model == "spiking" else 1,
                      *_args(rule), *got_state, U, V, S)
    want = twin.dendritic_trial(w, X, g_E, g_I, noise, learn,
                                0 if model == "spiking" else 1, *_args(rule), *state)
    for got, ref in zip([got_w, *got_state, U, V, S], want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-13)
    if model == "spiking":
        assert 0 < S.sum() < T and set(np.unique(S)) <= {0.0, 1.0}
    if not learn:
        np.testing.assert_array_equal(got_w, w)  # untouched, not recomputed
    else:
        assert not np.allclose(got_w, w)


def test_wrapper_chains_trials_and_leaves_inputs_alone():
    rng, X, w, g_E, g_I = _case()
    rule = DendriticPredictionTrial(eta=0.3, model="rate", tau_delta=20.0)
    w0 = w.copy()
    whole = simulate_trial(rule, w, X, g_E, g_I)
    first = simulate_trial(rule, w, X[:100], g_E[:100], g_I[:100])
    second = simulate_trial(rule, first.w, X[100:], g_E[100:], g_I[100:], state=first.state)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_allclose(second.w, whole.w, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(np.concatenate([first.U, second.U]), whole.U, rtol=1e-13)


def test_without_teacher_the_soma_follows_the_dendrite():
    # no teacher: U relaxes to V* = g_D/(g_D+g_L) V_w with time constant 1/(g_L+g_D)
    _, X, w, g_E, g_I = _case(T=2000, teacher=False)
    rule = DendriticPredictionTrial(model="rate", dt=0.05)
    tr = simulate_trial(rule, w, X, g_E, g_I, learn=False)
    assert np.max(np.abs(tr.U[200:] - tr.V_star[200:])) < 0.05 * np.ptp(tr.V_star)
    np.testing.assert_allclose(tr.V_star, rule.coupling * rule.psp(X) @ w, rtol=1e-12,
                               atol=1e-14)


# -- the rule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["spiking", "rate"])
def test_one_step_is_the_formula(model):
    # one step from a given state: dw = eta dt (target - phi(V*)) h(V*) PSP
    rng = np.random.default_rng(3)
    n = 5
    rule = DendriticPredictionTrial(eta=0.7, model=model, dt=0.25)
    w = rng.normal(3.0, 1.0, n)
    state = {"x_L": rng.random(n) * 3, "x_s": rng.random(n), "U": np.array([1.1]),
             "D": np.zeros(n)}
    x = np.array([[1.0, 0, 0, 1, 0]])
    g_E, g_I = np.array([0.4]), np.array([0.2])
    x_L = np.exp(-0.25 / 10) * state["x_L"] + x[0]
    x_s = np.exp(-0.25 / 3) * state["x_s"] + x[0]
    psp = (x_L - x_s) / 7
    v_w = w @ psp
    g = 0.1 + 2 + 0.6
    u_inf = (2 * v_w + 0.4 * 14 / 3 + 0.2 * -1 / 3) / g
    U = u_inf + (1.1 - u_inf) * np.exp(-g * 0.25)
    v = 2 / 2.1 * v_w
    p_v = 0.15 / (1 + 0.5 * np.exp(5 * (1 - v)))
    h = 5 * (1 - p_v / 0.15)
    rngs = [np.random.default_rng(9), np.random.default_rng(9)]
    p_u = 0.15 / (1 + 0.5 * np.exp(5 * (1 - U)))
    if model == "spiking":
        s = float(rngs[1].random() < 1 - np.exp(-p_u * 0.25))
        target = s / 0.25
    else:
        target = p_u
    delta, new = rule.update({"input": x, "g_E": g_E, "g_I": g_I}, state, {"w": w},
                             rng=rngs[0])
    # delta = (w + dw) - w: rounding at the size of w, not of dw
    np.testing.assert_allclose(delta["w"], 0.7 * 0.25 * (target - p_v) * h * psp,
                               rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(new["U"], [U], rtol=1e-13)
    np.testing.assert_allclose(new["x_L"], x_L, rtol=1e-13)


def test_passes_check_rule():
    from plasticity.rules.checks import check_rule

    _, X, w, g_E, g_I = _case(T=50)
    report = check_rule(DendriticPredictionTrial(model="rate"), params={"w": w},
                        signals={"input": X, "g_E": g_E, "g_I": g_I})
    assert report["passed"]


@pytest.mark.parametrize("model", ["spiking", "rate"])
def test_update_is_minus_gradient_of_the_loss(model):
    # with the soma held fixed (its recorded spikes / potential), a trial's change at a
    # tiny eta is -(eta / c) grad of the spike NLL (spiking) or the Poisson KL (rate)
    rng, X, w, g_E, g_I = _case(T=400, n=6, seed=4)
    eta = 1e-5
    rule = DendriticPredictionTrial(eta=eta, model=model)
    noise = rng.random(len(X))
    tr = simulate_trial(rule, w, X, 3 * g_E, g_I, noise=noise)
    # the same trial at twice the rate: Richardson extrapolation removes the O(eta)
    # effect of the weights changing within the trial
    tr2 = simulate_trial(rule.model_copy(update={"eta": 2 * eta}), w, X, 3 * g_E, g_I,
                         noise=noise)
    # the soma as it is with the weights frozen (what the extrapolation to eta = 0 sees)
    fixed = simulate_trial(rule, w, X, 3 * g_E, g_I, noise=noise, learn=False)
    if model == "spiking":
        # 0/1 trains, the premise of the extrapolation: the O(eta) change of U flips a
        # spike only if a uniform lies within that tiny change of its spike probability
        np.testing.assert_array_equal(tr.S, fixed.S)
        np.testing.assert_array_equal(tr2.S, fixed.S)
    psp = rule.psp(X)
    if model == "spiking":
        assert tr.S.sum() > 3
        loss = lambda v: spike_nll(rule, v, psp, fixed.S)  # noqa: E731
    else:
        loss = lambda v: rate_kl(rule, v, psp, fixed.U)  # noqa: E731
    step = (2 * (tr.w - w) - (tr2.w - w) / 2) / eta
    assert np.linalg.norm(step * rule.coupling) > 1e-3  # the comparison has power
    # left: O(eta^2), the rounding of w + dw (1e-16 |w| / eta per step) and the central
    # difference's (step 1e-6) O(eps^2) truncation and u |loss| / eps rounding. Allowed
    # per entry: 1e-6 of itself + 1e-8 (as before: |step c + fd| <= 1e-8 + 1e-6 |fd|).
    check_grads(loss, w, -step * rule.coupling, eps=1e-6, rtol=1e-6, atol=1e-8,
                relative_to="entry")


def test_rate_kl_is_zero_only_at_the_soma():
    rule = DendriticPredictionTrial(model="rate")
    psp = np.eye(3)
    U = np.array([0.2, 1.0, 1.7])
    assert rate_kl(rule, U / rule.coupling, psp, U) == pytest.approx(0.0, abs=1e-15)
    assert rate_kl(rule, U / rule.coupling + 0.1, psp, U) > 0


# -- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"dt": 3.0}, ["dt", "tau_s"]),
    ({"tau_s": 12.0}, ["tau_s", "tau_L"]),
    ({"g_D": -1.0}, ["g_D"]),
    ({"g_D": 10.0, "dt": 0.2}, ["somatic time constant"]),
    ({"tau_delta": 0.1}, ["tau_delta"]),
    ({"E_I": 5.0}, ["E_I", "E_E"]),
    ({"model": "poisson"}, ["model"]),
])
def test_bad_hyperparameters(kwargs, words):
    with pytest.raises(InvalidParameterError) as err:
        DendriticPredictionTrial(**kwargs)
    for word in words:
        assert word in str(err.value)


def test_old_name_is_a_deprecated_alias():
    """``DendriticPrediction`` (the name before ``DendriticPredictionTrial``) still imports
    from the package and the module for one release, warning with the new name."""
    import plasticity.rules
    import plasticity.rules.dendritic_prediction as module

    for owner in (plasticity.rules, module):
        with pytest.warns(DeprecationWarning, match="use DendriticPredictionTrial"):
            cls = owner.DendriticPrediction
        assert cls is DendriticPredictionTrial
    assert "DendriticPrediction" not in plasticity.rules.__all__
    assert DendriticPredictionTrial.name == "dendritic_prediction"  # summary keys unchanged


def test_eta_and_filter_are_the_network_kinds_declarations():
    """The trial rule's ``eta`` and ``tau_delta`` are the network kind's ``eta`` and
    ``tau_delta_ms``: the same constraints, defaults and descriptions, and the same one-line
    errors."""
    from plasticity.spiking import DendriticPrediction as NetworkKind

    trial, kind = DendriticPredictionTrial.model_fields, NetworkKind.model_fields
    for mine, theirs in (("eta", "eta"), ("tau_delta", "tau_delta_ms")):
        assert trial[mine].metadata == kind[theirs].metadata
        assert trial[mine].default == kind[theirs].default
        assert trial[mine].description == kind[theirs].description
    for cls, key in ((DendriticPredictionTrial, "tau_delta"), (NetworkKind, "tau_delta_ms")):
        with pytest.raises(InvalidParameterError, match=f"'{key}' parameter .* greater than "
                           "or equal to 0"):
            cls(**{key: -1.0})
        with pytest.raises(InvalidParameterError, match="'eta' parameter .* finite"):
            cls(eta=float("inf"))


@pytest.mark.parametrize("change, words", [
    ({"g_E": -np.ones(20)}, ["g_E", "negative"]),
    ({"g_I": np.ones(19)}, ["g_I", "(20,)"]),
    ({"X": np.ones((20, 4))}, ["(20, 4)", "(T, 3)"]),
    ({"X": -np.ones((20, 3))}, ["negative spike"]),
    ({"noise": None}, ["noise"]),
    ({"noise": np.ones(20)}, ["[0, 1)"]),
    ({"w": np.array([1.0, np.nan, 0.0])}, ["NaN"]),
    ({"state": {"x_L": np.zeros(3)}}, ["state"]),
])
def test_bad_trial_input(change, words):
    args = {"w": np.zeros(3), "X": np.zeros((20, 3)), "g_E": np.zeros(20),
            "g_I": np.zeros(20), "noise": np.full(20, 0.5), "state": None}
    args.update(change)
    with pytest.raises(InvalidParameterError) as err:
        simulate_trial(DendriticPredictionTrial(), args.pop("w"), args.pop("X"), **args)
    for word in words:
        assert word in str(err.value)


def test_bad_rule_input():
    rule = DendriticPredictionTrial()
    with pytest.raises(RuleError, match="'w'"):
        rule.update({"input": np.zeros((5, 2))}, None, {"W": np.zeros(2)},
                    rng=np.random.default_rng(0))
    with pytest.raises(RuleError, match="rng"):
        rule.update({"input": np.zeros((5, 2))}, None, {"w": np.zeros(2)})
    with pytest.raises(RuleError, match="g_E"):
        rule.update({"input": np.zeros((5, 2)), "g_E": -np.ones(5)}, None,
                    {"w": np.zeros(2)}, rng=np.random.default_rng(0))


# -- the experiment from the CLI ------------------------------------------------------------

quick_run = module_run("dendritic-prediction")


def test_quick_preset_meets_the_issue(quick_run, cli):
    code, text, _ = cli("info", quick_run, "--json")
    assert code == 0
    doc = json.loads(text)
    assert doc["status"] == "complete"
    s = doc["summary"]
    assert s["corr_dendrite_soma_final"] >= 0.8
    assert s["error_reduction"] >= 5
    assert s["rate_error_reduction"] > 1
    assert s["model"] == "spiking" and s["backend"] == "numba"
    # the alignment analysis: against L_S of the presentation's own spikes the change is
    # the exact negative gradient up to the drift of w within the presentation (eta dt
    # per step, 1000 steps), measured 0.998; against the population loss (L_S averaged
    # over the spike noise) it is one noisy sample of it, positive on average (measured
    # 0.28 [0.24, 0.33])
    r = "dendritic_prediction"
    assert s[f"{r}.n"] == s["align_n"] == 400  # 4000 presentations, every 10th
    assert s[f"{r}.own_cos_ci_low"] > 0.99
    assert s[f"{r}.cos_batch_mean"] == s[f"{r}.own_cos_mean"] == s["align_cos_mean"]
    assert s[f"{r}.cos_ci_low"] > 0
    assert s[f"{r}.cos_ci_low"] <= s[f"{r}.cos_mean"] <= s[f"{r}.cos_ci_high"]
    assert s[f"{r}.ci_method"] in ("batch_means", "block_bootstrap", "iid_bootstrap")
    assert 0 < s[f"{r}.sgd_ceiling"] < 1
    assert s["align_kl_cos_ci_low"] > 0  # deprecated keys still there
    # three seeds in the quick preset (measured 0.289 [0.222, 0.355])
    assert s[f"{r}.seeds_cos_n"] == 3
    assert 0 < s[f"{r}.seeds_cos_low"] < s[f"{r}.seeds_cos_mean"] < s[f"{r}.seeds_cos_high"]


def test_alignment_columns_obey_the_triangle_inequality(quick_run):
    """Per presentation, the update's angle to the population gradient differs from the
    own gradient's angle to it by at most the update's angle to the own gradient, so
    |cos - sgd_cos| <= arccos(cos_batch) (|cos a - cos b| <= |a - b|); a mixed-up column
    breaks it, since cos_batch is near 1 and cos near 0.28."""
    t = pl.open_run(quick_run).alignment["total"]
    cos, sgd, same = (np.asarray(t[k]) for k in ("cos", "sgd_cos", "cos_batch"))
    assert cos.size == 400
    assert np.all(np.abs(cos - sgd) <= np.arccos(np.clip(same, -1, 1)) + 1e-12)
    assert np.mean(cos) == pytest.approx(pl.open_run(quick_run).summary[
        "dendritic_prediction.cos_mean"], rel=1e-12)


def test_population_gradient_is_the_spike_average_of_the_own_gradient():
    """The population reference is the own loss's gradient averaged over the trial
    kernel's somatic spike noise: the mean over N noise draws agrees within 5 standard
    errors per element; the KL gradient differs from it by at most the O((phi dt)^2)
    bound c sum_t (phi(U) dt)^2 / 2 |h psp|."""
    from experiments.dendritic_prediction import minus_gradients

    rng, X, w, g_E, g_I = _case(T=300, n=8, seed=5)
    rule = DendriticPredictionTrial(model="spiking", dt=0.4)  # learn=False: eta unused
    psp = rule.psp(X)
    draws = []
    for _ in range(3000):
        tr = simulate_trial(rule, w, X, 3 * g_E, g_I, noise=rng.random(len(X)), learn=False)
        draws.append(minus_gradients(rule, psp, w, tr)["own"])
    draws = np.array(draws)
    g = minus_gradients(rule, psp, w, tr)  # U does not depend on the noise
    se = draws.std(axis=0, ddof=1) / np.sqrt(len(draws))
    assert np.all(np.abs(draws.mean(axis=0) - g["population"]) < 5 * se)
    # at phi dt up to 0.06 the draws tell the exact average from the KL's (measured
    # |z| 5.7-7.5 against the KL, 0.7-2.4 against the population gradient)
    assert np.max(np.abs(draws.mean(axis=0) - g["kl"]) / se) > 5
    phi_u = rule.phi(tr.U)
    v = rule.coupling * psp @ w
    h = rule.beta * (1 - rule.phi(v) / rule.phi_max)
    bound = rule.coupling * (0.5 * (phi_u * rule.dt) ** 2 * np.abs(h)) @ np.abs(psp)
    diff = np.abs(g["kl"] - g["population"])
    assert np.all(diff <= bound * (1 + 1e-9)) and np.any(diff > 0)


def test_seeds_give_a_t_interval_over_per_seed_means(cli, tmp_path):
    out = tmp_path / "seeds.h5"
    code, _, err = cli("run", "dendritic-prediction", "--quiet", "--out", out,
                       "--set", "n_reps=60", "--set", "final_reps=10",
                       "--set", "align_every=5", "--set", "seeds=3")
    assert code == 0, err
    run = pl.open_run(out)
    s, cos = run.summary, np.asarray(run.series["seeds"]["cos_mean"])
    assert cos.size == 3
    assert cos[0] == pytest.approx(s["dendritic_prediction.cos_mean"], rel=1e-12)
    assert_seeds_interval(s, cos, "dendritic_prediction")


def test_run_file_records(quick_run):
    run = pl.open_run(quick_run)
    tr = run.series["training"]
    assert tr["mse"][0] == pytest.approx(run.summary["mse_initial"])
    assert tr["mse"][-1] < tr["mse"][0]
    T = round(run.config["pattern_ms"] / run.config["dt"])
    assert np.asarray(run.snapshots["U_late"]["value"]).shape == (1, T)


def test_plot(quick_run, cli, tmp_path):
    code, _, err = cli("plot", quick_run, "--format", "png", "--out", tmp_path)
    assert code == 0, err
    assert list(tmp_path.glob("*.png"))


@pytest.mark.parametrize("settings, words", [
    (["g_D=-2"], ["g_D", "greater than 0"]),
    (["g_teacher=-1"], ["g_teacher", "greater than or equal to 0"]),
    (["dt=3"], ["dt", "tau_s"]),
    (["dt=0.6"], ["dt", "somatic time constant"]),
    (["tau_s=20"], ["tau_s", "tau_L"]),
    (["model=poisson"], ["model"]),
    (["n_reps=10", "final_reps=20"], ["final_reps", "n_reps"]),
])
def test_bad_input_exits_2_without_a_file(refuses, settings, words):
    refuses("dendritic-prediction", settings, words)

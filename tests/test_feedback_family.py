"""The feedback family (issue 18): DFA, sign symmetry, Kolen-Pollack, weight mirror and
difference target propagation against the identities theory gives for them, their
weight-feedback angles, and bad input in one line."""

import numpy as np
import pytest

from plasticity.analysis.layer_metrics import (
    matrix_angle,
    norm_ratios,
    rule_feedback,
    weight_feedback_angles,
)
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules import (
    Backprop,
    DifferenceTargetProp,
    DirectFeedbackAlignment,
    FeedbackAlignment,
    KolenPollack,
    SignSymmetry,
    WeightMirror,
)
from plasticity.substrates import FeedForward
from plasticity.tasks.supervised import TanhTeacher

# Arithmetic that differs only in the order of a few float64 sums agrees to ~1e-15
# relative; 1e-10 leaves room without letting a real difference (>= 1e-3) through.
RTOL = 1e-10


def _problem(sizes, seed=0, n=16):
    net = FeedForward(sizes=sizes)
    rng = np.random.default_rng(seed)
    params = net.init_params(rng)
    x = rng.standard_normal((n, sizes[0]))
    signals = dict(net.signals(params, x))
    signals["target"] = rng.standard_normal((n, sizes[-1]))
    return net, params, signals


def _all_rules(net):
    return [DirectFeedbackAlignment(net=net, seed=3), SignSymmetry(net=net, variant="uSF"),
            SignSymmetry(net=net, variant="brSF"), SignSymmetry(net=net, variant="frSF"),
            KolenPollack(net=net, decay=0.0, seed=3), WeightMirror(net=net, seed=3),
            DifferenceTargetProp(net=net, seed=3)]


def _close(a, b):
    scale = max(float(np.abs(b).max()), 1e-300)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * scale)


# -- identities -----------------------------------------------------------------------------

@pytest.mark.parametrize("sizes", [[5, 7, 3], [5, 7, 6, 3]])
def test_output_layer_update_is_backprops(sizes):
    # every rule computes the same output error e and updates W_out by -eta e.T h_{L-1}
    net, params, signals = _problem(sizes)
    bp, _ = Backprop(net=net).update(signals, None, params)
    for rule in _all_rules(net):
        delta, _ = rule.update(signals, rule.init(params), params,
                               rng=np.random.default_rng(0))
        for k in ("W_out", "b_out"):
            _close(delta[k], bp[k])
        assert set(delta) == set(params)


def test_kolen_pollack_output_layer_with_decay():
    net, params, signals = _problem([5, 7, 3])
    bp, _ = Backprop(net=net, eta=0.05).update(signals, None, params)
    rule = KolenPollack(net=net, eta=0.05, decay=0.3)
    delta, _ = rule.update(signals, rule.init(params), params)
    _close(delta["W_out"], bp["W_out"] - 0.05 * 0.3 * params["W_out"])
    _close(delta["b_out"], bp["b_out"])  # biases are not decayed


def test_dfa_equals_fa_with_one_hidden_layer_iff_feedback_is_equal():
    # One hidden layer: FA sends e through B_FA["W_out"] (n_1, n_out), DFA through
    # D["hidden1"] (n_1, n_out); both then multiply by f'(u_1). Equal matrices give equal
    # updates; since the batch's errors span R^{n_out}, different ones do not.
    net, params, signals = _problem([5, 7, 3])
    fa = FeedbackAlignment(net=net, seed=11)
    fa_state = fa.init(params)
    dfa = DirectFeedbackAlignment(net=net, seed=12)
    same = {"feedback": {"hidden1": fa_state["feedback"]["W_out"]}}
    d_fa, _ = fa.update(signals, fa_state, params)
    d_dfa, _ = dfa.update(signals, same, params)
    for k in params:
        _close(d_dfa[k], d_fa[k])
    d_other, _ = dfa.update(signals, dfa.init(params), params)
    assert not np.allclose(d_other["W1"], d_fa["W1"], rtol=1e-3)


def test_dfa_last_hidden_layer_equals_fa_in_a_deeper_net():
    # the last hidden layer is one step below the output in both: same condition
    net, params, signals = _problem([5, 7, 6, 3])
    fa = FeedbackAlignment(net=net, seed=11)
    fa_state = fa.init(params)
    dfa = DirectFeedbackAlignment(net=net, seed=12)
    state = dfa.init(params)
    state = {"feedback": {**state["feedback"], "hidden2": fa_state["feedback"]["W_out"]}}
    d_fa, _ = fa.update(signals, fa_state, params)
    d_dfa, _ = dfa.update(signals, state, params)
    for k in ("W2", "b2", "W_out", "b_out"):
        _close(d_dfa[k], d_fa[k])
    assert not np.allclose(d_dfa["W1"], d_fa["W1"], rtol=1e-3)


@pytest.mark.parametrize("variant", ["uSF", "frSF"])
def test_sign_symmetry_is_backprop_when_magnitudes_match(variant):
    # B = M * sign(W.T) equals W.T when |W| = M: uSF with binary weights +-scale/sqrt(n_in),
    # frSF with |W| set to its own fixed magnitudes. Then the update is backprop's.
    net, params, signals = _problem([5, 7, 6, 3])
    rule = SignSymmetry(net=net, variant=variant, scale=0.7, seed=4)
    state = rule.init(params)
    shaped = dict(params)
    for w in net.weight_names()[1:]:
        n_in = params[w].shape[1]
        mag = (0.7 / np.sqrt(n_in) if variant == "uSF" else state["magnitude"][w].T)
        shaped[w] = mag * np.sign(params[w])
    bp, _ = Backprop(net=net).update(signals, None, shaped)
    delta, new_state = rule.update(signals, state, shaped)
    for k in params:
        _close(delta[k], bp[k])
    # and the feedback it used (kept in the state) is exactly aligned with W
    for angle in weight_feedback_angles(shaped, rule_feedback(new_state)).values():
        assert angle < 1e-5


def test_brsf_expected_update_is_usf_with_mean_magnitude():
    # One hidden layer: the hidden update is linear in B = |R| * sign(W_out.T), with
    # |R| entries half-normal of mean scale sqrt(2/pi)/sqrt(n_in). Its expectation over
    # the draws is therefore uSF's update with scale * sqrt(2/pi). Every element of the
    # mean of K draws is checked within 5 of its standard errors (for ~40 elements and
    # normal means, P(any beyond 5 se) < 1e-4).
    net, params, signals = _problem([5, 8, 3])
    br = SignSymmetry(net=net, variant="brSF", scale=1.0)
    us = SignSymmetry(net=net, variant="uSF", scale=np.sqrt(2 / np.pi))
    state = br.init(params)
    rng = np.random.default_rng(5)
    draws = np.array([br.update(signals, state, params, rng=rng)[0]["W1"]
                      for _ in range(2000)])
    mean, se = draws.mean(axis=0), draws.std(axis=0, ddof=1) / np.sqrt(len(draws))
    expected = us.update(signals, us.init(params), params)[0]["W1"]
    assert np.all(np.abs(mean - expected) <= 5 * se + 1e-15)
    assert np.median(se / np.abs(expected)) < 0.05  # the check has power


def test_dtp_with_one_hidden_layer_is_backprop_times_target_step():
    # t_1 = h_1 - target_step * n * dL/dh_1, so d_1 = target_step * (backprop's delta_1)
    net, params, signals = _problem([5, 7, 3])
    bp, _ = Backprop(net=net).update(signals, None, params)
    rule = DifferenceTargetProp(net=net, target_step=0.3)
    delta, _ = rule.update(signals, rule.init(params), params)
    _close(delta["W1"], 0.3 * bp["W1"])
    _close(delta["b1"], 0.3 * bp["b1"])


def test_dtp_with_perfect_inverses_would_pass_targets_unchanged():
    # the difference correction: t_{l-1} - h_{l-1} = g(t_l) - g(h_l), which is 0 when the
    # top target equals the activity, whatever the inverse: tiny target_step gives an
    # update of that order in every layer
    net, params, signals = _problem([5, 7, 6, 3])
    rule = DifferenceTargetProp(net=net, target_step=1e-8)
    delta, _ = rule.update(signals, rule.init(params), params, rng=np.random.default_rng(0))
    bp, _ = Backprop(net=net).update(signals, None, params)
    assert np.linalg.norm(delta["W1"]) < 1e-6 * np.linalg.norm(bp["W1"])


# -- training the feedback ----------------------------------------------------------------

def _train(rule, net, params, steps, seed=2):
    task = TanhTeacher(n_inputs=net.sizes[0], n_hidden=8, n_outputs=net.sizes[-1], rng=0)
    state = rule.init(params)
    rng = np.random.default_rng(seed)
    history = [(params, state)]
    for _ in range(steps):
        batch = task.batch(16, rng)
        signals = dict(net.signals(params, batch.x))
        signals["target"] = batch.target
        delta, state = rule.update(signals, state, params, rng=rng)
        params = {k: params[k] + delta[k] for k in params}
        history.append((params, state))
    return history


def test_kolen_pollack_drives_the_angle_to_zero_geometrically():
    # W - B.T is multiplied by exactly (1 - eta * lam) per update; since B.T = W - D,
    # sin(angle) <= |D| / |W|: the angle is bounded by arcsin((1-eta lam)^t |D_0| / |W_t|).
    net = FeedForward(sizes=[10, 16, 12, 4])
    eta, lam, steps = 0.05, 0.5, 200
    rule = KolenPollack(net=net, eta=eta, decay=lam, seed=1)
    history = _train(rule, net, net.init_params(1), steps)
    p0, s0 = history[0]
    pT, sT = history[-1]
    rate = (1 - eta * lam) ** steps  # 0.0063
    for w in ("W2", "W_out"):
        d0 = np.linalg.norm(p0[w] - s0["feedback"][w].T)
        dT = np.linalg.norm(pT[w] - sT["feedback"][w].T)
        assert dT == pytest.approx(rate * d0, rel=1e-8)
        bound = np.degrees(np.arcsin(min(1.0, rate * d0 / np.linalg.norm(pT[w]))))
        angle0 = weight_feedback_angles(p0, s0["feedback"])[w]
        angleT = weight_feedback_angles(pT, sT["feedback"])[w]
        assert angle0 > 70  # a fresh random B is nearly orthogonal to W
        assert angleT <= bound + 1e-9
        assert bound < 10


def test_weight_mirror_reduces_the_angle():
    # B relaxes to (eta_m sigma^2 / decay) W.T at rate decay; the mirror noise leaves a
    # stationary residual of relative size decay * sqrt(n_in / (n_mirror (2 decay -
    # decay^2))) (per-step noise eta_m |W| sqrt(n_in / n_mirror), accumulated over
    # 1 / (1 - (1 - decay)^2) steps, against a signal (eta_m / decay) |W|). With the
    # initial B's share decayed by 0.9^200 ~ 1e-9, the angle must fall to about
    # arctan(residual); twice that allows for W drifting during training.
    net = FeedForward(sizes=[10, 16, 12, 4])
    decay, n_mirror = 0.1, 32
    rule = WeightMirror(net=net, eta=0.05, eta_mirror=0.1, decay=decay, n_mirror=n_mirror,
                        seed=1)
    history = _train(rule, net, net.init_params(1), 200)
    p0, s0 = history[0]
    pT, sT = history[-1]
    for w in ("W2", "W_out"):
        n_in = pT[w].shape[1]
        predicted = np.degrees(np.arctan(decay * np.sqrt(n_in / (n_mirror
                                                                 * (2 * decay - decay**2)))))
        angle0 = weight_feedback_angles(p0, s0["feedback"])[w]
        angleT = weight_feedback_angles(pT, sT["feedback"])[w]
        assert angle0 > 70
        assert angleT < 2 * predicted, (w, angleT, predicted)


def test_dtp_inverse_learning_reduces_reconstruction_error():
    # With a fixed forward pass, each inverse descends its noisy reconstruction loss;
    # measured on the clean activity of held-out inputs it falls from ~4 (a random
    # inverse) to well under half of that within 200 updates (measured: 0.6).
    net = FeedForward(sizes=[10, 16, 12, 4])
    rule = DifferenceTargetProp(net=net, eta=0.05, eta_inverse=0.05, sigma=0.1, seed=1)
    history = _train(rule, net, net.init_params(1), 200)
    x = np.random.default_rng(99).standard_normal((256, 10))
    before = rule.reconstruction_error(*history[0], x)["W2"]
    after = rule.reconstruction_error(*history[-1], x)["W2"]
    assert after < 0.5 * before


# -- metrics ---------------------------------------------------------------------------------

def test_matrix_angle_and_feedback_angles():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 3))
    assert matrix_angle(W, 2 * W) == pytest.approx(0.0, abs=1e-6)
    assert matrix_angle(W, -W) == pytest.approx(180.0, abs=1e-6)
    assert matrix_angle(np.eye(2), np.array([[0, 1.0], [1.0, 0]])) == pytest.approx(90.0)
    net, params, _ = _problem([5, 7, 6, 3])
    # DFA's matrix for hidden1 is compared with (W_out @ W2).T
    D = {"hidden1": (params["W_out"] @ params["W2"]).T}
    assert weight_feedback_angles(params, D, net)["hidden1"] == pytest.approx(0, abs=1e-6)
    assert rule_feedback(None) == {}


def test_norm_ratio_of_backprop_is_eta():
    net, params, signals = _problem([5, 7, 3])
    delta, _ = Backprop(net=net, eta=0.05).update(signals, None, params)
    _, grad = net.loss_and_grad(params, signals["input"], signals["target"])
    for ratio in norm_ratios(delta, grad).values():
        assert ratio == pytest.approx(0.05, rel=1e-12)


# -- bad input -------------------------------------------------------------------------------

def _one_line(exc):
    text = str(exc.value)
    assert text and "\n" not in text
    return text


def test_feedback_shapes_that_do_not_match_the_layers():
    net, params, signals = _problem([5, 7, 6, 3])
    for rule in (KolenPollack(net=net), WeightMirror(net=net), DirectFeedbackAlignment(net=net)):
        state = rule.init(params)
        key = next(iter(state["feedback"]))
        bad = {"feedback": {**state["feedback"], key: np.zeros((2, 2))}}
        with pytest.raises(RuleError) as exc:
            rule.update(signals, bad, params, rng=np.random.default_rng(0))
        assert f"['{key}'] has shape (2, 2)" in _one_line(exc)
    with pytest.raises(RuleError) as exc:
        KolenPollack(net=net).update(signals, {"feedback": {}}, params)
    assert "lacks" in _one_line(exc)
    with pytest.raises(InvalidParameterError) as exc:
        weight_feedback_angles(params, {"W2": np.zeros((3, 3))})
    assert "expected (7, 6)" in _one_line(exc)


def test_bad_hyperparameters_in_one_line():
    with pytest.raises(InvalidParameterError) as exc:
        FeedForward(sizes=[4])  # a depth of 0: no layer at all
    assert "sizes" in _one_line(exc)
    net = FeedForward(sizes=[4, 5, 3])
    with pytest.raises(InvalidParameterError) as exc:
        SignSymmetry(net=net, variant="xSF")
    assert "variant" in _one_line(exc)
    with pytest.raises(InvalidParameterError) as exc:
        KolenPollack(net=net, eta=0.5, decay=2.0)
    assert "eta * decay must be below 1" in _one_line(exc)
    with pytest.raises(RuleError) as exc:
        _, params, signals = _problem([4, 5, 3])
        rule = SignSymmetry(net=net, variant="brSF")
        rule.update(signals, rule.init(params), params)  # no rng
    assert "needs rng" in _one_line(exc)

"""FeedForward: exact gradients against finite differences, signals, feedback hook."""

import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from plasticity.errors import InvalidParameterError
from plasticity.substrates import ACTIVATIONS, FeedForward, get_activation
from plasticity.testing import check_grads

ARCHS = {1: [4, 3], 2: [4, 5, 3], 3: [4, 5, 6, 3]}
N_BATCH = 7


#: Allowed error of every entry relative to its array's largest entry, with no absolute
#: floor: 1e-6 / sqrt(30), so that it implies the old criterion, a Euclidean relative
#: error below 1e-6 per array (|e| <= sqrt(n) max|e|, n <= 30 entries per array here).
#: Central differences with step 1e-6 are off by (eps^2 / 6) |f'''| ~ 1e-12 relative
#: (truncation) and ~ u |f| / eps (rounding, 7e-9 at the largest |f| = 32 here: the
#: measured worst is 4.8e-8 of an array's largest entry).
RTOL = 1e-6 / np.sqrt(30)


def check_loss_grads(net, params, x, target, kind, grad):
    """``grad`` is the gradient of ``net.loss`` (the shared checker, per array)."""
    assert max(v.size for v in params.values()) <= 30  # the bound behind RTOL
    check_grads(lambda p: net.loss(p, x, target, kind), params, grad, eps=1e-6, rtol=RTOL,
                atol=0.0, relative_to="array")


def make_case(n_layers, act, bias, batch, kind, seed=0):
    rng = np.random.default_rng(seed)
    sizes = ARCHS[n_layers]
    # One activation on every layer, output included, so that each derivative is
    # exercised in every position; init_scale > 1 keeps relu units from all going silent.
    net = FeedForward(sizes=sizes, activations=[act] * n_layers, bias=bias, init_scale=1.5)
    params = net.init_params(rng)
    if bias:
        # Zero biases would leave their gradients untested against a nonzero value path.
        for name in net.bias_names():
            params[name] = 0.3 * rng.standard_normal(params[name].shape)
    shape = (N_BATCH, sizes[0]) if batch else (sizes[0],)
    x = rng.standard_normal(shape)
    n_out = sizes[-1]
    if kind == "mse":
        target = rng.standard_normal(shape[:-1] + (n_out,))
    else:
        target = rng.integers(0, n_out, size=shape[:-1])
    return net, params, x, target


@pytest.mark.parametrize(
    ("n_layers", "act", "bias", "batch", "kind"),
    list(itertools.product([1, 2, 3], list(ACTIVATIONS), [True, False], [True, False],
                           ["mse", "cross_entropy"])),
)
def test_gradient_matches_finite_differences(n_layers, act, bias, batch, kind):
    net, params, x, target = make_case(n_layers, act, bias, batch, kind)
    loss, grad = net.loss_and_grad(params, x, target, kind)
    # exact: loss_and_grad's loss is the same _output_error on the same forward pass
    assert loss == net.loss(params, x, target, kind)
    assert set(grad) == set(params)
    for name in params:
        assert grad[name].shape == params[name].shape
        assert grad[name].dtype == np.float64
    check_loss_grads(net, params, x, target, kind, grad)


def test_default_activations_hidden_tanh_output_linear():
    net = FeedForward(sizes=[3, 4, 5, 2])
    assert [a.name for a in net.layer_activations()] == ["tanh", "tanh", "linear"]
    assert [a.name for a in FeedForward(sizes=[3, 2]).layer_activations()] == ["linear"]
    rng = np.random.default_rng(1)
    params = net.init_params(rng)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    _, grad = net.loss_and_grad(params, x, t, "mse")
    check_loss_grads(net, params, x, t, "mse", grad)


def test_mse_value_and_cross_entropy_targets():
    rng = np.random.default_rng(2)
    net = FeedForward(sizes=[3, 4, 3])
    params = net.init_params(rng)
    x = rng.standard_normal((6, 3))
    y = net.forward(params, x).output
    t = rng.standard_normal((6, 3))
    assert_allclose(net.loss(params, x, t, "mse"), 0.5 * np.mean(np.sum((y - t) ** 2, 1)))

    labels = np.array([0, 2, 1, 1, 0, 2])
    onehot = np.eye(3)[labels]
    loss_l, grad_l = net.loss_and_grad(params, x, labels, "cross_entropy")
    loss_h, grad_h = net.loss_and_grad(params, x, onehot, "cross_entropy")
    u = net.forward(params, x).pre[-1]
    logp = u - np.log(np.exp(u).sum(1, keepdims=True))
    assert_allclose(loss_l, -np.mean(logp[np.arange(6), labels]), rtol=1e-13)
    assert_allclose(loss_h, loss_l, rtol=1e-14)
    for name in params:
        assert_allclose(grad_h[name], grad_l[name], rtol=1e-14, atol=1e-16)

    # A single sample takes a scalar label; batch-of-one gives the same loss.
    assert_allclose(net.loss(params, x[0], np.int64(2), "cross_entropy"),
                    net.loss(params, x[:1], np.array([2]), "cross_entropy"), rtol=1e-14)


def test_soft_targets_gradient():
    rng = np.random.default_rng(3)
    net = FeedForward(sizes=[3, 4, 3])
    params = net.init_params(rng)
    x = rng.standard_normal((4, 3))
    t = rng.dirichlet(np.ones(3), size=4)
    _, grad = net.loss_and_grad(params, x, t, "cross_entropy")
    check_loss_grads(net, params, x, t, "cross_entropy", grad)


def test_scalar_targets_for_single_output():
    rng = np.random.default_rng(4)
    net = FeedForward(sizes=[3, 4, 1])
    params = net.init_params(rng)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal(5)
    # exact: a (B,) target is reshaped to (B, 1) before the same computation
    assert net.loss(params, x, t) == net.loss(params, x, t[:, None])


@pytest.mark.parametrize("n_layers", [1, 2, 3])
@pytest.mark.parametrize("batch", [True, False])
def test_signals_keys_and_shapes(n_layers, batch):
    sizes = ARCHS[n_layers]
    net = FeedForward(sizes=sizes)
    params = net.init_params(np.random.default_rng(0))
    lead = (N_BATCH,) if batch else ()
    x = np.ones(lead + (sizes[0],))
    sig = net.signals(params, x)

    layers = [f"hidden{i}" for i in range(1, n_layers)] + ["output"]
    expected = {"input"} | set(layers) | {"u_" + n for n in layers}
    if n_layers == 2:
        expected |= {"hidden", "u_hidden"}
    assert set(sig) == expected
    assert sig["input"].shape == lead + (sizes[0],)
    for name, size in zip(layers, sizes[1:], strict=True):
        assert sig[name].shape == lead + (size,)
        assert sig["u_" + name].shape == lead + (size,)
    if n_layers == 2:
        assert sig["hidden"] is sig["hidden1"]

    syn = net.synapses()
    assert tuple(syn) == net.weight_names()
    assert list(syn) == [f"W{i}" for i in range(1, n_layers)] + ["W_out"]
    for w, (pre, post) in syn.items():
        assert params[w].shape == (sig[post].shape[-1], sig[pre].shape[-1])


def test_batch_equals_stacked_single_samples():
    rng = np.random.default_rng(5)
    net = FeedForward(sizes=[3, 6, 4, 2], activations=["relu", "sigmoid", "tanh"])
    params = net.init_params(rng)
    x = rng.standard_normal((5, 3))
    batch = net.signals(params, x)
    for b in range(5):
        one = net.signals(params, x[b])
        for key in batch:
            assert_allclose(one[key], batch[key][b], rtol=1e-14, atol=1e-15)


def test_init_params_shapes_and_scale():
    net = FeedForward(sizes=[400, 300, 2], init_scale=2.0, bias=False)
    params = net.init_params(np.random.default_rng(0))
    assert set(params) == {"W1", "W_out"}
    assert params["W1"].shape == (300, 400) and params["W_out"].shape == (2, 300)
    assert params["W1"].dtype == np.float64
    assert_allclose(params["W1"].std(), 2.0 / np.sqrt(400), rtol=0.01)
    with_bias = FeedForward(sizes=[3, 2]).init_params(0)
    assert set(with_bias) == {"W_out", "b_out"}
    assert_array_equal(with_bias["b_out"], 0.0)


def test_feedback_transpose_reproduces_backprop_exactly():
    rng = np.random.default_rng(6)
    net = FeedForward(sizes=[4, 5, 6, 3], activations=["tanh", "relu", "sigmoid"])
    params = net.init_params(rng)
    x, t = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    exact = net.backprop(params, x, t, "mse")
    same = net.backprop(params, x, t, "mse",
                        feedback={w: params[w].T.copy() for w in net.weight_names()})
    # exact by design: backprop brings W.T and a copy of it to the same C-ordered array
    # before the same BLAS call, so the feedback pass repeats backprop's arithmetic
    assert same.loss == exact.loss
    for name in params:
        assert_array_equal(same.grads[name], exact.grads[name])
    for name in exact.deltas:
        assert_array_equal(same.deltas[name], exact.deltas[name])

    # The deltas are dL/du of the batch-mean loss: grads follow from them and the signals.
    sig = net.signals(params, x)
    for w, (pre, post) in net.synapses().items():
        assert_allclose(exact.grads[w], exact.deltas[post].T @ sig[pre], rtol=1e-13)


def test_random_feedback_changes_only_lower_layers():
    rng = np.random.default_rng(7)
    net = FeedForward(sizes=[4, 5, 6, 3])
    params = net.init_params(rng)
    x, labels = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    exact = net.backprop(params, x, labels, "cross_entropy")
    fa = net.backprop(params, x, labels, "cross_entropy",
                      feedback={"W_out": rng.standard_normal((6, 3)),
                                "W2": rng.standard_normal((5, 6))})
    # exact: the output layer's gradient is computed before any feedback matrix is used
    assert_array_equal(fa.grads["W_out"], exact.grads["W_out"])
    assert_array_equal(fa.grads["b_out"], exact.grads["b_out"])
    assert not np.allclose(fa.grads["W2"], exact.grads["W2"])
    assert not np.allclose(fa.grads["W1"], exact.grads["W1"])


def test_feedback_is_checked():
    net = FeedForward(sizes=[4, 5, 3])
    params = net.init_params(0)
    x, t = np.ones(4), np.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        net.backprop(params, x, t, feedback={"W_out": np.zeros((3, 5))})
    with pytest.raises(ValueError, match="not a weight"):
        net.backprop(params, x, t, feedback={"b_out": np.zeros(3)})
    # The first layer's entry has no layer below to feed and is accepted unused.
    net.backprop(params, x, t, feedback={"W1": np.zeros((4, 5))})


def test_bad_hyperparameters_and_inputs():
    with pytest.raises(InvalidParameterError, match="'sizes'.*at least 2"):
        FeedForward(sizes=[3])
    with pytest.raises(InvalidParameterError, match="'sizes'.*>= 1"):
        FeedForward(sizes=[3, 0])
    with pytest.raises(InvalidParameterError, match="'activations'.*one entry per layer"):
        FeedForward(sizes=[3, 4, 2], activations=["tanh"])
    with pytest.raises(InvalidParameterError, match="'swish'.*'linear', 'tanh'"):
        FeedForward(sizes=[3, 2], activations="swish")
    with pytest.raises(InvalidParameterError, match="known activations: 'linear'"):
        get_activation("swish")

    net = FeedForward(sizes=[3, 2])
    params = net.init_params(0)
    with pytest.raises(InvalidParameterError, match="loss kind 'hinge'"):
        net.loss(params, np.ones(3), np.zeros(2), "hinge")
    with pytest.raises(ValueError, match="x has shape"):
        net.forward(params, np.ones(4))
    with pytest.raises(ValueError, match="target has shape"):
        net.loss(params, np.ones((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="class labels"):
        net.loss(params, np.ones((2, 3)), np.array([0, 2]), "cross_entropy")
    with pytest.raises(ValueError, match="lacks 'b_out'"):
        net.forward({"W_out": params["W_out"]}, np.ones(3))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_derivatives(name):
    act = get_activation(name)
    u = np.linspace(-3, 3, 61) + 0.005  # stays off relu's kink at 0
    numeric = (act.f(u + 1e-6) - act.f(u - 1e-6)) / 2e-6
    assert_allclose(act.df(u), numeric, rtol=1e-7, atol=1e-9)
    assert np.all(np.isfinite(act.f(np.array([-1e4, 1e4]))))

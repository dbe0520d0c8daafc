"""Supervised tasks: shapes, the teacher's own loss, the gradient oracle, the digits split."""

import numpy as np
import pytest

from plasticity.engine import Batch
from plasticity.errors import InvalidParameterError
from plasticity.tasks import Digits, LinearTeacher, TanhTeacher, make_task
from plasticity.testing import check_grads

CASES = {
    "linear-teacher": dict(n_inputs=6, n_outputs=3),
    "teacher-student": dict(n_inputs=6, n_hidden=5, n_outputs=3),
    "digits": dict(),
}


@pytest.mark.parametrize("name", list(CASES))
def test_shapes_and_kinds(name):
    task = make_task(name, rng=1, **CASES[name])
    batch = task.batch(9, np.random.default_rng(2))
    assert isinstance(batch, Batch)
    assert batch.x.shape == (9, task.n_inputs)
    if name == "digits":
        assert task.loss_kind == "cross_entropy"
        assert (task.n_inputs, task.n_outputs) == (64, 10)
        assert batch.target.shape == (9,) and batch.target.dtype.kind == "i"
        assert batch.target.min() >= 0 and batch.target.max() <= 9
    else:
        assert task.loss_kind == "mse"
        assert batch.target.shape == (9, task.n_outputs)
    net = task.student(hidden=4)
    params = net.init_params(3)
    result = task.evaluate(net, params, np.random.default_rng(0))
    assert np.isfinite(result["loss"])
    if name == "digits":
        assert result["test_loss"] == result["loss"]
        assert 0.0 <= result["test_accuracy"] <= 1.0


@pytest.mark.parametrize("task", [LinearTeacher(5, 2, np.random.default_rng(0)),
                                  TanhTeacher(5, 7, 2, np.random.default_rng(0))])
def test_teacher_has_zero_loss_at_its_own_params(task):
    # A student with the teacher's architecture, built independently of the task.
    sizes = task.teacher_net.sizes
    acts = ["linear"] if len(sizes) == 2 else "tanh"
    from plasticity.substrates import FeedForward
    student = FeedForward(sizes=sizes, activations=acts)
    batch = task.batch(50, np.random.default_rng(1))
    # exact: the targets are the same forward pass (same code, params and x array), so
    # every error is 0.0 and so is every gradient entry
    assert task.loss(student, task.teacher_params, batch) == 0.0
    assert task.evaluate(student, task.teacher_params)["loss"] == 0.0
    grad = task.gradient(student, task.teacher_params, batch)
    assert all(np.all(g == 0.0) for g in grad.values())
    # A random student is worse: the loss is not trivially zero.
    assert task.loss(student, student.init_params(5), batch) > 0.01


def test_teacher_noise_sets_the_floor():
    task = LinearTeacher(4, 3, 0, noise=0.5, n_eval=20000)
    student = task.teacher_net
    # E[0.5 ||noise||^2] = 0.5 * n_out * noise^2; 6 standard errors of the mean.
    expected = 0.5 * 3 * 0.25
    se = 0.5 * 0.25 * np.sqrt(2 * 3) / np.sqrt(20000)
    assert abs(task.evaluate(student, task.teacher_params)["loss"] - expected) < 6 * se


@pytest.mark.parametrize("name", list(CASES))
def test_oracle_gradient_matches_finite_differences(name):
    task = make_task(name, rng=4, **CASES[name])
    net = task.student(hidden=[5] if name != "digits" else [6], activation="tanh")
    params = net.init_params(np.random.default_rng(5))
    params = {k: v + 0.1 * np.random.default_rng(6).standard_normal(v.shape)
              for k, v in params.items()}
    batch = task.batch(8, np.random.default_rng(7))
    loss, grad = task.loss_and_gradient(net, params, batch)
    assert loss == task.loss(net, params, batch)  # same code path (test_feedforward)
    oracle = task.gradient(net, params, batch)
    assert sorted(oracle) == sorted(params)
    # step 1e-5: truncation (eps^2 / 6) |f'''| ~ 2e-11 |f'''|, rounding ~ u (1 + |f|) / eps
    # ~ 8e-11 (measured worst error 4e-10 of the largest entry). Allowed: 1e-8 of the
    # largest entry + the rounding floor 16 u (1 + |f|) / eps; since |e| <= sqrt(n) max|e|
    # (n <= 460 entries), that bounds |oracle - fd| by 7e-8 |oracle| at most here, inside
    # the old criterion |oracle - fd| <= 1e-6 |oracle|.
    check_grads(lambda p: task.loss(net, p, batch), params, oracle, eps=1e-5, rtol=1e-8)


def test_digits_is_the_real_bundled_set():
    task = Digits(np.random.default_rng(0))
    n_train, n_test = task.y_train.size, task.y_test.size
    assert n_train + n_test == 1797
    assert abs(n_test / 1797 - 0.25) < 0.01
    assert np.intersect1d(task.train_index, task.test_index).size == 0
    # Every class appears in both parts (stratified split).
    assert set(task.y_train) == set(task.y_test) == set(range(10))
    # Scaled to [0, 1] and centred on the training mean.
    np.testing.assert_allclose(task.x_train.mean(axis=0), 0.0, atol=1e-12)
    raw = task.x_train + task.pixel_mean
    # exact at the ends: (0 - m) + m = 0, and (1 - m) + m rounds to 1 (1 - m is off by at
    # most 2**-54, and 1 -+ 2**-54 rounds back to 1)
    assert raw.min() >= 0.0 and raw.max() <= 1.0 and raw.max() == 1.0
    from sklearn.datasets import load_digits
    data = load_digits()
    np.testing.assert_array_equal(task.y_test, data.target[task.test_index])
    np.testing.assert_allclose(task.x_test + task.pixel_mean, data.data[task.test_index] / 16)


def test_digits_split_is_deterministic_by_seed():
    a, b, c = Digits(3), Digits(np.random.default_rng(3)), Digits(4)
    np.testing.assert_array_equal(a.test_index, b.test_index)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.test_index, c.test_index)
    small = Digits(3, test_fraction=0.1)
    assert abs(small.y_test.size / 1797 - 0.1) < 0.01


def test_digits_learnable_by_the_oracle():
    # A few hundred exact gradient steps of a linear classifier reach high test accuracy:
    # the inputs, labels and loss are wired together correctly.
    task = Digits(0)
    net = task.student()
    params = net.init_params(0)
    rng = np.random.default_rng(1)
    for _ in range(300):
        batch = task.batch(64, rng)
        grad = task.gradient(net, params, batch)
        params = {k: v - 0.5 * grad[k] for k, v in params.items()}
    assert task.evaluate(net, params)["test_accuracy"] > 0.85


def test_task_signals_add_target():
    task = make_task("linear-teacher", rng=0, n_inputs=3, n_outputs=2)
    net = task.student()
    batch = task.batch(4, np.random.default_rng(0))
    sig = task.signals(net, net.init_params(0), batch)
    assert sig["input"].shape == (4, 3) and sig["output"].shape == (4, 2)
    assert sig["target"] is batch.target


def test_make_task_errors():
    with pytest.raises(InvalidParameterError, match="known tasks: 'linear-teacher', "
                                                    "'teacher-student', 'digits'"):
        make_task("mnist")
    with pytest.raises(InvalidParameterError, match="Unknown parameter 'hidden'"):
        make_task("teacher-student", hidden=3)
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        Digits(0, test_fraction=1.5)
    with pytest.raises(InvalidParameterError, match="n_inputs"):
        LinearTeacher(0, 2, 0)

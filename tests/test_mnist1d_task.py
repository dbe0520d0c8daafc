"""MNIST1D as a supervised task: the package's split, offline, with an exact population
gradient over its training set."""

import numpy as np
import pytest

from plasticity.problems.feedforward import FeedForwardProblem
from plasticity.tasks import MNIST1D
from plasticity.tasks.mnist1d_sequence import mnist1d_arrays


def test_split_shapes_and_labels():
    task = MNIST1D()
    assert task.x_train.shape == (4000, 40) and task.x_test.shape == (1000, 40)
    assert task.n_inputs == 40 and task.n_outputs == 10
    assert task.loss_kind == "cross_entropy"
    # the package's own arrays, unchanged (centred and scaled by its generator)
    x, y, x_test, y_test = mnist1d_arrays()
    np.testing.assert_array_equal(task.x_train, x)
    np.testing.assert_array_equal(task.y_test, y_test)
    assert set(np.unique(task.y_train)) == set(range(10))
    # mean 0 and sd 1 over the whole set: the training part is within a few percent
    assert abs(task.x_train.mean()) < 0.05 and task.x_train.std() == pytest.approx(1, abs=0.05)


def test_batches_come_from_the_training_set():
    task = MNIST1D()
    batch = task.batch(64, np.random.default_rng(0))
    assert batch.x.shape == (64, 40) and batch.target.shape == (64,)
    rows = {r.tobytes() for r in task.x_train}
    assert all(r.tobytes() in rows for r in batch.x)


def test_population_gradient_is_the_exact_training_set_mean():
    task = MNIST1D()
    net = task.student(hidden=[16])
    params = net.init_params(0)
    problem = FeedForwardProblem(task, net)
    assert problem.reference == "population" and problem.n_eval == 4000
    g, se = problem.population_gradient(params)
    assert se is None
    # the mean of the gradients of 4 disjoint quarters of the set is the full gradient
    quarters = [net.loss_and_grad(params, task.x_train[i::4], task.y_train[i::4],
                                  kind="cross_entropy")[1] for i in range(4)]
    for k in g:
        np.testing.assert_allclose(g[k], np.mean([q[k] for q in quarters], axis=0),
                                   rtol=1e-10, atol=1e-14)


def test_chance_accuracy_at_initialisation():
    task = MNIST1D()
    net = task.student(hidden=[16])
    out = task.evaluate(net, net.init_params(0))
    # 1000 test signals, 10 balanced-ish classes: chance 0.1 +- 3 sd of a binomial
    assert abs(out["test_accuracy"] - 0.1) < 3 * np.sqrt(0.1 * 0.9 / 1000) + 0.02
    assert out["test_loss"] == pytest.approx(np.log(10), abs=0.5)

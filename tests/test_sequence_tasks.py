"""Sequence tasks for the recurrent substrate (issue 17): batches, masks, the Add task's
reference losses, the statistics of generated targets against theory, bad input,
determinism, and MNIST-1D built offline without touching global random state.

Statistical checks use a 4-standard-error tolerance (a false alarm rate of about 6e-5
per check for a Gaussian estimator); the standard errors come from independent units
(sequences, or independent entries where the task draws them independently).
"""

import dataclasses
import random

import numpy as np
import pytest

from plasticity.errors import InvalidParameterError, PlasticityError
from plasticity.tasks import (
    AddTask,
    FlipFlopTask,
    MimicTask,
    MNIST1DSequence,
    SequenceBatch,
    SequenceTask,
)

Z = 4.0  # tolerance in standard errors


def _one_line_error(excinfo):
    text = str(excinfo.value)
    assert text and "\n" not in text
    assert isinstance(excinfo.value, PlasticityError)
    return text


# -- SequenceBatch --------------------------------------------------------------------------


def _arrays(B=3, T=5, n_in=2, n_out=4):
    return (np.zeros((B, T, n_in)), np.zeros((B, T, n_out)), np.ones((B, T)))


def test_batch_coerces_freezes_and_has_length():
    x, target, mask = _arrays()
    b = SequenceBatch(x=x.astype(np.int32), target=target, mask=mask, labels=[0, 1, 2])
    assert len(b) == 3 and (b.T, b.n_in, b.n_out) == (5, 2, 4)
    assert b.x.dtype == np.float64 and b.labels.shape == (3,)
    with pytest.raises(ValueError, match="read-only"):
        b.target[0, 0, 0] = 1.0  # a rule cannot change the batch the oracle sees
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.mask = mask
    mask[0, 0] = 7.0  # the batch holds its own copy
    assert b.mask[0, 0] == 1.0


@pytest.mark.parametrize("change, words", [
    (dict(x=np.zeros((3, 5))), "SequenceBatch.x must have shape (B, T, n_in)"),
    (dict(target=np.zeros((3, 6, 4))), "SequenceBatch.target must have shape"),
    (dict(target=np.zeros((3, 5))), "SequenceBatch.target must have shape"),
    (dict(mask=np.ones((3, 4))), "SequenceBatch.mask must have shape (B, T) = (3, 5)"),
    (dict(mask=-np.ones((3, 5))), "SequenceBatch.mask must be >= 0"),
    (dict(mask=np.zeros((3, 5))), "at least one positive weight"),
    (dict(labels=np.arange(4)), "SequenceBatch.labels must have first dimension B = 3"),
    (dict(x=np.full((3, 5, 2), np.nan)), "SequenceBatch.x contains NaN"),
    (dict(target="abc"), "SequenceBatch.target must hold real numbers"),
])
def test_batch_refuses_bad_shapes_in_one_line(change, words):
    x, target, mask = _arrays()
    fields = dict(x=x, target=target, mask=mask) | change
    with pytest.raises(InvalidParameterError) as excinfo:
        SequenceBatch(**fields)
    assert words in _one_line_error(excinfo)


# -- every task: the interface, shapes, determinism, the RNN's loss accepts its batches ---

TASKS = {
    "add": lambda: AddTask(),
    "add-scalar": lambda: AddTask(encoding="scalar", t1=2, t2=5, T=12),
    "mimic": lambda: MimicTask(n_in=3, n_out=2, teacher_hidden=6, T=15),
    "flip-flop": lambda: FlipFlopTask(n_channels=2, T=30),
    "mnist1d": lambda: MNIST1DSequence(),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_task_interface_shapes_and_determinism(name):
    task = TASKS[name]()
    assert isinstance(task, SequenceTask)
    assert task.loss in ("mse", "cross_entropy") and task.name
    b = task.batch(7, np.random.default_rng(3))
    assert isinstance(b, SequenceBatch) and len(b) == 7
    assert b.x.shape == (7, task.T, task.n_in)
    assert b.target.shape == (7, task.T, task.n_out)
    assert b.mask.shape == (7, task.T)
    if task.loss == "cross_entropy":  # a probability vector at every step
        assert np.all(b.target >= 0)
        np.testing.assert_allclose(b.target.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    # the same seed gives the same sequences; another seed other sequences
    again = task.batch(7, 3)
    for field in ("x", "target", "mask"):
        np.testing.assert_array_equal(getattr(again, field), getattr(b, field))
    assert not np.array_equal(task.batch(7, 4).x, b.x)
    with pytest.raises(InvalidParameterError) as excinfo:
        task.batch(0, 3)
    assert "'n' parameter must be an integer >= 1" in _one_line_error(excinfo)


@pytest.mark.parametrize("name", list(TASKS))
def test_rate_rnn_loss_accepts_every_task(name):
    from plasticity.substrates.rnn import RateRNN

    task = TASKS[name]()
    net = RateRNN(n_in=task.n_in, n_hidden=5, n_out=task.n_out, loss=task.loss)
    params = net.init_params(np.random.default_rng(0))
    b = task.batch(4, 1)
    loss, grad = net.loss_and_grad(params, b.x, b.target, b.mask)
    assert np.isfinite(loss) and loss > 0
    assert all(np.all(np.isfinite(g)) for g in grad.values())


# -- Add task -----------------------------------------------------------------------------


def test_add_task_masks_the_steps_without_a_target():
    task = AddTask(t1=3, t2=8, T=20)
    b = task.batch(5, 0)
    np.testing.assert_array_equal(b.mask, np.tile((np.arange(20) >= 8) * 1.0, (5, 1)))
    # one-hot inputs (x_t, 1 - x_t) of coin flips
    assert set(np.unique(b.x[..., 0])) <= {0.0, 1.0}
    np.testing.assert_array_equal(b.x[..., 0] + b.x[..., 1], 1.0)
    # p_t from the lagged inputs, written out step by step
    bits = b.x[..., 0]
    for t in range(8, 20):
        p = 0.5 + 0.5 * bits[:, t - 3] - 0.25 * bits[:, t - 8]
        np.testing.assert_allclose(b.target[:, t, 0], p, rtol=0, atol=1e-15)


def test_add_task_input_and_target_statistics():
    task = AddTask()
    n = 4000
    b = task.batch(n, np.random.default_rng(11))
    counted = b.mask[0] > 0
    bits = b.x[..., 0]
    # coin flips: mean 1/2, entries independent, se = 1/2 / sqrt(count)
    assert abs(bits.mean() - 0.5) < Z * 0.5 / np.sqrt(bits.size)
    # E[p_t] = 0.5 + 0.5/2 - 0.25/2 = 0.625; steps within a sequence share inputs, so the
    # standard error comes from the per-sequence means (independent across sequences)
    per_seq = b.target[:, counted, 0].mean(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(n)
    assert abs(per_seq.mean() - 0.625) < Z * se
    # p takes the four values 1/4, 1/2, 3/4, 1, each with probability 1/4
    p = b.target[:, counted, 0]
    np.testing.assert_allclose(np.unique(p), [0.25, 0.5, 0.75, 1.0], rtol=0, atol=1e-15)
    for value in (0.25, 0.5, 0.75, 1.0):
        share = np.isclose(p, value).mean(axis=1)  # per sequence, independent
        assert abs(share.mean() - 0.25) < Z * share.std(ddof=1) / np.sqrt(n)


def test_add_task_reference_losses_match_marschall_and_order():
    ref = AddTask().reference_losses()
    assert list(ref) == ["no_memory", "t1_learned", "both_learned"]
    # Marschall, Cho & Savin (2020) quote 0.66, 0.52 and 0.45 nats (two decimals)
    np.testing.assert_allclose([ref["no_memory"], ref["t1_learned"], ref["both_learned"]],
                               [0.66, 0.52, 0.45], atol=0.005)
    assert ref["no_memory"] > ref["t1_learned"] > ref["both_learned"] > 0
    # the lags' values do not enter the enumeration, only that they differ
    assert AddTask(t1=1, t2=2, T=3).reference_losses() == pytest.approx(ref, rel=1e-12)


def test_add_task_reference_losses_against_monte_carlo():
    # An independent estimate: sampled one-hot targets y ~ Bernoulli(p_t), scored by the
    # three predictors written out here from the inputs, averaged over sequences.
    task = AddTask(sample_targets=True)
    n = 3000
    b = task.batch(n, np.random.default_rng(5))
    counted = b.mask[0] > 0
    y = b.target[:, counted, 0]
    assert set(np.unique(y)) <= {0.0, 1.0}
    bits = b.x[..., 0]
    t = np.arange(task.T)[counted]
    a, c = bits[:, t - task.t1], bits[:, t - task.t2]
    predictions = {
        "no_memory": np.full(y.shape, 0.625),
        "t1_learned": np.where(a == 1, 0.875, 0.375),
        "both_learned": 0.5 + 0.5 * a - 0.25 * c,
    }
    ref = task.reference_losses()
    for key, q in predictions.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.where(y == 1, -np.log(q), -np.log1p(-q))  # q = 1 only where y = 1
        per_seq = loss.mean(axis=1)
        se = per_seq.std(ddof=1) / np.sqrt(n)
        assert abs(per_seq.mean() - ref[key]) < Z * se, (key, per_seq.mean(), ref[key], se)
    # the t1-learned predictor is the conditional frequency of y given x_{t-t1}: a ratio
    # of per-sequence sums (steps of one sequence share inputs), with its delta-method se
    for value, expected in ((0.0, 0.375), (1.0, 0.875)):
        hits, count = ((a == value) * y).sum(axis=1), (a == value).sum(axis=1)
        freq = hits.sum() / count.sum()
        se = np.sqrt(np.sum((hits - freq * count) ** 2)) / count.sum()
        assert abs(freq - expected) < Z * se, (value, freq, expected, se)


def test_add_task_no_memory_loss_through_the_rnn_loss():
    # The network's own masked cross-entropy at constant logits log(0.625), log(0.375)
    # equals the no-memory reference in expectation over sequences.
    from plasticity.substrates.rnn import RateRNN

    task = AddTask()
    n = 2000
    b = task.batch(n, np.random.default_rng(9))
    net = RateRNN(n_in=2, n_hidden=1, n_out=2, loss="cross_entropy")
    y = np.broadcast_to(np.log([0.625, 0.375]), b.target.shape)
    loss = net.loss_value(y, b.target, b.mask)
    per_seq = (net.step_losses(y, b.target) * b.mask).sum(axis=1) / b.mask.sum(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(n)
    assert abs(loss - task.reference_losses()["no_memory"]) < Z * se


def test_add_task_scalar_encoding():
    task = AddTask(encoding="scalar")
    b = task.batch(3, 0)
    assert task.n_in == 1 and b.x.shape == (3, 40, 1)
    assert set(np.unique(b.x)) == {0.0, 1.0}


@pytest.mark.parametrize("kwargs, words", [
    (dict(T=8), "sequence length T=8 must be longer than t2=8"),
    (dict(T=5, t2=8), "sequence length T=5 must be longer than t2=8"),
    (dict(t1=3, t2=3), "t2=3 must be greater than t1=3"),
    (dict(t1=6, t2=4), "t2=4 must be greater than t1=6"),
    (dict(t1=0), "'t1' parameter of AddTask must be greater than or equal to 1"),
    (dict(encoding="binary"), "'encoding' parameter of AddTask"),
    (dict(tl=3), "Unknown parameter 'tl'"),
])
def test_add_task_refuses_bad_hyperparameters(kwargs, words):
    with pytest.raises(InvalidParameterError) as excinfo:
        AddTask(**kwargs)
    assert words in _one_line_error(excinfo)


# -- flip-flop ----------------------------------------------------------------------------


def _held_sign_loop(x):
    out = np.zeros_like(x)
    B, T, n = x.shape
    for b in range(B):
        for c in range(n):
            state = 0.0
            for t in range(T):
                if x[b, t, c] != 0:
                    state = x[b, t, c]
                out[b, t, c] = state
    return out


def test_flip_flop_target_holds_the_last_pulse():
    b = FlipFlopTask(n_channels=3, T=60, pulse_prob=0.1).batch(20, 2)
    np.testing.assert_array_equal(b.target, _held_sign_loop(b.x))
    np.testing.assert_array_equal(b.mask, 1.0)
    assert set(np.unique(b.x)) == {-1.0, 0.0, 1.0}


def test_flip_flop_pulse_statistics():
    p = 0.05
    task = FlipFlopTask(n_channels=3, T=100, pulse_prob=p)
    b = task.batch(1000, np.random.default_rng(4))
    pulses = b.x != 0
    m = pulses.size  # every step and channel draws its pulse independently
    assert abs(pulses.mean() - p) < Z * np.sqrt(p * (1 - p) / m)
    signs = b.x[pulses]
    assert abs(signs.mean()) < Z / np.sqrt(signs.size)  # +-1 equally likely
    # the channel is still unset at step t with probability (1 - p)^(t + 1)
    unset = b.target == 0
    k = unset.shape[0] * unset.shape[2]  # sequences x channels, independent
    for t in (0, 9, 29, 99):
        expected = (1 - p) ** (t + 1)
        observed = unset[:, t, :].mean()
        assert abs(observed - expected) < Z * np.sqrt(expected * (1 - expected) / k)
    # +1 and -1 are held equally often: the mean target of each (sequence, channel), an
    # independent unit, is 0 in expectation
    unit_means = b.target.mean(axis=1).ravel()
    assert abs(unit_means.mean()) < Z * unit_means.std(ddof=1) / np.sqrt(unit_means.size)


@pytest.mark.parametrize("kwargs, words", [
    (dict(pulse_prob=0.0), "'pulse_prob' parameter of FlipFlopTask must be greater than 0"),
    (dict(pulse_prob=1.0), "'pulse_prob' parameter of FlipFlopTask must be less than 1"),
    (dict(n_channels=0), "'n_channels' parameter of FlipFlopTask"),
    (dict(T=0), "'T' parameter of FlipFlopTask"),
])
def test_flip_flop_refuses_bad_hyperparameters(kwargs, words):
    with pytest.raises(InvalidParameterError) as excinfo:
        FlipFlopTask(**kwargs)
    assert words in _one_line_error(excinfo)


# -- Mimic --------------------------------------------------------------------------------


def test_mimic_teacher_has_zero_loss_and_a_student_does_not():
    from plasticity.substrates.rnn import RateRNN

    task = MimicTask(n_in=2, n_out=3, teacher_hidden=8, teacher_alpha=0.5, T=25)
    b = task.batch(16, 0)
    # a student built here with the teacher's size, leak and activation
    student = RateRNN(n_in=2, n_hidden=8, n_out=3, alpha=0.5, activation="tanh", loss="mse")
    assert student.loss_value(student.forward(task.teacher_params, b.x).y, b.target,
                              b.mask) < 1e-25
    other = student.init_params(np.random.default_rng(1))
    assert student.loss_value(student.forward(other, b.x).y, b.target, b.mask) > 0.01


def test_mimic_target_is_the_teacher_on_the_same_inputs_at_the_same_step():
    # With no recurrence (g = 0) and alpha = 1 the teacher is memoryless:
    # y*_t = W_out tanh(W_in x_t + b) + c, computed here without the RNN code.
    task = MimicTask(n_in=2, n_out=2, teacher_hidden=10, teacher_g=0.0, T=12,
                     inputs="bernoulli")
    b = task.batch(5, 3)
    P = task.teacher_params
    expected = np.tanh(b.x @ P["W_in"].T + P["b"]) @ P["W_out"].T + P["c"]
    np.testing.assert_allclose(b.target, expected, rtol=1e-12, atol=1e-14)
    assert np.std(b.target) > 0.1  # the teacher's output is not trivially flat


def test_mimic_teacher_depends_on_its_seed_only():
    a = MimicTask(teacher_seed=7)
    x_batch = a.batch(4, 0)
    # the batch's rng draws inputs only: the same seed gives the same teacher
    np.testing.assert_array_equal(MimicTask(teacher_seed=7).teacher_params["W_rec"],
                                  a.teacher_params["W_rec"])
    b = MimicTask(teacher_seed=8)
    other = b.batch(4, 0)
    np.testing.assert_array_equal(other.x, x_batch.x)
    assert not np.allclose(other.target, x_batch.target)
    # a changed teacher field redraws the teacher
    a.teacher_seed = 8
    np.testing.assert_array_equal(a.batch(4, 0).target, other.target)


@pytest.mark.parametrize("inputs, mean, var", [("gaussian", 0.0, 1.0),
                                               ("bernoulli", 0.5, 0.25)])
def test_mimic_input_statistics(inputs, mean, var):
    b = MimicTask(inputs=inputs, teacher_hidden=4).batch(500, np.random.default_rng(6))
    m = b.x.size  # independent per step, unit and sequence
    assert abs(b.x.mean() - mean) < Z * np.sqrt(var / m)
    if inputs == "bernoulli":
        assert set(np.unique(b.x)) == {0.0, 1.0}


def test_mimic_refuses_bad_hyperparameters():
    with pytest.raises(InvalidParameterError) as excinfo:
        MimicTask(teacher_alpha=1.5)
    assert "'teacher_alpha' parameter of MimicTask" in _one_line_error(excinfo)


# -- MNIST-1D -----------------------------------------------------------------------------


def test_mnist1d_is_built_offline_and_leaves_global_random_state_alone(monkeypatch):
    import mnist1d.data

    from plasticity.tasks import mnist1d_sequence

    def no_network(*args, **kwargs):
        raise AssertionError("MNIST-1D must not be downloaded")

    monkeypatch.setattr(mnist1d.data.requests, "get", no_network)
    mnist1d_sequence.mnist1d_arrays.cache_clear()  # build it here, inside the check
    np.random.seed(1234)  # noqa: NPY002 - the legacy global state is what is checked
    random.seed(99)
    expected_np = np.random.random(3)  # noqa: NPY002
    expected_py = [random.random() for _ in range(3)]
    np.random.seed(1234)  # noqa: NPY002
    random.seed(99)
    x, y, x_test, y_test = mnist1d_sequence.mnist1d_arrays()
    np.testing.assert_array_equal(np.random.random(3), expected_np)  # noqa: NPY002
    assert [random.random() for _ in range(3)] == expected_py
    assert (x.shape, y.shape, x_test.shape, y_test.shape) == ((4000, 40), (4000,),
                                                              (1000, 40), (1000,))
    # the second call is the cached arrays, not a rebuild
    assert mnist1d_sequence.mnist1d_arrays()[0] is x


def test_mnist1d_data_and_masks():
    task = MNIST1DSequence()
    train, test = task.train_set(), task.test_set()
    assert (len(train), len(test)) == (4000, 1000)
    assert (task.n_in, task.n_out, task.T, task.loss) == (1, 10, 40, "cross_entropy")
    # the generator centres and scales all 5000 x 40 samples together
    allx = np.concatenate([train.x.ravel(), test.x.ravel()])
    assert abs(allx.mean()) < 1e-10 and abs(allx.std() - 1.0) < 1e-10
    # 500 examples per class before the split
    counts = np.bincount(train.labels, minlength=10) + np.bincount(test.labels, minlength=10)
    np.testing.assert_array_equal(counts, 500)
    # the one-hot class at every step; only the last step counts
    np.testing.assert_array_equal(test.target.argmax(axis=-1),
                                  np.repeat(test.labels[:, None], 40, axis=1))
    np.testing.assert_array_equal(test.mask[:, :-1], 0.0)
    np.testing.assert_array_equal(test.mask[:, -1], 1.0)
    five = MNIST1DSequence(last_k=5).batch(3, 0)
    np.testing.assert_array_equal(five.mask, np.tile((np.arange(40) >= 35) * 1.0, (3, 1)))


def test_mnist1d_batches_are_training_sequences_with_their_labels():
    task = MNIST1DSequence()
    train = task.train_set()
    rows = {train.x[i, :, 0].tobytes(): train.labels[i] for i in range(len(train))}
    b = task.batch(300, np.random.default_rng(8))
    assert all(rows[b.x[i, :, 0].tobytes()] == b.labels[i] for i in range(len(b)))
    # uniform draws over 4000 sequences: about 300 (1 - 300/4000/2) distinct ones
    distinct = len({b.x[i, :, 0].tobytes() for i in range(len(b))})
    assert distinct > 270
    test_rows = {task.test_set().x[i, :, 0].tobytes() for i in range(1000)}
    assert not any(b.x[i, :, 0].tobytes() in test_rows for i in range(len(b)))


def test_mnist1d_refuses_bad_last_k():
    with pytest.raises(InvalidParameterError) as excinfo:
        MNIST1DSequence(last_k=0)
    assert "'last_k' parameter of MNIST1DSequence" in _one_line_error(excinfo)

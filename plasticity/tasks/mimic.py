"""The Mimic task (Marschall, Cho & Savin 2020, JMLR 21:135, Sec. 5): reproduce the output
of a fixed random teacher RNN driven by the same inputs, a regression task whose target
is known to be realisable by a network of the teacher's size.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, PrivateAttr

from plasticity.tasks.sequence_batch import SequenceBatch, SequenceTaskBase, check_count

__all__ = ["MimicTask"]


class MimicTask(SequenceTaskBase):
    """Regression onto a fixed random :class:`~plasticity.substrates.rnn.RateRNN`.

    The teacher is ``RateRNN(n_in, teacher_hidden, n_out, alpha=teacher_alpha,
    activation="tanh")`` with parameters from its ``init_params`` at gain ``teacher_g``,
    drawn once from ``teacher_seed`` (``W_rec ~ N(0, g^2/n)``, ``W_in ~ N(0, 1/n_in)``,
    ``W_out ~ N(0, 1/n)``, zero biases). Inputs are independent per step and unit:
    ``N(0, 1)`` (``inputs="gaussian"``) or ``Bernoulli(0.5)`` in {0, 1}
    (``inputs="bernoulli"``). The target at every step is the teacher's output
    ``y*_t`` on the same inputs, both networks starting from ``h_0 = 0``; every step has
    mask 1.

    Loss: ``loss = "mse"``, ``1/2 ||y_t - y*_t||^2`` summed over the ``n_out`` outputs and
    averaged over steps. A student with the teacher's size, leak and activation at
    :attr:`teacher_params` has zero loss.

    Parameters
    ----------
    n_in, n_out : int, >= 1, default 2 and 2
    teacher_hidden : int, >= 1, default 32
    teacher_alpha : float in (0, 1], default 1.0
        The teacher's leak ``dt / tau``.
    teacher_g : float, >= 0, default 1.0
        Gain of the teacher's recurrent weights (1.0: the edge of the autonomous
        network's chaotic regime; the input drive keeps it stable).
    teacher_seed : int, >= 0, default 0
        Draws the teacher (and nothing else).
    inputs : {"gaussian", "bernoulli"}, default "gaussian"
    T : int, >= 1, default 40
        Steps per sequence.

    Attributes
    ----------
    teacher : RateRNN
    teacher_params : dict of str to ndarray
        Read-only.

    Examples
    --------
    >>> task = MimicTask(n_in=1, n_out=1, teacher_hidden=8, T=20)
    >>> b = task.batch(3, 0)
    >>> b.x.shape, b.target.shape
    ((3, 20, 1), (3, 20, 1))
    """

    loss = "mse"
    name = "mimic"

    n_in: int = Field(2, ge=1)
    n_out: int = Field(2, ge=1)
    teacher_hidden: int = Field(32, ge=1)
    teacher_alpha: float = Field(1.0, gt=0.0, le=1.0, allow_inf_nan=False)
    teacher_g: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    teacher_seed: int = Field(0, ge=0)
    inputs: Literal["gaussian", "bernoulli"] = "gaussian"
    T: int = Field(40, ge=1)

    # (the teacher fields it was drawn from, the network, its parameters); fields are
    # assignable (validate_assignment), so a changed field redraws the teacher
    _drawn = PrivateAttr(default=None)

    def _current_teacher(self):
        key = (self.n_in, self.n_out, self.teacher_hidden, self.teacher_alpha,
               self.teacher_g, self.teacher_seed)
        if self._drawn is None or self._drawn[0] != key:
            # imported here: only Mimic needs a substrate, and only once it is used
            from plasticity.substrates.rnn import RateRNN

            net = RateRNN(n_in=self.n_in, n_hidden=self.teacher_hidden, n_out=self.n_out,
                          alpha=self.teacher_alpha, activation="tanh", loss="mse")
            params = net.init_params(np.random.default_rng(self.teacher_seed),
                                     g=self.teacher_g)
            for arr in params.values():
                arr.flags.writeable = False
            self._drawn = (key, net, params)
        return self._drawn[1], self._drawn[2]

    @property
    def teacher(self):
        """The teacher :class:`~plasticity.substrates.rnn.RateRNN`."""
        return self._current_teacher()[0]

    @property
    def teacher_params(self) -> dict:
        """The teacher's parameters (read-only arrays; same seed, same arrays)."""
        return self._current_teacher()[1]

    def batch(self, n, rng) -> SequenceBatch:
        """``n`` independent input sequences and the teacher's outputs on them.

        Parameters
        ----------
        n : int, >= 1
        rng : numpy.random.Generator or int
            Draws the inputs.

        Returns
        -------
        SequenceBatch
            ``x`` (n, T, n_in), ``target`` (n, T, n_out) the teacher's ``y*``, ``mask``
            (n, T) of ones, ``labels`` None.
        """
        n = check_count("n", n)
        rng = self._rng(rng)
        shape = (n, self.T, self.n_in)
        if self.inputs == "gaussian":
            x = rng.standard_normal(shape)
        else:
            x = rng.integers(0, 2, size=shape).astype(np.float64)
        net, params = self._current_teacher()
        y = net.forward(params, x).y
        return SequenceBatch(x=x, target=y, mask=np.ones((n, self.T)))

"""The Hebbian family: plain Hebb, Oja, Sanger's GHA, BCM and the covariance rule.

All five are online rules: ``signals[pre]`` holds a window of ``T`` samples, shape
``(T, n_in)``, which is processed one sample at a time, in order, inside a Numba kernel
(:mod:`plasticity._kernels.hebbian`). The post-synaptic activity of each sample is
computed with the weights as they are at that sample, ``y = W x`` (BCM: ``max(W x, 0)``
when ``rectify``), unless ``post`` names a signal, in which case ``signals[post]``, shape
``(T, n_out)``, is used as given (Hebbian learning of a supervised network's weights).

Weights are ``params[target]`` with shape ``(n_out, n_in)``. :meth:`update` returns
``({target: W_after - W_before}, new_state)`` and never modifies ``params`` or ``state``.

Hyperparameters of every rule here
----------------------------------
Declared once (in ``_Hebbian``) and listed in each rule's docstring as "the family's":

eta : float, > 0
    Learning rate per sample.
target : str, default "W_out"
    The weight matrix learned, ``params[target]``, shape ``(n_out, n_in)``.
pre : str, default "input"
    The signal holding the presynaptic window, shape ``(T, n_in)``.
post : str or None, default None
    The signal holding the postsynaptic window, shape ``(T, n_out)``; ``None``: computed
    as ``W x`` (see above).

Every rule here applies to feedforward substrates.

References
----------
Hebb, D. O. (1949). The Organization of Behavior.
Miller, K. D., & MacKay, D. J. C. (1994). The role of constraints in Hebbian learning.
    Neural Computation 6, 100-126.
Oja, E. (1982). A simplified neuron model as a principal component analyzer.
    J. Math. Biology 15, 267-273.
Sanger, T. D. (1989). Optimal unsupervised learning in a single-layer linear feedforward
    neural network. Neural Networks 2, 459-473.
Intrator, N., & Cooper, L. N. (1992). Objective function formulation of the BCM theory of
    visual cortical plasticity. Neural Networks 5, 3-17.
Sejnowski, T. J. (1977). Storing covariance with nonlinearly interacting neurons.
    J. Math. Biology 4, 303-321.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from plasticity.errors import RuleError
from plasticity.rules.base import Rule

__all__ = ["BCM", "Covariance", "Hebb", "Oja", "Sanger"]

_NORM_CODES = {"none": 0, "multiplicative": 1, "subtractive": 2}


def _float_array(rule, what, value):
    """``value`` as a C-contiguous float64 array, or a RuleError naming ``what``."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise RuleError(f"Rule {rule}: {what} has dtype {arr.dtype}; expected real numbers.")
    return np.ascontiguousarray(arr, dtype=np.float64)


class _Hebbian(Rule):
    """Shared hyperparameters and input checking of the Hebbian rules (not a rule itself)."""

    substrates: ClassVar[tuple[str, ...]] = ("feedforward",)
    eta: float = Field(0.01, gt=0, description="learning rate, per sample")
    target: str = Field("W_out", description="the weight matrix learned, shape (n_out, n_in)")
    pre: str = Field("input", description="signal holding the presynaptic window (T, n_in)")
    post: str | None = Field(None, description="signal holding the postsynaptic window "
                                               "(T, n_out); None: computed as W x")

    def _who(self):
        return type(self).__name__

    def _weights(self, params):
        """The target weights, checked: a float64 array of shape (n_out, n_in)."""
        if self.target not in params:
            known = ", ".join(sorted(params)) or "none"
            raise RuleError(f"Rule {self._who()}: the target parameter '{self.target}' is not "
                            f"among the parameters (known: {known}).")
        W = _float_array(self._who(), f"parameter '{self.target}'", params[self.target])
        if W.ndim != 2:
            raise RuleError(f"Rule {self._who()}: parameter '{self.target}' has shape {W.shape};"
                            " expected a 2-D weight matrix (n_out, n_in).")
        return W

    def _window(self, signals, params):
        """Check the inputs of :meth:`update`.

        Returns
        -------
        W : ndarray, shape (n_out, n_in)
            A fresh float64 copy of the target weights (the kernel updates it in place).
        X : ndarray, shape (T, n_in)
        Y : ndarray, shape (T, n_out) or (0, n_out)
            The given post activity, or an empty placeholder when it is computed.
        given : bool
        """
        W = self._weights(params).copy()
        n_out, n_in = W.shape
        if self.pre not in signals:
            known = ", ".join(sorted(signals)) or "none"
            raise RuleError(f"Rule {self._who()}: the signals lack the presynaptic signal "
                            f"'{self.pre}' (available: {known}).")
        X = _float_array(self._who(), f"signal '{self.pre}'", signals[self.pre])
        single = X.ndim == 1
        if single:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != n_in:
            raise RuleError(f"Rule {self._who()}: signal '{self.pre}' has shape "
                            f"{np.shape(signals[self.pre])}; expected (T, {n_in}) or ({n_in},) "
                            f"to match parameter '{self.target}' of shape {W.shape}.")
        if self.post is None:
            return W, X, np.empty((0, n_out)), False
        if self.post not in signals:
            known = ", ".join(sorted(signals)) or "none"
            raise RuleError(f"Rule {self._who()}: the signals lack the postsynaptic signal "
                            f"'{self.post}' (available: {known}).")
        Y = _float_array(self._who(), f"signal '{self.post}'", signals[self.post])
        if single and Y.ndim == 1:
            Y = Y.reshape(1, -1)
        if Y.shape != (X.shape[0], n_out):
            raise RuleError(f"Rule {self._who()}: signal '{self.post}' has shape "
                            f"{np.shape(signals[self.post])}; expected ({X.shape[0]}, {n_out}) "
                            f"to match signal '{self.pre}' and parameter '{self.target}'.")
        return W, X, Y, True

    def _state_array(self, value, what, shape):
        """A fresh float64 copy of one state array, checked against ``shape``."""
        arr = _float_array(self._who(), f"state {what}", value)
        if arr.shape != shape:
            raise RuleError(f"Rule {self._who()}: state {what} has shape {arr.shape}; expected "
                            f"{shape} for parameter '{self.target}'.")
        return arr.copy()

    def _delta(self, W_new, params):
        return {self.target: W_new - np.asarray(params[self.target], dtype=np.float64)}


class _StatelessHebbian(_Hebbian):
    """A Hebbian rule without state whose whole update is one kernel over the window:
    ``kernel(W, X, Y, given, eta, *extra)`` updates ``W`` in place, sample by sample.

    Notes
    -----
    Such a rule keeps no state: :meth:`init` returns ``None``.
    """

    #: The name of the kernel in :mod:`plasticity._kernels.hebbian`.
    _kernel: ClassVar[str]

    def _extra(self) -> tuple:
        """Further scalar arguments of the kernel (none by default)."""
        return ()

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Process the window ``signals[pre]``; return ``({target: dW}, None)``."""
        from plasticity._kernels import hebbian as _k

        W, X, Y, given = self._window(signals, params)
        getattr(_k, self._kernel)(W, X, Y, given, float(self.eta), *self._extra())
        return self._delta(W, params), None


class Hebb(_StatelessHebbian):
    """Plain Hebbian learning, ``dW = eta y x^T`` per sample.

    Parameters
    ----------
    eta, target, pre, post
        The family's (module docstring).
    normalize : {"none", "multiplicative", "subtractive"}
        ``"multiplicative"`` keeps each row's L2 norm at its value before the window:
        ``w <- (w + dw) |w| / |w + dw|``. ``"subtractive"`` (Miller & MacKay 1994)
        removes the mean of ``dw`` over the inputs, per row, so that each row's sum of
        weights is conserved. Plain Hebb with ``"none"`` grows without bound.
    """

    name: ClassVar[str] = "hebb"
    _kernel: ClassVar[str] = "hebb"
    normalize: Literal["none", "multiplicative", "subtractive"] = "none"

    def _extra(self) -> tuple:
        return (_NORM_CODES[self.normalize],)


class Oja(_StatelessHebbian):
    """Oja's (1982) rule, ``dw = eta y (x - y w)`` for each output row on its own.

    For zero-mean inputs with covariance ``C`` and small ``eta``, a row converges to the
    unit-norm principal eigenvector of ``C`` (up to sign). Rows do not interact: several
    outputs all find the same component; use :class:`Sanger` for several components.

    Parameters
    ----------
    eta, target, pre, post
        The family's (module docstring).
    """

    name: ClassVar[str] = "oja"
    _kernel: ClassVar[str] = "oja"


class Sanger(_StatelessHebbian):
    """Sanger's (1989) generalized Hebbian algorithm (GHA).

    ``dW = eta (y x^T - LT[y y^T] W)`` with ``LT`` the lower triangle including the
    diagonal. For zero-mean inputs and small ``eta``, row ``k`` converges to the ``k``-th
    eigenvector of the input covariance (largest eigenvalue first), with unit norm.

    Parameters
    ----------
    eta, target, pre, post
        The family's (module docstring).
    """

    name: ClassVar[str] = "gha"
    _kernel: ClassVar[str] = "gha"


class BCM(_Hebbian):
    """BCM with a sliding threshold, in Intrator & Cooper's (1992) form.

    Per sample: ``dW = eta y (y - theta) x^T``, then
    ``theta <- theta + (y^2 - theta) / tau_theta`` with the same ``y``, so that ``theta``
    tracks ``E[y^2]``. With ``K`` linearly independent, equiprobable input patterns,
    ``E[y (y - theta) x] = 0`` forces every response ``y_k`` to be 0 or ``theta``; the
    stable fixed points are the selective ones, with one response ``y_pref = theta`` and
    the others 0, so that ``theta = E[y^2] = theta^2 / K`` gives ``y_pref = theta = K``
    whatever the patterns' norms.

    Parameters
    ----------
    eta, target, pre, post
        The family's (module docstring).
    tau_theta : float, >= 1
        Time constant of the threshold, in samples. It must be short compared with the
        time scale of the weights (about ``1 / (eta |x|^2 theta)``) for the selective
        fixed points to be stable.
    theta0 : float, >= 0
        Initial threshold, the same for every output.
    rectify : bool
        Computed activity is the rate ``max(W x, 0)`` when true, ``W x`` otherwise.

    Notes
    -----
    State: the thresholds, an array of shape ``(n_out,)``. :meth:`update` returns a new
    array and leaves the one passed in unchanged.
    """

    name: ClassVar[str] = "bcm"
    tau_theta: float = Field(100.0, ge=1, description="threshold time constant, in samples")
    theta0: float = Field(0.0, ge=0, description="initial threshold")
    rectify: bool = True

    def init(self, params):
        """Return the initial thresholds, shape (n_out,), all ``theta0``."""
        return np.full(self._weights(params).shape[0], float(self.theta0))

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Process the window; return ``({target: dW}, theta)``.

        ``state=None`` starts from :meth:`init`.
        """
        from plasticity._kernels import hebbian as _k

        W, X, Y, given = self._window(signals, params)
        if state is None:
            state = self.init(params)
        theta = self._state_array(state, "theta", (W.shape[0],))
        _k.bcm(W, theta, X, Y, given, float(self.eta), float(self.tau_theta),
               bool(self.rectify))
        return self._delta(W, params), theta


class Covariance(_Hebbian):
    """The covariance rule (Sejnowski 1977), ``dW = eta (y - ybar)(x - xbar)^T``.

    ``xbar`` and ``ybar`` are running means, updated after each sample's weight step:
    ``xbar <- xbar + (x - xbar) / tau_mean``, likewise ``ybar``. With the means at their
    true values the expected update is ``eta Cov(y, x)``, which for ``y = W x`` is
    ``eta W C`` with ``C`` the input covariance.

    Parameters
    ----------
    eta, target, pre, post
        The family's (module docstring).
    tau_mean : float, >= 1
        Time constant of the running means, in samples.

    Notes
    -----
    State: the tuple ``(xbar, ybar)`` of arrays with shapes ``(n_in,)`` and ``(n_out,)``,
    zeros initially. :meth:`update` returns new arrays.
    """

    name: ClassVar[str] = "covariance"
    tau_mean: float = Field(100.0, ge=1, description="running-mean time constant, in samples")

    def init(self, params):
        """Return ``(xbar, ybar)``: zeros of shapes (n_in,) and (n_out,)."""
        n_out, n_in = self._weights(params).shape
        return np.zeros(n_in), np.zeros(n_out)

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Process the window; return ``({target: dW}, (xbar, ybar))``.

        ``state=None`` starts from :meth:`init`.
        """
        from plasticity._kernels import hebbian as _k

        W, X, Y, given = self._window(signals, params)
        if state is None:
            state = self.init(params)
        if not (isinstance(state, tuple | list) and len(state) == 2):
            raise RuleError(f"Rule {self._who()}: state must be the pair (xbar, ybar); "
                            f"got {type(state).__name__}.")
        n_out, n_in = W.shape
        xbar = self._state_array(state[0], "xbar", (n_in,))
        ybar = self._state_array(state[1], "ybar", (n_out,))
        _k.covariance(W, xbar, ybar, X, Y, given, float(self.eta), float(self.tau_mean))
        return self._delta(W, params), (xbar, ybar)

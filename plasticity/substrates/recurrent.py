"""A recurrent rate network ``tau dr/dt = -r + f(W_rec r + I(t))``.

Integrated with forward Euler at step ``dt``: ``r <- r + (dt / tau) (f(W_rec r + I) - r)``.
The step must not exceed ``tau``: beyond it the leak term overshoots zero and the
discrete dynamics oscillate and can diverge even where the continuous system is stable.
The loop runs in a compiled kernel (:mod:`plasticity._kernels.recurrent`); Numba is
imported only when :meth:`RecurrentRate.run` is first called.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from plasticity.errors import InvalidParameterError
from plasticity.substrates.activations import ACTIVATIONS, get_activation
from plasticity.validation import Hyperparameters

__all__ = ["RecurrentRate"]


def _dt_problem(dt, tau):
    if dt > tau:
        return (f"must be at most tau ({tau} ms) for a stable Euler step; use a smaller dt "
                "or a larger tau")
    return None


class RecurrentRate(Hyperparameters):
    """A fully connected recurrent rate network driven by external input.

    Parameters
    ----------
    n : int
        Number of neurons, >= 1.
    tau : float
        Membrane (rate) time constant in ms, > 0.
    dt : float
        Euler step in ms, > 0 and <= ``tau``.
    activation : str, default "tanh"
        The rate nonlinearity ``f``: ``"linear"``, ``"tanh"``, ``"sigmoid"`` or ``"relu"``.

    Examples
    --------
    >>> import numpy as np
    >>> net = RecurrentRate(n=4, tau=10.0, dt=1.0)
    >>> params = net.init_params(np.random.default_rng(0))
    >>> net.run(params, np.zeros((100, 4))).shape
    (100, 4)
    """

    n: int = Field(ge=1)
    tau: float = Field(gt=0.0, allow_inf_nan=False)
    dt: float = Field(gt=0.0, allow_inf_nan=False)
    activation: str = "tanh"

    @field_validator("dt")
    @classmethod
    def _check_dt(cls, value, info: ValidationInfo):
        tau = info.data.get("tau")
        problem = None if tau is None else _dt_problem(value, tau)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("activation")
    @classmethod
    def _check_activation(cls, value):
        if value not in ACTIVATIONS:
            known = ", ".join(repr(k) for k in ACTIVATIONS)
            raise ValueError(f"must be one of {known}")
        return value

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every parameter array: ``{"W_rec": (n, n)}``."""
        return {"W_rec": (self.n, self.n)}

    def init_params(self, rng, g: float = 0.9) -> dict[str, np.ndarray]:
        """Draw the recurrent weights.

        Parameters
        ----------
        rng : numpy.random.Generator or int
            The random source (an int is used as a seed).
        g : float, default 0.9
            Gain: entries are ``N(0, g**2 / n)``, so the spectral radius is close to
            ``g`` for large ``n`` (``g < 1``: decaying, ``g > 1``: chaotic for tanh).

        Returns
        -------
        dict
            ``{"W_rec": ndarray of shape (n, n)}``, float64, row = postsynaptic neuron.
        """
        if not np.isfinite(g) or g < 0:
            raise InvalidParameterError(f"The gain g must be a finite number >= 0. Got {g!r}.")
        rng = np.random.default_rng(rng)
        return {"W_rec": rng.standard_normal((self.n, self.n)) * (g / np.sqrt(self.n))}

    def run(self, params, inputs, r0=None) -> np.ndarray:
        """Integrate the network over ``T`` steps of length ``dt``.

        Parameters
        ----------
        params : dict
            ``{"W_rec": ndarray of shape (n, n)}``.
        inputs : array_like, shape (T, n)
            External input current at each step, in the units of ``W_rec r``.
        r0 : array_like, shape (n,), optional
            Rates before the first step (default zeros).

        Returns
        -------
        ndarray, shape (T, n)
            ``rates[t]`` is the state at time ``(t + 1) * dt`` ms, after the step driven
            by ``inputs[t]``; ``r0`` itself is not included.

        Raises
        ------
        ValueError
            When an array has the wrong shape or holds NaN or infinity.
        InvalidParameterError
            When ``dt > tau`` (possible after assigning ``tau``).
        """
        problem = _dt_problem(self.dt, self.tau)
        if problem:
            raise InvalidParameterError(
                f"The 'dt' parameter of RecurrentRate {problem}. Got {self.dt!r}.")
        if not isinstance(params, dict) or "W_rec" not in params:
            raise ValueError("params must be a dict holding 'W_rec'.")
        w = self._finite("params['W_rec']", params["W_rec"], (self.n, self.n))
        x = np.asarray(inputs, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n:
            raise ValueError(f"inputs has shape {x.shape}; expected (T, {self.n}).")
        x = self._finite("inputs", x, x.shape)
        r = (np.zeros(self.n) if r0 is None
             else self._finite("r0", r0, (self.n,)))

        from plasticity._kernels.recurrent import run_rate

        return run_rate(w, x, r, self.dt / self.tau, get_activation(self.activation).code)

    @staticmethod
    def _finite(name, value, shape):
        arr = np.ascontiguousarray(value, dtype=np.float64)
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}; expected {shape}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} holds NaN or infinity.")
        return arr

"""Sequences from a known, stable linear dynamical system, and the one-step prediction loss.

The state evolves as

    x_{t+1} = A x_t + xi_t,    xi_t ~ N(0, Q) independent of the past,

with ``A`` of spectral radius ``rho(A) < 1`` (stable) and ``x`` fully observed. The
sequence starts in the stationary distribution ``x_0 ~ N(0, P)``, where ``P`` solves the
discrete Lyapunov equation ``P = A P A^T + Q`` (unique and positive definite for a stable
``A`` and positive-definite ``Q``), so every ``x_t`` has covariance ``P``.

The loss of a linear one-step predictor ``x_hat_{t+1} = W x_t`` is the stationary mean

    L(W) = E[ 1/2 ||x_{t+1} - W x_t||^2 ]                    (units: state^2)

Since ``x_{t+1} - W x_t = (A - W) x_t + xi_t`` with ``xi_t`` independent of ``x_t``,

    L(W) = 1/2 tr((A - W) P (A - W)^T) + 1/2 tr(Q),
    dL/dW = -(A - W) P,                                      (units: state^2 per unit W)

and the Hessian is ``P`` acting on the rows of ``W`` (``P`` kron ``I``), positive
definite: ``W = A`` is the unique minimum and the optimal loss is ``L(A) = tr(Q) / 2``.
Because ``x`` is observed without noise, ``A x_t = E[x_{t+1} | x_0..x_t]`` is the optimal
predictor among *all* functions of the past (no Kalman filter needed), not only the
optimal linear one.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["LinearDynamics"]


def _matrix(name, value, n=None):
    """``value`` as a finite float64 square matrix (of size ``n`` when given)."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"The '{name}' matrix must hold real numbers.") from None
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise InvalidParameterError(f"The '{name}' matrix must be square and non-empty; got "
                                    f"shape {arr.shape}.")
    if n is not None and arr.shape[0] != n:
        raise InvalidParameterError(f"The '{name}' matrix has shape {arr.shape}; expected "
                                    f"({n}, {n}).")
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"The '{name}' matrix contains NaN or infinity.")
    return arr


class LinearDynamics:
    """A stable linear dynamical system ``x_{t+1} = A x_t + xi_t``, ``xi_t ~ N(0, Q)``.

    The loss a predictor is judged against is ``L(W) = E[1/2 ||x_{t+1} - W x_t||^2]`` in
    the stationary regime (module docstring), computed in closed form by :meth:`loss`.

    Parameters
    ----------
    n : int, >= 1
        State dimension.
    rng : numpy.random.Generator, optional
        Draws ``A`` when it is not given (and nothing else).
    spectral_radius : float in (0, 1)
        ``rho(A)`` of the drawn ``A``: a standard Gaussian matrix rescaled so that its
        largest eigenvalue modulus is exactly this (non-normal in general, so ``P`` is
        anisotropic and the loss surface is not a round bowl).
    noise_std : float, > 0
        ``Q = noise_std^2 I`` (state units).
    A : array_like, shape (n, n), optional
        A given transition matrix instead of a drawn one; refused unless ``rho(A) < 1``.

    Attributes
    ----------
    A, Q, P : ndarray, shape (n, n)
        Transition, noise covariance and stationary covariance.
    rho : float
        The spectral radius of ``A``.

    Raises
    ------
    InvalidParameterError
        For a bad size or noise, or an unstable ``A`` (``rho(A) >= 1``): no stationary
        distribution exists and the loss is unbounded.
    """

    def __init__(self, n, rng=None, *, spectral_radius=0.9, noise_std=1.0, A=None):
        if isinstance(n, bool) or int(n) != n or int(n) < 1:
            raise InvalidParameterError(f"The state dimension n must be an integer >= 1. "
                                        f"Got {n!r}.")
        self.n = int(n)
        if not (np.isfinite(noise_std) and noise_std > 0):
            raise InvalidParameterError(f"noise_std must be positive and finite. Got "
                                        f"{noise_std!r}.")
        if A is None:
            if not 0 < spectral_radius < 1:
                raise InvalidParameterError(f"spectral_radius must lie in (0, 1) for a "
                                            f"stable system. Got {spectral_radius!r}.")
            G = np.random.default_rng(rng).standard_normal((self.n, self.n))
            A = G * (spectral_radius / np.max(np.abs(np.linalg.eigvals(G))))
        self.A = _matrix("A", A, self.n)
        self.rho = float(np.max(np.abs(np.linalg.eigvals(self.A))))
        if not self.rho < 1:
            raise InvalidParameterError(
                f"The transition matrix A is unstable: spectral radius {self.rho:.4g} >= 1 "
                "(the sequence has no stationary distribution); use rho(A) < 1.")
        self.noise_std = float(noise_std)
        self.Q = self.noise_std ** 2 * np.eye(self.n)
        from scipy.linalg import solve_discrete_lyapunov

        P = solve_discrete_lyapunov(self.A, self.Q)
        self.P = 0.5 * (P + P.T)  # the solver's P is symmetric only up to rounding
        self._chol_P = np.linalg.cholesky(self.P)

    # -- sequences -----------------------------------------------------------------------
    def initial(self, rng):
        """A stationary state ``x_0 ~ N(0, P)``, shape (n,)."""
        return self._chol_P @ rng.standard_normal(self.n)

    def simulate(self, n_steps, rng, x0):
        """The next ``n_steps`` states after ``x0``.

        Parameters
        ----------
        n_steps : int, >= 0
        rng : numpy.random.Generator
            Draws the noise.
        x0 : ndarray, shape (n,)
            The state before the first returned one.

        Returns
        -------
        ndarray, shape (n_steps, n)
            ``x_1, ..., x_{n_steps}``.
        """
        noise = rng.standard_normal((int(n_steps), self.n)) * self.noise_std
        out = np.empty((int(n_steps), self.n))
        x = np.asarray(x0, dtype=np.float64)
        for t in range(int(n_steps)):
            x = self.A @ x + noise[t]
            out[t] = x
        return out

    def pairs(self, n_pairs, rng):
        """Independent stationary one-step pairs ``(x_t, x_{t+1})``, each of shape
        (n_pairs, n): ``x_t ~ N(0, P)``, ``x_{t+1} = A x_t + xi``."""
        prev = rng.standard_normal((int(n_pairs), self.n)) @ self._chol_P.T
        nxt = prev @ self.A.T + self.noise_std * rng.standard_normal((int(n_pairs), self.n))
        return prev, nxt

    # -- loss and gradient -----------------------------------------------------------------
    def _W(self, W):
        W = np.asarray(W, dtype=np.float64)
        if W.shape != (self.n, self.n):
            raise InvalidParameterError(f"The predictor W has shape {W.shape}; expected "
                                        f"({self.n}, {self.n}).")
        return W

    def loss(self, W) -> float:
        """``L(W) = 1/2 tr((A - W) P (A - W)^T) + 1/2 tr(Q)`` (state^2), exact."""
        D = self.A - self._W(W)
        return 0.5 * float(np.sum((D @ self.P) * D)) + 0.5 * float(np.trace(self.Q))

    def gradient(self, W) -> np.ndarray:
        """``dL/dW = -(A - W) P``, shape (n, n)."""
        return -(self.A - self._W(W)) @ self.P

    @property
    def optimal_loss(self) -> float:
        """``L(A) = tr(Q) / 2``, the loss of the optimal predictor ``W = A``."""
        return 0.5 * float(np.trace(self.Q))

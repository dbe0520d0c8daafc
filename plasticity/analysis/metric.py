"""A positive-definite metric on the flattened parameter vector, for :func:`align`.

``v.M v`` and ``g.M^{-1} g``, in total and per diagonal block (one block per parameter
array, arrays in sorted key order). A matrix is checked once (square, right size,
symmetric, Cholesky-factorisable); a callable ``v -> M v`` is trusted and its inverse
applied by conjugate gradients.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError


class _Metric:
    """A positive-definite metric on the flat vector of arrays ``keys`` (sorted order).

    A matrix is checked (square, of the right size, symmetric, Cholesky) once; a callable
    ``v -> M v`` is trusted, its inverse applied by conjugate gradients.
    """

    def __init__(self, metric, keys, sizes):
        self.keys = list(keys)
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.slices = {k: slice(starts[i], starts[i + 1]) for i, k in enumerate(self.keys)}
        self.n = int(starts[-1])
        self._block_chol: dict[str, np.ndarray] = {}
        if callable(metric):
            self.matrix, self.apply = None, metric
            self.chol = None
            return
        mat = np.asarray(metric, dtype=np.float64)
        if mat.shape != (self.n, self.n):
            raise InvalidParameterError(
                f"The metric has shape {mat.shape}; expected ({self.n}, {self.n}) for the "
                f"flattened arrays {', '.join(self.keys)} (sorted order).")
        if not np.all(np.isfinite(mat)):
            raise InvalidParameterError("The metric contains NaN or infinity.")
        scale = float(np.max(np.abs(mat))) if mat.size else 0.0
        if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * scale):
            raise InvalidParameterError("The metric matrix is not symmetric; a metric must "
                                        "be symmetric positive definite.")
        try:
            self.chol = np.linalg.cholesky(mat)
        except np.linalg.LinAlgError:
            raise InvalidParameterError(
                "The metric matrix is not positive definite (its Cholesky factorisation "
                "failed); a metric must be symmetric positive definite.") from None
        self.matrix = mat
        self.apply = mat.__matmul__

    # -- quadratic forms -----------------------------------------------------------
    def norm2(self, v) -> float:
        """``v.M v``."""
        q = float(v @ self.apply(v))
        if q < 0:
            raise InvalidParameterError(f"The metric gave v.M v = {q:.3g} < 0: it is not "
                                        "positive definite.")
        return q

    def dual2(self, g) -> float:
        """``g.M^{-1} g``."""
        if self.chol is not None:
            return _chol_dual2(self.chol, g)
        return _cg_dual2(self.apply, g)

    def block_norm2(self, key, v) -> float:
        """``v.M_aa v`` for the diagonal block of array ``key``."""
        sl = self.slices[key]
        if self.matrix is not None:
            q = float(v @ (self.matrix[sl, sl] @ v))
        else:
            q = float(v @ self.apply(self._pad(key, v))[sl])
        if q < 0:
            raise InvalidParameterError(f"The metric gave a negative quadratic form on "
                                        f"'{key}': it is not positive definite.")
        return q

    def block_dual2(self, key, g) -> float:
        """``g.M_aa^{-1} g`` for the diagonal block of array ``key``."""
        sl = self.slices[key]
        if self.matrix is not None:
            chol = self._block_chol.get(key)
            if chol is None:
                # A principal block of a positive-definite matrix is positive definite,
                # so this cannot fail once the full factorisation succeeded.
                chol = self._block_chol[key] = np.linalg.cholesky(self.matrix[sl, sl])
            return _chol_dual2(chol, g)
        return _cg_dual2(lambda v: self.apply(self._pad(key, v))[sl], g)

    def _pad(self, key, v):
        full = np.zeros(self.n)
        full[self.slices[key]] = v
        return full


def _chol_dual2(chol, g) -> float:
    from scipy.linalg import solve_triangular

    y = solve_triangular(chol, g, lower=True, check_finite=False)
    return float(y @ y)


def _cg_dual2(apply, g) -> float:
    """``g.M^{-1} g`` with ``M`` given only as ``v -> M v`` (conjugate gradients)."""
    from scipy.sparse.linalg import LinearOperator, cg

    if not np.any(g):
        return 0.0
    n = g.size
    op = LinearOperator((n, n), matvec=lambda v: np.asarray(apply(np.ravel(v)), float),
                        dtype=np.float64)
    x, info = cg(op, g, rtol=1e-12, atol=0.0, maxiter=10 * n)
    if info != 0:
        raise InvalidParameterError(
            "Could not apply the inverse of the metric by conjugate gradients (no "
            f"convergence after {10 * n} iterations); is it positive definite?")
    q = float(g @ x)
    if q <= 0:
        raise InvalidParameterError(f"The metric gave g.M^-1 g = {q:.3g} <= 0: it is not "
                                    "positive definite.")
    return q


def _as_metric(metric, keys, grad):
    if metric is None or isinstance(metric, _Metric):
        return metric
    return _Metric(metric, keys, [np.size(grad[k]) for k in keys])

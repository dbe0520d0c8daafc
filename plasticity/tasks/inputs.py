"""Input statistics for unsupervised (Hebbian) learning, with known structure.

These tasks have no loss: what a Hebbian rule should find is known in closed form (the
principal components of a covariance, one of K patterns), so experiments compare the
learned weights with the truth.
"""

from __future__ import annotations

import numpy as np


class CorrelatedGaussian:
    """x ~ N(mean, C) with C = Q diag(lam) Q^T, Q a random orthogonal basis.

    The eigenvalues decay geometrically, ``lam_i = lam_1 * ratio**i``, so the gap between
    the first components (which sets how fast PCA rules converge) is ``1 - ratio``.

    Parameters
    ----------
    n_inputs : int
    rng : numpy.random.Generator
        Draws the basis Q (and nothing else).
    lam_1 : float
        Largest eigenvalue (input variance units).
    ratio : float in (0, 1)
        Successive eigenvalue ratio.
    mean_offset : float
        Every input's mean (0 gives centred data).
    """

    def __init__(self, n_inputs, rng, *, lam_1=1.0, ratio=0.6, mean_offset=0.0):
        self.n_inputs = int(n_inputs)
        q, r = np.linalg.qr(rng.standard_normal((self.n_inputs, self.n_inputs)))
        self.basis = q * np.sign(np.diag(r))  # columns: eigenvectors, descending variance
        self.eigenvalues = lam_1 * ratio ** np.arange(self.n_inputs)
        self.mean = np.full(self.n_inputs, float(mean_offset))
        self._factor = self.basis * np.sqrt(self.eigenvalues)

    @property
    def covariance(self):
        """C, shape (n_inputs, n_inputs)."""
        return (self.basis * self.eigenvalues) @ self.basis.T

    def principal_components(self, k=1):
        """The top-``k`` eigenvectors of C as rows, shape (k, n_inputs)."""
        return self.basis[:, :k].T.copy()

    def sample(self, n, rng):
        """``n`` samples, shape (n, n_inputs)."""
        return self.mean + rng.standard_normal((int(n), self.n_inputs)) @ self._factor.T


class PatternSet:
    """K fixed non-negative input patterns, shown one at a time in random order.

    Each pattern is a sparse non-negative vector of unit norm (a random subset of
    ``active`` inputs is on), so the patterns are linearly independent but overlap,
    as in BCM selectivity studies.

    Parameters
    ----------
    n_patterns, n_inputs : int
    rng : numpy.random.Generator
    active : float in (0, 1]
        Fraction of inputs on in each pattern.
    """

    def __init__(self, n_patterns, n_inputs, rng, *, active=0.3):
        self.n_patterns, self.n_inputs = int(n_patterns), int(n_inputs)
        k = max(1, round(active * self.n_inputs))
        pats = np.zeros((self.n_patterns, self.n_inputs))
        for i in range(self.n_patterns):
            pats[i, rng.choice(self.n_inputs, size=k, replace=False)] = \
                rng.uniform(0.5, 1.0, size=k)
        self.patterns = pats / np.linalg.norm(pats, axis=1, keepdims=True)

    def sample(self, n, rng):
        """``(x, labels)``: ``n`` random pattern presentations, x of shape (n, n_inputs)."""
        labels = rng.integers(0, self.n_patterns, size=int(n))
        return self.patterns[labels], labels

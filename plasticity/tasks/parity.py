"""Parity of ``n`` bits for a two-layer network of binary threshold (Heaviside) units: a
task whose 0-1 loss is piecewise constant in the parameters, so its gradient is zero
almost everywhere and only the Gaussian-smoothed loss has an informative gradient
(used by the ``selection-vs-gradient`` experiment, part B).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ThresholdParity"]


class ThresholdParity:
    """Parity of ``n`` bits learned by a two-layer network of Heaviside units.

    Parameters are ``{"W1": (H, n), "b1": (H,), "w2": (1, H), "b2": (1,)}``; the loss is
    the 0-1 error over all ``2^n`` patterns. :meth:`losses` evaluates many flattened
    parameter vectors at once, which keeps the Monte Carlo estimates of the smoothed
    gradient cheap.
    """

    def __init__(self, n_bits, n_hidden):
        self.n, self.h = int(n_bits), int(n_hidden)
        codes = np.arange(2 ** self.n)
        self.x = ((codes[:, None] >> np.arange(self.n)) & 1).astype(np.float64)
        self.y = self.x.sum(axis=1) % 2
        self.shapes = {"W1": (self.h, self.n), "b1": (self.h,), "b2": (1,),
                       "w2": (1, self.h)}
        self.keys = sorted(self.shapes)
        self.size = sum(int(np.prod(s)) for s in self.shapes.values())

    def init(self, rng):
        """Weights ``N(0, 1)``, biases ``N(0, 1)``: thresholds in the data's range."""
        return {k: rng.standard_normal(s) for k, s in self.shapes.items()}

    def flatten(self, params):
        """The parameters as one vector of shape ``(size,)``, arrays in sorted name order."""
        return np.concatenate([np.ravel(params[k]) for k in self.keys])

    def unflatten(self, vec):
        """The inverse of :meth:`flatten`: a dict of arrays (views of ``vec``)."""
        out, i = {}, 0
        for k in self.keys:
            m = int(np.prod(self.shapes[k]))
            out[k] = vec[i:i + m].reshape(self.shapes[k])
            i += m
        return out

    def losses(self, thetas):
        """0-1 error of each row of ``thetas`` (shape (K, size)) on all patterns."""
        thetas = np.atleast_2d(thetas)
        k = thetas.shape[0]
        i = 0
        parts = {}
        for key in self.keys:
            m = int(np.prod(self.shapes[key]))
            parts[key] = thetas[:, i:i + m].reshape((k, *self.shapes[key]))
            i += m
        hidden = (np.einsum("khn,pn->kph", parts["W1"], self.x)
                  + parts["b1"][:, None, :] > 0).astype(np.float64)
        out = (np.einsum("kph,kh->kp", hidden, parts["w2"][:, 0, :])
               + parts["b2"][:, :1] > 0).astype(np.float64)
        return np.mean(out != self.y, axis=1)

    def loss(self, params):
        """The 0-1 error of ``params`` on all ``2^n`` patterns (a fraction in [0, 1])."""
        return float(self.losses(self.flatten(params))[0])

    def fd_gradient(self, theta, h=1e-6):
        """Central finite differences of the 0-1 loss, all coordinates at once."""
        eye = np.eye(self.size) * h
        return (self.losses(theta + eye) - self.losses(theta - eye)) / (2 * h)

    def smoothed_gradient(self, theta, s, pairs, rng):
        """Monte Carlo ``grad L_s`` at ``theta`` and its per-coordinate standard error."""
        eps = rng.standard_normal((pairs, self.size))
        diff = self.losses(theta + s * eps) - self.losses(theta - s * eps)
        samples = diff[:, None] * eps / (2 * s)
        return samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(pairs)

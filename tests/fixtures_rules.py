"""Small researcher-style rules for the tests: one that works and several that break the
rule protocol in the ways the command line must report in one line."""

import numpy as np


class SignHebb:
    """The sign of the Hebbian product of hidden and output activity (DESIGN's example)."""

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        pre, post = signals["hidden"], signals["output"]
        # signals are batches (B, n); the product summed over the batch keeps W_out's shape
        return {"W_out": 0.001 * np.sign(post.T @ pre)}, state


class WrongShape:
    """Returns a delta for W_out with its axes swapped."""

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"W_out": np.zeros(params["W_out"].T.shape)}, state


class ReturnsNaN:
    """Returns NaN in W_out."""

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        return {"W_out": np.full(params["W_out"].shape, np.nan)}, state


class NoUpdate:
    """Has no update method."""

    def init(self, params):
        return None

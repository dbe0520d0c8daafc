"""The losses of a layered rate network's output: mean squared error on the output
activity and cross-entropy on the softmax of the output pre-activation, each averaged over
the batch, with the error ``dL/du_out`` that backpropagation starts from.
"""

from __future__ import annotations

import numpy as np

from plasticity.errors import InvalidParameterError

__all__ = ["LOSS_KINDS", "batch_targets", "check_loss_kind", "output_error"]

LOSS_KINDS = ("mse", "cross_entropy")


def check_loss_kind(kind):
    """Raise InvalidParameterError unless ``kind`` is one of :data:`LOSS_KINDS`."""
    if kind not in LOSS_KINDS:
        raise InvalidParameterError(f"Unknown loss kind {kind!r}; known kinds: "
                                    f"{', '.join(repr(k) for k in LOSS_KINDS)}.")


def batch_targets(target, kind, n_out, n_batch, single):
    """The target as a float64 ``(B, n_out)`` array (one-hot for class labels).

    ``single`` says the batch was one sample (``target`` then has no batch axis).
    """
    t = np.asarray(target)
    if kind == "cross_entropy" and t.dtype.kind in "iu":
        want = () if single else (n_batch,)
        if t.shape != want:
            raise ValueError(f"integer class labels have shape {t.shape}; "
                             f"expected {want}.")
        labels = t.reshape(n_batch)
        if labels.size and (labels.min() < 0 or labels.max() >= n_out):
            raise ValueError(f"class labels must lie in [0, {n_out}); got values in "
                             f"[{labels.min()}, {labels.max()}].")
        onehot = np.zeros((n_batch, n_out))
        onehot[np.arange(n_batch), labels] = 1.0
        return onehot
    t = t.astype(np.float64)
    want = (n_out,) if single else (n_batch, n_out)
    if kind == "mse" and not single and n_out == 1 and t.shape == (n_batch,):
        # One scalar target per sample is natural for a single output; reshaping
        # here avoids the silent (B, 1) - (B,) -> (B, B) broadcast.
        t = t[:, None]
    if t.shape != want:
        raise ValueError(f"target has shape {t.shape}; expected {want}"
                         + (" or integer class labels" if kind == "cross_entropy" else "")
                         + ".")
    return t.reshape(n_batch, n_out)


def output_error(u_out, y_out, t, kind, out_act):
    """Return ``(loss, dL/du_out)`` for a ``(B, n_out)`` batch, loss averaged over B
    (``out_act`` is the output layer's activation, whose derivative the MSE error takes)."""
    n_batch = u_out.shape[0]
    if kind == "mse":
        diff = y_out - t
        loss = 0.5 * np.sum(diff * diff) / n_batch
        delta = diff * out_act.df(u_out) / n_batch
        return float(loss), delta
    # The softmax acts on the pre-activation: the output activation is not part of
    # this loss. Subtracting the row maximum keeps exp from overflowing.
    z = u_out - u_out.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - log_norm
    loss = -np.sum(t * logp) / n_batch
    # d/du of -sum_k t_k log p_k is p * sum_k t_k - t; for one-hot targets p - t.
    delta = (np.exp(logp) * t.sum(axis=1, keepdims=True) - t) / n_batch
    return float(loss), delta


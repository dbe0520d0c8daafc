"""Per-layer metrics of the feedback family: weight-feedback angles and update-gradient
norm ratios.

The angle between a layer's forward weights ``W`` and its feedback ``B`` (read as
``B.T``, of ``W``'s shape) is BioTorch's "layer weight alignment" (Sanfiz & Akrout 2021):
``arccos(<W, B.T> / (|W| |B|))`` in degrees, Frobenius inner product, computed with the
package's one cosine (:func:`plasticity.analysis.cosine`). 0 degrees is backprop's exact
weight transport, about 90 degrees a fresh random feedback matrix.

The per-layer alignment of an update with the population gradient is not here: it comes
from :func:`plasticity.alignment.measure_problem`'s per-array tables (``<array>.cos_mean``
keys, docs/statistics.md).

References
----------
Sanfiz, A. J., & Akrout, M. (2021). Benchmarking the accuracy and robustness of feedback
    alignment algorithms. arXiv:2108.13446.
"""

from __future__ import annotations

import numpy as np

from plasticity.analysis.geometry import cosine
from plasticity.errors import InvalidParameterError

__all__ = ["matrix_angle", "norm_ratios", "rule_feedback", "weight_feedback_angles"]


def matrix_angle(a, b) -> float:
    """The angle between two arrays of the same shape, in degrees.

    Parameters
    ----------
    a, b : array_like
        Same shape; flattened (Frobenius inner product).

    Returns
    -------
    float
        ``arccos(cos(a, b))`` in degrees, in [0, 180]; NaN when either is zero.

    Raises
    ------
    InvalidParameterError
        When the shapes differ.
    """
    if np.shape(a) != np.shape(b):
        raise InvalidParameterError(f"matrix_angle: the arrays have shapes {np.shape(a)} "
                                    f"and {np.shape(b)}.")
    return float(np.degrees(np.arccos(cosine(a, b))))


def rule_feedback(state) -> dict[str, np.ndarray]:
    """The feedback matrices a rule keeps in its state (``state["feedback"]``), or ``{}``."""
    if isinstance(state, dict) and isinstance(state.get("feedback"), dict):
        return state["feedback"]
    return {}


def weight_feedback_angles(params, feedback, net=None) -> dict[str, float]:
    """The angle between each layer's forward weights and its feedback, in degrees.

    Parameters
    ----------
    params : dict of str to ndarray
        Forward parameters; ``W`` of shape ``(n_out, n_in)``.
    feedback : dict of str to ndarray
        Keyed by a weight name, a matrix of ``W.T``'s shape (feedback alignment, sign
        symmetry, Kolen-Pollack, weight mirror, target propagation's inverses): compared
        with ``W``. Keyed by a hidden layer name ``"hidden<l>"`` (direct feedback
        alignment), a matrix of shape ``(n_l, n_output)``: compared with the transpose of
        the product of the forward weights above that layer,
        ``(W_out @ ... @ W_{l+1}).T``, the matrix backprop would send the output error
        through if every layer were linear.
    net : FeedForward, optional
        Needed for layer-name keys (the order of the weights above the layer).

    Returns
    -------
    dict of str to float
        ``{key: degrees}`` in the order of ``feedback``.

    Raises
    ------
    InvalidParameterError
        For a key that is neither a parameter nor (with ``net``) a hidden layer, or a
        matrix of the wrong shape.
    """
    out = {}
    for key, mat in feedback.items():
        mat = np.asarray(mat, dtype=np.float64)
        if key in params:
            ref = np.asarray(params[key], dtype=np.float64).T
        elif net is not None and key in net.layer_names()[:-1]:
            k = net.layer_names().index(key)
            weights = net.weight_names()
            ref = np.asarray(params[weights[-1]], dtype=np.float64)
            for w in reversed(weights[k + 1:-1]):
                ref = ref @ params[w]
            ref = ref.T
        else:
            raise InvalidParameterError(f"weight_feedback_angles: feedback key {key!r} is "
                                        "neither a parameter nor a hidden layer of net.")
        if mat.shape != ref.shape:
            raise InvalidParameterError(f"weight_feedback_angles: feedback[{key!r}] has "
                                        f"shape {mat.shape}; expected {ref.shape}.")
        out[key] = matrix_angle(ref, mat)
    return out


def norm_ratios(delta, grad, names=None) -> dict[str, float]:
    """Each array's update norm over its gradient norm, ``|delta_k| / |grad_k|``.

    Parameters
    ----------
    delta : dict of str to ndarray
        An update (parameter units).
    grad : dict of str to ndarray
        A gradient with the same keys and shapes (loss per parameter unit), e.g. the
        population gradient.
    names : sequence of str, optional
        The arrays to report; default every key of ``delta``.

    Returns
    -------
    dict of str to float
        Units of a learning rate (backprop's update gives ``eta`` in every array when
        ``grad`` is its own batch gradient); NaN where the gradient is zero.

    Raises
    ------
    InvalidParameterError
        For an array missing from ``grad`` or of a different shape.
    """
    out = {}
    for k in (delta if names is None else names):
        if k not in grad or k not in delta or np.shape(delta[k]) != np.shape(grad[k]):
            raise InvalidParameterError(f"norm_ratios: array {k!r} is missing or has "
                                        "different shapes in delta and grad.")
        g = float(np.linalg.norm(grad[k]))
        out[k] = float(np.linalg.norm(delta[k])) / g if g > 0 else float("nan")
    return out

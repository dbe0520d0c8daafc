"""Claim: Hebbian learning is a gradient only for a single neuron or symmetric connections.

One file (about 1000 lines) by design: DESIGN.md keeps each experiment in one file, and
most of this one is the eight expected fields in closed form with their derivations and
the two rules the package does not have (Oja's subspace rule, similarity matching); the
tests themselves are library tools (:mod:`plasticity.analysis.field`, ``field_metric``,
``field_descent``, ``mean_field``).

Issue 19, claim 3. A table of Hebbian rules, each judged by its *expected* update field
``F(theta) = E_x[delta(x; theta)]`` on zero-mean Gaussian inputs ``x ~ N(0, C)`` with a
fixed anisotropic covariance ``C = Q diag(lambda) Q^T`` (eigenvalues geometric from 1 down
to ``1 / anisotropy``, ``Q`` a random rotation per seed). Learning rates are 1: a rate only
scales ``F`` and none of the tests below. Three tests per rule, each claiming only what it
shows (the tools of :mod:`plasticity.analysis.field`, ``field_metric`` and
``field_descent``, as in the ``gradient-field`` experiment, which tests Hebb, BCM, Oja and
Sanger on a fixed data set; this one adds the recurrent rules, the subspace rule and
similarity matching, and takes expectations over the Gaussian exactly):

(a) Euclidean asymmetry ``||A||_F / ||J||_F`` of the Jacobian ``J = dF/dtheta``
    (``A = (J - J^T) / 2``) at ``n_states`` random states per seed: 0 (the
    finite-difference floor, about 1e-11) for a Euclidean gradient field, clearly positive
    for a field that is not one *in these weight coordinates*.
    ``<rule>.asymmetry`` is the mean over seeds of the per-seed mean over states, with a
    t-interval over seeds (``_low``, ``_high``, cut to ``[0, 1]``); ``_max`` and ``_min``
    are the largest and smallest single values. Each value is an exact property of the
    field at its state (up to the floor), not an estimate: the verdicts read ``_max``
    (one state above the floor shows a field is no Euclidean gradient field), the interval
    says how large the asymmetry typically is.
(b) Metric- or manifold-aware test where the geometry of a known objective is declared:
    the sphere (Oja), the product of spheres and the Stiefel manifold (Sanger), the
    Stiefel manifold (subspace rule), and for similarity matching the field with its
    ``M`` part negated in the metric ``diag(4 I, 2 tau D)`` (a descent-ascent, below).
    ``<rule>.asymmetry_<geometry>``, ``<rule>.tangency_<geometry>`` (the normal part of
    ``F``: a field not tangent to the manifold is no flow on it).
(c) Descent (Lyapunov) check of a named candidate objective: RK4 flows of ``F`` from
    ``flow_starts`` states per seed (``flow_steps`` steps of ``flow_dt / rho``,
    ``rho = ||J||_2`` at the start; for the recurrent rules ``rho`` is re-measured every
    step, because ``F`` grows without bound as ``W`` nears instability, and a flow stops
    once the largest real part of ``W``'s eigenvalues reaches ``rec_stop``):
    ``<rule>.descent_frac`` (steps on which the objective moved the claimed way, the
    smallest over seeds), ``<rule>.descent_pointwise_frac`` (states with ``grad f . F`` of
    the claimed sign) and ``<rule>.steepest_cos_min`` (``F`` against the steepest
    direction of ``f`` in the declared geometry: 1 when ``F`` is that direction).

``<rule>.verdict`` words (a)-(c) with :func:`plasticity.analysis.field_verdict`, which
never says more than "no gradient structure found in the metrics tested".

The rules and their expected fields (``y`` the output; derivations in the functions)

``hebb``        one linear neuron, ``dw = y x``: ``F = C w = grad (w^T C w / 2)``,
                ``J = C``: a Euclidean gradient field (ascent).
``bcm``         one rectified neuron ``y = max(w.x, 0)``, ``dw = y (y - theta) x`` with the
                threshold at its fixed point ``theta = E[y^2]`` (fast-threshold limit;
                :class:`~plasticity.rules.hebbian.BCM`): with ``s^2 = w^T C w``,
                ``F = C w (sqrt(2/pi) s - s^2 / 4) = grad Phi``, ``Phi = E[y^3]/3 -
                E[y^2]^2/4 = sqrt(2/pi) s^3 / 3 - s^4 / 16`` (Intrator & Cooper 1992).
                Without rectification ``E[y^3] = 0`` on a zero-mean Gaussian and the
                field would be the trivial ``-(w^T C w) C w``.
``hopfield``    symmetric recurrent Hebb: ``n`` linear units with symmetric recurrent
                weights ``W`` (zero diagonal; the parameters are the ``n (n - 1) / 2``
                upper entries), activity at the minimum of the energy
                ``E(y) = |y|^2 / 2 - y^T W y / 2 - x^T y``, ``y = (I - W)^-1 x``, and
                ``dW_ij = y_i y_j``: ``F = (B C B)_ij``, ``B = (I - W)^-1``, which is
                ``grad Psi`` with ``Psi = E[x^T B x] / 2 = -E[min_y E]`` (the mean
                equilibrium energy falls): a Euclidean gradient field.
``recurrent_asym`` the same Hebbian rule and dynamics with the symmetry constraint
                dropped (the ``n (n - 1)`` off-diagonal weights free): ``F = (B C B^T)_ij``,
                generically not a Euclidean gradient field; candidate ``Psi`` as above.
``oja``         ``dw = y (x - y w)``: ``F = C w - (w^T C w) w``; Euclidean asymmetry
                ``||C w w^T - w w^T C||_F / ||J||_F``; on the unit sphere the Riemannian
                gradient of ``R = w^T C w / (2 w^T w)``.
``sanger``      GHA with ``n_outputs`` rows, ``F = W C - LT[W C W^T] W``; row ``i``
                depends on rows ``j <= i`` only, so ``J`` is block lower-triangular and
                its antisymmetric part is never 0 (two rows: :func:`sanger_antisymmetric`);
                not tangent to the product of spheres or the Stiefel manifold. Candidate
                ``V = tr(W C W^T) / 2``.
``subspace``    Oja's (1989) subspace rule ``dW = y x^T - y y^T W``: ``F = W C - W C W^T W``.
                Not a Euclidean gradient field; tangent to the Stiefel manifold
                (``F W^T = 0`` there) and equal to the Riemannian gradient of
                ``V = tr(W C W^T) / 2`` on it.
``similarity_matching`` Pehlevan, Sengupta & Chklovskii (2018): feedforward ``W``
                (``k x n``), symmetric lateral ``M`` (``k x k``), ``y = M^-1 W x`` (the
                fixed point of ``dy/dt = W x - M y``), ``dW = y x^T - W``,
                ``dM = (y y^T - M) / tau``. With ``L(W, M) = 2 tr(W W^T) - tr(M^2) -
                2 tr(M^-1 W C W^T)``: ``F_W = -dL/dW / 4`` and ``F_M = +dL/dM / (2 tau)``,
                gradient descent in ``W`` and ascent in ``M`` of one objective (a min-max),
                checked as ``similarity_matching.minmax_error``. Negating ``F_M`` gives
                ``-G^-1 grad L`` with ``G = diag(4 I, 2 tau D)`` (``D`` = 2 on the
                off-diagonal upper entries of ``M``, 1 on its diagonal): test (b).
                Candidate for (c): ``l(W) = max_M L = 2 tr(W W^T) - 3 tr((W C W^T)^(2/3))``
                (the maximiser is ``M = (W C W^T)^(1/3)``), claimed to decrease. At the
                fixed point ``W* = O Lambda V^T``, ``M* = O Lambda O^T`` (``V`` the top
                ``k`` eigenvectors) ``similarity_matching.fixed_point_imag_ratio`` is the
                largest ``|Im| / |mu|`` of ``J``'s eigenvalues: complex eigenvalues there
                would show no gradient flow in any fixed metric near it.

Each closed-form field is checked against the rule itself (the package's
:class:`~plasticity.rules.hebbian.Hebb`, :class:`~.BCM`, :class:`~.Oja`, :class:`~.Sanger`;
the local :class:`OjaSubspace` and :class:`SimilarityMatching`) averaged over
``n_samples`` draws of ``x`` from the same state (:func:`plasticity.analysis.mean_field.
sample_mean_field`), against the same formula with the sample moments:
``<rule>.rule_field_error`` (largest relative deviation, rounding only).

States: single neurons ``w0 + radius rms(w0) z`` around a random unit ``w0``; layers
around a matrix with unit rows; recurrent ``W`` random with spectral norm ``rec_norm``
(stable dynamics); similarity matching ``W`` as a layer and ``M`` random symmetric
positive definite on the scale of ``(W C W^T)^(1/3)``. Manifold tests place the same
states on the manifold (normalised rows, the polar factor).

Headline: ``sanger.asymmetry`` (t-interval over seeds), the Euclidean asymmetry of the
standard many-neuron Hebbian rule with asymmetric (hierarchical) interactions. The claim
is a necessary condition; the verdict reads the whole table: which rules are Euclidean
gradient fields, whether any rule with asymmetric connections showed gradient structure
in any geometry tested, and where a single neuron or symmetric connections were not
enough (Oja, similarity matching).

Numerical floor: central differences with ``eps = 1e-5`` leave an asymmetry of about
``1e-11`` on these unit-scale fields; ``floor_tol = 1e-6`` is the pass threshold.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, model_validator

from plasticity.experiment import ClaimMeta, Config, Experiment
from plasticity.rules.base import Rule

RULES = ("hebb", "bcm", "hopfield", "recurrent_asym", "oja", "sanger", "subspace",
         "similarity_matching")
LABELS = {"hebb": "Hebb", "bcm": "BCM", "hopfield": "Hopfield\n(symmetric)",
          "recurrent_asym": "recurrent\n(asymmetric)", "oja": "Oja", "sanger": "Sanger\n(GHA)",
          "subspace": "Oja\nsubspace", "similarity_matching": "similarity\nmatching"}
#: what the claim is about: the neurons and the connections of each rule
STRUCTURE = {"hebb": "single", "bcm": "single", "oja": "single", "hopfield": "symmetric",
             "recurrent_asym": "asymmetric", "sanger": "asymmetric", "subspace": "symmetric",
             "similarity_matching": "symmetric"}
# (rule, geometry key, label) of the metric- and manifold-aware tests, in drawing order
GEOMETRIES = (("oja", "sphere", "Oja\nsphere"), ("sanger", "spheres", "Sanger\nspheres"),
              ("sanger", "stiefel", "Sanger\nStiefel"),
              ("subspace", "stiefel", "subspace\nStiefel"),
              ("similarity_matching", "minmax", "sim. match.\n(W, -M) in G"))
WHERE = {"sphere": ("on the sphere", "the sphere"),
         "spheres": ("on the product of spheres", "the product of spheres"),
         "stiefel": ("on the Stiefel manifold", "the Stiefel manifold")}
RECURRENT = ("hopfield", "recurrent_asym")


class ClaimHebbConfig(Config):
    n_inputs: int = Field(5, ge=3, description="input dimension n (>= 3: on the circle "
                                               "every tangent field passes)")
    n_outputs: int = Field(2, ge=2, description="outputs k of Sanger, the subspace rule and "
                                                "similarity matching (2 <= k < n_inputs)")
    anisotropy: float = Field(10.0, gt=1, allow_inf_nan=False,
                              description="largest / smallest eigenvalue of C (> 1)")
    seeds: int = Field(8, ge=2, description="independent covariances and states (>= 2 for "
                                            "an interval over seeds)")
    n_states: int = Field(4, ge=1, description="random states per rule and seed")
    radius: float = Field(0.5, gt=0, allow_inf_nan=False,
                          description="spread of the states, relative to their RMS")
    rec_norm: float = Field(0.5, gt=0, lt=1, description="spectral norm of the recurrent "
                                                         "weights of the states")
    rec_stop: float = Field(0.9, gt=0, lt=1, description="a recurrent flow stops when W's "
                                                         "largest real eigenvalue part "
                                                         "reaches this")
    sm_tau: float = Field(0.5, gt=0, allow_inf_nan=False,
                          description="time constant of similarity matching's M, relative "
                                      "to W's")
    n_samples: int = Field(400, ge=2, description="samples behind the rule-vs-formula check")
    flow_starts: int = Field(2, ge=1, le=64, description="starts of the descent flows")
    flow_steps: int = Field(100, ge=1, description="RK4 steps per flow")
    flow_dt: float = Field(0.1, gt=0, le=0.5, description="RK4 step in units of the "
                                                          "field's fastest time constant")
    eps: float = Field(1e-5, gt=0, lt=0.1, description="finite-difference relative step")
    floor_tol: float = Field(1e-6, gt=0, lt=1e-2, description="asymmetry pass threshold")

    @model_validator(mode="after")
    def _outputs_below_inputs(self):
        if self.n_outputs >= self.n_inputs:
            raise ValueError(f"n_outputs={self.n_outputs} must be below n_inputs="
                             f"{self.n_inputs} (the Stiefel test is vacuous at k = n)")
        return self


# ----------------------------------------------------------------------------- the fields

def covariance(rng, n, anisotropy):
    """``C = Q diag(lambda) Q^T``: eigenvalues geometric from 1 to ``1 / anisotropy``.

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric positive definite (input units squared); ``Q`` Haar-random.
    """
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    q = q * np.sign(np.diag(r))  # the sign fix makes Q Haar-distributed
    return (q * np.geomspace(1.0, 1.0 / anisotropy, n)) @ q.T


def hebb_field(C, w):
    """Expected plain Hebb ``E[y x] = C w`` for one linear neuron, shape (n,)."""
    return C @ w


SQRT_2_PI = float(np.sqrt(2.0 / np.pi))


def bcm_field(C, w):
    """Expected BCM update of a rectified neuron with ``theta = E[y^2]``, shape (n,).

    With ``u = w.x ~ N(0, s^2)``, ``E[x | u] = C w u / s^2``, so ``E[g(u) x] =
    C w E[g(u) u] / s^2``; ``E[relu(u)^3] = sqrt(2/pi) s^3`` and ``E[relu(u)^2] = s^2/2``
    give ``E[y^2 x] - E[y^2] E[y x] = C w (sqrt(2/pi) s - s^2 / 4)``.
    """
    s = float(np.sqrt(w @ C @ w))
    return C @ w * (SQRT_2_PI * s - s * s / 4.0)


def bcm_objective(C, w):
    """Intrator & Cooper's ``Phi = E[y^3]/3 - E[y^2]^2/4 = sqrt(2/pi) s^3/3 - s^4/16``."""
    s = float(np.sqrt(w @ C @ w))
    return SQRT_2_PI * s**3 / 3.0 - s**4 / 16.0


def oja_field(C, w):
    """Expected Oja update ``C w - (w^T C w) w``, shape (n,)."""
    return C @ w - (w @ C @ w) * w


def sanger_field(C, W):
    """Expected GHA update ``W C - LT[W C W^T] W`` (lower triangle with the diagonal),
    shape (k, n)."""
    return W @ C - np.tril(W @ C @ W.T) @ W


def subspace_field(C, W):
    """Expected Oja subspace update ``W C - W C W^T W``, shape (k, n)."""
    return W @ C - W @ C @ W.T @ W


def sanger_antisymmetric(C, w1, w2):
    """Closed-form antisymmetric part of GHA's Jacobian for two rows (flat, row-major).

    Row 1 is Oja's field; row 2 is ``C w2 - (w2^T C w1) w1 - (w2^T C w2) w2``. The
    blocks ``J_ij = dF_i / dw_j``: ``J_12 = 0``, ``J_21 = -(w2^T C w1) I - w1 w2^T C``,
    ``J_ii = C - (w_i^T C w_i) I - 2 w_i w_i^T C`` (and ``J_22`` has the further term
    ``-w1 w1^T C``). So ``A = (J - J^T)/2`` has diagonal blocks ``K(w1)`` and
    ``K(w2) + K(w1) / 2`` with ``K(w) = C w w^T - w w^T C``, and off-diagonal block
    ``A_12 = (c I + C w2 w1^T) / 2 = -A_21^T`` (``c = w2^T C w1``), whose squared norm
    ``(c^2 (n + 2) + |C w2|^2 |w1|^2) / 4`` is positive for nonzero rows.

    Returns
    -------
    ndarray, shape (2n, 2n)
    """
    n = len(w1)
    c12 = float(w2 @ C @ w1)
    a12 = 0.5 * (c12 * np.eye(n) + np.outer(C @ w2, w1))
    k1 = np.outer(C @ w1, w1) - np.outer(w1, C @ w1)
    blocks = [[k1, a12], [-a12.T, np.outer(C @ w2, w2) - np.outer(w2, C @ w2) + k1 / 2]]
    return np.block(blocks)


def recurrent_field(C, W):
    """Expected recurrent Hebb ``E[y y^T] = B C B^T``, ``B = (I - W)^-1``, shape (n, n)."""
    B = np.linalg.inv(np.eye(len(W)) - W)
    return B @ C @ B.T


def recurrent_potential(C, W):
    """``Psi = E[x^T (I - W)^-1 x] / 2 = tr((I - W)^-1 C) / 2`` (minus the mean energy
    at equilibrium for symmetric ``W``)."""
    return 0.5 * float(np.trace(np.linalg.solve(np.eye(len(W)) - W, C)))


def sm_field(C, W, M, tau):
    """Expected similarity-matching updates ``(E[y x^T] - W, (E[y y^T] - M) / tau)`` with
    ``y = M^-1 W x``: ``(M^-1 W C - W, (M^-1 W C W^T M^-1 - M) / tau)``."""
    Y = np.linalg.solve(M, W)  # M^-1 W
    return Y @ C - W, (Y @ C @ Y.T - M) / tau


def sm_objective(C, W, M):
    """``L(W, M) = 2 tr(W W^T) - tr(M^2) - 2 tr(M^-1 W C W^T)`` (per-sample min over y
    done: ``min_y -4 x^T W^T y + 2 y^T M y = -2 x^T W^T M^-1 W x``)."""
    return float(2.0 * np.sum(W * W) - np.sum(M * M)
                 - 2.0 * np.trace(np.linalg.solve(M, W @ C @ W.T)))


def _sym_power(S, p):
    lam, V = np.linalg.eigh(S)
    return (V * lam**p) @ V.T


def sm_reduced(C, W):
    """``l(W) = max_M L(W, M) = 2 tr(W W^T) - 3 tr((W C W^T)^(2/3))``.

    ``dL/dM = 0`` gives ``M^-1 S M^-1 = M`` (``S = W C W^T``), ``M = S^(1/3)``.
    """
    lam = np.linalg.eigvalsh(W @ C @ W.T)
    return float(2.0 * np.sum(W * W) - 3.0 * np.sum(lam ** (2.0 / 3.0)))


def sm_reduced_grad(C, W):
    """``dl/dW = 4 W - 4 S^(-1/3) W C``: ``-4 F_W`` at the maximising ``M`` (Danskin)."""
    return 4.0 * W - 4.0 * _sym_power(W @ C @ W.T, -1.0 / 3.0) @ W @ C


def sm_fixed_point(C, k, rng):
    """A fixed point ``W* = O Lambda V^T``, ``M* = O Lambda O^T`` (top ``k`` eigenpairs
    ``Lambda``, ``V`` of ``C``, ``O`` random orthogonal): ``M^-1 W C = W`` and
    ``W C W^T = M^3``."""
    lam, V = np.linalg.eigh(C)
    lam, V = lam[::-1][:k], V[:, ::-1][:, :k]
    rot, _ = np.linalg.qr(rng.standard_normal((k, k)))
    return rot @ np.diag(lam) @ V.T, rot @ np.diag(lam) @ rot.T


# ------------------------------------------------------------ flat coordinates, per rule

class Coords:
    """Flat coordinates ``theta`` of a rule's parameters, and back.

    Parameters
    ----------
    kind : {"vector", "layer", "symmetric", "offdiag", "sm"}
        One neuron ``w`` (n,); a layer ``W`` (k, n); a symmetric zero-diagonal ``W``
        (its upper entries); a zero-diagonal ``W`` (its off-diagonal entries); similarity
        matching's ``W`` (k, n) then ``M``'s upper triangle with the diagonal.
    n, k : int
    """

    def __init__(self, kind, n, k=1):
        self.kind, self.n, self.k = kind, n, k
        self.upper = np.triu_indices(n, 1)
        self.off = ~np.eye(n, dtype=bool)
        self.m_upper = np.triu_indices(k)
        self.size = {"vector": n, "layer": k * n, "symmetric": n * (n - 1) // 2,
                     "offdiag": n * (n - 1), "sm": k * n + k * (k + 1) // 2}[kind]

    def matrix(self, theta):
        """``W`` (or ``(W, M)`` for ``"sm"``) of ``theta``."""
        if self.kind == "vector":
            return theta
        if self.kind == "layer":
            return theta.reshape(self.k, self.n)
        if self.kind == "sm":
            kn = self.k * self.n
            M = np.zeros((self.k, self.k))
            M[self.m_upper] = theta[kn:]
            return theta[:kn].reshape(self.k, self.n), M + np.triu(M, 1).T
        W = np.zeros((self.n, self.n))
        if self.kind == "symmetric":
            W[self.upper] = theta
            return W + W.T
        W[self.off] = theta
        return W

    def flat(self, mat):
        """``theta`` of ``W`` (or of ``(W, M)``): the inverse of :meth:`matrix` on its
        image (the entries a symmetric or zero-diagonal ``W`` has free)."""
        if self.kind in ("vector", "layer"):
            return np.asarray(mat, dtype=float).ravel()
        if self.kind == "sm":
            return np.concatenate([mat[0].ravel(), mat[1][self.m_upper]])
        return mat[self.upper] if self.kind == "symmetric" else mat[self.off]


# -------------------------------------------------------------- the two rules added here

class OjaSubspace(Rule):
    """Oja's (1989) subspace rule, ``dW = eta y (x - W^T y)^T`` per sample, ``y = W x``.

    Parameters
    ----------
    eta : float > 0
        Learning rate per sample.

    Notes
    -----
    Signals: ``input``, shape ``(T, n)`` or ``(n,)``, processed in order. Parameters:
    ``W_out``, shape ``(k, n)``. No state. Expected update: :func:`subspace_field`.
    """

    name: ClassVar[str] = "oja_subspace"
    eta: float = Field(0.01, gt=0, allow_inf_nan=False, description="learning rate")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({"W_out": dW}, None)``."""
        W0 = np.asarray(params["W_out"], dtype=float)
        W = W0.copy()
        for x in np.atleast_2d(signals["input"]):
            y = W @ x
            W += self.eta * np.outer(y, x - W.T @ y)
        return {"W_out": W - W0}, None


class SimilarityMatching(Rule):
    """Pehlevan, Sengupta & Chklovskii's (2018) Hebbian/anti-Hebbian similarity matching.

    Per sample: ``y = M^-1 W x`` (the fixed point of ``dy/dt = W x - M y``),
    ``dW = eta (y x^T - W)``, ``dM = (eta / tau) (y y^T - M)``.

    Parameters
    ----------
    eta : float > 0
        Learning rate of ``W`` per sample.
    tau : float > 0
        ``M``'s time constant relative to ``W``'s.

    Notes
    -----
    Signals: ``input``, shape ``(T, n)`` or ``(n,)``. Parameters ``W`` (k, n) and ``M``
    (k, k), symmetric positive definite. Expected update: :func:`sm_field`.
    """

    name: ClassVar[str] = "similarity_matching"
    eta: float = Field(0.01, gt=0, allow_inf_nan=False, description="learning rate")
    tau: float = Field(0.5, gt=0, allow_inf_nan=False, description="M's time constant")

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        """Return ``({"W": dW, "M": dM}, None)``."""
        W0, M0 = (np.asarray(params[key], dtype=float) for key in ("W", "M"))
        W, M = W0.copy(), M0.copy()
        for x in np.atleast_2d(signals["input"]):
            y = np.linalg.solve(M, W @ x)
            W, M = W + self.eta * (np.outer(y, x) - W), \
                M + (self.eta / self.tau) * (np.outer(y, y) - M)
        return {"W": W - W0, "M": M - M0}, None


# ------------------------------------------------------------------ building the table

def _unit_rows(rng, k, n):
    W = rng.standard_normal((k, n))
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def _recurrent_states(rng, n, count, norm, symmetric):
    out = []
    for _ in range(count):
        G = rng.standard_normal((n, n))
        G = G + G.T if symmetric else G
        np.fill_diagonal(G, 0.0)
        out.append(norm * G / np.linalg.norm(G, 2))
    return out


def rule_specs(cfg, C, rng):
    """Every rule's field, states, geometry and candidate objective for one covariance.

    Returns
    -------
    dict of str to dict
        Per rule: ``coords`` (:class:`Coords`), ``field`` (``theta -> F``),
        ``states`` (``(n_states, p)``), ``objective`` (``(name, f, grad, ascent)``),
        ``descent_manifold`` (or None) and the flows' ``starts``.
    """
    from plasticity.analysis import product_of_spheres, sphere, stiefel
    from plasticity.analysis.mean_field import states_around

    n, k, m = cfg.n_inputs, cfg.n_outputs, cfg.n_states
    tau = cfg.sm_tau

    def trace_obj(c):
        return ("V = tr(W C W^T)/2",
                lambda t: 0.5 * float(np.sum(c.matrix(t) @ C * c.matrix(t))),
                lambda t: (c.matrix(t) @ C).ravel(), True)

    specs = {}
    c1 = Coords("vector", n)
    w0 = rng.standard_normal(n)
    w0 /= np.linalg.norm(w0)
    single = {"hebb": hebb_field, "bcm": bcm_field, "oja": oja_field}
    objectives = {
        "hebb": ("f = w.Cw/2", lambda w: 0.5 * float(w @ C @ w), lambda w: C @ w, True),
        "bcm": ("Phi = E[y^3]/3 - E[y^2]^2/4", lambda w: bcm_objective(C, w),
                lambda w: bcm_field(C, w), True),
        "oja": ("R = w.Cw/(2 w.w)", lambda w: 0.5 * float(w @ C @ w) / float(w @ w),
                lambda w: (C @ w - float(w @ C @ w) / float(w @ w) * w) / float(w @ w), True),
    }
    for name, fn in single.items():
        specs[name] = {"coords": c1, "field": lambda t, fn=fn: fn(C, t),
                       "states": states_around(w0, m, cfg.radius, rng),
                       "objective": objectives[name]}
    specs["oja"]["descent_manifold"] = sphere(n)

    for name, symmetric in (("hopfield", True), ("recurrent_asym", False)):
        c = Coords("symmetric" if symmetric else "offdiag", n)
        mats = _recurrent_states(rng, n, m, cfg.rec_norm, symmetric)

        def field(t, c=c):
            return c.flat(recurrent_field(C, c.matrix(t)))

        def psi_grad(t, c=c):
            # dPsi/dW = B^T C B^T / 2 for each entry; symmetric W: entries (i,j) and
            # (j,i) move together, so the parameter's derivative is (B C B)_ij
            B = np.linalg.inv(np.eye(n) - c.matrix(t))
            G = 0.5 * B.T @ C @ B.T
            return c.flat(G + G.T) if c.kind == "symmetric" else c.flat(G)

        specs[name] = {"coords": c, "field": field,
                       "states": np.array([c.flat(W) for W in mats]),
                       "objective": ("Psi = E[x.(I-W)^-1 x]/2",
                                     lambda t, c=c: recurrent_potential(C, c.matrix(t)),
                                     psi_grad, True)}

    cl = Coords("layer", n, k)
    W0 = _unit_rows(rng, k, n)
    for name, fn in (("sanger", sanger_field), ("subspace", subspace_field)):
        specs[name] = {"coords": cl, "field": lambda t, fn=fn: fn(C, cl.matrix(t)).ravel(),
                       "states": states_around(W0.ravel(), m, cfg.radius, rng),
                       "objective": trace_obj(cl)}
    specs["sanger"]["descent_manifold"] = product_of_spheres(k, n)
    specs["subspace"]["descent_manifold"] = stiefel(k, n)

    cs = Coords("sm", n, k)
    Ws = states_around(_unit_rows(rng, k, n).ravel(), m, cfg.radius, rng)
    sm_states = []
    for t in Ws:
        W = t.reshape(k, n)
        scale = float(np.mean(np.linalg.eigvalsh(W @ C @ W.T) ** (1.0 / 3.0)))
        q, _ = np.linalg.qr(rng.standard_normal((k, k)))
        M = (q * (scale * np.exp(cfg.radius * rng.standard_normal(k)))) @ q.T
        sm_states.append(cs.flat((W, 0.5 * (M + M.T))))

    def sm_flat(t):
        W, M = cs.matrix(t)
        FW, FM = sm_field(C, W, M, tau)
        return cs.flat((FW, FM))

    specs["similarity_matching"] = {
        "coords": cs, "field": sm_flat, "states": np.array(sm_states),
        "objective": ("l = max_M L(W, M)", lambda t: sm_reduced(C, cs.matrix(t)[0]),
                      lambda t: np.concatenate([sm_reduced_grad(C, cs.matrix(t)[0]).ravel(),
                                                np.zeros(k * (k + 1) // 2)]), False)}
    for spec in specs.values():
        manifold = spec.get("descent_manifold")
        states = spec["states"]
        if manifold is not None:
            states = np.array([manifold.retract(t) for t in states])
        spec.setdefault("descent_manifold", None)
        spec["descent_states"] = states
    return specs


def sm_metric(coords, tau):
    """``G = diag(4 I, 2 tau D)`` in similarity matching's flat coordinates: ``G F~ =
    -grad L`` for ``F~ = (F_W, -F_M)`` (``D`` = 2 on ``M``'s off-diagonal parameters,
    which stand for two entries, 1 on its diagonal)."""
    k = coords.k
    i, j = coords.m_upper
    return np.diag(np.concatenate([np.full(k * coords.n, 4.0),
                                   2.0 * tau * np.where(i == j, 1.0, 2.0)]))


def rule_field_errors(cfg, C, specs, rng):
    """Largest relative deviation of each rule's own sample-mean update from its formula
    with the sample moments (rounding only), at the first state of each rule."""
    from plasticity.analysis.mean_field import sample_mean_field
    from plasticity.rules.hebbian import BCM, Hebb, Oja, Sanger

    n = cfg.n_inputs
    X = rng.multivariate_normal(np.zeros(n), C, size=cfg.n_samples)
    Ch = X.T @ X / len(X)
    out = {}

    def rel(a, b):
        return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

    w = specs["hebb"]["states"][0]
    out["hebb"] = rel(sample_mean_field(Hebb(eta=1.0), X, w[None])[0], Ch @ w)
    w = specs["bcm"]["states"][0]
    y = np.maximum(X @ w, 0.0)
    theta = np.array([np.mean(y**2)])
    out["bcm"] = rel(sample_mean_field(BCM(eta=1.0, rectify=True), X, w[None], theta)[0],
                     (y * (y - theta[0])) @ X / len(X))
    w = specs["oja"]["states"][0]
    out["oja"] = rel(sample_mean_field(Oja(eta=1.0), X, w[None])[0], oja_field(Ch, w))
    cl = specs["sanger"]["coords"]
    for name, rule, fn in (("sanger", Sanger(eta=1.0), sanger_field),
                           ("subspace", OjaSubspace(eta=1.0), subspace_field)):
        W = cl.matrix(specs[name]["states"][0])
        out[name] = rel(sample_mean_field(rule, X, W), fn(Ch, W))
    hebb_rec = Hebb(eta=1.0, pre="rate", post="rate", target="W")
    for name in RECURRENT:
        c = specs[name]["coords"]
        W = c.matrix(specs[name]["states"][0])
        Y = np.linalg.solve(np.eye(n) - W, X.T).T
        total = np.zeros((n, n))
        for yv in Y:
            total += hebb_rec.update({"rate": yv}, None, {"W": W})[0]["W"]
        out[name] = rel(c.flat(total / len(Y)), c.flat(recurrent_field(Ch, W)))
    cs = specs["similarity_matching"]["coords"]
    W, M = cs.matrix(specs["similarity_matching"]["states"][0])
    sm = SimilarityMatching(eta=1.0, tau=cfg.sm_tau)
    dW, dM = np.zeros_like(W), np.zeros_like(M)
    for x in X:
        d = sm.update({"input": x}, None, {"W": W, "M": M})[0]
        dW += d["W"]
        dM += d["M"]
    out["similarity_matching"] = rel(cs.flat((dW / len(X), dM / len(X))),
                                     cs.flat(sm_field(Ch, W, M, cfg.sm_tau)))
    return out


def _flows(spec, cfg, starts):
    """The descent check along RK4 flows from ``starts``: (frac, steps run, worst)."""
    from plasticity.analysis import descent_along_flow, jacobian

    name, f, _, ascent = spec["objective"]
    field = spec["field"]
    if spec["coords"].kind not in ("symmetric", "offdiag"):
        rho = float(np.linalg.norm(jacobian(field, starts[0], cfg.eps), 2))
        res = descent_along_flow(field, f, starts, step=cfg.flow_dt / rho,
                                 n_steps=cfg.flow_steps, ascent=ascent)
        return res["frac"], res["n_steps"], res["max_violation"]
    # recurrent: F grows without bound as W nears instability; re-measure the time scale
    # every step and stop before the dynamics y = (I - W)^-1 x stop being stable
    coords = spec["coords"]
    total, bad, worst = 0, 0, 0.0
    for x in starts:
        for _ in range(cfg.flow_steps):
            rho = float(np.linalg.norm(jacobian(field, x, cfg.eps), 2))
            res = descent_along_flow(field, f, x[None], step=cfg.flow_dt / rho, n_steps=1,
                                     ascent=ascent)
            end = res["ends"][0]
            if np.max(np.linalg.eigvals(coords.matrix(end)).real) >= cfg.rec_stop:
                break
            total += 1
            bad += res["n_violations"]
            worst = max(worst, res["max_violation"])
            x = end
    return (1.0 - bad / total if total else float("nan")), total, worst


def _geometry(name, key, spec, cfg):
    """One metric- or manifold-aware test on the rule's states."""
    from plasticity.analysis import geometry_asymmetry_over, product_of_spheres, sphere, stiefel

    n, k = cfg.n_inputs, cfg.n_outputs
    if key == "minmax":
        coords = spec["coords"]
        G = sm_metric(coords, cfg.sm_tau)
        split = k * n

        def flipped(t):
            F = spec["field"](t)
            return np.concatenate([F[:split], -F[split:]])

        return geometry_asymmetry_over(flipped, spec["states"], metric_fn=lambda t: G,
                                       eps=cfg.eps)
    manifold = {"sphere": lambda: sphere(n), "spheres": lambda: product_of_spheres(k, n),
                "stiefel": lambda: stiefel(k, n)}[key]()
    on = np.array([manifold.retract(t) for t in spec["states"]])
    return geometry_asymmetry_over(spec["field"], on, manifold=manifold, eps=cfg.eps)


def _steepest_where(name):
    """Where the candidate's steepest direction is claimed (a GEOMETRIES key)."""
    return {"oja": "sphere", "subspace": "stiefel"}.get(name)


def one_seed(cfg, seed_list, rec, row_counter):
    """Everything measured for one covariance: per-rule dicts of numbers."""
    from plasticity.analysis import field_asymmetry_over, jacobian, pointwise_descent
    from plasticity.testing import fd_grads

    cov_rng = np.random.default_rng([*seed_list, 0])
    C = covariance(cov_rng, cfg.n_inputs, cfg.anisotropy)
    specs = rule_specs(cfg, C, np.random.default_rng([*seed_list, 1]))
    errors = rule_field_errors(cfg, C, specs, np.random.default_rng([*seed_list, 2]))
    out = {name: {"rule_field_error": errors[name]} for name in RULES}
    for i, name in enumerate(RULES):
        spec = specs[name]
        res = field_asymmetry_over(spec["field"], spec["states"], cfg.eps)
        out[name].update(asymmetry=res["mean"], asymmetry_max=res["max"],
                         n_params=spec["coords"].size, values=res["values"])
        for s, v in enumerate(res["values"]):
            rec.append("asymmetry", row_counter["asymmetry"],
                       units={"rule_index": "1", "seed": "1", "state": "1", "asymmetry": "1"},
                       index_units="evaluation", rule_index=i, seed=seed_list[1], state=s,
                       asymmetry=float(v))
            row_counter["asymmetry"] += 1
    for g, (name, key, _) in enumerate(GEOMETRIES):
        res = _geometry(name, key, specs[name], cfg)
        out[name][f"asymmetry_{key}"] = res["mean"]
        out[name][f"asymmetry_{key}_max"] = res["max"]
        out[name][f"tangency_{key}"] = res["tangency"]
        for s, v in enumerate(res["values"]):
            rec.append("geometry", row_counter["geometry"],
                       units={"geometry_index": "1", "seed": "1", "state": "1",
                              "asymmetry": "1"},
                       index_units="evaluation", geometry_index=g, seed=seed_list[1],
                       state=s, asymmetry=float(v))
            row_counter["geometry"] += 1
    for name in RULES:
        spec = specs[name]
        label, f, grad, ascent = spec["objective"]
        states = spec["descent_states"]
        frac, steps, worst = _flows(spec, cfg, states[:cfg.flow_starts])
        point = pointwise_descent(spec["field"], f, states, ascent=ascent, grad_fn=grad,
                                  manifold=spec["descent_manifold"])
        out[name].update(objective=label, descent_frac=frac, flow_steps_run=steps,
                         descent_max_violation=worst, descent_pointwise_frac=point["frac"],
                         steepest_cos_min=point["cos_min"])
    # similarity matching: its field is the descent-ascent field of L, and its spectrum at
    # a fixed point
    cs = specs["similarity_matching"]["coords"]
    G = sm_metric(cs, cfg.sm_tau)
    split = cfg.n_inputs * cfg.n_outputs
    err = 0.0
    for t in specs["similarity_matching"]["states"]:
        # central differences of L in the flat coordinates (error ~1e-10 relative):
        # descent-ascent means G (F_W, -F_M) = -grad L
        grad = fd_grads(lambda u: sm_objective(C, *cs.matrix(u)), t)
        F = specs["similarity_matching"]["field"](t)
        flipped = np.concatenate([F[:split], -F[split:]])
        err = max(err, float(np.max(np.abs(G @ flipped + grad)) / np.max(np.abs(grad))))
    Wf, Mf = sm_fixed_point(C, cfg.n_outputs, np.random.default_rng([*seed_list, 3]))
    tf = cs.flat((Wf, Mf))
    ev = np.linalg.eigvals(jacobian(specs["similarity_matching"]["field"], tf, cfg.eps))
    out["similarity_matching"].update(
        minmax_error=err,
        fixed_point_error=float(np.max(np.abs(specs["similarity_matching"]["field"](tf)))),
        fixed_point_imag_ratio=float(np.max(np.abs(ev.imag)) / np.max(np.abs(ev))),
        fixed_point_max_real=float(np.max(ev.real) / np.max(np.abs(ev))))
    return out


# -------------------------------------------------------------------------- summaries

def _verdict_rule(name, s, tol):
    from plasticity.analysis import Geometry, field_verdict

    geoms = []
    for rule, key, _ in GEOMETRIES:
        if rule != name or key == "minmax":
            continue
        cos = s.get(f"{name}.steepest_cos_min") if _steepest_where(name) == key else None
        geoms.append(Geometry(WHERE[key][0], s[f"{name}.asymmetry_{key}_max"],
                              s[f"{name}.tangency_{key}"], cos, WHERE[key][1]))
    objective = s[f"{name}.objective"].split(" = ")[0]
    # the flows and the sampled states are worded apart: field_verdict would fold a
    # failure at the states into the flows' clause
    text = field_verdict(s[f"{name}.asymmetry_max"], tol=tol, geometries=geoms,
                         objective=objective, ascent=name != "similarity_matching",
                         flow_frac=s[f"{name}.descent_frac"])
    point = s[f"{name}.descent_pointwise_frac"]
    if point < 1.0:
        text += (f"; at {point:.0%} of the sampled states grad {objective} . F has the "
                 f"claimed sign (at the others {objective} moves the wrong way)")
    if name == "similarity_matching":
        a = s["similarity_matching.asymmetry_minmax_max"]
        if a <= tol and s["similarity_matching.minmax_error"] <= tol:
            text += (f"; a gradient descent-ascent of L(W, M): with its M part negated it "
                     f"is a gradient flow of L in the metric diag(4, 2 tau) (asymmetry "
                     f"{a:.1e}, at the floor)")
        else:
            text += f"; the descent-ascent test did not pass (asymmetry {a:.2g})"
    return text


def _fmt(s, name, key="asymmetry"):
    return (f"{s[f'{name}.{key}']:.3g} [{s[f'{name}.{key}_low']:.3g}, "
            f"{s[f'{name}.{key}_high']:.3g}]")


def verdict(s, tol):
    """The plain-words verdict, computed from the summary ``s``."""
    # each asymmetry is an exact property of the field at one state (up to the
    # finite-difference floor), not an estimate: one state above the floor shows that the
    # field is no Euclidean gradient field there
    euclid = [r for r in RULES if s[f"{r}.asymmetry_max"] <= tol]
    not_euclid = [r for r in RULES if s[f"{r}.asymmetry_max"] > tol]
    asym = [r for r in RULES if STRUCTURE[r] == "asymmetric"]
    # gradient structure in any geometry tested (manifold: tangent and at the floor)
    other = {r for r, key, _ in GEOMETRIES if key != "minmax"
             and s[f"{r}.asymmetry_{key}_max"] <= tol and s[f"{r}.tangency_{key}"] <= tol}
    with_structure = set(euclid) | other
    counter = [r for r in asym if r in with_structure]
    names = ", ".join(LABELS[r].replace("\n", " ") for r in euclid) or "none"
    if counter:
        head = (f"Not supported: {', '.join(counter)} (asymmetric connections) showed "
                f"gradient structure.")
    else:
        head = ("Supported, as a necessary condition within the rules and geometries "
                "tested: no rule with asymmetric connections showed gradient structure; "
                f"the Euclidean gradient fields are exactly {names}.")
    parts = [head,
             f"Euclidean asymmetry of the mean field (mean over {s['seeds']} seeds, 95% "
             f"t-interval): Sanger/GHA {_fmt(s, 'sanger')}, non-symmetric recurrent Hebb "
             f"{_fmt(s, 'recurrent_asym')}; symmetric recurrent Hebb at most "
             f"{s['hopfield.asymmetry_max']:.1e}, Hebb {s['hebb.asymmetry_max']:.1e}, "
             f"BCM {s['bcm.asymmetry_max']:.1e} (pass threshold {tol:.0e})."]
    sanger_geo = [k for r, k, _ in GEOMETRIES if r == "sanger"]
    fails = all(s[f"sanger.tangency_{k}"] > tol or s[f"sanger.asymmetry_{k}_max"] > tol
                for k in sanger_geo)
    if fails:
        parts.append("GHA is also no flow on the product of spheres (normal part "
                     f"{s['sanger.tangency_spheres']:.2g}) or the Stiefel manifold (normal "
                     f"part {s['sanger.tangency_stiefel']:.2g}).")
    quals = []
    if "oja" in not_euclid:
        on = ("a gradient flow of the Rayleigh quotient on the sphere"
              if "oja" in other else "not a gradient on the sphere either")
        quals.append(f"a single neuron is not enough for a Euclidean gradient: Oja's rule "
                     f"has asymmetry {_fmt(s, 'oja')}, though it is {on} (asymmetry "
                     f"{s['oja.asymmetry_sphere_max']:.1e})")
    if "subspace" in other:
        quals.append(f"the subspace rule (several neurons, symmetric coupling) is not a "
                     f"Euclidean gradient ({_fmt(s, 'subspace')}) but is the Riemannian "
                     f"gradient of tr(W C W^T)/2 on the Stiefel manifold (asymmetry "
                     f"{s['subspace.asymmetry_stiefel_max']:.1e}, steepest-ascent cosine "
                     f">= {s['subspace.steepest_cos_min']:.6f})")
    if "similarity_matching" in not_euclid:
        quals.append(f"symmetric lateral connections are not enough either: similarity "
                     f"matching is not a Euclidean gradient field "
                     f"({_fmt(s, 'similarity_matching')}) but a gradient descent-ascent of "
                     f"one objective (min over W, max over M; field vs -dL/dW/4, "
                     f"+dL/dM/(2 tau) to {s['similarity_matching.minmax_error']:.0e} "
                     f"relative)")
        imag = s["similarity_matching.fixed_point_imag_ratio"]
        quals.append(f"at tau = {s['sm_tau']:g} its Jacobian at a fixed point has complex "
                     f"eigenvalues (|Im|/|mu| {imag:.2g}), so near it the flow is no "
                     f"gradient flow in any fixed metric" if imag > tol else
                     f"at tau = {s['sm_tau']:g} its Jacobian at a fixed point has real "
                     f"eigenvalues (|Im|/|mu| {imag:.0e}), so its spectrum there does not "
                     f"exclude a gradient flow in some other metric")
    ra = s["recurrent_asym.descent_frac"], s["recurrent_asym.descent_pointwise_frac"]
    if min(ra) >= 1.0:
        quals.append("non-symmetric recurrent Hebb, no Euclidean gradient, still increases "
                     "Psi = E[x.(I-W)^-1 x]/2 along every flow and at every state tested: "
                     "an objective it improves without being its gradient")
    if quals:
        parts.append("But: " + "; ".join(quals) + ".")
    return " ".join(parts)


def _combine(per_seed, name):
    """Summary keys of one rule from its per-seed dicts."""
    from plasticity.analysis import seeds_interval

    rows = [r[name] for r in per_seed]
    out = {}
    mean, low, high = seeds_interval(np.array([r["asymmetry"] for r in rows]))
    # the asymmetry lies in [0, 1]: cutting the interval there keeps its coverage
    out.update({"asymmetry": mean, "asymmetry_low": max(low, 0.0),
                "asymmetry_high": min(high, 1.0),
                "asymmetry_max": max(r["asymmetry_max"] for r in rows),
                "asymmetry_min": min(float(np.min(r["values"])) for r in rows),
                "n_params": rows[0]["n_params"],
                "rule_field_error": max(r["rule_field_error"] for r in rows),
                "objective": rows[0]["objective"],
                "descent_frac": min(r["descent_frac"] for r in rows),
                "descent_pointwise_frac": min(r["descent_pointwise_frac"] for r in rows),
                "descent_max_violation": max(r["descent_max_violation"] for r in rows),
                "flow_steps_run": int(sum(r["flow_steps_run"] for r in rows)),
                "steepest_cos_min": float(np.nanmin([r["steepest_cos_min"] for r in rows]))})
    for _, key, _ in (g for g in GEOMETRIES if g[0] == name):
        out[f"asymmetry_{key}"] = float(np.mean([r[f"asymmetry_{key}"] for r in rows]))
        out[f"asymmetry_{key}_max"] = max(r[f"asymmetry_{key}_max"] for r in rows)
        out[f"tangency_{key}"] = max(r[f"tangency_{key}"] for r in rows)
    if name == "similarity_matching":
        out["minmax_error"] = max(r["minmax_error"] for r in rows)
        out["fixed_point_error"] = max(r["fixed_point_error"] for r in rows)
        out["fixed_point_imag_ratio"] = max(r["fixed_point_imag_ratio"] for r in rows)
        out["fixed_point_max_real"] = max(r["fixed_point_max_real"] for r in rows)
    return out


def run(cfg: ClaimHebbConfig, ctx):
    rec = ctx.recorder
    per_seed = []
    rows = {"asymmetry": 0, "geometry": 0}
    with ctx.progress(cfg.seeds, "claim-hebb") as bar:
        for rep in range(cfg.seeds):
            res = one_seed(cfg, [ctx.seed, rep], rec, rows)
            per_seed.append(res)
            for name in RULES:
                r = res[name]
                rec.append(f"seeds/{name}", rep, index="seed", index_units="1",
                           units={"asymmetry": "1", "asymmetry_max": "1",
                                  "descent_frac": "1", "rule_field_error": "1"},
                           asymmetry=r["asymmetry"], asymmetry_max=r["asymmetry_max"],
                           descent_frac=r["descent_frac"],
                           rule_field_error=r["rule_field_error"])
            bar.update(1)
    summary = {"seeds": cfg.seeds, "n_states": cfg.n_states, "eps": cfg.eps,
               "floor_tol": cfg.floor_tol, "n_inputs": cfg.n_inputs,
               "n_outputs": cfg.n_outputs, "anisotropy": cfg.anisotropy,
               "sm_tau": cfg.sm_tau,
               "ci_method": f"t over {cfg.seeds} seeds of the per-seed mean over states"}
    for name in RULES:
        for key, value in _combine(per_seed, name).items():
            summary[f"{name}.{key}"] = value
    euclid = [r for r in RULES if summary[f"{r}.asymmetry_max"] <= cfg.floor_tol]
    summary["n_euclidean_gradient"] = len(euclid)
    summary["euclidean_gradient_rules"] = ", ".join(euclid)
    summary["rule_field_error_max"] = max(summary[f"{r}.rule_field_error"] for r in RULES)
    for name in RULES:
        summary[f"{name}.verdict"] = _verdict_rule(name, summary, cfg.floor_tol)
    summary["verdict"] = verdict(summary, cfg.floor_tol)
    ctx.summary(**summary)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.field_panels import (
        TINY,
        asymmetry_dots,
        descent_panel,
        threshold_line,
    )
    from plasticity.plots.provenance import src, stack, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.42, ncols=3,
                                  gridspec_kw={"width_ratios": [len(RULES),
                                                                len(GEOMETRIES) + 1,
                                                                len(RULES) + 1]})
    s = run.summary
    tol = float(s["floor_tol"])
    jitter = np.random.default_rng(0)

    def clip(v):
        return np.maximum(v, TINY)

    for i, name in enumerate(RULES):
        colour = PALETTE[i % len(PALETTE)]
        mean = float(s[f"{name}.asymmetry"])
        lo, hi = float(s[f"{name}.asymmetry_low"]), float(s[f"{name}.asymmetry_high"])
        traced(ax1.bar(i, mean, width=0.6, color=colour, alpha=0.5),
               x=i, height=src(f"summary:{name}.asymmetry"))
        # the interval is drawn where it is above 0 (log axis)
        traced(ax1.plot([i, i], clip([lo, hi]), color="k", lw=1.0)[0], x=[i, i],
               y=stack([src(f"summary:{name}.asymmetry_low").map(clip, "max_1e-16"),
                        src(f"summary:{name}.asymmetry_high").map(clip, "max_1e-16")]))
        asymmetry_dots(ax1, run, "asymmetry", "rule_index", i, colour, jitter)
    for ax in (ax1, ax2):
        threshold_line(ax, tol)
        ax.set_ylim(1e-14, 3.0)
    ax1.set_xticks(range(len(RULES)), [LABELS[r] for r in RULES], fontsize="xx-small",
                   rotation=90)
    ax1.set_ylabel(r"asymmetry $\|A\|_F / \|J\|_F$")
    ax1.set_title("a  Euclidean, weight coordinates", loc="left", fontsize="small")
    ax1.legend(fontsize="xx-small", loc="lower right")

    for g, (name, key, _) in enumerate(GEOMETRIES):
        colour = PALETTE[RULES.index(name) % len(PALETTE)]
        traced(ax2.bar(g, float(s[f"{name}.asymmetry_{key}"]), width=0.6, color=colour,
                       alpha=0.5), x=g, height=src(f"summary:{name}.asymmetry_{key}"))
        asymmetry_dots(ax2, run, "geometry", "geometry_index", g, colour, jitter)
    ax2.set_xticks(range(len(GEOMETRIES)), [g[2] for g in GEOMETRIES], fontsize="xx-small",
                   rotation=90)
    ax2.set_ylabel("asymmetry of the covector's\ntangent Jacobian")
    ax2.set_title("b  metric / manifold", loc="left", fontsize="small")

    descent_panel(ax3, run, RULES, [LABELS[r] for r in RULES], PALETTE)
    ax3.set_title("c  candidate objective", loc="left", fontsize="small")
    return fig

EXPERIMENT = Experiment(
    name="claim-hebb",
    description="Claim: Hebbian learning is a gradient only for a single neuron or "
                "symmetric connections; Hebb, BCM, Hopfield, Oja, GHA, subspace rule, "
                "similarity matching under the field tests.",
    config=ClaimHebbConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"seeds": 32, "n_states": 16, "n_inputs": 10,
                                   "n_outputs": 3, "flow_starts": 4, "n_samples": 2000}},
    claim=ClaimMeta(number=3,
                    claim="Hebbian learning is a gradient only for a single neuron or "
                          "symmetric connections.",
                    headline="sanger.asymmetry",
                    label="Euclidean asymmetry of GHA's mean field, ||A||/||J|| (0: a "
                          "gradient)",
                    low="sanger.asymmetry_low", high="sanger.asymmetry_high",
                    null="floor_tol"),
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))

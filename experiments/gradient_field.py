"""The gradient-field test, Euclidean and in other geometries, on fourteen mean update fields.

One file (over 400 lines) by design: DESIGN.md keeps each experiment in one file, and
most of this one is the derivation of what each field must show (below); the tests are
library tools (:mod:`plasticity.analysis.field`,
:mod:`~plasticity.analysis.field_metric`, :mod:`~plasticity.analysis.field_descent`), as
are the field builders (:mod:`plasticity.analysis.mean_field`); what stays here is the
study's choice of fields, states and candidate objectives, its summaries and its figure.

Question, stated narrowly: is a rule's *mean update field* ``F(theta)`` a gradient field,
and in which geometry? Three tests, each claiming only what it shows:

1. Euclidean (:func:`plasticity.analysis.field.field_asymmetry`). If ``F = -grad f`` in
   the weight coordinates then ``J = dF/dtheta = -Hessian(f)`` is symmetric, and the
   asymmetry ``||A||_F / ||J||_F`` (``A`` the antisymmetric part of ``J``) is 0. A clearly
   non-zero asymmetry over a region of states shows that ``F`` is *not a Euclidean
   gradient field in these coordinates* there; it does not show that the rule follows no
   objective.
2. Metric- and manifold-aware (:mod:`plasticity.analysis.field_metric`). ``F`` is a
   gradient flow in a metric ``G`` iff the covector ``G F`` is a gradient, i.e.
   ``K = d(G F)/dtheta`` is symmetric; on a submanifold (the sphere, the simplex, ...)
   only the tangent block ``U^T K U`` must be, and ``F`` must be tangent to it (the
   normal part ``<rule>.tangency_<geometry>`` must vanish). Derivation in that module.
3. Descent (Lyapunov) check (:mod:`plasticity.analysis.field_descent`) against a named
   candidate objective ``f``: RK4 flows of the mean field from ``flow_starts`` states
   (``flow_steps`` steps of ``flow_dt / rho``, ``rho = ||J||_2`` at the first start, so
   that RK4's relative error per step is ``O(flow_dt^5)``) count the steps along which
   ``f`` moved the claimed way (``<rule>.descent_frac``), and the sign of
   ``grad f . F`` at every sampled state (``<rule>.descent_pointwise_frac``). Monotone
   ``f`` makes it a Lyapunov function of the flows tested, not the field's potential.
   ``<rule>.steepest_cos_min`` is the smallest cosine between ``F`` and the steepest
   ascent direction of ``f`` in the claimed geometry (1: ``F`` is that direction).

``<rule>.verdict`` (:func:`~plasticity.analysis.field_descent.field_verdict`) words the
result: "Euclidean gradient field in weight coordinates", "not a Euclidean gradient
field in weight coordinates", "a gradient flow of R on the sphere" (tangent, tangent
Jacobian symmetric, and ``F`` the steepest ascent of ``R`` there), "R increases along
the mean flow", or "no gradient structure found in the metrics tested (...)". An
asymmetry passes when it is at most ``floor_tol``.

The fields, each made deterministic so that finite differences measure the field and not
sampling noise:

* ``backprop``: :class:`~plasticity.rules.gradient.Backprop` on a FIXED full batch of
  ``n_batch`` teacher samples (tanh student ``n_inputs``-``n_hidden``-``n_outputs``,
  :class:`~plasticity.tasks.supervised.TanhTeacher`). Its field is exactly
  ``-eta grad L`` of the batch loss, so ``J = -eta H`` and the asymmetry is zero up to
  the finite-difference error (the *numerical floor*, below).
* ``feedback_alignment``: :class:`~plasticity.rules.gradient.FeedbackAlignment` on the
  same network, batch and states, with its fixed random feedback ``B``. The hidden
  layer's update depends on the output weights only through ``B`` (not ``W2^T``) while
  the output layer's update depends on the hidden weights through the true forward pass,
  so the cross blocks of ``J`` are not transposes of each other: not a Euclidean
  gradient field.
* ``oja``: :class:`~plasticity.rules.hebbian.Oja` for one linear unit on a fixed data set
  ``X`` of ``n_batch`` correlated Gaussian inputs. The online rule processes a window
  sample by sample, so the update of a window is the mean field only to ``O(eta^2)``.
  Here the mean field is computed *exactly*: the rule is called once per sample, each
  time from the same state ``w`` (a one-sample window is a single exact step
  ``eta y (x - y w)``), and the deltas are averaged, which gives
  ``F(w) = eta (C w - (w^T C w) w)`` with ``C = X^T X / n`` (recorded as
  ``oja.mean_field_error``, the largest deviation from that formula). Its Jacobian
  ``eta (C - (w^T C w) I - 2 w w^T C)`` has antisymmetric part
  ``eta (C w w^T - w w^T C) / 2``, zero only when ``w`` is an eigenvector of ``C``: not a
  Euclidean gradient field (``oja.asymmetry``, at states around a unit vector). On the
  unit sphere ``F = eta P C w`` (``P = I - w w^T``) is the Riemannian gradient of the
  Rayleigh quotient ``R(w) = w^T C w / (2 w^T w)`` and ``P J P = eta (P C P - (w^T C w)
  P)`` is symmetric: ``oja.asymmetry_sphere`` (the same states, normalised) is at the
  floor, ``oja.tangency_sphere`` is rounding, and ``R`` increases along the flow.
* ``hebb``: :class:`~plasticity.rules.hebbian.Hebb` for one linear unit on the same
  ``X``, mean field computed the same way: ``F = eta C w = eta grad (w^T C w / 2)``, a
  Euclidean gradient field (``J = eta C``); ``w^T C w / 2`` increases along the flow
  (which diverges: plain Hebb has no fixed point but 0).
* ``bcm``: :class:`~plasticity.rules.hebbian.BCM` with ``y = w . x`` (``rectify=False``)
  and its sliding threshold replaced by its fixed point ``theta = E[y^2]`` at each ``w``
  (the fast-threshold limit; the rule is called per sample with that threshold as its
  state). Then ``F = eta E[x y (y - E[y^2])] = eta (E[y^2 x] - E[y^2] E[y x])``, and since
  ``grad E[y^3]/3 = E[y^2 x]`` and ``grad E[y^2]^2/4 = E[y^2] E[y x]``,
  ``F = eta grad Phi`` with ``Phi = E[y^3]/3 - E[y^2]^2/4`` (Intrator & Cooper's
  objective): a Euclidean gradient field, and ``Phi`` increases along the flow. With a
  finite ``tau_theta`` the joint ``(w, theta)`` dynamics is a different field, not
  tested here.
* ``sanger``: :class:`~plasticity.rules.hebbian.Sanger` (GHA) with ``gha_outputs`` rows,
  ``F(W) = eta (W C - LT[W C W^T] W)``. It fails every geometry tested, for structural
  reasons. Euclidean: row ``i`` depends on rows ``j <= i`` only, so the Jacobian block
  ``dF_i/dw_j`` is 0 for ``j > i`` while ``dF_j/dw_i = -eta ((w_j^T C w_i) I +
  w_i w_j^T C)`` is not (unless ``w_i = 0``): ``J`` is block lower-triangular, not
  symmetric. Product of
  spheres (unit rows): ``w_i . F_i = -eta sum_{l<i} (w_i^T C w_l)(w_l . w_i)`` is not 0
  unless the rows are orthogonal, so the field is not tangent (``sanger.tangency_spheres``)
  and not a flow there; its tangent part keeps the triangular structure (row ``i``'s
  projector depends on ``w_i`` only), so, generically, it is not a gradient either, in
  the round metric or in any metric that is block-diagonal over the rows with each
  block depending on its own row. Stiefel manifold (orthonormal rows): ``F W^T`` is
  ``eta`` times the strictly upper triangle of ``W C W^T``, so ``W F^T + F W^T = eta (W C W^T -
  diag(W C W^T))``, not 0 unless ``W C W^T`` is diagonal: GHA does not preserve
  orthonormality (``sanger.tangency_stiefel``), and the tangent part's asymmetry
  (``sanger.asymmetry_stiefel``) is not at the floor. The candidate
  ``tr(W C W^T)/2`` (the variance captured) is checked by the descent check from states
  with unit rows; whatever it finds is reported, a failure meaning only that this
  candidate is not a Lyapunov function.
* ``replicator_partnership`` and ``replicator_rps``: the replicator field
  ``x_i (f_i - fbar)`` of the replicator-selection experiment (its ``replicator``,
  ``RPS`` and interior sampler are imported, not copied) for a partnership game (``A``
  symmetric, ``rep_types`` types) and rock-paper-scissors, as fields on ``R^K`` at
  interior states of the simplex. The partnership field is the gradient of
  ``V = x^T A x / 2`` in the Shahshahani metric ``diag(1/x)`` on the simplex (Fisher's
  fundamental theorem; ``dV/dt = Var_x(A x) >= 0``): it fails the Euclidean tests (in
  ``R^K`` and on the simplex with the induced metric) and passes the Shahshahani one;
  RPS's covector restricted to the simplex is ``U^T RPS U``, antisymmetric: asymmetry 1.
* ``predictive_coding``: :class:`~plasticity.rules.predictive_coding.PredictiveCoding`
  on the backprop network and batch (linear output), output nudged with ``pc_beta``,
  inference run for ``pc_inference`` steps (converged to machine precision). At the
  equilibrium ``x*`` the update is ``-eta dE/dtheta (theta, x*)``, and because ``x*``
  minimises the energy the envelope theorem makes that the total derivative of the
  equilibrium energy ``E*(theta) = E(theta, x*(theta))``: a gradient field, asymmetry at
  the floor. ``predictive_coding_truncated`` stops inference after ``pc_truncated``
  steps, where ``x`` still depends on ``theta`` off the minimum: not a Euclidean
  gradient field.
* ``dendritic_prediction``: the rate model of
  :class:`~plasticity.rules.dendritic_prediction.DendriticPredictionTrial` (Urbanczik & Senn
  2014) on one fixed trial (``dend_inputs`` frozen Poisson trains at 10 Hz for
  ``dend_ms`` ms, a teacher built as in the dendritic-prediction experiment from random
  target weights, scaled by ``200 / dend_inputs`` so that the potentials are on the
  experiment's scale). Its mean field is the trial's update without the within-trial drift,
  ``eta dt sum_t (phi(U_t) - phi(V*_t)) h(V*_t) PSP_t`` with ``U`` simulated at ``w``:
  the soma depends on ``w`` through the dendrite, which the rule ignores (a
  semi-gradient, like TD). ``dendritic_fixed_soma`` holds ``U`` at its trajectory under
  the target weights: then the field is exactly ``-(eta / c)`` times the gradient of the
  Poisson KL divergence (:func:`~plasticity.rules.dendritic_prediction.rate_kl`), at the
  floor. ``dendritic.field_error`` is the largest relative difference between the
  formula and the rule's own trial update at the first state (the ``O(eta)``
  within-trial drift).
* ``temporal_prediction``: :class:`~plasticity.rules.TemporalPrediction` on
  ``tp_pairs`` fixed stationary pairs of a ``tp_dim``-dimensional linear dynamical system
  (:class:`~plasticity.tasks.sequences.LinearDynamics`): the mean field
  ``eta (C10 - W C00)`` is ``-eta`` times the gradient of the prediction loss, at the
  floor.
* ``rotation``: a planted field ``F(x) = R x`` with ``R`` random antisymmetric, whose
  Jacobian is ``R`` itself: asymmetry exactly 1. It is tangent to every sphere centred
  at 0 and ``P R P`` is antisymmetric, so it fails the sphere test too (asymmetry 1).

Each field is evaluated at ``n_states`` random states around its initial parameters,
``theta_k = theta_0 + radius * s * z_k`` with ``z_k ~ N(0, I)`` and ``s`` the RMS of
``theta_0`` (1 for the rotation; interior points of the simplex for the replicator), not
only at one point; the manifold tests use the same states placed on the manifold (rows
normalised, the polar factor for the Stiefel manifold). The descent checks integrate the
closed-form mean field (cheap), which equals the rule's own per-sample mean field to
rounding at every state checked (``<rule>.mean_field_error``). The fields added for these
tests draw from their own random streams, after all others, so the first nine fields
keep their numbers.

Numerical floor: central differences with relative step ``eps`` have truncation error
``O(eps^2)`` (whose ``i, j`` entry involves ``d_i d_j^3 L``, not symmetric in ``i, j``)
and rounding error ``O(macheps |F| / (eps |J|))``. With ``eps = 1e-5`` both are of order
``1e-11`` to ``1e-10`` relative to ``||J||_F`` for these unit-scale fields (backprop's
asymmetry is about ``4e-11`` with the quick preset, seeds 0 to 3; exact fields measure
``1e-12`` to ``5e-10``), and ``floor_tol = 1e-6`` leaves four orders of margin; it is drawn
as the pass threshold in the figure, with backprop's largest asymmetry as the floor.
Every genuine asymmetry here is above ``5e-3``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from plasticity.experiment import Config, Experiment

RULES = ("backprop", "feedback_alignment", "oja", "predictive_coding",
         "predictive_coding_truncated", "dendritic_prediction", "dendritic_fixed_soma",
         "temporal_prediction", "rotation", "hebb", "bcm", "sanger",
         "replicator_partnership", "replicator_rps")
LABELS = ("backprop", "feedback\nalignment", "Oja", "PC\nconverged", "PC\ntruncated",
          "dendritic", "dendritic,\nsoma fixed", "temporal\nprediction", "rotation",
          "Hebb", "BCM", "Sanger\n(GHA)", "replicator,\npartnership", "replicator,\nRPS")
# (field, geometry key, label): the metric- and manifold-aware tests, in drawing order
GEOMETRIES = (("oja", "sphere", "Oja\nsphere"), ("rotation", "sphere", "rotation\nsphere"),
              ("sanger", "spheres", "Sanger\nspheres"),
              ("sanger", "stiefel", "Sanger\nStiefel"),
              ("replicator_partnership", "simplex", "partner.\nsimplex"),
              ("replicator_partnership", "shahshahani", "partner.\nShahsh."),
              ("replicator_rps", "shahshahani", "RPS\nShahsh."))
# the fields with a candidate objective for the descent check, in drawing order
DESCENT = ("hebb", "bcm", "oja", "sanger", "replicator_partnership")
DESCENT_LABELS = ("Hebb", "BCM", "Oja", "Sanger", "partner-\nship")


class GradientFieldConfig(Config):
    n_inputs: int = Field(6, ge=1, description="inputs of the student network")
    n_hidden: int = Field(5, ge=1, description="hidden tanh units of student and teacher")
    n_outputs: int = Field(3, ge=1, description="outputs of the student network")
    n_batch: int = Field(256, ge=1, description="samples in the fixed full batch")
    eta: float = Field(0.1, gt=0, description="learning rate of every rule (scales F only)")
    oja_inputs: int = Field(5, ge=3, description="input dimension of the Oja, Hebb, BCM and "
                                                 "Sanger units (>= 3: on the circle every "
                                                 "tangent field passes)")
    rotation_dim: int = Field(6, ge=2, description="dimension of the planted rotation")
    n_states: int = Field(8, ge=1, description="random states per rule")
    radius: float = Field(0.5, gt=0, description="spread of the states, relative to the "
                                                 "RMS of the initial parameters")
    eps: float = Field(1e-5, gt=0, lt=0.1, description="finite-difference relative step")
    pc_beta: float = Field(0.1, gt=0, description="nudging strength of predictive coding")
    pc_gamma: float = Field(0.2, gt=0, le=1, description="inference rate of predictive "
                                                         "coding")
    pc_inference: int = Field(400, ge=1, description="inference steps, converged field")
    pc_truncated: int = Field(10, ge=1, description="inference steps, truncated field")
    pc_states: int = Field(4, ge=1, description="random states of the two PC fields")
    dend_inputs: int = Field(12, ge=1, description="inputs of the dendritic neuron")
    dend_ms: float = Field(100.0, gt=0, description="length of the dendritic trial (ms)")
    dend_teacher: float = Field(1.0, ge=0, description="teacher conductance g_teacher "
                                                       "(1/ms)")
    tp_dim: int = Field(4, ge=1, description="dimension of the linear dynamical system")
    tp_pairs: int = Field(200, ge=1, description="fixed pairs of the temporal field")
    gha_outputs: int = Field(2, ge=2, description="outputs of the Sanger (GHA) field")
    rep_types: int = Field(3, ge=3, description="types of the replicator partnership game "
                                                "(>= 3: on the 1-D simplex every field "
                                                "passes)")
    flow_starts: int = Field(4, ge=1, description="starts of the descent check's flows")
    flow_steps: int = Field(100, ge=1, description="RK4 steps per flow")
    flow_dt: float = Field(0.1, gt=0, le=0.5, description="RK4 step in units of the "
                                                          "field's fastest time constant")
    floor_tol: float = Field(1e-6, gt=0, lt=1e-2, description="pass threshold of the "
                                                              "asymmetries (above the "
                                                              "finite-difference floor)")


def run(cfg: GradientFieldConfig, ctx):
    from plasticity.analysis.field import field_asymmetry_over
    from plasticity.analysis.flat import flatten
    from plasticity.analysis.mean_field import batch_field, sample_mean_field, states_around
    from plasticity.rules.gradient import Backprop, FeedbackAlignment
    from plasticity.rules.hebbian import Oja
    from plasticity.tasks import CorrelatedGaussian
    from plasticity.tasks.supervised import TanhTeacher

    task_rng, init_rng, state_rng, data_rng = (ctx.child_rng() for _ in range(4))
    task = TanhTeacher(cfg.n_inputs, cfg.n_hidden, cfg.n_outputs, task_rng, n_eval=1)
    net = task.student(cfg.n_hidden, activation="tanh")
    like = net.init_params(init_rng)
    # One fixed batch for every evaluation: the field must be a deterministic function.
    batch = task.batch(cfg.n_batch, data_rng)

    def rule_field(rule, state):
        return batch_field(rule, state, like, lambda p: task.signals(net, p, batch))

    bp = Backprop(net=net, eta=cfg.eta)
    fa = FeedbackAlignment(net=net, eta=cfg.eta, seed=int(init_rng.integers(2**31)))
    fields = {"backprop": rule_field(bp, bp.init(like)),
              "feedback_alignment": rule_field(fa, fa.init(like))}
    theta_net = flatten(like)
    starts = {"backprop": theta_net, "feedback_alignment": theta_net}

    # Sanity check that the backprop field is exactly -eta grad L of the batch loss.
    grad = flatten(task.gradient(net, like, batch))
    bp_error = float(np.max(np.abs(fields["backprop"](theta_net) + cfg.eta * grad)))

    inputs = CorrelatedGaussian(cfg.oja_inputs, data_rng)
    X = inputs.sample(cfg.n_batch, data_rng)
    X = X - X.mean(axis=0)
    oja = Oja(eta=cfg.eta)

    def oja_field(w):
        # One exact single-sample step per sample, all from the same w: the mean field.
        return sample_mean_field(oja, X, w.reshape(1, -1))[0]

    fields["oja"] = oja_field
    w0 = init_rng.normal(0.0, 1.0 / np.sqrt(cfg.oja_inputs), cfg.oja_inputs)
    w0 /= np.linalg.norm(w0)
    starts["oja"] = w0
    C = X.T @ X / len(X)
    oja_error = float(np.max(np.abs(oja_field(w0) - cfg.eta * (C @ w0 - (w0 @ C @ w0) * w0))))

    pc_fields, pc_start = _pc_fields(cfg, net, like, batch)
    fields.update(pc_fields)
    starts.update(dict.fromkeys(pc_fields, pc_start))
    dend_fields, dend_start, dend_error = _dendritic_fields(cfg, ctx.child_rng())
    fields.update(dend_fields)
    starts.update(dict.fromkeys(dend_fields, dend_start))
    fields["temporal_prediction"], starts["temporal_prediction"], tp_error = \
        _temporal_field(cfg, ctx.child_rng())

    M = init_rng.standard_normal((cfg.rotation_dim, cfg.rotation_dim))
    R = 0.5 * (M - M.T)
    fields["rotation"] = R.__matmul__
    starts["rotation"] = np.zeros(cfg.rotation_dim)

    # The fields added for the metric-aware tests draw from their own streams, after all
    # the others: the nine fields above keep their numbers.
    new_rng = ctx.child_rng()
    hebbian = _hebbian_fields(cfg, X, w0, new_rng)
    replicator = _replicator_fields(cfg, new_rng)

    rec = ctx.recorder
    summary = {"backprop.field_error": bp_error, "oja.mean_field_error": oja_error,
               "dendritic.field_error": dend_error,
               "temporal_prediction.field_error": tp_error,
               "eps": cfg.eps, "n_states": cfg.n_states, "floor_tol": cfg.floor_tol}
    euclid = {}
    n_rows = 0
    with ctx.progress(len(RULES) + len(GEOMETRIES), "gradient-field") as bar:
        for i, name in enumerate(RULES):
            if name in hebbian or name in replicator:
                spec = hebbian.get(name) or replicator[name]
                field, thetas = spec["field"], spec["states"]
            else:
                field = fields[name]
                if name == "rotation":
                    thetas = state_rng.standard_normal((cfg.n_states, cfg.rotation_dim))
                else:
                    n = cfg.pc_states if name.startswith("predictive_coding") else cfg.n_states
                    thetas = states_around(starts[name], n, cfg.radius, state_rng)
            res = field_asymmetry_over(field, thetas, cfg.eps)
            for k, value in enumerate(res["values"]):
                rec.append("asymmetry", n_rows + k,
                           units={"rule_index": "1", "state": "1", "asymmetry": "1"},
                           index_units="evaluation", rule_index=i, state=k,
                           asymmetry=float(value))
            summary[f"{name}.asymmetry"] = res["mean"]
            summary[f"{name}.asymmetry_max"] = res["max"]
            summary[f"{name}.n_params"] = int(thetas.shape[1])
            euclid[name] = (res["max"], thetas)
            n_rows += len(res["values"])
            bar.update(1)
        specs = dict(hebbian, **replicator)
        specs["oja"] = {"field": oja_field,
                        "formula": lambda w: cfg.eta * (C @ w - (w @ C @ w) * w)}
        specs["rotation"] = {"field": fields["rotation"]}
        geometry = _geometry_tests(cfg, specs, euclid, rec, summary, bar)
    _descent_checks(cfg, specs, euclid, C, X, new_rng, summary)
    for name in RULES:
        summary[f"{name}.verdict"] = _verdict(cfg, name, euclid[name][0], geometry, summary)
    ctx.summary(**summary)


# where each geometry test lives, as a verdict says it, and its manifold's name
_WHERE = {"sphere": ("on the sphere", "the sphere"),
          "spheres": ("on the product of spheres", "the product of spheres"),
          "stiefel": ("on the Stiefel manifold", "the Stiefel manifold"),
          "simplex": ("on the simplex (induced Euclidean metric)", "the simplex"),
          "shahshahani": ("on the simplex with the Shahshahani metric", "the simplex")}


def _geometry_tests(cfg, specs, euclid, rec, summary, bar):
    """The manifold- and metric-aware asymmetries of :data:`GEOMETRIES`."""
    from plasticity.analysis import field_metric as fm

    n_oja, k_gha = cfg.oja_inputs, cfg.gha_outputs
    manifolds = {"sphere": lambda n: fm.sphere(n),
                 "spheres": lambda n: fm.product_of_spheres(k_gha, n // k_gha),
                 "stiefel": lambda n: fm.stiefel(k_gha, n // k_gha),
                 "simplex": fm.simplex, "shahshahani": fm.simplex}
    out = {}
    n_rows = 0
    for g, (name, key, _) in enumerate(GEOMETRIES):
        thetas = euclid[name][1]
        n = thetas.shape[1]
        manifold = (fm.sphere(n, radius=None) if name == "rotation"
                    else manifolds[key](n if key != "sphere" else n_oja))
        # the states of the Euclidean test, placed on the manifold (the replicator's are
        # on the simplex already; the rotation is tangent to the sphere through each)
        on = np.array([manifold.retract(t) for t in thetas])
        metric = fm.shahshahani_metric if key == "shahshahani" else None
        res = fm.geometry_asymmetry_over(specs[name]["field"], on, manifold=manifold,
                                         metric_fn=metric, eps=cfg.eps)
        for k, value in enumerate(res["values"]):
            rec.append("geometry", n_rows + k,
                       units={"geometry_index": "1", "state": "1", "asymmetry": "1"},
                       index_units="evaluation", geometry_index=g, state=k,
                       asymmetry=float(value))
        n_rows += len(res["values"])
        summary[f"{name}.asymmetry_{key}"] = res["mean"]
        summary[f"{name}.asymmetry_{key}_max"] = res["max"]
        summary[f"{name}.tangency_{key}"] = res["tangency"]
        out[(name, key)] = {"asymmetry": res["max"], "tangency": res["tangency"],
                            "states": on, "manifold": manifold, "metric": metric}
        specs[name].setdefault("geometry_states", {})[key] = on
        bar.update(1)
    return out


def _descent_checks(cfg, specs, euclid, C, X, rng, summary):
    """The descent (Lyapunov) check of each field in :data:`DESCENT` against its candidate
    objective: RK4 flows of the closed-form mean field, and the pointwise sign."""
    from plasticity.analysis import field_metric as fm
    from plasticity.analysis.field import jacobian
    from plasticity.analysis.field_descent import descent_along_flow, pointwise_descent

    k_gha, n = cfg.gha_outputs, cfg.oja_inputs

    def rayleigh(w):
        return 0.5 * (w @ C @ w) / (w @ w)

    def bcm_objective(w):
        y = X @ w
        return np.mean(y**3) / 3.0 - np.mean(y**2) ** 2 / 4.0

    def bcm_grad(w):
        y = X @ w
        return (y**2) @ X / len(X) - np.mean(y**2) * (y @ X) / len(X)

    A = specs["replicator_partnership"]["A"]
    candidates = {
        "hebb": ("w.Cw/2", lambda w: 0.5 * w @ C @ w, lambda w: C @ w, None, None),
        "bcm": ("E[y^3]/3 - E[y^2]^2/4", bcm_objective, bcm_grad, None, None),
        "oja": ("R = w.Cw/(2 w.w)", rayleigh, lambda w: (C @ w - 2.0 * rayleigh(w) * w) / (w @ w),
                fm.sphere(n), None),
        "sanger": ("tr(W C W^T)/2", lambda t: 0.5 * np.trace(
            t.reshape(k_gha, n) @ C @ t.reshape(k_gha, n).T),
            lambda t: (t.reshape(k_gha, n) @ C).ravel(), None, None),
        "replicator_partnership": ("V = x.Ax/2", lambda x: 0.5 * x @ A @ x,
                                   lambda x: A @ x, fm.simplex(cfg.rep_types),
                                   fm.shahshahani_metric),
    }
    for name in DESCENT:
        label, f, grad, manifold, metric = candidates[name]
        formula = specs[name]["formula"]
        thetas = euclid[name][1]
        # the states of the pointwise check: on the manifold where the claim is made (the
        # sphere for Oja), on the product of spheres for Sanger, else the Euclidean ones
        if name == "oja":
            states = np.array([manifold.retract(t) for t in thetas])
        elif name == "sanger":
            states = specs["sanger"]["geometry_states"]["spheres"]
        else:
            states = thetas
        flow_starts = states[:cfg.flow_starts]
        # one step is flow_dt of the fastest time constant 1 / rho, rho = ||J||_2 at the
        # first start: RK4's relative error per step is then O(flow_dt^5)
        rho = float(np.linalg.norm(jacobian(formula, flow_starts[0], cfg.eps), 2))
        flow = descent_along_flow(formula, f, flow_starts, step=cfg.flow_dt / rho,
                                  n_steps=cfg.flow_steps, ascent=True)
        point = pointwise_descent(formula, f, states, ascent=True, grad_fn=grad,
                                  manifold=manifold, metric_fn=metric)
        summary[f"{name}.objective"] = label
        summary[f"{name}.descent_frac"] = flow["frac"]
        summary[f"{name}.descent_max_violation"] = flow["max_violation"]
        summary[f"{name}.descent_pointwise_frac"] = point["frac"]
        summary[f"{name}.steepest_cos_min"] = point["cos_min"]
        summary[f"{name}.flow_step"] = cfg.flow_dt / rho
        if name != "oja":  # Oja's rule-against-formula error is recorded above
            summary[f"{name}.mean_field_error"] = float(max(
                np.max(np.abs(specs[name]["field"](t) - formula(t))) for t in states))


def _verdict(cfg, name, euclidean, geometry, summary):
    from plasticity.analysis.field_descent import Geometry, field_verdict

    geoms = []
    for field, key, _ in GEOMETRIES:
        if field != name:
            continue
        res = geometry[(field, key)]
        where, surface = _WHERE[key]
        # the steepest-direction cosine is measured in the geometry of the claim
        claim = {"oja": "sphere", "replicator_partnership": "shahshahani"}.get(name)
        cos = summary.get(f"{name}.steepest_cos_min") if key == claim else None
        geoms.append(Geometry(where, res["asymmetry"], res["tangency"], cos, surface))
    objective = summary.get(f"{name}.objective")
    objective = objective.split(" = ")[0] if objective else None
    return field_verdict(euclidean, tol=cfg.floor_tol, geometries=geoms,
                         objective=objective, ascent=True,
                         flow_frac=summary.get(f"{name}.descent_frac"),
                         pointwise_frac=summary.get(f"{name}.descent_pointwise_frac"))


def _hebbian_fields(cfg, X, w0, rng):
    """Hebb, BCM (threshold at its fixed point E[y^2]) and Sanger mean fields over ``X``.

    Each rule is called once per sample from the same state (a one-sample window is one
    exact step) and the deltas averaged: the exact mean field, as for Oja.
    """
    from plasticity.analysis.mean_field import sample_mean_field, states_around
    from plasticity.rules.hebbian import BCM, Hebb, Sanger

    eta, k = cfg.eta, cfg.gha_outputs
    C = X.T @ X / len(X)
    hebb, bcm, gha = Hebb(eta=eta), BCM(eta=eta, rectify=False), Sanger(eta=eta)

    def mean_over_samples(rule, W, state=None):
        return sample_mean_field(rule, X, W, state)

    def hebb_field(w):
        return mean_over_samples(hebb, w.reshape(1, -1))[0]

    def bcm_field(w):
        # the sliding threshold replaced by its fixed point E[y^2] at this w
        theta = np.array([np.mean((X @ w) ** 2)])
        return mean_over_samples(bcm, w.reshape(1, -1), theta)[0]

    def bcm_formula(w):
        y = X @ w
        return eta * ((y * (y - np.mean(y**2))) @ X) / len(X)

    def sanger_field(t):
        return mean_over_samples(gha, t.reshape(k, -1)).ravel()

    def sanger_formula(t):
        W = t.reshape(k, -1)
        return (eta * (W @ C - np.tril(W @ C @ W.T) @ W)).ravel()

    W0 = rng.standard_normal((k, X.shape[1]))
    W0 /= np.linalg.norm(W0, axis=1, keepdims=True)
    return {
        "hebb": {"field": hebb_field, "formula": lambda w: eta * C @ w,
                 "states": states_around(w0, cfg.n_states, cfg.radius, rng)},
        "bcm": {"field": bcm_field, "formula": bcm_formula,
                "states": states_around(w0, cfg.n_states, cfg.radius, rng)},
        "sanger": {"field": sanger_field, "formula": sanger_formula,
                   "states": states_around(W0.ravel(), cfg.n_states, cfg.radius, rng)},
    }


def _replicator_fields(cfg, rng):
    """The replicator partnership game (``rep_types`` types, symmetric payoffs) and
    rock-paper-scissors, from the replicator-selection experiment's own pieces."""
    import sys

    from plasticity.registry import load

    rep = sys.modules[load("replicator-selection").run.__module__]
    k = cfg.rep_types
    M = rng.normal(0.0, 1.0, (k, k))
    A = 0.5 * (M + M.T)
    partnership = rep.replicator(lambda x: A @ x)
    rps = rep.replicator(lambda x: rep.RPS @ x)
    return {
        "replicator_partnership": {"field": partnership, "formula": partnership, "A": A,
                                   "states": rep.interior(rng, cfg.n_states, k)},
        "replicator_rps": {"field": rps, "formula": rps,
                           "states": rep.interior(rng, cfg.n_states, 3)},
    }


def _pc_fields(cfg, net, like, batch):
    """The converged and truncated predictive-coding fields on the fixed batch."""
    from plasticity.analysis.flat import flatten, unflatten
    from plasticity.rules.predictive_coding import PredictiveCoding

    signals = {"input": batch.x, "target": batch.target}

    def make(n_inference):
        # eta / beta: the converged update is beta times backprop's to first order
        rule = PredictiveCoding(net=net, eta=cfg.eta / cfg.pc_beta, gamma=cfg.pc_gamma,
                                n_inference=n_inference, beta=cfg.pc_beta)

        def field(theta):
            return flatten(rule.update(signals, None, unflatten(theta, like))[0])
        return field

    return ({"predictive_coding": make(cfg.pc_inference),
             "predictive_coding_truncated": make(cfg.pc_truncated)}, flatten(like))


def _dendritic_fields(cfg, rng):
    """The rate-model dendritic fields on one fixed trial, and the formula's error."""
    from plasticity.problems.dendritic import teacher_conductances
    from plasticity.rules.dendritic_prediction import DendriticPredictionTrial, simulate_trial

    rule = DendriticPredictionTrial(eta=cfg.eta, model="rate")
    n, T = cfg.dend_inputs, int(round(cfg.dend_ms / rule.dt))
    X = (rng.random((T, n)) < 10.0 * 1e-3 * rule.dt).astype(float)  # 10 Hz Poisson
    psp = rule.psp(X)
    # a teacher as in the dendritic-prediction experiment: conductances whose current is
    # g_teacher (U_M - U), with U_M the prediction of random target weights
    # the experiment's N(0.5, 1.5^2) target weights for 200 inputs, rescaled to n inputs
    # so that the potentials have the same scale
    w_star = rng.normal(0.5, 1.5, n) * 200.0 / n
    margin = 0.05 * (rule.E_E - rule.E_I)
    U_M = np.clip(rule.coupling * psp @ w_star, rule.E_I + margin, rule.E_E - margin)
    g_E, g_I = teacher_conductances(U_M, cfg.dend_teacher, rule.E_E, rule.E_I)
    U_fixed = simulate_trial(rule, w_star, X, g_E, g_I, learn=False).U

    def mean_field(w, U):
        v = rule.coupling * psp @ w
        phi_v = rule.phi(v)
        h = rule.beta * (1.0 - phi_v / rule.phi_max)
        return rule.eta * rule.dt * ((rule.phi(U) - phi_v) * h) @ psp

    def driven(w):
        return mean_field(w, simulate_trial(rule, w, X, g_E, g_I, learn=False).U)

    w0 = rng.normal(0.5, 1.5, n) * 200.0 / n
    own = rule.update({"input": X, "g_E": g_E, "g_I": g_I}, None, {"w": w0})[0]["w"]
    formula = driven(w0)
    error = float(np.max(np.abs(own - formula)) / np.max(np.abs(formula)))
    return ({"dendritic_prediction": driven,
             "dendritic_fixed_soma": lambda w: mean_field(w, U_fixed)}, w0, error)


def _temporal_field(cfg, rng):
    """The temporal-prediction mean field over fixed pairs, its start and its error."""
    from plasticity.rules import TemporalPrediction
    from plasticity.rules.temporal_prediction import mean_update
    from plasticity.tasks.sequences import LinearDynamics

    task = LinearDynamics(cfg.tp_dim, rng)
    rule = TemporalPrediction(eta=cfg.eta)
    prev, nxt = task.pairs(cfg.tp_pairs, rng)

    def field(theta):
        return mean_update(rule, prev, nxt, theta)

    C00, C10 = prev.T @ prev / len(prev), nxt.T @ prev / len(prev)
    W0 = task.A.ravel()
    error = float(np.max(np.abs(field(W0) - cfg.eta * (C10 - task.A @ C00).ravel())))
    return field, W0, error


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.field_panels import (
        TINY,
        asymmetry_dots,
        descent_panel,
        threshold_line,
    )
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.42, ncols=3,
                                  gridspec_kw={"width_ratios": [len(RULES),
                                                                len(GEOMETRIES) + 1,
                                                                len(DESCENT) + 1]})
    s = run.summary
    floor = max(float(s["backprop.asymmetry_max"]), TINY)
    tol = float(s["floor_tol"])
    jitter = np.random.default_rng(0)

    def bars(ax, table, index_col, keys):
        for i, key in enumerate(keys):
            colour = PALETTE[i % len(PALETTE)]
            traced(ax.bar(i, float(s[key]), width=0.6, color=colour, alpha=0.5),
                   x=i, height=src(f"summary:{key}"))
            asymmetry_dots(ax, run, table, index_col, i, colour, jitter)
        traced(ax.axhline(floor, color="0.4", lw=0.7, ls="--",
                          label=f"numerical floor ({floor:.1e})"),
               y=src("summary:backprop.asymmetry_max").map(lambda v: max(float(v), TINY),
                                                            "max_1e-16"))
        threshold_line(ax, tol)
        lowest = float(np.min(np.maximum(np.asarray(run.series[table]["asymmetry"]), TINY)))
        ax.set_ylim(min(floor / 10, 1e-12, lowest / 3), 3.0)

    bars(ax1, "asymmetry", "rule_index", [f"{name}.asymmetry" for name in RULES])
    ax1.set_xticks(range(len(RULES)), LABELS, fontsize="xx-small", rotation=90)
    ax1.set_ylabel(r"asymmetry $\|A\|_F / \|J\|_F$")
    ax1.set_title("a  Euclidean, weight coordinates", loc="left")

    bars(ax2, "geometry", "geometry_index",
         [f"{name}.asymmetry_{key}" for name, key, _ in GEOMETRIES])
    ax2.set_xticks(range(len(GEOMETRIES)), [g[2] for g in GEOMETRIES], fontsize="xx-small",
                   rotation=90)
    ax2.set_ylabel("asymmetry of the covector's\ntangent Jacobian")
    ax2.set_title("b  metric / manifold", loc="left")
    ax2.legend(loc="center", fontsize="x-small")

    descent_panel(ax3, run, DESCENT, DESCENT_LABELS, PALETTE)
    ax3.set_title("c  objective along the flow", loc="left")
    return fig

EXPERIMENT = Experiment(
    name="gradient-field",
    description="The gradient-field test, Euclidean, metric/manifold-aware and descent: "
                "backprop, FA, Oja, Hebb, BCM, GHA, predictive coding, dendritic and "
                "temporal prediction, the replicator, and a planted rotation.",
    config=GradientFieldConfig,
    run=run,
    plot=plot,
    presets={"quick": {}, "full": {"n_states": 32, "n_hidden": 8, "n_inputs": 10,
                                   "oja_inputs": 10, "rotation_dim": 10}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))

"""Equilibrium propagation: its update matches recurrent backprop's gradient (GDU), and it learns.

An energy-based network (:class:`~plasticity.substrates.energy.EnergyNetwork`, the
layered continuous Hopfield energy of Scellier & Bengio 2017) relaxes to a free fixed
point; equilibrium propagation (EqProp,
:class:`~plasticity.rules.equilibrium_propagation.EquilibriumPropagation`) nudges its
output towards the target with strength ``beta`` and contrasts the local products
``rho(post) rho(pre)`` between phases. Scellier & Bengio's theorem says this contrast,
divided by ``beta``, tends to the gradient of the free-phase cost as ``beta -> 0``; the
one-sided estimate (free vs ``+beta``) has a bias of order ``beta``, the symmetric one
(``+beta`` vs ``-beta``, Laborieux et al. 2021) of order ``beta^2``. Ernoult et al.
(2019) call the step-by-step version of this match the GDU property; here its endpoint,
the update at the fixed point, is measured against the exact gradient of the same
network, recurrent backpropagation (implicit differentiation at the fixed point,
:class:`~plasticity.problems.eqprop.EqPropProblem`).

Part 1 (GDU): at the initial parameters of seed 0, on ``gdu_batch`` digits training
images, the network is relaxed to a residual below ``gdu_tol``; for every ``beta`` in
``betas`` the symmetric and the one-sided estimates are compared with the
recurrent-backprop gradient: cosine and relative error ``|est - g| / |g|``. The slopes
of ``log error`` against ``log beta`` over ``beta <= fit_beta_max`` (least squares, with
their standard errors) test the orders 2 and 1.

Part 2 (learning): for every data set in ``datasets`` (scikit-learn's digits; MNIST-1D
from the ``mnist1d`` package's generator, offline, in the full preset) and every seed,
the same network from the same initial parameters on the same minibatches is trained by
plain SGD with the symmetric EqProp update (``eqprop_sym``), the one-sided one
(``eqprop_pos``), both at the training ``beta``, and recurrent backprop (``rbp``: the
exact gradient of the same energy network, i.e. backprop on the same architecture).
Test accuracy is the argmax of the free fixed point's output.

Summary: ``gdu_cos_sym``, ``gdu_cos_pos`` (cosines at the smallest ``beta``),
``gdu_beta_min``, ``gdu_cos_sym_train_beta``, ``gdu_cos_pos_train_beta`` (at the training
``beta``), ``gdu_slope_sym``, ``gdu_slope_sym_se``, ``gdu_slope_pos``,
``gdu_slope_pos_se``, ``gdu_residual`` (the free phase's fixed-point residual);
for each data set ``D`` and rule ``R``: ``D.R.acc_mean``, ``D.R.acc_low``,
``D.R.acc_high``, ``D.R.acc_n`` (t-interval over seeds of the final test accuracy,
:func:`plasticity.analysis.seeds_summary`), and ``D.acc_initial`` (seed 0, before
training). Series: ``/series/gdu`` (index ``beta``: ``cos_sym``, ``cos_pos``,
``err_sym``, ``err_pos``), ``/series/training_D_R`` (index ``step``: ``seed``,
``test_accuracy``) and ``/series/curve_D_R`` (index ``step``: ``test_accuracy`` averaged
over seeds).

References: Scellier & Bengio (2017) Front. Comput. Neurosci. 11:24; Laborieux et al.
(2021) Front. Neurosci. 15:633674; Ernoult et al. (2019) NeurIPS 32.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from plasticity.experiment import Config, Experiment

RULES = ("eqprop_sym", "eqprop_pos", "rbp")
LABELS = {"eqprop_sym": "EqProp, symmetric", "eqprop_pos": "EqProp, one-sided",
          "rbp": "recurrent backprop"}


class EqPropConfig(Config):
    hidden: list[int] = Field([32], min_length=1, description="widths of the hidden "
                              "layers of the energy network")
    activation: Literal["sigmoid", "tanh"] = Field("sigmoid", description="rho")
    dt: float = Field(0.25, gt=0, le=1, description="Euler step of the relaxation")
    betas: list[float] = Field([0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001,
                                0.0005, 0.0002],
                               description="nudging strengths of the GDU check")
    # from ~0.005-0.02 up the nudged phase of some images settles in another basin of the
    # energy (the error jumps; measured on digits), and near 0.01 the next order is large
    fit_beta_max: float = Field(0.002, gt=0, description="largest beta in the slope fits")
    gdu_batch: int = Field(32, ge=1, description="images of the GDU check")
    gdu_tol: float = Field(1e-11, gt=0, description="fixed-point residual of the GDU check")
    gdu_max_steps: int = Field(20000, ge=1, description="relaxation steps allowed there")
    datasets: list[Literal["digits", "mnist1d"]] = Field(["digits"], min_length=1,
                                                         description="data to learn")
    beta: float = Field(0.2, gt=0, description="nudging strength in training")
    eta: float = Field(0.1, gt=0, description="learning rate (all rules)")
    n_updates: int = Field(150, ge=1, description="SGD updates per rule and seed")
    batch_size: int = Field(32, ge=1, description="samples per update")
    train_tol: float = Field(1e-4, gt=0, description="fixed-point residual in training")
    train_max_steps: int = Field(200, ge=1, description="relaxation steps per phase")
    eval_every: int = Field(50, ge=1, description="updates between test evaluations")
    seeds: int = Field(3, ge=2, le=100, description="independent seeds (splits, initial "
                       "parameters, batches)")

    @field_validator("betas")
    @classmethod
    def _betas(cls, value):
        if len(value) < 3 or any(not np.isfinite(v) or v <= 0 for v in value):
            raise ValueError("must be at least 3 numbers > 0")
        return sorted(set(value), reverse=True)


def _data(name, rng):
    """``(x_train, y_train, x_test, y_test)`` of a data set (digits split by ``rng``)."""
    if name == "digits":
        from plasticity.tasks import Digits

        t = Digits(rng)
        return t.x_train, t.y_train, t.x_test, t.y_test
    from plasticity.tasks.mnist1d_sequence import mnist1d_arrays

    return mnist1d_arrays()


def _flat(d):
    return np.concatenate([np.ravel(d[k]) for k in sorted(d)])


def _fit(betas, errors):
    """Least-squares slope of ``log error`` on ``log beta`` and its standard error."""
    from scipy.stats import linregress

    fit = linregress(np.log(betas), np.log(errors))
    return float(fit.slope), float(fit.stderr)


def _gdu(cfg, net, params, x, y, rec):
    from plasticity.analysis.geometry import cosine
    from plasticity.rules.equilibrium_propagation import EquilibriumPropagation
    from plasticity.substrates.energy import EnergyNetwork

    tight = EnergyNetwork(sizes=net.sizes, activation=net.activation, dt=net.dt,
                          tol=cfg.gdu_tol, max_steps=cfg.gdu_max_steps)
    free = tight.relax(params, x, require=True)
    grad, _ = tight.recurrent_backprop(params, x, free, y, require=True)
    g = _flat(grad)
    rows = {}
    for beta in cfg.betas:
        out = {}
        for mode, key in (("symmetric", "sym"), ("positive", "pos")):
            est = EquilibriumPropagation(net=tight, beta=beta, nudging=mode) \
                .gradient_estimate(params, x, y, free=free)
            out[f"cos_{key}"] = cosine(est, grad)
            out[f"err_{key}"] = float(np.linalg.norm(_flat(est) - g) / np.linalg.norm(g))
        rows[beta] = out
        rec.append("gdu", beta, index="beta", index_units="1",
                   units={k: "1" for k in out}, **out)
    fit = [b for b in cfg.betas if b <= cfg.fit_beta_max]
    if len(fit) < 3:
        from plasticity.errors import InvalidParameterError

        raise InvalidParameterError(f"fit_beta_max={cfg.fit_beta_max} leaves {len(fit)} "
                                    "betas for the slope fits; at least 3 are needed.")
    s_sym, se_sym = _fit(fit, [rows[b]["err_sym"] for b in fit])
    s_pos, se_pos = _fit(fit, [rows[b]["err_pos"] for b in fit])
    b_min = cfg.betas[-1]
    train = EquilibriumPropagation(net=tight, beta=cfg.beta)
    est_train = train.gradient_estimate(params, x, y, free=free)
    est_train_pos = train.model_copy(update={"nudging": "positive"}).gradient_estimate(
        params, x, y, free=free)
    return {"gdu_cos_sym": rows[b_min]["cos_sym"], "gdu_cos_pos": rows[b_min]["cos_pos"],
            "gdu_beta_min": float(b_min),
            "gdu_cos_sym_train_beta": cosine(est_train, grad),
            "gdu_cos_pos_train_beta": cosine(est_train_pos, grad),
            "gdu_slope_sym": s_sym, "gdu_slope_sym_se": se_sym,
            "gdu_slope_pos": s_pos, "gdu_slope_pos_se": se_pos,
            "gdu_residual": free.residual}


class _RBP:
    """Recurrent backprop as a rule: ``-eta`` times the exact gradient of the batch."""

    name = "rbp"

    def __init__(self, net, eta):
        self.net, self.eta = net, eta

    def init(self, params):
        return None

    def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
        _, grad, _ = self.net.loss_and_grad(params, signals["input"], signals["target"])
        return {k: -self.eta * g for k, g in grad.items()}, state


def run(cfg: EqPropConfig, ctx):
    from plasticity.analysis import seeds_summary
    from plasticity.engine import Probe, train
    from plasticity.problems.eqprop import EqPropProblem
    from plasticity.rules.equilibrium_propagation import EquilibriumPropagation
    from plasticity.substrates.energy import EnergyNetwork

    rec = ctx.recorder
    summary = {}
    seed_rngs = [ctx.child_rng() for _ in range(cfg.seeds)]
    for d_index, dataset in enumerate(cfg.datasets):
        acc = {r: [] for r in RULES}
        curves = {r: {} for r in RULES}
        for seed in range(cfg.seeds):
            rng = np.random.default_rng([ctx.seed, seed, d_index])
            if dataset == "digits":
                rng = seed_rngs[seed]  # the split is the seed's too
            x_tr, y_tr, x_te, y_te = _data(dataset, rng)
            sizes = [x_tr.shape[1], *cfg.hidden, 10]
            net = EnergyNetwork(sizes=sizes, activation=cfg.activation, dt=cfg.dt,
                                tol=cfg.train_tol, max_steps=cfg.train_max_steps)
            problem = EqPropProblem(net, x_tr, y_tr, x_test=x_te, y_test=y_te,
                                    name=dataset)
            params0 = net.init_params(rng)
            if seed == 0 and d_index == 0:
                pick = rng.choice(y_tr.size, size=min(cfg.gdu_batch, y_tr.size),
                                  replace=False)
                summary.update(_gdu(cfg, net, params0, x_tr[pick], np.eye(10)[y_tr[pick]],
                                    rec))
            if seed == 0:
                summary[f"{dataset}.acc_initial"] = problem.accuracy(params0)
            rules = {"eqprop_sym": EquilibriumPropagation(net=net, beta=cfg.beta,
                                                          eta=cfg.eta),
                     "eqprop_pos": EquilibriumPropagation(net=net, beta=cfg.beta,
                                                          eta=cfg.eta, nudging="positive"),
                     "rbp": _RBP(net, cfg.eta)}
            batch_seed = int(rng.integers(2**63))
            for name, rule in rules.items():
                rows = [(0, problem.accuracy(params0))]

                def record(step, p, state, delta, batch, rows=rows, problem=problem):
                    if step % cfg.eval_every == 0 or step == cfg.n_updates:
                        rows.append((step, problem.accuracy(p)))

                data_rng = np.random.default_rng(batch_seed)  # the same batches for all
                with ctx.progress(cfg.n_updates, f"eqprop ({dataset}, {name}, seed "
                                                 f"{seed})") as bar:
                    train(rule, params0, n_updates=cfg.n_updates,
                          next_batch=lambda s, r=data_rng, pr=problem: pr.batch(
                              cfg.batch_size, r),
                          signals=problem.signals, probes=[Probe(record)], progress=bar,
                          rng=np.random.default_rng(0))
                for step, a in rows:
                    rec.append(f"training_{dataset}_{name}", step, units={
                        "seed": "1", "test_accuracy": "1"}, seed=seed, test_accuracy=a)
                    curves[name].setdefault(step, []).append(a)
                acc[name].append(rows[-1][1])
        for name in RULES:
            for step in sorted(curves[name]):
                rec.append(f"curve_{dataset}_{name}", step, units={"test_accuracy": "1"},
                           test_accuracy=float(np.mean(curves[name][step])))
            summary.update(seeds_summary(acc[name], prefix=f"{dataset}.{name}.acc"))
    ctx.summary(**summary)


def plot(run):
    from plasticity.plots import PALETTE, figure
    from plasticity.plots.provenance import src, traced

    fig, (ax1, ax2, ax3) = figure("double", height_ratio=0.3, ncols=3)
    g = run.series["gdu"]
    beta = np.asarray(g["beta"])
    s = run.summary
    for i, key in enumerate(("sym", "pos")):
        label = "symmetric" if key == "sym" else "one-sided"
        traced(ax1.loglog(beta, g[f"err_{key}"], "o-", ms=2, lw=0.8, color=PALETTE[i],
                          label=f"{label} (slope {s[f'gdu_slope_{key}']:.2f})")[0],
               x=src("series/gdu:beta"), y=src(f"series/gdu:err_{key}"))
        traced(ax2.semilogx(beta, g[f"cos_{key}"], "o-", ms=2, lw=0.8, color=PALETTE[i],
                            label=label)[0],
               x=src("series/gdu:beta"), y=src(f"series/gdu:cos_{key}"))
    traced(ax2.axhline(0.99, color="0.5", lw=0.6, ls=":"), y=0.99)
    ax1.set_xlabel(r"nudging strength $\beta$")
    ax1.set_ylabel("|EqProp - RBP| / |RBP|")
    ax1.legend(loc="lower right")
    ax1.set_title("a  estimator error", loc="left")
    ax2.set_xlabel(r"nudging strength $\beta$")
    ax2.set_ylabel("cos(EqProp update, -gradient)")
    ax2.legend(loc="lower left")
    ax2.set_title("b  GDU: cosine with RBP", loc="left")
    dataset = run.config["datasets"][0]
    for i, name in enumerate(RULES):
        table = f"curve_{dataset}_{name}"
        c = run.series[table]
        traced(ax3.plot(c["step"], 100 * np.asarray(c["test_accuracy"]), "o-", ms=2,
                        lw=0.8, color=PALETTE[i + 2],
                        label=f"{LABELS[name]} ({100 * s[f'{dataset}.{name}.acc_mean']:.1f} "
                              f"%)")[0],
               x=src(f"series/{table}:step"), y=100 * src(f"series/{table}:test_accuracy"))
    ax3.set_xlabel("update")
    ax3.set_ylabel("test accuracy (%, seed mean)")
    ax3.legend(loc="lower right")
    ax3.set_title(f"c  learning on {dataset}", loc="left")
    return fig


EXPERIMENT = Experiment(
    name="eqprop",
    description="Equilibrium propagation's update against recurrent backprop's gradient "
                "(GDU, symmetric vs one-sided nudging) and learning on digits and MNIST-1D.",
    config=EqPropConfig,
    run=run,
    plot=plot,
    presets={"quick": {},
             "full": {"hidden": [64], "n_updates": 2000, "eval_every": 100, "seeds": 5,
                      "datasets": ["digits", "mnist1d"], "gdu_batch": 128,
                      "train_max_steps": 500}},
)

if __name__ == "__main__":
    from plasticity.launch import run_file_main

    raise SystemExit(run_file_main(__file__))

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def cli(capsys):
    """Call the CLI in-process: ``cli(*args) -> (exit_code, stdout, stderr)``."""
    from plasticity.cli import main

    def call(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code or 0, out.out, out.err

    return call


@pytest.fixture
def cli_proc():
    """Run ``python -m plasticity`` in a subprocess (real exit codes, real stderr)."""

    def call(*args, cwd=None, timeout=300):
        return subprocess.run([sys.executable, "-m", "plasticity", *map(str, args)],
                              capture_output=True, text=True, cwd=cwd, timeout=timeout)

    return call


@pytest.fixture
def refuses(cli, tmp_path):
    """``refuses(experiment, settings, words)``: running ``experiment`` with the
    ``--set`` ``settings`` exits 2 with one line containing every word, no traceback and
    no run file."""

    def check(experiment, settings, words):
        out = tmp_path / "bad.h5"
        args = ["run", experiment]
        for s in settings:
            args += ["--set", s]
        code, _, err = cli(*args, "--out", out)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
        for word in words:
            assert word in err
        assert not out.exists()

    return check


def experiment_module(stem):
    """The module of ``experiments/<stem>.py``, freshly imported under a test name (its
    functions are what a test checks); registered in ``sys.modules`` first because
    pydantic resolves a Config's postponed annotations through the module."""
    spec = importlib.util.spec_from_file_location(f"{stem}_under_test",
                                                  ROOT / "experiments" / f"{stem}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def module_run(experiment, *args):
    """A module-scoped fixture that runs ``experiment`` once (``--quick`` unless other
    arguments are given) and returns the run file's path."""

    @pytest.fixture(scope="module")
    def run_once(tmp_path_factory):
        from plasticity.cli import main

        out = tmp_path_factory.mktemp(experiment) / f"{experiment}.h5"
        code = main(["run", experiment, *(args or ("--quick",)), "--quiet", "--out", str(out)])
        assert code in (0, None)
        return out

    return run_once


def bernoulli_trains(rng, n, rate_hz, T, dt):
    """A :class:`~plasticity.spiking.SpikeGenerator` of ``n`` Bernoulli spike trains at
    ``rate_hz`` on the time-step grid of ``dt`` (ms) over ``T`` ms."""
    import numpy as np

    from plasticity.spiking import SpikeGenerator

    t, i = np.nonzero(rng.random((int(round(T / dt)), n)) < rate_hz * dt * 1e-3)
    return SpikeGenerator(n=n, indices=i.tolist(), times_ms=(t * dt).round(6).tolist())


# Every optional peer (NEST, Brian2, nbclient, xarray, dask-jobqueue) is in the test extra,
# so under CI (CI=true) a missing import is a broken install, not a reason to skip: the
# cross-checks against the reference simulators must run there, never vanish silently.
_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing_import(report) -> bool:
    return report.skipped and "could not import" in str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _IN_CI and _missing_import(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _IN_CI and _missing_import(report):
        report.outcome = "failed"


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every pyplot figure a test opened (pyplot keeps them until closed, and many
    figure tests in one process exhaust memory and warn)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


def assert_seed_contract(one, two, rule=None):
    """The across-seed contract of an alignment experiment's summary, for ``rule`` (keys
    ``<rule>.<key>``; unprefixed when None): ``one`` is a run with ``seeds=1`` (no
    interval over seeds, the within-run interval instead) and ``two`` the same run with
    ``seeds=2`` (an interval over seeds), whose seed 0 draws from the same streams."""
    k = "" if rule is None else f"{rule}."
    s1, s2 = one.summary, two.summary
    assert np.isnan(s1[f"{k}seeds_cos_low"]) and np.isnan(s1[f"{k}seeds_cos_high"])
    assert s1[f"{k}seeds_cos_mean"] == s1[f"{k}cos_mean"]
    assert s1[f"{k}seeds_cos_n"] == 1
    # with one seed the interval is the within-run one
    assert s1[f"{k}ci_method"] == "batch_means"
    # seed 0 draws from the same streams whatever the number of seeds: its per-seed row
    # in the two-seed run is the one-seed run's value, read back from the file
    table = "seeds" if rule is None else f"seeds/{rule}"
    assert two.series[table]["cos_mean"][0] == s1[f"{k}cos_mean"]
    assert np.isfinite(s2[f"{k}seeds_cos_low"]) and s2[f"{k}seeds_cos_n"] == 2


def assert_seeds_interval(summary, per_seed_cos, rule=None):
    """``seeds_cos_mean/low/high`` of ``summary`` (for ``rule``, keys ``<rule>.<key>``) are
    the 95% t-interval over ``per_seed_cos``, the per-seed means read from the run file,
    and the seeds are independent replicates, not copies."""
    from scipy.stats import t

    k = "" if rule is None else f"{rule}."
    cos = np.asarray(per_seed_cos, dtype=float)
    n = cos.size
    assert n >= 2 and summary[f"{k}seeds_cos_n"] == n
    assert len(set(cos.round(12))) == n  # independent seeds, not copies
    half = t.ppf(0.975, n - 1) * cos.std(ddof=1) / np.sqrt(n)
    assert summary[f"{k}seeds_cos_mean"] == pytest.approx(cos.mean(), rel=1e-12)
    assert summary[f"{k}seeds_cos_low"] == pytest.approx(cos.mean() - half, rel=1e-9)
    assert summary[f"{k}seeds_cos_high"] == pytest.approx(cos.mean() + half, rel=1e-9)

"""Every exported rule through the rule contract (scikit-learn's parametrize_with_checks).

``plasticity.rules.all_rules()`` lists the rules; each one's small example goes through
``check_rule``, and every rule that applies to a feedforward problem with a loss also
through the expected-update analysis. A rule added to ``plasticity.rules`` without an
example, or a rule class left out of ``plasticity.rules.__all__``, fails here.
"""

import importlib
import pkgutil
import re
import warnings
from typing import ClassVar

import numpy as np
import pytest

import plasticity.rules as rules
from plasticity.analysis import expected_cosine
from plasticity.errors import InvalidParameterError, RuleError
from plasticity.rules import Rule, all_rules
from plasticity.rules.hebbian import Hebb
from plasticity.rules.registry import SUBSTRATES, rule_example
from plasticity.rules.resolve import BUILTIN_RULES, builtin_rule, resolve_rule, spec_name
from plasticity.substrates import FeedForward
from plasticity.testing import check_grads

RULES = all_rules()
FEEDFORWARD = all_rules("feedforward")

FULL_CHECKS = ["protocol", "init", "keywords", "update", "returns (delta, state)", "delta",
               "params not mutated", "signals not mutated", "state not mutated",
               "deterministic", "state threading", "delta not reused"]



def _ids(infos):
    return [i.name for i in infos]


# -- the contract, for every rule ------------------------------------------------------------

@pytest.mark.parametrize("info", RULES, ids=_ids(RULES))
def test_rule_passes_check_rule(info):
    ex = info.example(seed=0)
    assert isinstance(ex.rule, info.cls)
    assert ex.substrate in info.substrates
    report = ex.check(seed=0)
    # every check ran, including the state comparisons (every built-in state deep-copies)
    assert report["passed"] == FULL_CHECKS
    assert report["rule"] == info.name and report["problem"] == "given"
    assert report["delta_keys"] and set(report["delta_keys"]) <= set(ex.params)


@pytest.mark.parametrize("info", RULES, ids=_ids(RULES))
def test_example_update_is_not_trivial(info):
    # check_rule would pass a rule that always returns zeros; the examples must exercise
    # a real change. Accept-if-better rules may reject a proposal, so 20 independent
    # draws are allowed: with acceptance near 1/2 at a random start (a small step at a
    # non-stationary point), all 20 rejected has probability ~1e-6.
    ex = info.example(seed=0)
    state = ex.initial_state()
    norms = []
    for rng in np.random.default_rng(1).spawn(20):
        delta, _ = ex.rule.update(ex.signals, state, ex.params, reward=ex.reward,
                                  loss_fn=ex.loss_fn, rng=rng)
        norms.append(np.sqrt(sum(np.vdot(d, d) for d in delta.values())))
    assert max(norms) > 0


# -- the statistical contract, for every rule on a feedforward problem with a loss ---------

@pytest.mark.parametrize("info", FEEDFORWARD, ids=_ids(FEEDFORWARD))
def test_feedforward_expected_cosine_is_defined(info):
    ex = info.example(seed=1)
    assert ex.substrate == "feedforward" and ex.loss_fn is not None and ex.grad is not None
    out = expected_cosine(ex.rule, ex.signals, ex.initial_state(), ex.params, ex.grad,
                          n_draws=16, rng=2, loss_fn=ex.loss_fn, reward=ex.reward)
    for delta in out["mean_delta"].values():
        assert np.all(np.isfinite(delta))
    for key in ("expected_cos", "mean_cos"):
        assert np.isfinite(out[key]) and -1.0 <= out[key] <= 1.0, (key, out[key])
    assert np.isfinite(out["expected_norm"]) and out["grad_norm"] > 0


def test_feedforward_examples_carry_their_loss_gradient():
    # The gradient the statistical contract compares with is the example loss's own:
    # central differences (step h, truncation error O(h^2 |f'''|) ~ 1e-12 for these
    # smooth losses; rounding ~ 1e-16 / h ~ 1e-10) agree to well under 1e-6 relative.
    ex = rule_example("backprop", seed=1)
    # Allowed per entry: 1e-6 of itself + 1e-9 of its array's largest (as before).
    check_grads(ex.loss_fn, ex.params, ex.grad, eps=1e-6, rtol=1e-6, relative_to="entry",
                atol={k: 1e-9 * float(np.abs(g).max()) for k, g in ex.grad.items()})
    # and backprop, which is -eta times that gradient, has expected cosine 1 with it
    out = expected_cosine(ex.rule, ex.signals, None, ex.params, ex.grad, n_draws=2, rng=0)
    assert out["expected_cos"] == pytest.approx(1.0, abs=1e-12)


# -- the registry itself -------------------------------------------------------------------

def _rule_classes_in_modules():
    """Every public Rule subclass defined in a module of plasticity.rules."""
    found = {}
    for mod in pkgutil.iter_modules(rules.__path__):
        module = importlib.import_module(f"plasticity.rules.{mod.name}")
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and issubclass(obj, Rule) and obj is not Rule
                    and obj.__module__ == module.__name__ and not name.startswith("_")):
                found[name] = obj
    return found


def test_every_rule_is_exported_and_listed():
    defined = _rule_classes_in_modules()
    assert len(defined) >= 20
    not_exported = sorted(set(defined) - set(rules.__all__))
    assert not not_exported, f"rule classes missing from plasticity.rules.__all__: " \
                             f"{not_exported}"
    listed = {info.cls for info in RULES}
    assert listed == set(defined.values())
    # and nothing else exported is a rule but the base class and the protocol
    exported = {getattr(rules, name) for name in rules.__all__}
    protocol = {obj for obj in exported if isinstance(obj, type)
                and callable(getattr(obj, "init", None))
                and callable(getattr(obj, "update", None))}
    assert protocol - listed == {Rule, rules.RuleProtocol}
    assert len(RULES) == len(listed)  # each class once
    # stable order: by name
    assert _ids(RULES) == sorted(_ids(RULES))
    assert all_rules() == RULES


def test_substrates_are_declared_and_filter():
    for info in RULES:
        assert info.substrates and set(info.substrates) <= set(SUBSTRATES), info
        assert info.substrates == info.cls.substrates
    assert _ids(all_rules("bandit")) == ["reinforce", "three_factor"]
    assert _ids(all_rules("sequence")) == ["annealing", "es", "genetic", "hill_climbing",
                                           "temporal_prediction", "weight_perturbation"]
    assert {i.name for i in all_rules("spiking")} == {"stdp", "spike_node_perturbation",
                                                      "dendritic_prediction"}
    assert sum(len(all_rules(s)) for s in SUBSTRATES) == sum(len(i.substrates)
                                                             for i in RULES)
    with pytest.raises(InvalidParameterError, match="Unknown substrate 'cortex'"):
        all_rules("cortex")


def test_a_rule_without_an_example_fails_loudly(monkeypatch):
    import plasticity.rules.hebbian as module

    class Newcomer(Rule):
        substrates: ClassVar[tuple[str, ...]] = ("feedforward",)

        def update(self, signals, state, params, *, reward=None, loss_fn=None, rng=None):
            return {}, state

    # as if defined in a rule module (whether or not it was exported)
    monkeypatch.setattr(Newcomer, "__module__", module.__name__)
    monkeypatch.setattr(module, "Newcomer", Newcomer, raising=False)
    with pytest.raises(RuleError, match=r"Rule class\(es\) Newcomer have no example"):
        all_rules()


def test_undeclared_or_unknown_substrates_fail_loudly(monkeypatch):
    monkeypatch.setattr(Hebb, "substrates", ("cortex",))
    with pytest.raises(RuleError, match="Hebb declares unknown substrate.*'cortex'"):
        all_rules()
    monkeypatch.setattr(Hebb, "substrates", ())
    with pytest.raises(RuleError, match="Hebb declares no substrates"):
        all_rules()


def test_rule_example_by_name_or_class():
    a = rule_example("oja", seed=3)
    b = rule_example(rules.Oja, seed=3)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    with pytest.raises(RuleError, match="No exported rule 'nope'"):
        rule_example("nope")
    with pytest.raises(InvalidParameterError, match="non-negative integer"):
        RULES[0].example(seed=-1)


# -- names: one separator ----------------------------------------------------------------

def test_rule_names_are_unique_and_use_underscores():
    names = _ids(RULES)
    assert len(set(names)) == len(names)
    for name in [*names, *BUILTIN_RULES]:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
    # every built-in resolver name is the name its rule goes by in summaries
    net = FeedForward(sizes=[4, 5, 3])
    for name in BUILTIN_RULES:
        assert builtin_rule(name, net=net).name == name


@pytest.mark.parametrize("alias, name", [("feedback-alignment", "feedback_alignment"),
                                         ("hill-climbing", "hill_climbing"),
                                         ("node-perturbation", "node_perturbation")])
def test_hyphenated_builtin_names_are_deprecated_aliases(alias, name):
    net = FeedForward(sizes=[4, 5, 3])
    with pytest.warns(DeprecationWarning, match=f"'{alias}' is deprecated; use '{name}'"):
        rule = resolve_rule(alias, net=net)
    assert rule.name == name
    with pytest.warns(DeprecationWarning, match=f"use '{name}'"):
        assert builtin_rule(alias, net=net).name == name
    # summary keys have one spelling; naming the key does not warn a second time
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert spec_name(alias) == name
        assert spec_name(name) == name


def test_unknown_names_are_refused_without_a_warning():
    net = FeedForward(sizes=[4, 5, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuleError, match="Unknown rule 'feedback-alinement'"):
            resolve_rule("feedback-alinement", net=net)
        with pytest.raises(RuleError, match="Unknown rule 'no_such_rule'"):
            builtin_rule("no_such_rule", net=net)

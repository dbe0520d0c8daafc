"""The small example the ``recurrent_spiking`` rules are checked on (the registry's table,
:func:`plasticity.rules.registry._examples`, builds it)."""

from __future__ import annotations

from plasticity.rules.rule_example import RuleExample

__all__ = ["recurrent_spiking_example"]


def recurrent_spiking_example(make_rule):
    """A rule on two trials of a 4-input, 6-neuron (3 ALIF), 1-output network, 25 steps.

    ``make_rule(seed)`` builds the rule. The input weights are strong enough that the
    neurons fire and sit near threshold, so the pseudo-derivative is nonzero.
    """
    def build(seed):
        from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet

        net = RecurrentEscapeNet(n_in=4, n_rec=6, n_out=1, n_adaptive=3)
        task = PatternTask(net, n_steps=25, n_patterns=2, rate_hz=200.0, rng=[seed, 0])
        params = net.init_params([seed, 1], in_mean_mv=3.0)
        signals = task.trial_signals(params, [0, 1], [seed, seed + 1])
        signals.pop("grad_out")
        reward = -float(signals["trial_loss"].mean())
        # the realised loss is flat in W_in and W_rec between spike flips: no loss_fn or
        # gradient here (the problem's oracle is the reference)
        return RuleExample(make_rule(seed), params, signals, None, reward, None,
                           "recurrent_spiking")
    return build

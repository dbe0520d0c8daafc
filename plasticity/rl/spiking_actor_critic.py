"""A spiking actor-critic whose synapses learn by TD-modulated STDP (TD-LTP).

After Fremaux, Sprekeler & Gerstner (2013): critic and actor are spiking neurons, the
synapses from place cells onto them keep an STDP eligibility trace, and the TD error,
computed from the critic's spiking and the reward, is the third factor that turns the
eligibility into weight change. Everything is simulated by the project's Numba engine
(:class:`~plasticity.spiking.numba.NumbaSimulator`); the plasticity is its
:class:`~plasticity.spiking.network.RewardSTDP` with ``a_minus = 0`` by default: the
eligibility counts only causal pre-before-post coincidences, the "LTP" of TD-LTP.

Network (all LIF neurons current-based)
---------------------------------------
* ``sensory``: ``n_states * cells_per_state`` Poisson sources at ``input_rate_hz``, always
  on: the sensory drive of each state's place cells.
* ``place_a``, ``place_b``: two copies of the place-cell layer, each one LIF neuron per
  sensory source, driven one-to-one by it through a *gate* projection. The agent opens
  the gate of the current state's cells (weight ``w_gate``, strong enough that each
  sensory spike makes the place cell fire) and closes all others (weight 0): the
  place cells of the current state fire at about ``input_rate_hz``, all others are
  silent. This is how a state-dependent input is presented with the engine as it is:
  Poisson rates are fixed when the network is built and a ``SpikeGenerator``'s times
  too, so the state cannot be presented by changing input rates between runs; gate
  weights can be changed (``set_weights``). A method to set a Poisson group's rates (or
  to append generator spikes) between runs would make the relay layer unnecessary.
* ``critic``: ``n_critic`` LIF neurons; ``actor``: ``n_actions * n_actor`` LIF neurons,
  neurons ``a * n_actor ... (a + 1) * n_actor - 1`` voting for action ``a``, with
  lateral inhibition of strength ``w_inhibition`` between (not within) the action
  populations, a soft winner-take-all. Every critic and actor neuron also receives its
  own Poisson background input (``noise_rate_hz``, ``w_noise``): identical neurons
  driven by the same place cells would otherwise fire identical spike trains (the
  action populations would tie at every step), and it keeps a weakly driven critic
  from falling silent, where it would have no eligibility left to learn with.
* plastic projections (RewardSTDP, dense): ``place_a -> critic``, ``place_b -> critic``,
  ``place_a -> actor``, ``place_b -> actor``.

One environment step
--------------------
The state ``s_t`` is presented for ``t_present_ms``: the gate of its cells opens on copy
``a`` for even ``t`` and on copy ``b`` for odd ``t``. The critic's value is read from its
spike count ``n_c`` over the presentation,

    V(s_t) = (n_c / (n_critic * t_present) - nu0_hz) / nu_scale_hz,

(``nu0_hz``: the rate that means "value 0"), and the action is the actor population that
fired most (ties broken at random): the spiking noise is the exploration, and the
synapses that caused the action are those whose eligibility grew most. The environment
then moves to ``s_{t+1}``, which is presented on the other copy; from the critic's response
the TD error

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)          (V(s_{t+1}) = 0 if terminal)

is a discrete-time version of Fremaux et al.'s continuous ``delta(t) = r(t) - V(t)/tau_r
+ dV/dt``, one value per transition. It is then the modulator (``sim.set_modulator``) of
the two projections from copy ``s_t``'s layer, for one weight-update interval
(``update_ms``) with all gates closed; the engine applies ``dw = eta' * delta_t * c``, so
the eligibility ``c`` built while ``s_t`` was presented, decayed over the presentation of
``s_{t+1}`` (``exp(-t_present/tau_c)``), is converted into weight change. ``eta'`` is
chosen so that ``dw = eta_critic * delta_t * c`` (``eta_actor`` for the actor) exactly.
The modulator is reset to 0 afterwards, and the updated weights are copied to the other
copy's projections, so the two copies always share their weights.

Why two copies: the engine's modulator is one number per projection, and ``delta_t`` is
known only after the critic has responded to ``s_{t+1}``, which has already built
eligibility on the synapses of ``s_{t+1}``'s place cells. With a single layer ``delta_t``
would also gate that eligibility (the synapses of the *next* state, a positive feedback on
``V(s_{t+1})``). Alternating layers keeps ``s_t``'s and ``s_{t+1}``'s eligibility in
different projections (a way to set or clear a projection's eligibility traces, or a
modulator per presynaptic neuron, would allow a single layer). Older eligibility on the
same copy (``s_{t-2}``, ...) decays by ``exp(-2 (t_present + update) / tau_c)`` per two
steps and is gated too, a short eligibility trace as in TD(lambda). Between episodes the
network rests ``rest_ms`` with all gates closed so that the traces have decayed.

References
----------
Fremaux, N., Sprekeler, H., & Gerstner, W. (2013). Reinforcement learning using a
    continuous time actor-critic framework with spiking neurons. PLoS Comput Biol 9,
    e1003024.
Izhikevich, E. M. (2007). Solving the distal reward problem through linkage of STDP and
    dopamine signaling. Cereb Cortex 17, 2443-2452.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters

__all__ = ["SpikingActorCritic", "SpikingActorCriticParams", "td_error"]

_COPIES = ("a", "b")


def td_error(r, v, v_next, gamma, terminated):
    """The discrete TD error ``r + gamma V(s') - V(s)``, with ``V(s') = 0`` when the
    episode terminated (but the bootstrapped value when it was only truncated)."""
    return float(r) + (0.0 if terminated else gamma * float(v_next)) - float(v)


class SpikingActorCriticParams(Hyperparameters):
    """Hyperparameters of :class:`SpikingActorCritic` (module docstring).

    Parameters
    ----------
    gamma : float in [0, 1]
        Discount per environment step.
    cells_per_state : int
        Place cells per state (in each of the two copies).
    input_rate_hz : float
        Rate of the sensory Poisson sources (Hz).
    n_critic : int
        Critic neurons.
    n_actor : int
        Actor neurons per action.
    t_present_ms : float
        Presentation of one state (ms); a whole number of ``update_ms``.
    update_ms : float
        Interval of the engine's weight updates, and the length of the pause in which
        the TD error is applied (ms); a whole number of ``dt_ms``.
    rest_ms : float
        Pause between episodes (ms).
    dt_ms : float
        Time step (ms).
    tau_c_ms, tau_plus_ms, tau_minus_ms : float
        Eligibility and STDP trace time constants (ms).
    a_plus, a_minus : float
        Eligibility jumps (times ``w_max``) on post and pre spikes; ``a_minus = 0`` is
        TD-LTP.
    eta_critic, eta_actor : float
        Weight change per unit TD error and unit eligibility.
    w_max : float
        Upper bound of the plastic weights (mV, jump of the synaptic current).
    w_init_critic, w_init_actor : float
        Initial plastic weights (mV).
    w_gate : float
        Weight of an open gate (mV).
    w_inhibition : float
        Lateral inhibition between action populations (mV); 0 for none.
    noise_rate_hz, w_noise : float
        Independent Poisson background input of every critic and actor neuron (Hz, mV).
    nu0_hz, nu_scale_hz : float
        Critic rate of value 0 and rate per unit value (Hz).
    """

    gamma: float = Field(0.9, ge=0, le=1, description="discount per step")
    cells_per_state: int = Field(8, ge=1, le=1000, description="place cells per state")
    input_rate_hz: float = Field(100.0, gt=0, description="sensory rate (Hz)")
    n_critic: int = Field(20, ge=1, description="critic neurons")
    n_actor: int = Field(10, ge=1, description="actor neurons per action")
    t_present_ms: float = Field(40.0, gt=0, description="presentation of a state (ms)")
    update_ms: float = Field(5.0, gt=0, description="weight-update interval (ms)")
    rest_ms: float = Field(200.0, ge=0, description="pause between episodes (ms)")
    dt_ms: float = Field(0.5, gt=0, le=1, description="time step (ms)")
    tau_c_ms: float = Field(50.0, gt=0, description="eligibility time constant (ms)")
    tau_plus_ms: float = Field(20.0, gt=0, description="presynaptic STDP trace (ms)")
    tau_minus_ms: float = Field(20.0, gt=0, description="postsynaptic STDP trace (ms)")
    a_plus: float = Field(0.01, ge=0, description="eligibility jump on post (x w_max)")
    a_minus: float = Field(0.0, ge=0, description="eligibility drop on pre (x w_max)")
    eta_critic: float = Field(1.0, gt=0, allow_inf_nan=False,
                              description="critic learning rate")
    eta_actor: float = Field(1.0, gt=0, allow_inf_nan=False,
                             description="actor learning rate")
    w_max: float = Field(20.0, gt=0, description="largest plastic weight (mV)")
    w_init_critic: float = Field(2.5, ge=0, description="initial critic weight (mV)")
    w_init_actor: float = Field(2.5, ge=0, description="initial actor weight (mV)")
    w_gate: float = Field(100.0, gt=0, description="weight of an open gate (mV)")
    w_inhibition: float = Field(1.0, ge=0, description="lateral inhibition (mV)")
    noise_rate_hz: float = Field(400.0, ge=0, description="background rate per critic "
                                                          "and actor neuron (Hz)")
    w_noise: float = Field(5.0, ge=0, description="background weight (mV)")
    nu0_hz: float = Field(10.0, ge=0, description="critic rate of value 0 (Hz)")
    nu_scale_hz: float = Field(40.0, gt=0, description="critic rate per unit value (Hz)")

    @model_validator(mode="after")
    def _whole_steps(self):
        def whole(x, unit):
            return abs(x / unit - round(x / unit)) <= 1e-9 * max(1.0, x / unit)

        if not whole(self.update_ms, self.dt_ms):
            raise ValueError(f"update_ms ({self.update_ms}) must be a whole number of "
                             f"dt_ms ({self.dt_ms})")
        for key in ("t_present_ms", "rest_ms"):
            if not whole(getattr(self, key), self.update_ms):
                raise ValueError(f"{key} ({getattr(self, key)}) must be a whole number "
                                 f"of update_ms ({self.update_ms})")
        for key in ("w_init_critic", "w_init_actor"):
            if getattr(self, key) > self.w_max:
                raise ValueError(f"{key} ({getattr(self, key)}) must not exceed w_max "
                                 f"({self.w_max})")
        return self


class SpikingActorCritic(SpikingActorCriticParams):
    """Spiking actor-critic with TD-LTP (module docstring); hyperparameters as in
    :class:`SpikingActorCriticParams`, keyword-only.

    The network is built for an environment on the first :meth:`run_episode` (or by
    :meth:`build`) and kept: successive episodes continue the same simulation.

    Examples
    --------
    >>> import numpy as np
    >>> from plasticity.rl.envs import GridWorld
    >>> agent = SpikingActorCritic()
    >>> ret, steps = agent.run_episode(GridWorld(), np.random.default_rng(0), seed=0)
    """

    _sim: object = PrivateAttr(default=None)
    _n_states: int = PrivateAttr(default=0)
    _n_actions: int = PrivateAttr(default=0)
    _last_td: list = PrivateAttr(default_factory=list)

    # -- construction ----------------------------------------------------------------
    def network(self, n_states, n_actions):
        """The :class:`~plasticity.spiking.network.Network` for ``n_states`` discrete
        states and ``n_actions`` actions (gates closed, no lateral inhibition yet: both
        are set by :meth:`build`)."""
        from plasticity.spiking import LIF, Network, PoissonGroup, RewardSTDP, Synapses

        n_in = n_states * self.cells_per_state
        # RewardSTDP's per-update change is eta * update * (d + d_tonic) * c after d has
        # decayed for one interval: scale eta so that dw = eta_x * delta * c exactly
        # (tau_d long: the modulator is set and cleared by the agent)
        tau_d = 1000.0 * self.update_ms
        per_update = self.update_ms * math.exp(-self.update_ms / tau_d)

        def rule(eta):
            return RewardSTDP(tau_plus_ms=self.tau_plus_ms, tau_minus_ms=self.tau_minus_ms,
                              a_plus=self.a_plus, a_minus=self.a_minus,
                              tau_c_ms=self.tau_c_ms, tau_d_ms=tau_d, eta=eta / per_update,
                              update_every_ms=self.update_ms)

        neuron = {"model": "current", "t_ref_ms": 2.0}
        # a place cell resets to rest so that one sensory spike makes one place spike
        place = LIF(n=n_in, v_reset_mV=-74.0, **neuron)
        n_act = n_actions * self.n_actor
        groups = {"sensory": PoissonGroup(n=n_in, rate_hz=self.input_rate_hz),
                  "place_a": place, "place_b": place,
                  "critic": LIF(n=self.n_critic, **neuron),
                  "actor": LIF(n=n_act, **neuron)}
        syn = []
        if self.noise_rate_hz > 0:
            # independent background input per neuron: without it identical neurons
            # driven by the same place cells fire identical spike trains, and the
            # actor's populations would tie at every step
            groups["noise_critic"] = PoissonGroup(n=self.n_critic,
                                                  rate_hz=self.noise_rate_hz)
            groups["noise_actor"] = PoissonGroup(n=n_act, rate_hz=self.noise_rate_hz)
            for kind in ("critic", "actor"):
                syn.append(Synapses(source=f"noise_{kind}", target=kind,
                                    connect="one_to_one", w_init=self.w_noise,
                                    w_max=max(self.w_noise, 1.0)))
        for c in _COPIES:
            syn.append(Synapses(name=f"gate_{c}", source="sensory", target=f"place_{c}",
                                connect="one_to_one", w_init=0.0,
                                w_max=max(self.w_gate, 1.0)))
            syn.append(Synapses(name=f"critic_{c}", source=f"place_{c}", target="critic",
                                w_init=self.w_init_critic, w_max=self.w_max,
                                plasticity=rule(self.eta_critic)))
            syn.append(Synapses(name=f"actor_{c}", source=f"place_{c}", target="actor",
                                w_init=self.w_init_actor, w_max=self.w_max,
                                plasticity=rule(self.eta_actor)))
        syn.append(Synapses(name="inhibition", source="actor", target="actor", receptor="i",
                            w_init=0.0, w_max=max(self.w_inhibition, 1.0)))
        return Network(groups=groups, synapses=syn, dt_ms=self.dt_ms)

    def build(self, env, *, seed=0):
        """Build the network for ``env`` (``Discrete`` observations and actions) and the
        simulator, seeded with ``seed`` (its Poisson noise)."""
        from gymnasium import spaces

        from plasticity.spiking import Recording
        from plasticity.spiking.numba import NumbaSimulator

        obs, act = env.observation_space, env.action_space
        if not (isinstance(obs, spaces.Discrete) and isinstance(act, spaces.Discrete)):
            raise InvalidParameterError(
                f"the spiking actor-critic needs Discrete observation and action spaces "
                f"(a place-cell population per state), such as the gridworld's; got "
                f"observation space {obs} and action space {act}.")
        self._n_states, self._n_actions = int(obs.n), int(act.n)
        net = self.network(self._n_states, self._n_actions)
        sim = NumbaSimulator(net, seed=seed,
                             recording=Recording(spikes=["critic", "actor"]))
        pop = np.repeat(np.arange(self._n_actions), self.n_actor)
        # between populations only: a soft winner-take-all
        sim.set_weights("inhibition",
                        self.w_inhibition * (pop[:, None] != pop[None, :]).ravel())
        self._sim = sim
        return sim

    @property
    def simulator(self):
        """The :class:`~plasticity.spiking.numba.NumbaSimulator` (None before
        :meth:`build`)."""
        return self._sim

    @property
    def last_td_errors(self):
        """``(r, V(s), V(s'), terminated, delta)`` of every transition of the last
        episode run with ``learn=True``."""
        return list(self._last_td)

    # -- one step --------------------------------------------------------------------
    def _gate(self, copy, state):
        """Open copy ``copy``'s gate for ``state`` (None: close every gate)."""
        n_in = self._n_states * self.cells_per_state
        for c in _COPIES:
            w = np.zeros(n_in)
            if c == copy and state is not None:
                k = self.cells_per_state
                w[int(state) * k:(int(state) + 1) * k] = self.w_gate
            self._sim.set_weights(f"gate_{c}", w)

    def _present(self, copy, state):
        """Present ``state`` on ``copy``; returns ``(V, actor counts per action)``."""
        sim = self._sim
        self._gate(copy, state)
        res = sim.run(self.t_present_ms)
        n_c = res.spikes["critic"][0].size
        rate = n_c / (self.n_critic * self.t_present_ms * 1e-3)
        value = (rate - self.nu0_hz) / self.nu_scale_hz
        ids = res.spikes["actor"][1]
        counts = np.bincount(ids // self.n_actor, minlength=self._n_actions)
        return value, counts

    def _apply_td(self, copy, delta, learn):
        """One update interval with all gates closed and the modulator of ``copy``'s
        projections at ``delta``; then the other copy takes the new weights."""
        sim = self._sim
        self._gate(None, None)
        if learn:
            for kind in ("critic", "actor"):
                sim.set_modulator(f"{kind}_{copy}", delta)
        sim.run(self.update_ms)
        if learn:
            other = _COPIES[1 - _COPIES.index(copy)]
            for kind in ("critic", "actor"):
                sim.set_modulator(f"{kind}_{copy}", 0.0)
                sim.set_weights(f"{kind}_{other}", sim.weights(f"{kind}_{copy}"))

    @staticmethod
    def _choose(counts, rng):
        best = np.flatnonzero(counts == counts.max())
        return int(best[0]) if best.size == 1 else int(rng.choice(best))

    def run_episode(self, env, rng, *, seed=None, learn=True):
        """Run one episode; the synapses learn when ``learn``.

        Parameters
        ----------
        env : gymnasium-style environment
            ``Discrete`` observations and actions (the gridworld).
        rng : numpy.random.Generator
            Breaks ties between equally active action populations; also seeds the
            simulator if the network is not built yet.
        seed : int, optional
            Passed to ``env.reset``.
        learn : bool
            Apply the TD error (otherwise the modulator stays 0 and weights are fixed).

        Returns
        -------
        ret : float
            Undiscounted return.
        steps : int
        """
        if self._sim is None:
            self.build(env, seed=int(rng.integers(2**31)))
        if int(env.observation_space.n) != self._n_states \
                or int(env.action_space.n) != self._n_actions:
            raise InvalidParameterError("run_episode: the environment's spaces differ from "
                                        "those the network was built for.")
        obs, _ = env.reset(seed=seed)
        self._last_td = []
        t = 0
        copy = _COPIES[0]
        value, counts = self._present(copy, obs)
        ret = 0.0
        while True:
            a = self._choose(counts, rng)
            obs, r, terminated, truncated, _ = env.step(a)
            ret += float(r)
            t += 1
            nxt = _COPIES[t % 2]
            if terminated:
                v_next, counts = 0.0, None
            else:
                v_next, counts = self._present(nxt, obs)
            delta = td_error(r, value, v_next, self.gamma, terminated)
            if learn:
                self._last_td.append((float(r), value, v_next, bool(terminated), delta))
            self._apply_td(copy, delta, learn)
            if terminated or truncated:
                break
            copy, value = nxt, v_next
        if self.rest_ms > 0:
            self._gate(None, None)
            self._sim.run(self.rest_ms)
        return ret, t

"""Kernel of the two-compartment neuron of dendritic prediction (Urbanczik & Senn 2014).

One trial of ``T`` steps of size ``dt`` (ms) with presynaptic spike counts ``X`` of
shape ``(T, n)`` and teacher conductances ``g_E``, ``g_I`` of shape ``(T,)`` (1/ms).
The potentials are in the paper's dimensionless units. In step ``t``:

1. PSPs: two presynaptic traces ``x_L <- a_L x_L + X[t]``, ``x_s <- a_s x_s + X[t]``
   (``a = exp(-dt / tau)``) and ``PSP = (x_L - x_s) / (tau_L - tau_s)``, the
   double-exponential kernel of unit integral sampled at the step (1/ms);
2. dendrite: ``V_w = w . PSP`` and its prediction of the soma
   ``V* = g_D / (g_D + g_L) V_w``;
3. soma, exponential Euler (exact for inputs held over the step, so stable for any
   conductance): ``U <- U_inf + (U - U_inf) exp(-g_tot dt)`` with
   ``g_tot = g_L + g_D + g_E + g_I`` and ``U_inf = (g_D V_w + g_E E_E + g_I E_I) / g_tot``;
4. rate ``phi(V) = phi_max / (1 + k exp(beta (theta - V)))`` (1/ms) and
   ``h(V) = d log phi / dV = beta k exp(z) / (1 + k exp(z))``, ``z = beta (theta - V)``
   (both written so that no exponential overflows);
5. target: ``model == 0`` (spiking) a somatic spike ``s = 1`` when the given uniform
   number ``noise[t] < 1 - exp(-phi(U) dt)``, else 0, and the target rate ``s / dt``;
   ``model == 1`` (rate) the target is ``phi(U)`` and ``s = phi(U) dt``;
6. if ``learn``: the error ``e = (target - phi(V*)) h(V*)`` and, with
   ``tau_delta == 0``, ``w <- w + eta dt e PSP``; with ``tau_delta > 0`` the change is
   first low-pass filtered, ``D <- b D + (1 - b) e PSP`` (``b = exp(-dt / tau_delta)``),
   then ``w <- w + eta dt D``.

``V_w`` uses the weights as they are before the step's update. The state (``x_L``,
``x_s``, ``u`` of shape (1,), ``D``) and ``w`` are updated in place, so consecutive
trials chain; ``U_out``, ``V_out`` (``V*``) and ``S_out`` (``s``) are filled per step.
The kernel does not validate its arguments: :func:`plasticity.rules.dendritic_prediction.
simulate_trial` does. Its plain-NumPy twin is ``tests/twins/dendritic.py``.
"""

import math

from plasticity._config import jit

__all__ = ["MODEL_RATE", "MODEL_SPIKING", "dendritic_trial"]

MODEL_SPIKING = 0
MODEL_RATE = 1


@jit
def _phi_h(v, phi_max, k, beta, theta):
    # split on the sign of z so that exp never sees a large positive argument
    z = beta * (theta - v)
    if z > 0.0:
        e = math.exp(-z)
        return phi_max * e / (e + k), beta * k / (e + k)
    e = math.exp(z)
    return phi_max / (1.0 + k * e), beta * k * e / (1.0 + k * e)


@jit
def dendritic_trial(w, X, g_E, g_I, noise, learn, model, dt, tau_L, tau_s, g_L, g_D, E_E,
                    E_I, phi_max, k, beta, theta, eta, tau_delta, x_L, x_s, u, D, U_out,
                    V_out, S_out):
    """Run one trial in place (see the module docstring for every array's shape)."""
    T = X.shape[0]
    n = X.shape[1]
    a_L = math.exp(-dt / tau_L)
    a_s = math.exp(-dt / tau_s)
    norm = 1.0 / (tau_L - tau_s)
    c = g_D / (g_D + g_L)
    b = math.exp(-dt / tau_delta) if tau_delta > 0.0 else 0.0
    U = u[0]
    for t in range(T):
        vw = 0.0
        for i in range(n):
            x_L[i] = a_L * x_L[i] + X[t, i]
            x_s[i] = a_s * x_s[i] + X[t, i]
            vw += w[i] * (x_L[i] - x_s[i])
        vw *= norm
        g_tot = g_L + g_D + g_E[t] + g_I[t]
        u_inf = (g_D * vw + g_E[t] * E_E + g_I[t] * E_I) / g_tot
        U = u_inf + (U - u_inf) * math.exp(-g_tot * dt)
        v_star = c * vw
        phi_u, _ = _phi_h(U, phi_max, k, beta, theta)
        phi_v, h = _phi_h(v_star, phi_max, k, beta, theta)
        if model == MODEL_SPIKING:
            s = 1.0 if noise[t] < 1.0 - math.exp(-phi_u * dt) else 0.0
            target = s / dt
        else:
            s = phi_u * dt
            target = phi_u
        U_out[t] = U
        V_out[t] = v_star
        S_out[t] = s
        if learn:
            err = (target - phi_v) * h
            if tau_delta > 0.0:
                for i in range(n):
                    D[i] = b * D[i] + (1.0 - b) * err * norm * (x_L[i] - x_s[i])
                    w[i] += eta * dt * D[i]
            else:
                step = eta * dt * err * norm
                for i in range(n):
                    w[i] += step * (x_L[i] - x_s[i])
    u[0] = U

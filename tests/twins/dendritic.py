"""Plain-NumPy twin of :mod:`plasticity._kernels.dendritic`, written from the model's
equations (vectorised over synapses, inputs untouched, everything returned)."""

import numpy as np


def _phi(v, phi_max, k, beta, theta):
    # log phi = log phi_max - softplus(beta (theta - v) + log k), overflow-free
    return phi_max * np.exp(-np.logaddexp(0.0, beta * (theta - v) + np.log(k)))


def _h(v, phi_max, k, beta, theta):
    # d log phi / dv = beta (1 - phi / phi_max) = beta * sigmoid(z + log k)
    z = beta * (theta - v) + np.log(k)
    return beta * np.exp(z - np.logaddexp(0.0, z))


def dendritic_trial(w, X, g_E, g_I, noise, learn, model, dt, tau_L, tau_s, g_L, g_D, E_E,
                    E_I, phi_max, k, beta, theta, eta, tau_delta, x_L, x_s, u, D):
    """One trial; returns ``(w, x_L, x_s, u, D, U, V_star, S)``."""
    w = np.array(w, dtype=float)
    x_L, x_s, D = (np.array(a, dtype=float) for a in (x_L, x_s, D))
    U = float(np.asarray(u).ravel()[0])
    X = np.asarray(X, dtype=float)
    T = X.shape[0]
    Us, Vs, Ss = np.zeros(T), np.zeros(T), np.zeros(T)
    c = g_D / (g_D + g_L)
    for t in range(T):
        x_L = np.exp(-dt / tau_L) * x_L + X[t]
        x_s = np.exp(-dt / tau_s) * x_s + X[t]
        psp = (x_L - x_s) / (tau_L - tau_s)
        vw = w @ psp
        g = g_L + g_D + g_E[t] + g_I[t]
        u_inf = (g_D * vw + g_E[t] * E_E + g_I[t] * E_I) / g
        U = u_inf + (U - u_inf) * np.exp(-g * dt)
        v = c * vw
        rate_u = _phi(U, phi_max, k, beta, theta)
        if model == 0:
            s = 1.0 if noise[t] < 1.0 - np.exp(-rate_u * dt) else 0.0
            target = s / dt
        else:
            s, target = rate_u * dt, rate_u
        Us[t], Vs[t], Ss[t] = U, v, s
        if learn:
            e = (target - _phi(v, phi_max, k, beta, theta)) * _h(v, phi_max, k, beta, theta)
            if tau_delta > 0:
                b = np.exp(-dt / tau_delta)
                D = b * D + (1 - b) * e * psp
                w = w + eta * dt * D
            else:
                w = w + eta * dt * e * psp
    return w, x_L, x_s, np.array([U]), D, Us, Vs, Ss

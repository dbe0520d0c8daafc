"""Temporal-difference critics: a linear value function learned by TD(lambda).

Conventions
-----------
A trial has ``T`` steps ``t = 0 .. T-1`` with feature vectors ``x_t`` (rows of an array of
shape ``(T, n_features)``) and rewards ``r_t`` (shape ``(T,)``). The value is linear,
``V(x) = w . x``, and ``V = 0`` after the last step of the trial. The prediction error at
step ``t`` is

    delta_t = r_t + gamma V(x_{t+1}) - V(x_t)        (dopamine="td")
    delta_t = r_t - V(x_t)                           (dopamine="reward_minus_expected")

The dopamine signal at step ``t`` is ``delta_t``, with negative values multiplied by
``negative_scale`` (an asymmetric response when ``negative_scale < 1``: dopamine neurons
have a low tonic rate and cannot pause by as much as they can burst). The weights learn
from that signal, online, with accumulating eligibility traces reset at each trial:

    e_t = gamma lam e_{t-1} + x_t,    w <- w + eta d_t e_t.

Values are computed with the weights as they are after the previous step's update. The
returned ``deltas`` are the dopamine signal relative to the tonic level; the firing-rate
analogue, ``baseline + deltas``, is :meth:`TDCritic.firing`.

The "reward_minus_expected" mode is the non-temporal (Rescorla-Wagner-like) alternative:
it does not transfer the response from the reward to the CS.

References
----------
Sutton, R. S. (1988). Learning to predict by the methods of temporal differences.
    Machine Learning 3, 9-44.
Schultz, W., Dayan, P., & Montague, P. R. (1997). A neural substrate of prediction and
    reward. Science 275, 1593-1599.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from plasticity.errors import InvalidParameterError
from plasticity.validation import Hyperparameters, renamed_field

__all__ = ["CompleteSerialCompound", "TDCritic"]

_MODES = {"td": 0, "reward_minus_expected": 1}


class CompleteSerialCompound(Hyperparameters):
    """The complete serial compound (tapped delay line) stimulus representation.

    One feature per time step since CS onset: at step ``t >= cs_step`` feature
    ``t - cs_step`` is 1 and the others 0; before the CS every feature is 0 (so the value
    before the CS is 0 whatever the weights). There are ``n_steps - cs_step`` features.

    Parameters
    ----------
    n_steps : int, >= 1
        Steps per trial.
    cs_step : int, >= 0, < n_steps
        0-based index of the step at which the CS comes on.
    """

    n_steps: int = Field(40, ge=1, description="steps per trial")
    cs_step: int = Field(9, ge=0, description="0-based step of CS onset")

    @model_validator(mode="after")
    def _cs_inside(self):
        if self.cs_step >= self.n_steps:
            raise ValueError(f"cs_step ({self.cs_step}) must be less than n_steps "
                             f"({self.n_steps})")
        return self

    @property
    def n_features(self) -> int:
        """Number of features, ``n_steps - cs_step``."""
        return self.n_steps - self.cs_step

    def features(self) -> np.ndarray:
        """The trial's features, shape ``(n_steps, n_features)``."""
        X = np.zeros((self.n_steps, self.n_features))
        X[self.cs_step:] = np.eye(self.n_features)
        return X


class TDCritic(Hyperparameters):
    """A TD(lambda) critic with a linear value function (see the module docstring).

    Parameters
    ----------
    gamma : float in [0, 1]
        Discount per step.
    eta : float, > 0
        Learning rate (``alpha=``, its old name, is accepted for one release with a
        DeprecationWarning).
    lam : float in [0, 1]
        Eligibility-trace decay (0: TD(0); 1 with ``gamma = 1``: Monte Carlo).
    dopamine : {"td", "reward_minus_expected"}
        Which prediction error the dopamine signal carries.
    negative_scale : float in (0, 1]
        Factor applied to negative prediction errors.
    baseline : float
        Tonic dopamine level, added by :meth:`firing` (learning ignores it).
    """

    gamma: float = Field(0.98, ge=0, le=1, description="discount per step")
    eta: float = Field(0.1, gt=0, description="learning rate")
    lam: float = Field(0.0, ge=0, le=1, description="eligibility-trace decay")
    dopamine: Literal["td", "reward_minus_expected"] = Field(
        "td", description="prediction error carried by dopamine")
    negative_scale: float = Field(1.0, gt=0, le=1, description="factor on negative errors")
    baseline: float = Field(0.0, description="tonic dopamine level")

    @model_validator(mode="before")
    @classmethod
    def _old_learning_rate_name(cls, data):
        return renamed_field(data, "alpha", "eta", "TDCritic")

    def firing(self, deltas):
        """Firing-rate analogue of the dopamine signal: ``baseline + deltas``."""
        return self.baseline + np.asarray(deltas, dtype=np.float64)

    def run_trial(self, features, rewards, w, *, learn=True):
        """Run one trial.

        Parameters
        ----------
        features : array, shape (T, n_features)
        rewards : array, shape (T,)
        w : array, shape (n_features,)
            Weights at the start of the trial (not modified).
        learn : bool
            Update the weights (online) when true.

        Returns
        -------
        deltas : ndarray, shape (T,)
            Dopamine signal per step (prediction errors, negative ones scaled).
        new_w : ndarray, shape (n_features,)
            Weights after the trial (a copy of ``w`` when ``learn`` is false).

        Raises
        ------
        InvalidParameterError
            On arrays of the wrong shape or non-finite values.
        """
        from plasticity._kernels import td as _k

        X = _real(features, "features")
        if X.ndim != 2:
            raise InvalidParameterError(f"TDCritic.run_trial: features have shape {X.shape}; "
                                        "expected (T, n_features).")
        T, n = X.shape
        r = _real(rewards, "rewards")
        if r.shape != (T,):
            raise InvalidParameterError(f"TDCritic.run_trial: rewards have shape {r.shape}; "
                                        f"expected ({T},), one per step of the features.")
        w_new = _real(w, "w").copy()
        if w_new.shape != (n,):
            raise InvalidParameterError(f"TDCritic.run_trial: w has shape {w_new.shape}; "
                                        f"expected ({n},) to match features {X.shape}.")
        deltas = np.empty(T)
        _k.td_trial(w_new, X, r, float(self.gamma), float(self.eta), float(self.lam),
                    _MODES[self.dopamine], float(self.negative_scale), bool(learn),
                    deltas)
        return deltas, w_new


def _real(value, what):
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise InvalidParameterError(f"TDCritic.run_trial: {what} have dtype {arr.dtype}; "
                                    "expected real numbers.")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidParameterError(f"TDCritic.run_trial: {what} contain NaN or infinity.")
    return arr

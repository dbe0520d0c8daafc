"""A recurrent network of escape-noise LIF/ALIF neurons, a temporal task, and its oracle.

One small file each:

* :mod:`~plasticity.spiking.recurrent_escape.network`: :class:`RecurrentEscapeNet`,
  Bellec et al. (2020)'s discrete-time LIF/ALIF network with reset by subtraction and a
  leaky readout, made stochastic by escape noise (equations in
  :mod:`plasticity._kernels.recurrent_escape`);
* :mod:`~plasticity.spiking.recurrent_escape.task`: :class:`PatternTask`, frozen Poisson
  input patterns with target readout traces, loss the masked mean squared readout error;
* :mod:`~plasticity.spiking.recurrent_escape.oracle`: :class:`RecurrentEscapeOracle`, the
  gradient of the expected trial loss over the escape noise (likelihood ratio for
  ``W_in`` and ``W_rec``, exact pathwise mean for ``W_out``), with standard errors, and
  :class:`RecurrentEstimate`, one evaluation.

Every name is importable from here, e.g.
``from plasticity.spiking.recurrent_escape import PatternTask, RecurrentEscapeNet``.
"""

from plasticity.spiking.recurrent_escape.network import PARAM_KEYS, RecurrentEscapeNet
from plasticity.spiking.recurrent_escape.oracle import RecurrentEscapeOracle, RecurrentEstimate
from plasticity.spiking.recurrent_escape.task import PatternTask

__all__ = ["PARAM_KEYS", "PatternTask", "RecurrentEscapeNet", "RecurrentEscapeOracle",
           "RecurrentEstimate"]

"""Exceptions that the CLI turns into one line on stderr and exit status 2."""


class PlasticityError(Exception):
    """Base class of errors caused by the user's input, not by a bug in plasticity."""


class InvalidParameterError(PlasticityError, ValueError):
    """A hyperparameter or config value is unknown, of the wrong type or out of range."""


class RuleError(PlasticityError):
    """A learning rule broke the rule protocol (bad delta, missing method, NaN)."""


class RunFileError(PlasticityError):
    """A file is missing, unreadable, or not a plasticity run file."""


class Diverged(Exception):  # noqa: N818 - it is an outcome, not an error
    """Raised by the engine when the parameters blow up; the run ends with status ``diverged``.

    Parameters
    ----------
    step : int
        The update at which the divergence was detected.
    reason : str
        What was seen (non-finite values, or a norm above the limit).
    """

    def __init__(self, step, reason):
        super().__init__(f"diverged at step {step}: {reason}")
        self.step = int(step)
        self.reason = reason


class ProblemError(PlasticityError):
    """A problem broke the Problem protocol (a gradient of the wrong shape, NaN, ...)."""


class TooBigForMachine(InvalidParameterError):
    """A configuration needs more memory than the machine has available (checked before
    anything is allocated or written; see :mod:`plasticity.io.memory`)."""

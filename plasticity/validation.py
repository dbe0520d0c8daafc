"""Declared, validated hyperparameters and configs (pydantic underneath).

Rules and experiment configs both subclass :class:`Hyperparameters`: the fields are
declared once with their constraints (``eta: float = Field(0.01, gt=0)``), checked at
construction, keyword-only, and every violation becomes one readable line such as
``The 'eta' parameter of Oja must be greater than 0. Got -1.``
"""

from __future__ import annotations

import difflib
import re
import warnings

from pydantic import BaseModel, ConfigDict, ValidationError

from plasticity.errors import InvalidParameterError

__all__ = ["Config", "Hyperparameters", "format_validation_error", "renamed_field", "suggest"]


def suggest(name, choices):
    """Return ``"; did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def _loc(err):
    return ".".join(str(p) for p in err["loc"]) or "value"


def _one(err, owner, fields):
    key = _loc(err)
    of = f" of {owner}" if owner else ""
    if err["type"] == "extra_forbidden":
        known = ", ".join(sorted(fields))
        return f"Unknown parameter '{key}'{of}{suggest(key, fields)} (known: {known})."
    if err["type"] == "missing":
        return f"The '{key}' parameter{of} is required."
    msg = err["msg"]
    if not err["loc"]:  # a check across several fields
        text = msg.split(", ", 1)[1] if msg.startswith("Value error, ") else msg
        # a nested model's own one-line error: keep its text, not its owner's prefix
        text = re.sub(r"^(Invalid parameters of [^:]+: )+", "", text)
        return f"Invalid parameters{of}: {text.rstrip('.')}."
    for prefix in ("Input should be ", "Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
            break
    if msg.startswith(("The '", "Invalid parameters of ", "Unknown parameter ")):
        # a nested model (e.g. a group given as a dict) already said it in one line
        return f"In '{key}'{of}: {msg.rstrip('.')}."
    if not msg.startswith(("must", "is ")):
        msg = "must be " + msg
    return f"The '{key}' parameter{of} {msg.rstrip('.')}. Got {err.get('input')!r}."


def format_validation_error(exc: ValidationError, owner: str | None, fields) -> str:
    """One line describing the first problem of a pydantic ``ValidationError``."""
    errors = exc.errors(include_url=False)
    line = _one(errors[0], owner, fields)
    if len(errors) > 1:
        line += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return line


class Hyperparameters(BaseModel):
    """Base of everything configured by keyword: rules and experiment configs.

    Subclasses declare fields with pydantic's ``Field`` constraints. Unknown keys are
    rejected (with the closest known name suggested), values are checked on assignment
    too, and errors are raised as :class:`~plasticity.errors.InvalidParameterError`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False,
                              arbitrary_types_allowed=True)

    def __init__(self, **kwargs):
        try:
            super().__init__(**kwargs)
        except ValidationError as exc:
            raise InvalidParameterError(
                format_validation_error(exc, type(self).__name__, type(self).model_fields)
            ) from None

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise InvalidParameterError(
                format_validation_error(exc, type(self).__name__, type(self).model_fields)
            ) from None

    def get_params(self) -> dict:
        """The hyperparameters as a plain dict (JSON-serialisable for the run file)."""
        return self.model_dump(mode="json")

    def __str__(self):
        return repr(self)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class Config(Hyperparameters):
    """Base class of experiment configs: declare fields with ``Field(default, ...)``.

    It lives here, below every package that declares configs (experiments, spiking
    runners), so that none of them imports the experiment layer for it."""


def renamed_field(data, old, new, owner, hint=""):
    """Map a deprecated keyword ``old`` to its new name ``new`` (a pydantic "before" step).

    Parameters
    ----------
    data : object
        The raw input of a model (a dict of keywords; anything else passes through).
    old, new : str
        The deprecated and the current field name.
    owner : str
        Named in the warning.
    hint : str, optional
        Appended to the error when both names are given (e.g. where else ``new`` may
        have come from).

    Returns
    -------
    object
        ``data`` with ``old`` renamed to ``new`` (a copy; the caller's dict is kept).

    Raises
    ------
    ValueError
        When both names are given (pydantic reports it as one line).

    Warns
    -----
    DeprecationWarning
        When ``old`` is given.
    """
    if not isinstance(data, dict) or old not in data:
        return data
    if new in data:
        raise ValueError(f"give '{new}' only ('{old}' is its deprecated old name), "
                         f"not both{hint}")
    warnings.warn(f"{owner}: '{old}' is deprecated and will be removed in the next "
                  f"release; use '{new}' (the learning rate's name everywhere).",
                  DeprecationWarning, stacklevel=4)
    data = dict(data)
    data[new] = data.pop(old)
    return data

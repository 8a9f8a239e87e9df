"""Residual analysis: how far, and in which direction, a solver moves the compressed image.

With ``r_OC = O - C`` (the compression error), ``r_EC = E - C`` (what the solver changed) and
``r_OE = O - E`` (the error left), all RGB (or gray) on the 0..255 scale, per image:

* ``rms_ec``, ``rms_oc``, ``rms_oe``: root mean square over pixels and channels;
* ``ratio = rms_ec / rms_oc``: the solver's change relative to the compression error (0 for a
  solver that returns C, 1 for one that returns O, above 1 when it changes more than the codec
  lost, e.g. a generative restorer inventing texture);
* ``removed = 1 - rms_oe / rms_oc``: the fraction of the compression error removed (1 for O,
  0 for C, negative when the output is further from O than C was);
* ``cosine``: cosine between ``r_EC`` and ``r_OC`` (1: the change points straight at O; 0:
  orthogonal, or no change at all; negative: away from O).

``ratio`` and ``removed`` are NaN when ``rms_oc`` is 0 (a lossless point), ``cosine`` too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ConfigError
from .base import TripletDiagnostic, as_float

NAMES = ("rms_ec", "rms_oc", "rms_oe", "ratio", "removed", "cosine")


def residual_values(original: np.ndarray, compressed: np.ndarray, enhanced: np.ndarray | None) -> dict[str, float]:
    """The residual values of one (O, C, E) triplet of equal shapes; ``enhanced=None``: E is C."""
    o, c = as_float(original), as_float(compressed)
    if o.shape != c.shape:
        raise ValueError(f"original {o.shape} and compressed {c.shape} differ")
    r_oc = o - c
    n = r_oc.size
    rms_oc = math.sqrt(float(np.vdot(r_oc, r_oc)) / n)
    if enhanced is None:
        return {"rms_ec": 0.0, "rms_oc": rms_oc, "rms_oe": rms_oc, "ratio": 0.0 if rms_oc > 0 else math.nan,
                "removed": 0.0 if rms_oc > 0 else math.nan, "cosine": 0.0 if rms_oc > 0 else math.nan}
    e = as_float(enhanced)
    if e.shape != o.shape:
        raise ValueError(f"original {o.shape} and enhanced {e.shape} differ")
    r_ec = e - c
    ss_ec = float(np.vdot(r_ec, r_ec))
    r_oe = r_oc - r_ec                      # O - E
    rms_ec = math.sqrt(ss_ec / n)
    rms_oe = math.sqrt(float(np.vdot(r_oe, r_oe)) / n)
    if rms_oc == 0:
        return {"rms_ec": rms_ec, "rms_oc": 0.0, "rms_oe": rms_oe, "ratio": math.nan, "removed": math.nan,
                "cosine": math.nan}
    cosine = 0.0 if ss_ec == 0 else float(np.vdot(r_ec, r_oc)) / math.sqrt(ss_ec * float(np.vdot(r_oc, r_oc)))
    return {"rms_ec": rms_ec, "rms_oc": rms_oc, "rms_oe": rms_oe, "ratio": rms_ec / rms_oc,
            "removed": 1.0 - rms_oe / rms_oc, "cosine": max(-1.0, min(1.0, cosine))}


def residual_image(a: np.ndarray, b: np.ndarray, amplify: float) -> np.ndarray:
    """``|a - b|`` averaged over channels, times ``amplify``, as a gray uint8 ``(H, W, 1)`` image."""
    d = np.abs(as_float(a) - as_float(b)).mean(axis=2, keepdims=True)
    return np.clip(np.round(d * amplify), 0, 255).astype(np.uint8)


class ResidualDiagnostic(TripletDiagnostic):
    """``residual``: RMS residuals, their ratio, the fraction of error removed and the cosine.

    Parameters: ``examples`` (images per dataset, first in dataset order, whose ``|E - C|`` and
    ``|O - C|`` maps are written for the report; default 3, 0 for none) and ``amplify`` (gain
    applied to those maps, default 8).
    """

    defaults = {"examples": 3, "amplify": 8.0}
    description = "||E-C|| / ||O-C||, fraction of compression error removed, cosine(E-C, O-C)"

    def check(self) -> None:
        """``examples`` >= 0 and ``amplify`` > 0."""
        if int(self.params["examples"]) < 0 or float(self.params["amplify"]) <= 0:
            raise ConfigError(f"diagnostic {self.name!r}: examples must be >= 0 and amplify > 0")

    def value_names(self) -> list[str]:
        """The residual statistics of :data:`NAMES`."""
        return list(NAMES)

    def compute_prepared(self, prepared: Any, compressed, enhanced) -> dict[str, float]:
        """The residual statistics of one sample."""
        return residual_values(prepared, compressed, enhanced)

    @property
    def examples(self) -> int:
        """How many example residual images a report shows."""
        return int(self.params["examples"])

    def images(self, prepared: Any, compressed, enhanced) -> dict[str, np.ndarray]:
        """Amplified residual images ``|E - C|`` (``ec``) and ``|O - C|`` (``oc``)."""
        amp = float(self.params["amplify"])
        return {"ec": residual_image(enhanced, compressed, amp), "oc": residual_image(prepared, compressed, amp)}

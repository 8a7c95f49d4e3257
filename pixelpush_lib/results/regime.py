"""The three phases of pixel SAC + HER, as rules over a training curve (pure functions of the logged numbers).

Phase 1: success flat and low, critic loss small and falling. Phase 2: success rising while critic and actor
losses rise. Phase 3: success high, critic loss falling again. The thresholds (:class:`RegimeThresholds`) follow
the author's Step 2 run, whose phase table is in ``data/reported/points.csv`` (kind ``phase_summary``) and on
Step 3's page. ``pixelpush_lib.training.callbacks.RegimeMonitorCallback`` applies the rules while a run trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNCLASSIFIED = 0
PHASE_NAMES = {0: "unclassified", 1: "Phase 1 (flat success, declining critic loss)",
               2: "Phase 2 (losses rising, with success or before it)", 3: "Phase 3 (high success, critic loss declining)"}
STEPS_PER_UNIT = 1_000_000  # slopes are per million environment steps


@dataclass(frozen=True)
class RegimeThresholds:
    """The numbers behind the phase rules. Slopes are per 1M environment steps; success is a fraction.

    Defaults follow the three-phase table: Phase 1 success stays <= 7% (we allow 15% for noise), Phase 2 critic
    loss is 0.3-0.8 (anything >= 0.15 counts as an active critic: the Phase 1 critic sits at ~0.07), Phase 3
    success is 95%+ (90% allowed).
    """

    flat_success_max: float = 0.15
    high_success_min: float = 0.90
    rising_success_slope: float = 0.10
    active_critic_min: float = 0.15
    loss_slope_tol: float = 0.0


@dataclass(frozen=True)
class PhaseWindow:
    """One labelled window: steps ``[start_step, end_step]``, its phase (0-3) and the statistics behind it."""

    start_step: int
    end_step: int
    phase: int
    success_mean: float
    success_slope: float
    critic_mean: float
    critic_slope: float
    actor_slope: float


def slope_per_million(steps: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope per 1M steps; 0 for fewer than two distinct steps."""
    if len(steps) < 2 or np.ptp(steps) == 0:
        return 0.0
    return float(np.polyfit(steps / STEPS_PER_UNIT, values, 1)[0])


def classify_window(success_mean: float, success_slope: float, critic_mean: float, critic_slope: float,
                    actor_slope: float, th: RegimeThresholds = RegimeThresholds()) -> int:
    """Phase of one window from its statistics (rules checked in order 3, 2, 1; else 0).

    * Phase 3: success mean >= ``high_success_min`` and the critic loss is not rising.
    * Phase 2: success rising (slope >= ``rising_success_slope``) with an active critic (mean >=
      ``active_critic_min`` or rising), or critic and actor losses both rising before success moves (the
      hockey-stick's first sign in the author's logs).
    * Phase 1: success mean <= ``flat_success_max`` and the critic loss not rising.
    """
    critic_rising = critic_slope > th.loss_slope_tol
    actor_rising = actor_slope > th.loss_slope_tol
    if success_mean >= th.high_success_min and not critic_rising:
        return 3
    success_rising = success_slope >= th.rising_success_slope
    if success_rising and (critic_mean >= th.active_critic_min or critic_rising):
        return 2
    if critic_rising and actor_rising and success_mean < th.high_success_min:
        return 2
    if success_mean <= th.flat_success_max and not critic_rising:
        return 1
    return UNCLASSIFIED


def label_phases(steps: Sequence[float], success: Sequence[float], critic_loss: Sequence[float],
                 actor_loss: Sequence[float], window: int = 2,
                 thresholds: RegimeThresholds = RegimeThresholds()) -> list[PhaseWindow]:
    """Label consecutive windows of a curve with phases 1-3 (0 when no rule fits).

    Args:
        steps: (N,) increasing environment steps.
        success, critic_loss, actor_loss: (N,) values at those steps (success as a fraction).
        window: samples per window (>= 2). Windows advance by ``window - 1`` samples so neighbours share an
            endpoint; ``window=2`` labels each interval between consecutive readings (right for sparse
            reported tables), larger windows smooth dense SB3 logs.
        thresholds: the rule parameters.

    Returns: one :class:`PhaseWindow` per window, in step order (empty for fewer than ``window`` samples).
    """
    arrays = [np.asarray(a, dtype=float) for a in (steps, success, critic_loss, actor_loss)]
    if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
        raise ValueError(f"steps, success, critic_loss and actor_loss must be 1-D of one length; got "
                         f"{[a.shape for a in arrays]}")
    if window < 2:
        raise ValueError(f"window={window} is too small; use 2 or more samples")
    s, y, c, a = arrays
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing; sort the curve and drop duplicated steps")
    out = []
    for start in range(0, len(s) - window + 1, window - 1):
        sl = slice(start, start + window)
        stats = dict(success_mean=float(y[sl].mean()), success_slope=slope_per_million(s[sl], y[sl]),
                     critic_mean=float(c[sl].mean()), critic_slope=slope_per_million(s[sl], c[sl]),
                     actor_slope=slope_per_million(s[sl], a[sl]))
        out.append(PhaseWindow(int(s[sl][0]), int(s[sl][-1]), classify_window(**stats, th=thresholds), **stats))
    return out

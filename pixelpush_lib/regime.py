"""Regime monitor: which of the three phases of pixel SAC+HER a training curve is in.

The author's Step-2 run (Cell A, seed 0; ``tasks/critic_encoder_status.md:429-432``) went through

=========  =============  =============================  ==========================  ====================
phase      steps          success                        critic loss                 actor loss
=========  =============  =============================  ==========================  ====================
1          0-2.2M         flat, 3-7%                     ~0.07 and declining         ~0
2          2.2-3.5M       rising, 10% -> 90%             0.3-0.8, rising             0.5-1.3, rising
3          3.5M+          95%+                           0.15-0.35, declining again  -0.2 to -0.7
=========  =============  =============================  ==========================  ====================

:func:`label_phases` turns that table into rules over windows of a curve; :class:`RegimeMonitorCallback` applies
them during SB3 training, logs ``regime/phase`` and warns when a stop rule would kill a run that is still in
Phase 1 while its success is creeping up (the author's lesson: stop rules calibrated on state RL end pixel runs
just before their hockey stick).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

UNCLASSIFIED = 0
PHASE_NAMES = {0: "unclassified", 1: "Phase 1 (flat success, declining critic loss)",
               2: "Phase 2 (rising success, rising losses)", 3: "Phase 3 (high success, critic loss declining)"}
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


def _slope(steps: np.ndarray, values: np.ndarray) -> float:
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
        stats = dict(success_mean=float(y[sl].mean()), success_slope=_slope(s[sl], y[sl]),
                     critic_mean=float(c[sl].mean()), critic_slope=_slope(s[sl], c[sl]),
                     actor_slope=_slope(s[sl], a[sl]))
        out.append(PhaseWindow(int(s[sl][0]), int(s[sl][-1]), classify_window(**stats, th=thresholds), **stats))
    return out


class RegimeWarning(UserWarning):
    """A stop rule is about to end a run that is still in Phase 1 with its success rising."""


class RegimeMonitorCallback(BaseCallback):
    """Log ``regime/phase`` during SB3 off-policy training and warn before a premature stop.

    At the start of each rollout, at most every ``sample_every`` steps, it samples ``(num_timesteps, success,
    critic_loss, actor_loss)``: success is the mean of the model's ``ep_success_buffer`` (what SB3 logs as
    ``rollout/success_rate``) and the losses are the last ``train/critic_loss``/``train/actor_loss`` the model
    recorded (read at rollout start because SB3 clears its logger values when it dumps them). The last
    ``window`` samples are labelled with :func:`label_phases` and the phase is recorded as ``regime/phase``.

    ``stop_rule=(N, X)`` stands for "stop if success < X at step N": when training passes step N with success
    below X while the latest window is Phase 1 and success has a positive trend over the whole history, the
    callback issues a :class:`RegimeWarning` and records ``regime/stop_rule_warning = 1``. It never stops
    training itself.
    """

    def __init__(self, window: int = 5, sample_every: int = 1000, stop_rule: tuple[int, float] | None = None,
                 thresholds: RegimeThresholds = RegimeThresholds(), verbose: int = 0) -> None:
        super().__init__(verbose)
        if window < 2 or sample_every < 1:
            raise ValueError(f"window={window} must be >= 2 and sample_every={sample_every} >= 1")
        self.window, self.sample_every, self.stop_rule, self.thresholds = window, sample_every, stop_rule, thresholds
        self.history: list[tuple[int, float, float, float]] = []
        self.phase = UNCLASSIFIED
        self.warned = False

    def _on_step(self) -> bool:
        return True

    def _sample(self) -> tuple[int, float, float, float] | None:
        buffer = getattr(self.model, "ep_success_buffer", None)
        values = self.logger.name_to_value
        if not buffer or "train/critic_loss" not in values or "train/actor_loss" not in values:
            return None
        return (int(self.num_timesteps), float(np.mean(buffer)), float(values["train/critic_loss"]),
                float(values["train/actor_loss"]))

    def _on_rollout_start(self) -> None:
        if self.history and self.num_timesteps - self.history[-1][0] < self.sample_every:
            return
        sample = self._sample()
        if sample is None or (self.history and sample[0] <= self.history[-1][0]):
            return
        self.history.append(sample)
        if len(self.history) >= 2:
            recent = np.array(self.history[-self.window:])
            self.phase = label_phases(*recent.T, window=len(recent), thresholds=self.thresholds)[-1].phase
            self.logger.record("regime/phase", self.phase)
        self._check_stop_rule()

    def _check_stop_rule(self) -> None:
        if self.stop_rule is None or self.warned or len(self.history) < 2:
            return
        step_n, min_success = self.stop_rule
        step, success = self.history[-1][0], self.history[-1][1]
        if step < step_n or success >= min_success:
            return
        hist = np.array(self.history)
        trend = _slope(hist[:, 0], hist[:, 1])
        if self.phase == 1 and trend > 0:
            self.warned = True
            self.logger.record("regime/stop_rule_warning", 1)
            warnings.warn(RegimeWarning(
                f"stop rule 'success < {min_success:g} at step {step_n}' would end this run at step {step} "
                f"(success {success:.3f}), but it is still in Phase 1 with success rising "
                f"({trend:+.3f} per 1M steps): pixel runs can sit in Phase 1 for millions of steps before the "
                "hockey stick (the author's Step 2 began rising at ~2.2M). Consider extending the budget."),
                stacklevel=2)

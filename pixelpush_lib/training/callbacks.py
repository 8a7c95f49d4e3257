"""SB3 callbacks of a training run: checkpoints at episode boundaries, and the regime monitor."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from pixelpush_lib.results.regime import UNCLASSIFIED, RegimeThresholds, label_phases, slope_per_million
from pixelpush_lib.training.run_dir import RunDir


class EpisodeBoundaryCheckpoint(BaseCallback):
    """Checkpoints every ``every`` steps, at the first moment after that when all envs finished an episode.

    It acts at the end of SB3's rollout, after the step's transitions are in the replay buffer and
    before that step's gradient update: a resumed run skips that one update (``gradient_steps`` of
    them). The random-number states are not saved either: a resumed run re-seeds its envs.
    ``after_save(model)``, if given, runs after each checkpoint (the run records its cost there).
    """

    def __init__(self, run_dir: Path, every: int, after_save: Callable[[Any], None] | None = None) -> None:
        super().__init__()
        self.run_dir, self.every, self.after_save = RunDir(run_dir), every, after_save
        self.next_at = 0

    def _on_training_start(self) -> None:
        self.next_at = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.num_timesteps >= self.next_at and np.all(self.locals["dones"]):
            self.run_dir.save_checkpoint(self.model)
            self.next_at = (self.num_timesteps // self.every + 1) * self.every
            if self.after_save is not None:
                self.after_save(self.model)


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
        trend = slope_per_million(hist[:, 0], hist[:, 1])
        if self.phase == 1 and trend > 0:
            self.warned = True
            self.logger.record("regime/stop_rule_warning", 1)
            warnings.warn(RegimeWarning(
                f"stop rule 'success < {min_success:g} at step {step_n}' would end this run at step {step} "
                f"(success {success:.3f}), but it is still in Phase 1 with success rising "
                f"({trend:+.3f} per 1M steps): pixel runs can sit in Phase 1 for millions of steps before the "
                "hockey stick (the author's Step 2 began rising at ~2.2M). Consider extending the budget."),
                stacklevel=2)

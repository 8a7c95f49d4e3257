"""One real, tiny SB3 SAC+HER run on the state env, shared by the importer and regime tests (run once per session)."""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path


@functools.lru_cache(maxsize=1)
def tiny_run_logs() -> tuple[Path, object]:
    """Train 300 steps with CSV + TensorBoard logging and the regime callback; return (log dir, callback)."""
    from stable_baselines3 import SAC, HerReplayBuffer
    from stable_baselines3.common.logger import configure

    from pixelpush_lib.env.wrappers import make_env
    from pixelpush_lib.training.callbacks import RegimeMonitorCallback

    log_dir = Path(tempfile.mkdtemp(prefix="pixelpush_tiny_sb3_"))
    env = make_env("state", seed=0)
    model = SAC("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, batch_size=8, buffer_size=1000,
                learning_starts=50, seed=0, device="cpu", policy_kwargs={"net_arch": [16, 16]})
    model.set_logger(configure(str(log_dir), ["csv", "tensorboard"]))
    callback = RegimeMonitorCallback(window=3, sample_every=20)
    model.learn(300, log_interval=1, callback=callback)
    env.close()
    return log_dir, callback


if __name__ == "__main__":
    print(tiny_run_logs()[0], file=sys.stderr)

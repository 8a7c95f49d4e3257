"""Training: from a config to an SB3 model, the run directory, callbacks, train and resume, pretrained models."""

from pixelpush_lib.training.build import build_model, make_training_env
from pixelpush_lib.training.pretrained import evaluate, load_model, load_pretrained, rollout_gif
from pixelpush_lib.training.run_dir import RunDir, RunError
from pixelpush_lib.training.runs import RunPlan, plan_new_run, plan_resume, train

__all__ = [
    "RunDir", "RunError", "RunPlan", "build_model", "evaluate", "load_model", "load_pretrained", "make_training_env",
    "plan_new_run", "plan_resume", "rollout_gif", "train",
]

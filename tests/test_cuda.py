"""On a CUDA GPU: the policy, DrQ and the frame ring on the device, a short `pixelpush train --device cuda`, and a
checkpoint trained on CUDA that loads and resumes on CPU. Marked ``cuda``: deselected where there is no GPU (CI never
needs one); ``scripts/gpu_check.sh`` runs them."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from pixelpush_lib.core.configs import get_config
from pixelpush_lib.training.build import build_model
from pixelpush_lib.training.pretrained import load_model
from pixelpush_lib.training.run_dir import RunDir
from pixelpush_lib.training.runs import plan_new_run, plan_resume, train

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA GPU")]

SMALL = {"n_envs": 2, "learning_starts": 100, "batch_size": 16, "buffer_size": 2000}


def test_critic_encoder_policy_drq_and_frame_ring_live_on_the_gpu():
    model = build_model(get_config("step4", SMALL), device="cuda")
    assert model.device.type == "cuda" and model.replay_buffer.frames.is_cuda
    assert all(p.is_cuda for p in model.policy.parameters())
    model.learn(300)
    batch = model.replay_buffer.sample(16)
    assert batch.observations["pixels"].is_cuda and batch.observations["pixels"].dtype == th.uint8
    assert model.logger.name_to_value.get("train/critic_loss") is not None


def test_bf16_convolutions_train_on_the_gpu_with_float32_weights():
    model = build_model(get_config("step2", {**SMALL, "conv_precision": "bf16"}), device="cuda")
    model.learn(300)
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    assert all(p.is_cuda and p.dtype == th.float32 for p in model.policy.parameters())


def test_pixelpush_train_on_cuda_then_load_and_resume_on_cpu(tmp_path):
    run = tmp_path / "step2_cuda"
    train(plan_new_run(get_config("step2", SMALL), run, seed=0, total_steps=2000), device="cuda",
          progress_bar=False, checkpoint_every=1000)
    checkpoint = RunDir(run).latest_checkpoint()
    on_cpu = load_model(checkpoint / "model.zip", "step2", SMALL, device="cpu")
    obs = on_cpu.get_env().reset()
    action, _ = on_cpu.predict(obs, deterministic=True)
    assert on_cpu.device.type == "cpu" and np.isfinite(action).all()
    resumed = train(plan_resume(run, total_steps=2400), device="cpu", progress_bar=False, checkpoint_every=200)
    assert resumed.num_timesteps >= 2400 and isinstance(resumed.replay_buffer.frames, np.ndarray)

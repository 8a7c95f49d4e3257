"""``python -m pixelpush_lib.bench train``: :func:`pixelpush_lib.training.throughput.measure_train_loop`, printed."""

from __future__ import annotations

from pixelpush_lib.training.throughput import describe_shares, measure_train_loop


def bench_train_loop(config_name: str = "step2", steps: int = 400, repeats: int = 3, device: str = "cpu",
                     batch_size: int = 32, buffer_size: int = 20_000, conv_precision: str = "fp32",
                     learning_starts: int | None = None) -> float:
    """Print the medians of :func:`measure_train_loop`; returns ours over stock."""
    m = measure_train_loop(config_name, steps, repeats, device, batch_size, buffer_size, conv_precision,
                           learning_starts)
    print(f"{config_name} on {device}{' (' + m['gpu'] + ')' if m['gpu'] else ''}, {m['torch_threads']} torch threads, "
          f"batch {batch_size}, buffer {buffer_size:,}, {repeats} x {steps} steps after learning_starts="
          f"{m['learning_starts']}")
    print(f"stock SB3 (MultiInputPolicy, HerReplayBuffer, DummyVecEnv): median {m['stock_steps_per_s']:.1f} env-steps/s"
          f"; {describe_shares(m['stock_time_shares'])}")
    print(f"pixelpush {config_name} pipeline ({m['pipeline']}): median {m['ours_steps_per_s']:.1f} env-steps/s"
          f"; {describe_shares(m['ours_time_shares'])}")
    return m["ours_steps_per_s"] / m["stock_steps_per_s"]

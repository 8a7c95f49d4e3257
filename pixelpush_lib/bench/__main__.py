"""Benchmarks: each measures this project's code and its baseline in the same run.

``python -m pixelpush_lib.bench NAME`` prints one line per measurement (medians over repeats;
these machines are noisy) and a last line ``ratio=<x>`` (ours / baseline for speeds).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable

from pixelpush_lib.core.configs import CONV_PRECISIONS


def _steps_per_second(env, n_steps: int, render: bool) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    start = time.perf_counter()
    for _ in range(n_steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if render:
            env.render()
        if terminated or truncated:
            env.reset()
    return n_steps / (time.perf_counter() - start)


def bench_env(steps: int = 300, repeats: int = 5) -> float:
    """Steps/s of ``make_env("pixels")`` (4-stack, 84x84) vs Gymnasium's own 84x84 rgb_array render."""
    import gymnasium as gym

    from pixelpush_lib.env.wrappers import ENV_ID, make_env

    ours_env = make_env("pixels", seed=0)
    base_env = gym.make(ENV_ID, render_mode="rgb_array", width=84, height=84)
    ours, base = [], []
    for _ in range(repeats):  # interleaved, so drift in machine load hits both alike
        ours.append(_steps_per_second(ours_env, steps, render=False))
        base.append(_steps_per_second(base_env, steps, render=True))
    ours_env.close()
    base_env.close()
    ours_med, base_med = statistics.median(ours), statistics.median(base)
    print(f"make_env('pixels') 4x84x84 stack: median {ours_med:.1f} steps/s over {repeats}x{steps} steps")
    print(f"gym.make(render_mode='rgb_array', 84x84) + render(): median {base_med:.1f} steps/s")
    return ours_med / base_med


def _updates_per_second(model, batch_size: int, updates: int) -> float:
    start = time.perf_counter()
    model.train(gradient_steps=updates, batch_size=batch_size)
    return updates / (time.perf_counter() - start)


def bench_update(batch_size: int = 32, updates: int = 10, repeats: int = 5) -> float:
    """SAC gradient updates/s on CPU: ``CriticEncoderPolicy`` vs SB3's default (separate actor and
    critic copies of the same ManipulationCNN + SpatialSoftmax extractor), same batch size, same
    replay buffer contents (4-stack 84x84 pixels from the real env)."""
    import torch as th
    from stable_baselines3 import SAC, HerReplayBuffer

    from pixelpush_lib.env.wrappers import make_env
    from pixelpush_lib.nets.encoders import ManipulationExtractor
    from pixelpush_lib.nets.routing import CriticEncoderPolicy

    env = make_env("pixels", seed=0)
    common = dict(replay_buffer_class=HerReplayBuffer, buffer_size=1000, learning_starts=150, seed=0, device="cpu")
    ours = SAC(CriticEncoderPolicy, env, **common)
    ours.learn(150)  # three episodes of real frames, no updates yet (learning_starts)
    baseline = SAC(
        "MultiInputPolicy",
        env,
        policy_kwargs={"features_extractor_class": ManipulationExtractor, "normalize_images": False},
        **common,
    )
    baseline.replay_buffer = ours.replay_buffer  # identical data for both
    baseline.set_logger(ours.logger)  # train() records its losses; it never ran learn()
    print(f"torch threads: {th.get_num_threads()}, batch {batch_size}, {updates} updates x {repeats} repeats")
    ours_rates, base_rates = [], []
    for _ in range(repeats):  # interleaved so load drift hits both alike
        ours_rates.append(_updates_per_second(ours, batch_size, updates))
        base_rates.append(_updates_per_second(baseline, batch_size, updates))
    env.close()
    ours_med, base_med = statistics.median(ours_rates), statistics.median(base_rates)
    print(f"CriticEncoderPolicy: median {ours_med:.2f} updates/s ({1000 / ours_med:.0f} ms/update)")
    print(f"SB3 MultiInputPolicy, separate extractors: median {base_med:.2f} updates/s ({1000 / base_med:.0f} ms/update)")
    return ours_med / base_med


def _build_book(out_dir: str) -> float:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    subprocess.run([str(jupyter_book), "build", str(root), "-W", "--keep-going", "--path-output", out_dir],
                   check=True, capture_output=True, cwd=root)
    return time.perf_counter() - start


def bench_book() -> float:
    """Wall time of a clean book build (every notebook executed) and of a cached rebuild right after it.

    Targets on 2 cores: clean <= 180 s, cached <= 30 s. Returns cached / clean.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as out_dir:
        clean = _build_book(out_dir)
        cached = _build_book(out_dir)
    print(f"clean build (all notebooks executed): {clean:.1f} s (target <= 180 s)")
    print(f"cached rebuild: {cached:.1f} s (target <= 30 s)")
    return cached / clean


def bench_memory() -> float:
    from pixelpush_lib.bench.memory import bench_memory as measure

    return measure()


def bench_train_state() -> float:
    from pixelpush_lib.bench.train_state import bench_train_state as measure

    return measure()


def bench_train(config: str = "step2", device: str = "cpu", steps: int = 400, precision: str = "fp32",
                batch_size: int = 32, buffer_size: int = 20_000, repeats: int = 3,
                learning_starts: int | None = None) -> float:
    from pixelpush_lib.bench.train_loop import bench_train_loop

    return bench_train_loop(config, steps=steps, repeats=repeats, device=device, batch_size=batch_size,
                            buffer_size=buffer_size, conv_precision=precision, learning_starts=learning_starts)


def bench_vec(config: str = "step2") -> float:
    from pixelpush_lib.bench.vec_env import bench_vec_env

    return bench_vec_env(config)


def bench_eyes_first(repeats: int = 3) -> float:
    from pixelpush_lib.bench.eyes_first import bench_eyes_first as measure

    return measure(repeats=repeats)


BENCHMARKS: dict[str, Callable[..., float]] = {
    "eyes-first": bench_eyes_first,
    "train": bench_train,
    "vec": bench_vec,
    "train-state": bench_train_state,
    "env": bench_env,
    "update": bench_update,
    "memory": bench_memory,
    "book": bench_book,
}


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def _busy(n_processes: int):
    """``n_processes`` processes that each keep one core busy, as another training run on the machine would."""
    import multiprocessing

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(n_processes)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pixelpush_lib.bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="keep N cores busy while measuring (both sides alike), as a second run would")
    parser.add_argument("--config", default="step2", help="train, vec: the pixel config to run (default step2)")
    parser.add_argument("--device", default="cpu", help="train: torch device, e.g. cuda (default cpu)")
    parser.add_argument("--steps", type=int, default=400, help="train: env steps timed per repeat (default 400)")
    parser.add_argument("--repeats", type=int, default=3, help="train: alternating repeats of both (default 3)")
    parser.add_argument("--batch-size", type=int, default=32, help="train: SAC batch (default 32, short on a CPU)")
    parser.add_argument("--buffer-size", type=int, default=20_000, help="train: replay capacity (default 20,000)")
    parser.add_argument("--learning-starts", type=int, metavar="N",
                        help="train: env steps collected before the timed ones (default: the config's; at least one "
                        "episode per env)")
    parser.add_argument("--precision", default="fp32", choices=CONV_PRECISIONS,
                        help="train: our pipeline's conv arithmetic (stock SB3 is always fp32; default fp32)")
    args = parser.parse_args(argv)
    if args.busy < 0:
        parser.error(f"--busy {args.busy}: give 0 or more busy processes")
    sizes = (("--steps", args.steps), ("--repeats", args.repeats), ("--batch-size", args.batch_size),
             ("--buffer-size", args.buffer_size))
    for flag, value in sizes:
        if value < 1:
            parser.error(f"{flag} {value}: give at least 1")
    options: dict = {}
    if args.name == "train":
        options = {"config": args.config, "device": args.device, "steps": args.steps, "precision": args.precision,
                   "batch_size": args.batch_size, "buffer_size": args.buffer_size, "repeats": args.repeats,
                   "learning_starts": args.learning_starts}
    elif args.name == "vec":
        options = {"config": args.config}
    elif args.name == "eyes-first":
        options = {"repeats": args.repeats}
    with _busy(args.busy):
        if args.busy:
            print(f"{args.busy} busy process(es) running beside the benchmark")
        ratio = BENCHMARKS[args.name](**options)
    print(f"ratio={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

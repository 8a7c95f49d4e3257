"""The eyes' protocol and the frames they learn from (:mod:`pixelpush_lib.experiments.investigations.eyes` trains
on them): whole episodes of three policies and static random scenes, rendered once per protocol and cached outside
the repository."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelpush_lib.core.paths import cache_dir
from pixelpush_lib.env.expert import PushExpert
from pixelpush_lib.env.puck_state import GRIP_POS, PUCK_POS, puck_labels

SOURCES = ("expert", "agent", "random")
CACHE_DIR = cache_dir() / "eyes"


@dataclass(frozen=True)
class EyesProtocol:
    """Everything that defines one eyes run; identical for both encoders.

    Episode counts are per source (expert, agent, random); ``scenes`` counts static random scenes. Seeds of the
    splits are reset seeds of episode ``k`` = ``seed + k`` (disjoint ranges); ``seeds`` are training seeds.
    """

    train_episodes: int = 100
    val_episodes: int = 10
    test_episodes: int = 20
    scenes: int = 3000
    train_seed: int = 10_000
    val_seed: int = 20_000
    test_seed: int = 30_000
    scenes_seed: int = 40_000
    expert_noise: float = 0.1  # action noise std (actions are in [-1, 1])
    agent_noise: float = 0.2
    agent: str = "state_s0_2m"
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_every: int = 500
    val_frames: int = 300  # validation frames scored during training (the full split picks the mix)
    seeds: tuple[int, ...] = (0, 1, 2)
    near_gripper_m: float = 0.05
    channels: int = 32

    def data_key(self) -> str:
        """Hash of the fields that decide the frames (the collection cache's name)."""
        fields = ("train_episodes", "val_episodes", "test_episodes", "scenes", "train_seed", "val_seed", "test_seed",
                  "scenes_seed", "expert_noise", "agent_noise", "agent")
        return hashlib.sha256(json.dumps({f: getattr(self, f) for f in fields}).encode()).hexdigest()[:16]


PROTOCOL = EyesProtocol()
QUICK = EyesProtocol(train_episodes=2, val_episodes=1, test_episodes=1, scenes=8, steps=12, batch_size=8,
                     eval_every=6, val_frames=20, seeds=(0, 1), channels=8)


@dataclass
class Frames:
    """Rendered frames and one labelled sample per observation.

    ``frames``: uint8 ``(F, 3, 84, 84)`` single frames; ``stacks``: int ``(N, 4)`` indices into ``frames`` of each
    observation's 4-frame stack, oldest first (the wrapper pads a reset with copies of the first frame);
    ``labels``: float ``(N, 4)`` puck ``x, y`` (m) and ``vx, vy`` (m/step); ``gripper_m``: ``(N,)`` gripper-puck
    distance (m); ``source``: ``(N,)`` one of :data:`SOURCES` or ``"scenes"``; ``episode``: ``(N,)`` reset seed.
    """

    frames: np.ndarray
    stacks: np.ndarray
    labels: np.ndarray
    gripper_m: np.ndarray
    source: np.ndarray
    episode: np.ndarray

    def __len__(self) -> int:
        return len(self.stacks)

    def pixels(self, index: np.ndarray, frame_stack: int) -> np.ndarray:
        """uint8 ``(len(index), 3 * frame_stack, 84, 84)``: the observations as an encoder of that stack gets them."""
        chosen = self.stacks[index][:, -frame_stack:]
        return self.frames[chosen].reshape(len(chosen), 3 * frame_stack, *self.frames.shape[-2:])


def _driver(source: str, protocol: EyesProtocol, rng: np.random.Generator):
    """The policy of a source: state observation dict -> action in [-1, 1]^4."""
    if source == "random":
        return lambda state: rng.uniform(-1.0, 1.0, 4).astype(np.float32)
    if source == "expert":
        expert, noise = PushExpert(), protocol.expert_noise
        return lambda state: np.clip(expert(state) + rng.normal(0, noise, 4), -1, 1).astype(np.float32)
    from pixelpush_lib.training.pretrained import load_pretrained

    agent, noise = load_pretrained(protocol.agent, device="cpu"), protocol.agent_noise
    return lambda state: np.clip(agent.predict(state, deterministic=True)[0] + rng.normal(0, noise, 4),
                                 -1, 1).astype(np.float32)


def collect_episodes(source: str, n_episodes: int, first_seed: int, protocol: EyesProtocol,
                     progress: bool = True) -> Frames:
    """``n_episodes`` whole episodes of ``make_env("pixels")`` (reset seeds ``first_seed + k``) driven by ``source``'s
    policy; one sample per observation the policy acts on (50 per episode)."""
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", frame_stack=4)
    rng = np.random.default_rng(first_seed)
    act = _driver(source, protocol, rng)
    frames, stacks, labels, grip, episodes = [], [], [], [], []
    try:
        for k in range(n_episodes):
            obs, _ = env.reset(seed=first_seed + k)
            ring = [len(frames)] * 4  # indices of the stack's frames, oldest first
            frames.append(obs["pixels"][-3:])
            done = False
            while not done:
                state = env.unwrapped._get_obs()
                stacks.append(list(ring))
                labels.append(puck_labels(state["observation"]))
                grip.append(np.linalg.norm(state["observation"][GRIP_POS] - state["observation"][PUCK_POS]))
                episodes.append(first_seed + k)
                obs, _, terminated, truncated, _ = env.step(act(state))
                ring = ring[1:] + [len(frames)]
                frames.append(obs["pixels"][-3:])
                done = terminated or truncated
            if progress and (k + 1) % 10 == 0:
                print(f"  {source}: {k + 1}/{n_episodes} episodes from seed {first_seed}", flush=True)
    finally:
        env.close()
    n = len(stacks)
    return Frames(np.stack(frames), np.asarray(stacks), np.asarray(labels), np.asarray(grip),
                  np.full(n, source), np.asarray(episodes))


def collect_scenes(n: int, seed: int) -> Frames:
    """Step 1's static random scenes (:func:`scenes.render_states`), as 4-frame stacks of one frame, velocity 0."""
    from pixelpush_lib.experiments.scenes import render_states

    states = render_states(n, seed)
    labels = np.zeros((n, 4))
    labels[:, :2] = states.puck_xyz[:, :2]
    index = np.arange(n)
    return Frames(states.rgb, np.repeat(index[:, None], 4, axis=1), labels,
                  np.linalg.norm(states.gripper_xyz - states.puck_xyz, axis=1), np.full(n, "scenes"),
                  np.full(n, seed))


def join(parts: list[Frames]) -> Frames:
    """One :class:`Frames` of several (stack indices shifted to the joined frame array)."""
    offsets = np.cumsum([0] + [len(p.frames) for p in parts[:-1]])
    return Frames(np.concatenate([p.frames for p in parts]),
                  np.concatenate([p.stacks + o for p, o in zip(parts, offsets)]),
                  np.concatenate([p.labels for p in parts]), np.concatenate([p.gripper_m for p in parts]),
                  np.concatenate([p.source for p in parts]), np.concatenate([p.episode for p in parts]))


def collect(protocol: EyesProtocol, progress: bool = True) -> dict[str, Frames]:
    """The protocol's splits: ``train`` (episodes and scenes), ``val`` and ``test`` (episodes only)."""
    splits: dict[str, list[Frames]] = {"train": [], "val": [], "test": []}
    for source_index, source in enumerate(SOURCES):
        # Each source starts its seeds 1,000 apart within the split's range, so no two episodes share a reset seed.
        for split, n, seed in (("train", protocol.train_episodes, protocol.train_seed),
                               ("val", protocol.val_episodes, protocol.val_seed),
                               ("test", protocol.test_episodes, protocol.test_seed)):
            splits[split].append(collect_episodes(source, n, seed + 1000 * source_index, protocol, progress))
    if progress:
        print(f"  scenes: rendering {protocol.scenes} static scenes", flush=True)
    splits["train"].append(collect_scenes(protocol.scenes, protocol.scenes_seed))
    return {name: join(parts) for name, parts in splits.items()}


def cached_collect(protocol: EyesProtocol, cache_dir: Path = CACHE_DIR, progress: bool = True) -> Path:
    """Collect the splits once per protocol into ``cache_dir/<data_key>.npz`` (outside the repository; hours of
    reuse for minutes of rendering); returns the file."""
    path = Path(cache_dir) / f"{protocol.data_key()}.npz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    splits = collect(protocol, progress)
    arrays = {f"{split}.{field}": getattr(frames, field) for split, frames in splits.items()
              for field in Frames.__dataclass_fields__}
    staged = path.with_name(f".{path.name}.partial.npz")
    np.savez(staged, **arrays)
    staged.replace(path)
    return path


def load_collected(path: Path) -> dict[str, Frames]:
    with np.load(path) as data:
        return {split: Frames(**{field: data[f"{split}.{field}"] for field in Frames.__dataclass_fields__})
                for split in ("train", "val", "test")}

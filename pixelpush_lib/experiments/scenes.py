"""Rendered FetchPush frames with exact labels: the one dataset generator of the live experiments.

:func:`render_states` places the puck (``object0:joint``) and the gripper (through its mocap body) at random
positions on the table, renders the frame the policy's camera sees and the segmentation masks, and returns a
:class:`FrameSet`. The probe (Step 1), the DrQ noise measurement (Step 4) and the footprint (Step 0) all use it,
so their frames and labels come from one place.

Coordinates. Pixel coordinates are ``(x, y)`` = (column, row) of pixel centres, ``x`` to the right, ``y`` down.
*Keypoint units* are the SpatialSoftmax's ``[-1, 1]`` coordinates of the chapter's ManipulationCNN: its 21x21
map has cell centres at ``linspace(-1, 1, 21)``, 0.1 apart, and cell ``k``'s receptive field is centred on input
pixel ``4k`` (two stride-2 layers, padding 1). Hence :func:`pixels_to_keypoint_units`: ``u -> u / 40 - 1``, i.e.
one pixel is 0.025 units and one feature cell (4 px) is 0.1 units. (Normalising by the image width instead,
``2 / 84`` per pixel, would make every distance about 5% smaller.)
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from pixelpush_lib.nets.encoders import MANIPULATION_LAYERS, map_size, total_stride

PUCK_GEOM = "object0"
FINGER_GEOMS = ("robot0:r_gripper_finger_link", "robot0:l_gripper_finger_link")
TOTAL_STRIDE = total_stride(MANIPULATION_LAYERS)  # 4
MAP_CELLS = map_size(MANIPULATION_LAYERS, 84)  # 21
# Random placements, in metres around the gripper's start position (FetchPush samples the puck within +/-0.15 m).
PUCK_RANGE_M = 0.15
GRIPPER_RANGE_M = 0.18
GRIPPER_HEIGHT_M = (0.0, 0.15)  # above the puck's resting height
SETTLE_STEPS = 10  # env steps of physics for the mocap-driven arm to reach its target (as FetchPush's own setup)


def pixels_to_keypoint_units(xy_px: np.ndarray, total_stride: int = TOTAL_STRIDE,
                             map_cells: int = MAP_CELLS) -> np.ndarray:
    """Pixel coordinates -> SpatialSoftmax ``[-1, 1]`` units of a ``map_cells`` map with ``total_stride``."""
    return np.asarray(xy_px, dtype=float) / total_stride * (2.0 / (map_cells - 1)) - 1.0


def keypoint_units_to_pixels(xy: np.ndarray, total_stride: int = TOTAL_STRIDE,
                             map_cells: int = MAP_CELLS) -> np.ndarray:
    """Inverse of :func:`pixels_to_keypoint_units`."""
    return (np.asarray(xy, dtype=float) + 1.0) * (map_cells - 1) / 2.0 * total_stride


def mask_centroid(mask: np.ndarray) -> np.ndarray:
    """``(x, y)`` mean pixel centre of a boolean ``(H, W)`` mask; NaNs if it is empty."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return np.array([np.nan, np.nan])
    return np.array([cols.mean(), rows.mean()])


@dataclass(frozen=True)
class FrameSet:
    """``N`` rendered states with their ground truth.

    Attributes:
        rgb: uint8 ``(N, 3, S, S)`` frames as the policy's camera renders them (one frame, not a stack).
        puck_mask, gripper_mask: bool ``(N, S, S)``: pixels showing the puck / either finger.
        puck_px, gripper_px: float ``(N, 2)`` mask centroids ``(x, y)`` in pixels (NaN when not visible).
        puck_xyz, gripper_xyz: float ``(N, 3)`` world positions in metres (puck body, ``robot0:grip`` site).
        seed: the seed the states were drawn with.
    """

    rgb: np.ndarray
    puck_mask: np.ndarray
    gripper_mask: np.ndarray
    puck_px: np.ndarray
    gripper_px: np.ndarray
    puck_xyz: np.ndarray
    gripper_xyz: np.ndarray
    seed: int

    def __len__(self) -> int:
        return len(self.rgb)

    @property
    def puck_pixels(self) -> np.ndarray:
        """``(N,)`` visible puck pixels per frame."""
        return self.puck_mask.sum(axis=(1, 2))

    @property
    def both_visible(self) -> np.ndarray:
        """``(N,)`` True where puck and gripper both have a centroid."""
        return ~np.isnan(self.puck_px).any(axis=1) & ~np.isnan(self.gripper_px).any(axis=1)

    def subset(self, index: np.ndarray) -> FrameSet:
        """The frames selected by a boolean or integer ``index``."""
        return FrameSet(self.rgb[index], self.puck_mask[index], self.gripper_mask[index], self.puck_px[index],
                        self.gripper_px[index], self.puck_xyz[index], self.gripper_xyz[index], self.seed)


def _place(env, rng: np.random.Generator) -> None:
    """Move the gripper (mocap) and then the puck (free joint) to random table positions."""
    u = env.unwrapped
    model, data, utils = u.model, u.data, u._utils
    home = u.initial_gripper_xpos
    grip = home + np.r_[rng.uniform(-GRIPPER_RANGE_M, GRIPPER_RANGE_M, 2), 0.0]
    grip[2] = u.height_offset + rng.uniform(*GRIPPER_HEIGHT_M)
    utils.set_mocap_pos(model, data, "robot0:mocap", grip)
    for _ in range(SETTLE_STEPS):
        mujoco.mj_step(model, data, nstep=u.n_substeps)
    # The puck goes in last, at rest on the table, so the arm's motion cannot push it away.
    qpos = utils.get_joint_qpos(model, data, "object0:joint").copy()
    qpos[:2] = home[:2] + rng.uniform(-PUCK_RANGE_M, PUCK_RANGE_M, 2)
    qpos[2] = u.height_offset
    qpos[3:] = (1.0, 0.0, 0.0, 0.0)
    utils.set_joint_qpos(model, data, "object0:joint", qpos)
    utils.set_joint_qvel(model, data, "object0:joint", np.zeros(6))
    mujoco.mj_forward(model, data)


def render_states(n: int, seed: int = 0, image_size: int = 84, camera: str = "table") -> FrameSet:
    """Render ``n`` random puck/gripper states of FetchPush-v4 with segmentation ground truth.

    Each state: reset the env (seeded), drive the gripper to a random point within +/-0.18 m (x, y) of its start
    and 0-0.15 m above the table, then put the puck at a random point within +/-0.15 m. Deterministic for a seed.
    About 25 states/s at 84x84 on 2 CPU cores (software EGL).
    """
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", frame_stack=1, image_size=image_size, camera=camera)
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("rgb", "puck", "grip", "puck_xyz", "grip_xyz")}
    try:
        env.reset(seed=seed)
        renderer, data = env.renderer, env.unwrapped.data
        for _ in range(n):
            _place(env, rng)
            seg = renderer.segmentation(data)
            out["rgb"].append(renderer.rgb(data))
            out["puck"].append(_geom_mask(env, seg, (PUCK_GEOM,)))
            out["grip"].append(_geom_mask(env, seg, FINGER_GEOMS))
            out["puck_xyz"].append(data.body("object0").xpos.copy())
            out["grip_xyz"].append(data.site("robot0:grip").xpos.copy())
    finally:
        env.close()
    puck, grip = np.stack(out["puck"]), np.stack(out["grip"])
    return FrameSet(np.stack(out["rgb"]), puck, grip, np.stack([mask_centroid(m) for m in puck]),
                    np.stack([mask_centroid(m) for m in grip]), np.stack(out["puck_xyz"]),
                    np.stack(out["grip_xyz"]), seed)


def _geom_mask(env, seg: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Boolean mask of the pixels showing any geom in ``names`` (one segmentation render, reused)."""
    model = env.unwrapped.model
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name) for name in names]
    return np.isin(seg[..., 0], ids) & (seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM)


@dataclass(frozen=True)
class StackedObservation:
    """A real observation of ``make_env("pixels")`` and the newest frame's puck mask.

    ``pixels``: uint8 ``(3 * frame_stack, S, S)``, oldest frame first; ``puck_mask``: bool ``(S, S)`` of the
    newest frame; ``step``: random-action steps taken after reset.
    """

    pixels: np.ndarray
    puck_mask: np.ndarray
    seed: int
    step: int


def rollout_observations(n: int, seed: int = 0, steps: int = 10, frame_stack: int = 4) -> list[StackedObservation]:
    """``n`` real stacked observations: reset with ``seed + i``, then ``steps`` random actions each."""
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", frame_stack=frame_stack)
    out = []
    try:
        for i in range(n):
            obs, _ = env.reset(seed=seed + i)
            env.action_space.seed(seed + i)
            for _ in range(steps):
                obs, *_ = env.step(env.action_space.sample())
            mask = env.renderer.geom_mask(env.unwrapped.data, PUCK_GEOM)
            out.append(StackedObservation(obs["pixels"], mask, seed + i, steps))
    finally:
        env.close()
    return out

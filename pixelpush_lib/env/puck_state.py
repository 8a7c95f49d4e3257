"""The puck's entries of FetchPush's 25-D state vector: reading them as labels, and writing an estimate in.

FetchPush's ``observation`` (``gymnasium_robotics`` ``MujocoFetchEnv.generate_mujoco_observations``) holds, in
order: gripper position 0:3, puck position 3:6, puck minus gripper 6:9, finger state 9:11, puck rotation 11:14,
puck linear velocity relative to the gripper 14:17, puck angular velocity 17:20, gripper linear velocity 20:23 and
finger velocity 23:25. Velocities are in metres (or radians) per environment step: the simulator's velocity times
``dt`` = 0.04 s. ``achieved_goal`` repeats the puck's position.

Eyes that read the frames estimate the puck's table position ``(x, y)`` and, from a frame stack, its velocity
``(vx, vy)``. :func:`with_puck_estimate` writes such an estimate into a state observation, so that a policy trained
on the true state can act on what the eyes report instead.
"""

from __future__ import annotations

import numpy as np

GRIP_POS = slice(0, 3)
PUCK_POS = slice(3, 6)
PUCK_REL_POS = slice(6, 9)
PUCK_ROT = slice(11, 14)
PUCK_VELP_REL = slice(14, 17)  # puck velocity minus the gripper's, metres per step
PUCK_VELR = slice(17, 20)
GRIP_VELP = slice(20, 23)


def puck_labels(state: np.ndarray) -> np.ndarray:
    """``(..., 25)`` FetchPush observation -> ``(..., 4)``: the puck's ``x, y`` (metres) and ``vx, vy`` in the world
    frame (metres per step; the observation stores them relative to the gripper, so the gripper's are added back)."""
    state = np.asarray(state, dtype=np.float64)
    velocity = state[..., PUCK_VELP_REL] + state[..., GRIP_VELP]
    return np.concatenate([state[..., PUCK_POS][..., :2], velocity[..., :2]], axis=-1)


def with_puck_estimate(obs: dict[str, np.ndarray], xy: np.ndarray, velocity_xy: np.ndarray | None,
                       table_z: float) -> dict[str, np.ndarray]:
    """A copy of a FetchPush dict observation whose puck entries come from an estimate.

    ``xy``: the puck's table position (metres); its height is ``table_z``, the resting height of the puck on the
    table (a constant of the scene, not a reading). ``velocity_xy``: world velocity in metres per step (vertical 0),
    or ``None`` to keep the simulator's velocity (the noise experiment moves the position only). Derived entries
    follow: puck minus gripper, velocity relative to the gripper, ``achieved_goal``. Rotation and angular velocity,
    which the eyes do not estimate, are zeroed whenever a velocity is given.
    """
    state = np.array(obs["observation"], dtype=np.float64)
    position = np.r_[np.asarray(xy, dtype=np.float64)[:2], table_z]
    state[PUCK_POS] = position
    state[PUCK_REL_POS] = position - state[GRIP_POS]
    if velocity_xy is not None:
        state[PUCK_VELP_REL] = np.r_[np.asarray(velocity_xy, dtype=np.float64)[:2], 0.0] - state[GRIP_VELP]
        state[PUCK_ROT] = 0.0
        state[PUCK_VELR] = 0.0
    return {"observation": state.astype(np.asarray(obs["observation"]).dtype),
            "achieved_goal": position.astype(np.asarray(obs["achieved_goal"]).dtype),
            "desired_goal": np.asarray(obs["desired_goal"]).copy()}


def without_rotation(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A copy with the puck's rotation and angular velocity zeroed and everything else true: the control that
    separates what zeroing them costs from what the eyes' position and velocity errors cost."""
    state = np.array(obs["observation"], dtype=np.float64)
    state[PUCK_ROT] = 0.0
    state[PUCK_VELR] = 0.0
    return {"observation": state.astype(np.asarray(obs["observation"]).dtype),
            "achieved_goal": np.asarray(obs["achieved_goal"]).copy(),
            "desired_goal": np.asarray(obs["desired_goal"]).copy()}

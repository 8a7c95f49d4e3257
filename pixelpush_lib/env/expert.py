"""A scripted FetchPush expert that reads the true state: the teacher for pixel students (imitation, DAgger).

It is stateless, so it can label any state a student visits: from the state alone it decides whether to lift,
go behind the puck on the line to the goal, lower, or push. When the puck leaves the line, the gripper is no
longer behind it, and the same rules send it round again. It reads ``achieved_goal`` (the puck's position);
the students it teaches never do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# FetchPush's 25-D observation: gripper position first, then the puck's (the same as achieved_goal). The pixel
# env's ``proprio`` also starts with the gripper position (wrappers.PROPRIO_NAMES), so both label the same way.
GRIPPER_XYZ = slice(0, 3)
PUCK_XYZ = slice(3, 6)
ACTION_SCALE_M = 0.05  # Fetch moves its mocap by action * 0.05 m per step


@dataclass(frozen=True)
class PushExpert:
    """Proportional pushing controller; every distance in metres (the puck is a 5 cm cube).

    ``behind``: how far behind the puck's centre the gripper lines up; ``clearance``: the height above the puck
    it travels at while it repositions; ``lateral_tol``: how far off the puck-goal line it may be and still push;
    ``gain``: action per metre of error (clipped to [-1, 1]); ``push_step``: how far ahead of the gripper it aims
    while pushing (so the speed falls as the puck nears the goal); ``done``: the puck-goal distance at which it
    stops (success counts within 0.05).

    ``lateral_tol`` is generous (3 cm) because the push steers back onto the line anyway; a narrow one makes the
    choice between pushing and going round again a hair-trigger, which a student that imitates the expert copies
    badly.
    """

    behind: float = 0.055
    clearance: float = 0.06
    lateral_tol: float = 0.03
    lowered: float = 0.01
    gain: float = 12.0
    push_step: float = 0.03
    done: float = 0.02

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Action(s) for one observation dict or a batch (leading axis n); float32 in [-1, 1], shape (4,) or (n, 4);
        the gripper stays closed.

        Reads a state observation (``observation``, 25-D) or a pixel one (``proprio`` for the gripper and
        ``achieved_goal`` for the puck: the expert may read the puck's true position, its students may not).
        """
        if "observation" in obs:
            state = np.asarray(obs["observation"], dtype=np.float64)
            gripper, puck = state[..., GRIPPER_XYZ], state[..., PUCK_XYZ]
        else:
            gripper = np.asarray(obs["proprio"], dtype=np.float64)[..., GRIPPER_XYZ]
            puck = np.asarray(obs["achieved_goal"], dtype=np.float64)
        goal = np.asarray(obs["desired_goal"], dtype=np.float64)
        if goal.ndim == 1:
            return self._act(gripper, puck, goal)
        return np.stack([self._act(*row) for row in zip(gripper, puck, goal)])

    def _act(self, gripper: np.ndarray, puck: np.ndarray, goal: np.ndarray) -> np.ndarray:
        to_goal = goal[:2] - puck[:2]
        distance = np.linalg.norm(to_goal)
        if distance < self.done:  # on the goal: lift straight up, clear of the puck
            return self._toward(gripper, np.r_[gripper[:2], puck[2] + self.clearance])
        along = to_goal / distance
        offset = gripper[:2] - puck[:2]
        ahead = float(offset @ along)  # negative: the gripper is behind the puck
        lateral = float(np.linalg.norm(offset - ahead * along))
        low = gripper[2] < puck[2] + self.lowered
        lined_up = ahead < -0.5 * self.behind and lateral < self.lateral_tol
        if lined_up and low:  # push along the line, slower as the puck nears the goal, steering back onto the line
            on_line = puck[:2] + ahead * along
            target_xy = on_line + along * min(distance, self.push_step)
            return self._toward(gripper, np.r_[target_xy, puck[2] - 0.005])
        behind_xy = puck[:2] - along * self.behind
        if np.linalg.norm(gripper[:2] - behind_xy) < self.lateral_tol:  # above the spot: lower
            return self._toward(gripper, np.r_[behind_xy, puck[2] - 0.005])
        if gripper[2] < puck[2] + 0.5 * self.clearance and np.linalg.norm(offset) < 2 * self.behind:
            return self._toward(gripper, np.r_[gripper[:2], puck[2] + self.clearance])  # lift clear of the puck
        return self._toward(gripper, np.r_[behind_xy, puck[2] + self.clearance])  # travel above it

    def _toward(self, gripper: np.ndarray, target: np.ndarray) -> np.ndarray:
        move = np.clip(self.gain * (target - gripper), -1.0, 1.0)
        return np.r_[move, -1.0].astype(np.float32)

"""A pixel-driven agent with no reinforcement learning on pixels: the state agent acting on what frozen eyes report.

:class:`StateOnEyesAgent` composes two parts trained apart: eyes (``nets.eyes.PuckEyes``, trained with simulator
labels to report the puck's table position and velocity from a frame stack) and a controller (a registered state
agent, SAC + HER on FetchPush's true 25-D state). Its ``predict`` takes the pixel env's own observation (frames,
``proprio``, ``desired_goal``), rebuilds the 25-D state the controller was trained on from ``proprio`` and what the
eyes report (with ``env.puck_state.with_puck_estimate``, as ``experiments.investigations.state_on_eyes`` does: the
puck on the table, its rotation and angular velocity zeroed), and lets the controller act on it.
``achieved_goal``, the puck's true position, is never read.

Registered as a ``composed`` checkpoint (``results.registry``): its file is a small JSON manifest (:func:`compose`)
that pins both parts by sha256, the eyes' weights in ``data/measured/eyes`` and the controller's registry entry, so
it loads from a clone with no download. ``training.pretrained.load_pretrained`` returns it (:func:`load_composed`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from pixelpush_lib.core.configs import RunConfig, get_config
from pixelpush_lib.core.files import write_json_atomic
from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.env.puck_state import with_puck_estimate
from pixelpush_lib.env.wrappers import PROPRIO_INDICES
from pixelpush_lib.nets.eyes import PuckEyes, load_eyes, load_measured_eyes
from pixelpush_lib.results.measured import load_manifest
from pixelpush_lib.results.registry import COMPOSED_PARTS, DEFAULT_CACHE, REGISTRY, CheckpointError, fetch_file, get_entry

KIND = "state_on_eyes"
EYES_TRAINED_WITH = "trained with simulator labels to read the puck's table position and velocity from the frames"
CONTROLLER_TRAINED_WITH = "trained by SAC + HER on the true 25-D state"
STATE_DIM = 25


class StateOnEyesAgent:
    """The controller (a state agent) acting on what ``eyes`` read from the pixel env's frames.

    ``predict`` and ``observation_space``/``action_space`` follow SB3's ``BasePolicy`` so that ``evaluate``,
    ``watch`` and a learner's own loop use it as they use a loaded SB3 model; ``pixelpush_config`` is the pixel
    config whose env it acts in, ``num_timesteps`` the controller's environment steps.
    """

    def __init__(self, eyes: PuckEyes, controller: Any, config: RunConfig, table_z: float,
                 parts: dict[str, Any] | None = None) -> None:
        if not eyes.spec.sees_velocity:
            raise ValueError(f"these {eyes.spec.encoder} eyes read one frame and report no velocity; the controller "
                             "needs the puck's velocity, so use eyes that read a frame stack (ManipulationCNN's)")
        if (config.obs_mode, config.frame_stack, config.image_size) != ("pixels", eyes.spec.frame_stack,
                                                                        eyes.spec.image_size):
            raise ValueError(f"config {config.name!r} gives {config.obs_mode} observations of {config.frame_stack} "
                             f"{config.image_size}px frames; these eyes read pixels of {eyes.spec.frame_stack} "
                             f"{eyes.spec.image_size}px frames")
        if controller.observation_space["observation"].shape != (STATE_DIM,):
            raise ValueError("the controller must be a state agent (25-D observation), not "
                             f"{controller.observation_space}")
        self.eyes, self.controller, self.table_z, self.parts = eyes.eval(), controller, float(table_z), parts or {}
        self.pixelpush_config = config
        self.num_timesteps = int(controller.num_timesteps)
        goals = controller.observation_space
        self.observation_space = spaces.Dict({
            "pixels": spaces.Box(0, 255, self.pixels_shape, np.uint8),
            "proprio": spaces.Box(-np.inf, np.inf, (len(PROPRIO_INDICES),), np.float32),
            "achieved_goal": goals["achieved_goal"], "desired_goal": goals["desired_goal"]})
        self.action_space = controller.action_space

    @property
    def pixels_shape(self) -> tuple[int, int, int]:
        """``(3 * frame_stack, size, size)``: one observation's frames, channels first, oldest frame first."""
        spec = self.eyes.spec
        return 3 * spec.frame_stack, spec.image_size, spec.image_size

    def state_observation(self, observation: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The pixel env's observation -> the state agent's: ``observation`` ``(25,)``, ``achieved_goal`` and
        ``desired_goal`` ``(3,)`` (each with a leading batch axis ``(n, ...)`` when the input has one).

        The gripper's entries come from ``proprio``, the puck's from the eyes (position at the table's height,
        velocity from the stack, rotation and angular velocity zero), ``achieved_goal`` is the eyes' position.
        """
        pixels, proprio, goal, single = self._checked(observation)
        readings = self.eyes.read(pixels)  # (n, 4): x, y in metres, vx, vy in metres per step
        rows = []
        for robot, desired, reading in zip(proprio, goal, readings):
            state = np.zeros(STATE_DIM)
            state[PROPRIO_INDICES] = robot
            known = {"observation": state, "achieved_goal": np.zeros(3), "desired_goal": desired}
            rows.append(with_puck_estimate(known, reading[:2], reading[2:4], self.table_z))
        batch = {key: np.stack([row[key] for row in rows]) for key in ("observation", "achieved_goal", "desired_goal")}
        return {key: value[0] for key, value in batch.items()} if single else batch

    def predict(self, observation: Mapping[str, Any], state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """Actions for one observation (``pixels`` ``(12, 84, 84)`` uint8, ``proprio`` ``(10,)``, ``desired_goal``
        ``(3,)``) -> ``(4,)``, or a batch (a VecEnv's ``(n, ...)``) -> ``(n, 4)``; and ``state`` (always ``None``:
        the velocity comes from the frame stack, so nothing is carried between steps)."""
        return self.controller.predict(self.state_observation(observation), state, episode_start, deterministic)

    def _checked(self, observation: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
        """``(pixels (n, C, S, S) uint8, proprio (n, 10), desired_goal (n, 3), single)``, or a ``ValueError`` that
        names what is wrong and the fix."""
        expected = self.pixels_shape
        stack, size = expected[0] // 3, expected[1]
        make = f"make_env('pixels', frame_stack={stack}, image_size={size})"
        needed = ("pixels", "proprio", "desired_goal")
        if not isinstance(observation, Mapping) or any(key not in observation for key in needed):
            keys = sorted(observation) if isinstance(observation, Mapping) else type(observation).__name__
            raise ValueError(f"this agent acts on the pixel env's observation, a dict with 'pixels' {expected} uint8, "
                             f"'proprio' (10,) and 'desired_goal' (3,) as {make} returns; got {keys}")
        pixels = np.asarray(observation["pixels"])
        single = pixels.ndim == 3
        batch = pixels[None] if single else pixels
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise ValueError(f"pixels of shape {pixels.shape}: {_shape_fault(pixels.shape, expected)}. This agent "
                             f"reads {expected} per observation ({stack} RGB frames of {size}x{size}, channels first, "
                             f"oldest first), or (n, {', '.join(map(str, expected))}) for n envs: {make} gives them")
        if batch.dtype != np.uint8:
            raise ValueError(f"pixels are {batch.dtype}; the eyes read uint8 frames in 0..255, as {make} renders "
                             "them: pass them unscaled")
        vectors = []
        for key, width in (("proprio", len(PROPRIO_INDICES)), ("desired_goal", 3)):
            value = np.asarray(observation[key], dtype=np.float64)
            wanted = (width,) if single else (len(batch), width)
            if value.shape != wanted:
                raise ValueError(f"{key} of shape {value.shape} does not go with pixels of shape {pixels.shape}: "
                                 f"expected {wanted}, as {make} returns")
            vectors.append(value.reshape(-1, width))
        return batch, vectors[0], vectors[1], single


def _shape_fault(shape: tuple[int, ...], expected: tuple[int, int, int]) -> str:
    """What is wrong with a frame stack of ``shape``, in words."""
    channels, size, _ = expected
    frames = shape[-3:]
    if len(shape) in (3, 4) and frames[-1] == channels and frames[:2] == (size, size):
        return "channels last; move them first (np.moveaxis(pixels, -1, -3))"
    if len(shape) in (3, 4) and frames[1:] != (size, size):
        return f"frames of {frames[1]}x{frames[2]}, not {size}x{size}: render them at image_size={size}"
    if len(shape) in (3, 4) and frames[0] != channels:
        return (f"{frames[0]} channels, a stack of {frames[0] / 3:g} RGB frames, not {channels // 3}: stack "
                f"frame_stack={channels // 3} frames")
    return f"{len(shape)} axes, not 3 (one observation) or 4 (a batch)"


# --- The registered composite: a manifest that pins both parts --------------------------------------------------


def compose(path: Path | str, eyes_encoder: str, eyes_seed: int | None, controller: str,
            registry: Path | str = REGISTRY, measured_dir: Path | str = MEASURED_DIR) -> dict[str, Any]:
    """Write the manifest of a state agent on eyes to ``path`` (a ``.json``, atomically) and return it: the
    committed eyes of ``eyes_encoder`` (``eyes_seed``; ``None``: validation's choice) and the registered state
    checkpoint ``controller``, each pinned by sha256 and said how it was trained."""
    path, registry, measured_dir = Path(path), Path(registry), Path(measured_dir)
    eyes = load_measured_eyes(eyes_encoder, eyes_seed, measured_dir)  # verified against the measured sha256
    eyes_manifest = load_manifest("eyes", measured_dir)
    eyes_file = measured_dir / "eyes" / eyes_manifest["summary"]["weights"][eyes_encoder][str(eyes.seed)]["file"]
    state = get_entry(controller, registry)
    if get_config(state.config, state.overrides).obs_mode != "state":
        raise ValueError(f"the controller {controller!r} is a {state.config} checkpoint; it must be a state agent")
    manifest = {
        "schema_version": 1, "kind": KIND,
        "eyes": {"url": _relative_url(eyes_file, registry), "sha256": eyes.sha256,
                 "size_bytes": eyes_file.stat().st_size, "encoder": eyes_encoder, "seed": eyes.seed,
                 "trained_with": EYES_TRAINED_WITH,
                 "measured": {k: eyes_manifest["provenance"][k] for k in ("command", "git_commit", "date")}},
        "controller": {"checkpoint": controller, "sha256": state.sha256, "steps": state.steps,
                       "trained_with": CONTROLLER_TRAINED_WITH, "success_rate": state.success_rate},
    }
    write_json_atomic(path, manifest)
    return manifest


def _relative_url(path: Path, registry: Path) -> str:
    """``path`` relative to the registry's folder (so a clone finds it), or its ``file://`` URL."""
    try:
        return path.resolve().relative_to(registry.resolve().parent).as_posix()
    except ValueError:
        return path.resolve().as_uri()


def read_manifest(path: Path | str) -> dict[str, Any]:
    """The manifest at ``path``, with the fields loading needs (``CheckpointError`` naming the file otherwise)."""
    try:
        manifest = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(f"cannot read the manifest {path} ({error}); restore it from git or re-register") from None
    manifest = manifest if isinstance(manifest, dict) else {}
    missing = [f"{part}.{key}" for part, keys in COMPOSED_PARTS.items() for key in keys
               if not isinstance(manifest.get(part), dict) or key not in manifest[part]]
    if manifest.get("kind") != KIND or missing:
        raise CheckpointError(f"{path} is not a {KIND} manifest (kind {manifest.get('kind')!r}, missing {missing}); "
                              "write it with `pixelpush checkpoints add MANIFEST.json --eyes ENCODER:SEED "
                              "--controller NAME ...`")
    return manifest


def load_composed(manifest_path: Path | str, config: str, overrides: dict[str, Any] | None,
                  load_controller: Callable[[str], Any], registry: Path | str = REGISTRY,
                  cache_dir: Path | str = DEFAULT_CACHE) -> StateOnEyesAgent:
    """The agent of a manifest: its eyes (fetched and verified by sha256, as any registered file) and its controller,
    ``load_controller(name)`` of the registered state checkpoint (``training.pretrained.load_pretrained``, which
    loads composed agents with this function), refused before it is loaded when its sha256 is not the pinned one."""
    manifest = read_manifest(manifest_path)
    eyes_part, controller_part = manifest["eyes"], manifest["controller"]
    name = Path(manifest_path).stem
    eyes_path = fetch_file(f"{name}.eyes", eyes_part["url"], eyes_part["sha256"], eyes_part["size_bytes"],
                           cache_dir, registry)
    eyes = load_eyes(eyes_path, eyes_part["sha256"])
    registered = get_entry(controller_part["checkpoint"], registry)
    if registered.sha256 != controller_part["sha256"]:
        raise CheckpointError(f"{manifest_path} pins controller {registered.name!r} at sha256 "
                              f"{controller_part['sha256']}, but the registry now lists {registered.sha256}: "
                              "re-register this agent with `pixelpush checkpoints add ... --replace`")
    controller = load_controller(registered.name)
    table_z = float(controller.get_env().get_attr("height_offset")[0])  # the puck's resting height: the scene's
    parts = {"eyes": eyes_part, "controller": controller_part}
    return StateOnEyesAgent(eyes, controller, get_config(config, overrides), table_z, parts)


__all__ = ["StateOnEyesAgent", "compose", "load_composed", "read_manifest"]

"""One configuration per step of the chapter: the single source of truth for every run.

Each config names the author's run it reproduces (``reference_run``, a row of ``data/reported/runs.csv``);
how the two differ is data, not code: ``data/reported/config_notes.csv`` (``pixelpush_lib.results.config_notes``).
The configs that reproduce the author's pixel runs feed the policy ``achieved_goal``, as those runs did
(``policy_sees_achieved_goal=True``); each has a ``*_pixels_only`` twin whose policy never sees it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ROUTINGS = ("critic_encoder", "sb3_shared", "sb3_separate")
ENCODERS = ("nature", "manipulation", "state_mlp")
# The pixel encoder's convolutions. "bf16" is mixed precision: the convolutions multiply in bfloat16 while weights,
# gradients, optimizers and everything after the conv stack stay float32. CPUs with AMX and GPUs with tensor cores
# compute bfloat16 natively (data/measured/precision has the speed-up on this project's CPU; no GPU was measured).
# "fp32" is what the author's runs used, and every config's default.
CONV_PRECISIONS = ("fp32", "bf16")
OBS_MODES = ("pixels", "state", "eyes")
REPLAY_BUFFERS = ("frame_her", "sb3_her")  # frame_her: each rendered frame stored once (replay/frame_her.py)

# Fields that name a config and its reported run: an override would make a different experiment
# claim the author's run, and a manifest that could not be resumed.
IDENTITY_FIELDS = ("name", "arc_step", "description", "reference_run")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to build one SAC + HER run. Units: steps are environment steps summed
    over all parallel envs (SB3's ``num_timesteps``); ``buffer_size`` counts transitions."""

    name: str
    arc_step: str  # "state", "0", "1", "2", "4"
    description: str
    obs_mode: str  # "pixels", "state" or "eyes" (pixels read by frozen eyes, nets.eyes.EyesObservation)
    encoder: str  # one of ENCODERS
    spatial_softmax: bool
    routing: str  # one of ROUTINGS
    drq: bool
    policy_sees_achieved_goal: bool
    learning_rate: float
    buffer_size: int
    her_n_sampled_goal: int
    batch_size: int
    n_envs: int
    total_steps: int
    reference_run: str  # the author's run it reproduces: a run id of data/reported/runs.csv
    her_strategy: str = "future"
    gamma: float = 0.95
    ent_coef: float | str = 0.05
    tau: float = 0.005
    gradient_steps: int = 1
    train_freq: int = 1
    learning_starts: int = 1000
    frame_stack: int = 4
    image_size: int = 84
    camera: str = "table"
    drq_pad: int = 4
    cnn_dim: int = 256  # NatureCNN's linear head
    cnn_channels: int = 32  # ManipulationCNN's filters
    net_arch: tuple[int, ...] = (256, 256)
    replay_buffer: str = "frame_her"  # pixels; "sb3_her" = SB3's HerReplayBuffer (8 copies of each frame)
    # "dummy": one process; "subproc": one per env; "auto": one per env for pixel configs with two or more envs on a
    # machine with two or more cores, so rendering runs in parallel (training.build.resolve_vec_env)
    vec_env: str = "auto"
    conv_precision: str = "fp32"  # one of CONV_PRECISIONS
    # obs_mode="eyes": the seed of the committed eyes of ``encoder`` (data/measured/eyes) that read the frames; None
    # for a config that reads none. The run records the file's sha256 and refuses to resume with other eyes.
    eyes_seed: int | None = None
    # obs_mode="state": > 0 reads the puck's position through Gaussian noise of this median error (cm), drawn afresh each
    # step, its velocity from the noisy readings (env.wrappers.NoisyPuckObservation). 0: the true state.
    puck_noise_median_cm: float = 0.0

    def with_overrides(self, overrides: dict[str, Any] | None) -> RunConfig:
        """A copy with some fields replaced; unknown keys or wrong types raise ``ValueError``."""
        if not overrides:
            return self
        known = {f.name: f for f in dataclasses.fields(self) if f.name not in IDENTITY_FIELDS}
        frozen = sorted(set(overrides) & set(IDENTITY_FIELDS))
        if frozen:
            raise ValueError(f"config field(s) {frozen} name the config and its reported run and cannot be overridden")
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(
                f"unknown config field(s) {unknown} for config {self.name!r}; valid fields: {', '.join(sorted(known))}"
            )
        coerced = {key: _coerce(key, value, getattr(self, key)) for key, value in overrides.items()}
        updated = dataclasses.replace(self, **coerced)
        updated.validate()
        return updated

    def validate(self) -> None:
        names_eyes = self.eyes_seed is not None and self.eyes_seed >= 0
        checks = [
            ("obs_mode", self.obs_mode in OBS_MODES, f"one of {OBS_MODES}"),
            ("encoder", self.encoder in ENCODERS, f"one of {ENCODERS}"),
            ("routing", self.routing in ROUTINGS, f"one of {ROUTINGS}"),
            ("replay_buffer", self.replay_buffer in REPLAY_BUFFERS, f"one of {REPLAY_BUFFERS}"),
            ("vec_env", self.vec_env in ("auto", "dummy", "subproc"), "'auto', 'dummy' or 'subproc'"),
            ("conv_precision", self.conv_precision in CONV_PRECISIONS, f"one of {CONV_PRECISIONS}"),
            (
                "replay_buffer",
                self.obs_mode == "pixels" or self.replay_buffer == "sb3_her",
                "'sb3_her' for state and eyes observations (frame_her stores pixel frames)",
            ),
            (
                "encoder",
                (self.encoder == "state_mlp") == (self.obs_mode == "state"),
                "'state_mlp' exactly when obs_mode='state' ('nature' or 'manipulation' for pixels)",
            ),
            ("her_strategy", self.her_strategy in ("future", "final", "episode"), "future, final or episode"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("buffer_size", self.buffer_size >= 1, ">= 1"),
            ("n_envs", self.n_envs >= 1, ">= 1"),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("gamma", 0 < self.gamma <= 1, "in (0, 1]"),
            ("frame_stack", self.frame_stack >= 1, ">= 1"),
            ("total_steps", self.total_steps >= 1, ">= 1"),
            ("learning_starts", self.learning_starts >= 0, ">= 0"),
            (
                "eyes_seed",
                names_eyes if self.obs_mode == "eyes" else self.eyes_seed is None,
                "the seed (>= 0) of committed eyes exactly when obs_mode='eyes', else None",
            ),
            (
                "puck_noise_median_cm",
                self.puck_noise_median_cm == 0
                or (self.puck_noise_median_cm > 0 and self.obs_mode == "state" and not self.policy_sees_achieved_goal),
                "0, or > 0 (cm) with obs_mode='state' and policy_sees_achieved_goal=False (achieved_goal is the true "
                "position the noise hides)",
            ),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ValueError(f"config {self.name!r}: {name}={getattr(self, name)!r} is not valid; allowed: {allowed}")
        if self.ent_coef != "auto" and not (isinstance(self.ent_coef, float) and self.ent_coef > 0):
            raise ValueError(f"config {self.name!r}: ent_coef={self.ent_coef!r} must be a float > 0 or 'auto'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def overrides(self) -> dict[str, Any]:
        """The fields where this config differs from the config it is named after: with the name, what a run
        records to rebuild it (``get_config(config.name, config.overrides()) == config``). ``ValueError`` for a
        config that is not a named one with overrides, which no run could rebuild."""
        named = CONFIGS.get(self.name)
        changed = {key: value for key, value in self.to_dict().items() if named is None or value != getattr(named, key)}
        if named is None or set(changed) & set(IDENTITY_FIELDS):
            raise ValueError(f"config {self.name!r}: a run records a named config ({', '.join(CONFIGS)}) with "
                             f"overrides of fields other than {IDENTITY_FIELDS}; this is not one, so no run could "
                             "be rebuilt from it")
        return changed


def _coerce(key: str, value: Any, current: Any) -> Any:
    """Turn ``--set key=value`` strings (or notebook parameters) into the field's type."""
    if key == "eyes_seed":  # an int, or None: the config reads no eyes
        if value is None or str(value).lower() == "none":
            return None
        current = 0 if current is None else current
    try:
        if isinstance(current, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return value.lower() in ("true", "1")
            return bool(value)
        if key == "ent_coef":
            return "auto" if value == "auto" else float(value)
        if isinstance(current, int):
            if isinstance(value, bool):
                raise ValueError
            as_float = float(value)
            if as_float != int(as_float):
                raise ValueError
            return int(as_float)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            if isinstance(value, str):
                value = [v for v in value.replace("[", "").replace("]", "").replace("(", "").replace(")", "").split(",") if v.strip()]
            return tuple(type(current[0])(v) if current else v for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"config field {key}={value!r} cannot be read as {type(current).__name__} (current value {current!r})"
        ) from None
    return value


# --- The author's runs, as configs -----------------------------------------------------------

_STATE = RunConfig(
    name="state",
    arc_step="state",
    description="The baseline the chapter starts from: SAC + HER on FetchPush's 25-D state (puck position included).",
    obs_mode="state",
    encoder="state_mlp",
    spatial_softmax=False,
    routing="sb3_separate",
    drq=False,
    policy_sees_achieved_goal=True,  # the state vector itself contains the puck position
    learning_rate=3e-4,
    buffer_size=1_000_000,
    her_n_sampled_goal=4,
    batch_size=256,
    n_envs=8,
    total_steps=2_000_000,
    reference_run="state_ch09_run0_fullstate_seed0",
    frame_stack=1,
    replay_buffer="sb3_her",  # no pixels: nothing to deduplicate
)

_STEP0 = RunConfig(
    name="step0",
    arc_step="0",
    description="Step 0, the baseline gap: the same SAC + HER pipeline on pixels with SB3's NatureCNN.",
    obs_mode="pixels",
    encoder="nature",
    spatial_softmax=False,
    routing="sb3_separate",
    drq=False,
    policy_sees_achieved_goal=True,
    learning_rate=3e-4,
    buffer_size=1_000_000,
    her_n_sampled_goal=4,
    batch_size=256,
    n_envs=8,
    total_steps=2_000_000,
    frame_stack=1,
    reference_run="naturecnn256_her_seed0",
)

_STEP1 = RunConfig(
    name="step1",
    arc_step="1",
    description=(
        "Step 1, the right eyes: ManipulationCNN + SpatialSoftmax + proprioception, with SB3's shared "
        "encoder (in the actor's optimizer; the critic's loss never reaches it)."
    ),
    obs_mode="pixels",
    encoder="manipulation",
    spatial_softmax=True,
    routing="sb3_shared",
    drq=False,
    policy_sees_achieved_goal=True,
    learning_rate=1e-4,
    buffer_size=200_000,
    her_n_sampled_goal=4,
    batch_size=256,
    n_envs=4,
    total_steps=2_000_000,
    reference_run="manipcnn_ss_proprio_drq_sb3default_seed0",
)

_STEP2 = RunConfig(
    name="step2",
    arc_step="2",
    description=(
        "Step 2, the right gradient flow: Step 1's encoder trained by the critic's TD loss only "
        "(CriticEncoderPolicy), no DrQ."
    ),
    obs_mode="pixels",
    encoder="manipulation",
    spatial_softmax=True,
    routing="critic_encoder",
    drq=False,
    policy_sees_achieved_goal=True,
    learning_rate=1e-4,
    buffer_size=500_000,
    her_n_sampled_goal=8,
    batch_size=256,
    n_envs=4,
    total_steps=5_000_000,
    reference_run="cellA_nodrq_ss_criticenc_seed0",
)

_STEP4 = dataclasses.replace(
    _STEP2,
    name="step4",
    arc_step="4",
    description="Step 4, the DrQ surprise: Step 2's config plus DrQ random shifts (+/-4 px) of obs and next_obs.",
    drq=True,
    reference_run="cellD_drq_ss_criticenc_seed0",
)

_BASE = {c.name: c for c in (_STATE, _STEP0, _STEP1, _STEP2, _STEP4)}


def _pixels_only(config: RunConfig) -> RunConfig:
    return dataclasses.replace(
        config,
        name=f"{config.name}_pixels_only",
        description=config.description + " The policy never sees achieved_goal: the puck's position must come from the pixels.",
        policy_sees_achieved_goal=False,
    )


CONFIGS: dict[str, RunConfig] = dict(_BASE)
CONFIGS.update({f"{n}_pixels_only": _pixels_only(c) for n, c in _BASE.items() if c.obs_mode == "pixels"})

# --- Eyes first: SAC + HER on what frozen, label-trained eyes report (not one of the author's runs) ------------

_EYES_FIRST = dataclasses.replace(
    _STEP2,
    name="eyes_first",
    arc_step="3",
    description=(
        "Eyes first: SAC + HER from pixels through Step 1's ManipulationCNN + SpatialSoftmax, trained beforehand "
        "with simulator labels to report the puck's position and velocity (data/measured/eyes) and frozen. The "
        "policy and critic read only what the eyes report, proprio and desired_goal; achieved_goal feeds HER's "
        "rewards only. SAC and HER as Step 2; 2M steps, as the state runs."
    ),
    obs_mode="eyes",
    eyes_seed=1,  # the seed validation chose, as the run eyes_first_s0 read it (data/measured/eyes)
    routing="sb3_separate",  # no encoder is trained, so there is nothing to route
    policy_sees_achieved_goal=False,
    replay_buffer="sb3_her",  # a few numbers per observation: nothing to deduplicate
    total_steps=2_000_000,
    reference_run="cellA_nodrq_ss_criticenc_seed0",  # the author's Step 2 run, the one it is compared with
)
_EYES_FIRST_NATURE = dataclasses.replace(
    _EYES_FIRST,
    name="eyes_first_nature",
    description=_EYES_FIRST.description.replace("Step 1's ManipulationCNN + SpatialSoftmax", "Step 0's NatureCNN")
    .replace("position and velocity", "position (one frame shows no motion)"),
    encoder="nature",
    eyes_seed=0,  # the seed validation chose
    spatial_softmax=False,
    frame_stack=1,
)
CONFIGS.update({c.name: c for c in (_EYES_FIRST, _EYES_FIRST_NATURE)})

# --- The settings control: the state agent with Step 2's SAC + HER settings (issue 37) ---------------------------

#: The settings of Step 2's run that apply to a state run. The eyes-first agent and the author's pixel runs differ from
#: the state agent in these as well as in what they see; a state run with them says how much delay they alone cause.
STEP2_SAC_HER_SETTINGS = ("learning_rate", "buffer_size", "her_n_sampled_goal", "her_strategy", "batch_size", "n_envs",
                          "gamma", "ent_coef", "tau", "gradient_steps", "train_freq", "learning_starts", "net_arch")
_STATE_STEP2_SETTINGS = dataclasses.replace(
    _STATE,
    name="state_step2_settings",
    arc_step="3",
    description=(
        "The settings control: the state agent (25-D state, puck position included) trained with Step 2's SAC + HER "
        "settings (learning rate, HER's relabelled goals per real one, envs stepped together, buffer) instead of its "
        "own. Beside the state agent it says how much of a delay the settings alone cause; 2M steps, as the state runs."
    ),
    **{field: getattr(_STEP2, field) for field in STEP2_SAC_HER_SETTINGS},
)
CONFIGS[_STATE_STEP2_SETTINGS.name] = _STATE_STEP2_SETTINGS

# --- The runs the control points to (issue 37) ------------------------------------------------------------------------

# Settings cleared: can SAC + HER learn through readings as imprecise as the eyes' near the gripper at all? The eyes the
# eyes-first run read (ManipulationCNN, seed 1) err by a median 2.5 cm there (data/measured/eyes/errors.csv).
_STATE_NOISY_PUCK = dataclasses.replace(
    _STATE,
    name="state_noisy_puck",
    arc_step="3",
    description=(
        "The state agent trained (not only evaluated) on a puck position read through noise of the eyes' size: each "
        "step the puck's table position is off by Gaussian noise of median 2.5 cm, drawn afresh, its velocity is the "
        "change of those readings, its rotation is unknown, and the policy never sees achieved_goal. The state "
        "agent's own SAC + HER settings; 2M steps, as the state runs."
    ),
    puck_noise_median_cm=2.5,
    policy_sees_achieved_goal=False,
)
# Settings delay: eyes first again, with the state agent's SAC + HER settings instead of Step 2's.
_EYES_FIRST_STATE_SETTINGS = dataclasses.replace(
    _EYES_FIRST,
    name="eyes_first_state_settings",
    description=_EYES_FIRST.description.replace("SAC and HER as Step 2", "SAC and HER as the state agent"),
    **{field: getattr(_STATE, field) for field in STEP2_SAC_HER_SETTINGS},
)
CONFIGS.update({c.name: c for c in (_STATE_NOISY_PUCK, _EYES_FIRST_STATE_SETTINGS)})


def config_names() -> list[str]:
    return list(CONFIGS)


def get_config(name: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The config called ``name``, with ``overrides`` applied (``ValueError`` lists valid names/fields)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; valid configs: {', '.join(CONFIGS)}")
    return CONFIGS[name].with_overrides(overrides)


for _config in CONFIGS.values():
    _config.validate()

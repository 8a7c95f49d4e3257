"""Step 2: which loss reaches the pixel encoder, measured on one real replay batch.

Three SAC + HER models of the ``step2`` config (ManipulationCNN + SpatialSoftmax, ``normalize_images=False``) that
differ only in routing: SB3's shared extractor (``MultiInputPolicy``, ``share_features_extractor=True``), SB3's
default separate copies, and ``routing.CriticEncoderPolicy`` (DrQ-v2). All start from the same weights (the
critic-encoder model's, built with seed 0, copied into the others) and are scored on the same batch, sampled once
from a HER buffer filled with real rendered transitions (two 50-step episodes of random actions). For each
encoder, ``routing.encoder_gradient_norms`` gives the L2 norm of its gradient from the critic (TD) loss alone and
from the actor loss alone; the table also says which optimizer holds the encoder's parameters, hence which
gradient is applied (in SB3's separate routing the actor loss reaches the critic's encoder copy through
``Q(s, pi(s))``, but the critic optimizer zeroes it before its own step). No weights change.

Live: about 5-15 s on 2 CPU cores (batch 32).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch as th

from pixelpush_lib.core.paths import MEASURED_DIR
from pixelpush_lib.experiments.store import write_measured
from pixelpush_lib.nets.routing import encoder_gradient_norms, encoders_of

LOSSES = ("critic loss", "actor loss")
ROUTING_LABELS = {"sb3_shared": "SB3 shared extractor", "sb3_separate": "SB3 separate (default)",
                  "critic_encoder": "CriticEncoderPolicy (DrQ-v2)"}


@dataclass(frozen=True)
class GradFlowSettings:
    """Sizes of the measurement. ``episodes`` of 50 real steps fill the buffer; ``batch_size`` transitions are
    scored; ``seed`` seeds the weights, the random actions and the batch. ``losses``: the SAC losses switched on
    (a subset of :data:`LOSSES`); one left out sends no gradient, as if SAC did not optimise it (Step 2's exercise)."""

    routings: tuple[str, ...] = ("sb3_shared", "sb3_separate", "critic_encoder")
    batch_size: int = 32
    episodes: int = 2
    seed: int = 0
    config: str = "step2"
    losses: tuple[str, ...] = LOSSES

    def __post_init__(self) -> None:
        unknown = sorted(set(self.losses) - set(LOSSES))
        if unknown:
            raise ValueError(f"losses {unknown} are not SAC's; allowed: {LOSSES}")


def _build(routing: str, settings: GradFlowSettings, env=None):
    from pixelpush_lib.core.configs import get_config
    from pixelpush_lib.training.runs import build_model

    steps = 50 * settings.episodes
    config = get_config(settings.config, {"routing": routing, "n_envs": 1, "batch_size": settings.batch_size,
                                          "buffer_size": max(steps, 200), "learning_starts": steps + 50})
    return build_model(config, env=env, seed=settings.seed, device="cpu")


def _optimizer_of(policy, encoder: th.nn.Module) -> str:
    """Which optimizer(s) hold the encoder's parameters (identity test, not names)."""
    ids = {id(p) for p in encoder.parameters()}
    owners = [name for name, opt in (("actor", policy.actor.optimizer), ("critic", policy.critic.optimizer))
              if any(id(p) in ids for group in opt.param_groups for p in group["params"])]
    return " + ".join(owners) or "none"


def measure_gradient_flow(settings: GradFlowSettings = GradFlowSettings()) -> pd.DataFrame:
    """Gradient norms per (routing, encoder) from each loss, on one shared real batch.

    Returns a DataFrame indexed by (routing, encoder) with a column per loss switched on (``settings.losses``;
    ``critic loss`` and ``actor loss`` by default: the L2 norm of the encoder's gradient from that loss alone,
    over all its parameters), ``optimizer`` (which optimizer holds its parameters) and ``learns from`` (the losses
    switched on whose gradient reaches it AND is applied by that optimizer).
    """
    th.manual_seed(settings.seed)
    reference = _build("critic_encoder", settings)
    reference.learn(total_timesteps=50 * settings.episodes)  # random actions only: learning_starts not reached
    batch = reference.replay_buffer.sample(settings.batch_size, env=reference.get_vec_normalize_env())
    weights = reference.policy.state_dict()
    rows = []
    for routing in settings.routings:
        model = reference if routing == "critic_encoder" else _build(routing, settings, env=reference.get_env())
        _copy_matching(model.policy, weights)
        norms = encoder_gradient_norms(model, batch)
        encoders = encoders_of(model.policy)
        for role, all_losses in norms.items():
            values = {loss: norm for loss, norm in all_losses.items() if loss in settings.losses}
            optimizer = _optimizer_of(model.policy, encoders[role])
            rows.append({"routing": ROUTING_LABELS[routing], "encoder": role, **values, "optimizer": optimizer,
                         "learns from": _learns_from(values, optimizer)})
    reference.get_env().close()
    return pd.DataFrame(rows).set_index(["routing", "encoder"])


def gradflow_facts(table: pd.DataFrame) -> dict[str, str]:
    """What Step 2 states about :func:`measure_gradient_flow`'s table, for ``{glue:text}``: the gradient norm the
    critic loss sends into CriticEncoderPolicy's shared encoder, and the actor loss's into SB3's shared extractor."""
    return {"critic_encoder_critic_grad":
            f"{table.loc[(ROUTING_LABELS['critic_encoder'], 'shared encoder'), 'critic loss']:.2g}",
            "sb3_shared_actor_grad": f"{table.loc[(ROUTING_LABELS['sb3_shared'], 'shared encoder'), 'actor loss']:.2g}"}


def _learns_from(norms: dict[str, float], optimizer: str) -> str:
    """The losses whose gradient both reaches the encoder and is applied by the optimizer holding it.

    SB3's ``SAC.train`` zeroes each optimizer's gradients right before its own backward pass, so a gradient that
    lands in parameters of the *other* optimizer (the actor loss flowing through the critic's encoder copy) is
    discarded, never applied.
    """
    losses = [loss for loss, owner in (("critic loss", "critic"), ("actor loss", "actor"))
              if norms.get(loss, 0.0) > 0 and owner in optimizer]
    return " + ".join(losses) or "nothing"


def _copy_matching(policy, weights: dict[str, th.Tensor]) -> None:
    """Load every tensor whose name and shape match (the three policies name their modules alike)."""
    own = policy.state_dict()
    matched = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in matched]
    if missing:
        raise RuntimeError(f"cannot give the policies the same initial weights; unmatched: {missing[:5]}")
    policy.load_state_dict(matched)


def precompute(quick: bool = False, measured_dir: Path = MEASURED_DIR,
               command: str = "python -m pixelpush_lib.experiments gradflow") -> Path:
    """Freeze the live measurement into ``measured_dir/gradflow/table.csv``."""
    start = time.perf_counter()
    settings = GradFlowSettings(batch_size=8 if quick else 32, episodes=1 if quick else 2)
    table = measure_gradient_flow(settings)
    return write_measured("gradflow", {"table.csv": lambda p: table.to_csv(p, float_format="%.6g")},
                          {**settings.__dict__, "quick": quick}, command, time.perf_counter() - start, {},
                          measured_dir)

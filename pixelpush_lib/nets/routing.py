"""``CriticEncoderPolicy``: one pixel encoder, trained by the critic's TD loss only (DrQ-v2's routing), in SB3's SAC.

The actor reads the features detached; the critic passes gradients into the encoder only when it scores a
replayed action. The encoder runs once per batch (the features are cached). Why, and how it differs from SB3's
two routings: ``book/design_notes.md``. ``encoder_gradient_norms`` measures where gradients reach (Step 2).
"""

from __future__ import annotations

from typing import Any

import torch as th
from stable_baselines3.common.policies import BaseModel, ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import Actor, SACPolicy

from pixelpush_lib.nets.encoders import ManipulationExtractor

ENCODER_PREFIX = "features_extractor."


class FeatureCache:
    """Remembers the encoder output for the last training batch (keyed by the observation object)."""

    def __init__(self) -> None:
        self._obs: Any = None
        self._features: th.Tensor | None = None

    def get(self, obs: PyTorchObs) -> th.Tensor | None:
        return self._features if obs is self._obs else None

    def put(self, obs: PyTorchObs, features: th.Tensor) -> None:
        # Holding a reference to ``obs`` also keeps its id from being reused by a later batch.
        self._obs, self._features = obs, features

    def clear(self) -> None:
        self._obs, self._features = None, None


def _extract(model: Actor | ContinuousCritic, obs: PyTorchObs) -> th.Tensor:
    extractor = model.features_extractor
    if getattr(extractor, "reads_raw_observations", False):
        # It scales the uint8 pixels itself; SB3's preprocessing would first copy them all to float32.
        return extractor(obs)
    return BaseModel.extract_features(model, obs, extractor)


def _encode(model: Actor | ContinuousCritic, obs: PyTorchObs, cache: FeatureCache) -> th.Tensor:
    """Encoder features for ``obs``, computed once per training batch.

    Only computations with autograd on are cached: inference (``predict``, the TD target's
    ``no_grad`` actor call on ``next_obs``) never holds on to a batch.
    """
    features = cache.get(obs)
    if features is None:
        features = _extract(model, obs)
        if th.is_grad_enabled():
            cache.put(obs, features)
    return features


class DetachedActor(Actor):
    """SB3's SAC actor reading the shared encoder's features through ``detach()``."""

    feature_cache: FeatureCache

    def extract_features(self, obs: PyTorchObs, features_extractor=None) -> th.Tensor:
        return _encode(self, obs, self.feature_cache).detach()


class EncoderCritic(ContinuousCritic):
    """SB3's twin Q critic that owns the encoder and trains it with the TD loss only."""

    feature_cache: FeatureCache

    def extract_features(self, obs: PyTorchObs, features_extractor=None) -> th.Tensor:
        return _encode(self, obs, self.feature_cache)

    def forward(self, obs: PyTorchObs, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        features = self.extract_features(obs)
        if actions.requires_grad:
            # The action came from the actor (SAC's actor loss): this gradient is for the actor.
            features = features.detach()
        q_input = th.cat([features, actions], dim=1)
        return tuple(q_net(q_input) for q_net in self.q_networks)


class TargetCritic(ContinuousCritic):
    """The target critic: its own encoder copy (Polyak-averaged), never trained by a loss."""

    def forward(self, obs: PyTorchObs, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        with th.no_grad():
            features = _extract(self, obs)
        return tuple(q_net(th.cat([features, actions], dim=1)) for q_net in self.q_networks)


class CriticEncoderPolicy(SACPolicy):
    """SAC policy whose single pixel encoder is trained by the critic's TD loss only (DrQ-v2 routing).

    Defaults: ``ManipulationExtractor`` (ManipulationCNN + SpatialSoftmax), ``normalize_images=False``
    (the extractor scales pixels itself). Optimizers: the encoder's parameters are in the critic's
    optimizer and in no other.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", ManipulationExtractor)
        kwargs.setdefault("normalize_images", False)
        if kwargs.get("share_features_extractor"):
            raise ValueError(
                "CriticEncoderPolicy always shares one encoder between actor and critic; "
                "drop share_features_extractor (SB3's own sharing is MultiInputPolicy with share_features_extractor=True)"
            )
        kwargs["share_features_extractor"] = False
        self.feature_cache = FeatureCache()
        super().__init__(*args, **kwargs)

    def make_actor(self, features_extractor=None) -> DetachedActor:
        actor = DetachedActor(**self._update_features_extractor(self.actor_kwargs, features_extractor))
        actor.feature_cache = self.feature_cache
        return actor.to(self.device)

    def make_critic(self, features_extractor=None) -> EncoderCritic:
        critic = EncoderCritic(**self._update_features_extractor(self.critic_kwargs, features_extractor))
        critic.feature_cache = self.feature_cache
        return critic.to(self.device)

    def _make_target_critic(self) -> TargetCritic:
        return TargetCritic(**self._update_features_extractor(self.critic_kwargs, None)).to(self.device)

    def _build(self, lr_schedule: Schedule) -> None:
        self.critic = self.make_critic()  # owns the one trainable encoder
        self.actor = self.make_actor(features_extractor=self.critic.features_extractor)
        actor_parameters = [p for name, p in self.actor.named_parameters() if not name.startswith(ENCODER_PREFIX)]
        self.actor.optimizer = self.optimizer_class(actor_parameters, lr=lr_schedule(1), **self.optimizer_kwargs)
        self.critic.optimizer = self.optimizer_class(
            self.critic.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )
        self.critic_target = self._make_target_critic()
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.set_training_mode(False)
        # Parameters change after each critic step: never reuse features across optimizer steps
        # for the TD loss (the actor-loss reuse within a batch is intended, see module docstring).
        self.critic.optimizer.register_step_post_hook(lambda *_: self._forget_graph())

    def _forget_graph(self) -> None:
        features = self.feature_cache.get(self.feature_cache._obs)
        if features is not None:
            # Keep the values for the actor loss of this batch, drop the graph the TD loss used.
            self.feature_cache.put(self.feature_cache._obs, features.detach())

    @property
    def encoder(self) -> th.nn.Module:
        """The one trainable pixel encoder (shared object of actor and critic)."""
        return self.critic.features_extractor

    def set_training_mode(self, mode: bool) -> None:
        self.feature_cache.clear()
        super().set_training_mode(mode)


# --- Measuring the routing: which loss reaches which encoder ------------------------------------


def encoders_of(policy: SACPolicy) -> dict[str, th.nn.Module]:
    """The trainable pixel encoders of a SAC policy, by role."""
    actor_encoder, critic_encoder = policy.actor.features_extractor, policy.critic.features_extractor
    if actor_encoder is critic_encoder:
        return {"shared encoder": actor_encoder}
    return {"actor's encoder": actor_encoder, "critic's encoder": critic_encoder}


def _ent_coef(model) -> th.Tensor:
    if getattr(model, "log_ent_coef", None) is not None:
        return model.log_ent_coef.detach().exp()
    return model.ent_coef_tensor


def critic_loss(model, batch) -> th.Tensor:
    """SAC's TD loss on one replay batch, computed exactly as ``SAC.train`` does."""
    with th.no_grad():
        next_actions, next_log_prob = model.actor.action_log_prob(batch.next_observations)
        next_q = th.min(th.cat(model.critic_target(batch.next_observations, next_actions), dim=1), dim=1, keepdim=True)[0]
        next_q = next_q - _ent_coef(model) * next_log_prob.reshape(-1, 1)
        target_q = batch.rewards + (1 - batch.dones) * model.gamma * next_q
    current_q = model.critic(batch.observations, batch.actions)
    return 0.5 * sum(th.nn.functional.mse_loss(q, target_q) for q in current_q)


def actor_loss(model, batch) -> th.Tensor:
    """SAC's policy loss ``E[alpha * log pi(a|s) - min Q(s, a)]``, ``a ~ pi(s)``, as ``SAC.train`` computes it."""
    actions_pi, log_prob = model.actor.action_log_prob(batch.observations)
    q_pi = th.min(th.cat(model.critic(batch.observations, actions_pi), dim=1), dim=1, keepdim=True)[0]
    return (_ent_coef(model) * log_prob.reshape(-1, 1) - q_pi).mean()


def _grad_norm(module: th.nn.Module) -> float:
    grads = [p.grad.norm() for p in module.parameters() if p.grad is not None]
    return float(th.linalg.vector_norm(th.stack(grads))) if grads else 0.0


def encoder_gradient_norms(model, batch) -> dict[str, dict[str, float]]:
    """L2 norm of each encoder's gradient from the critic loss alone and from the actor loss alone.

    Returns ``{encoder role: {"critic loss": norm, "actor loss": norm}}`` for one replay batch;
    the model's weights are not changed (gradients are cleared afterwards).
    """
    policy = model.policy
    encoders = encoders_of(policy)
    table: dict[str, dict[str, float]] = {role: {} for role in encoders}
    for loss_name, loss_fn in (("critic loss", critic_loss), ("actor loss", actor_loss)):
        policy.zero_grad(set_to_none=True)
        if hasattr(policy, "feature_cache"):
            policy.feature_cache.clear()
        loss_fn(model, batch).backward()
        for role, encoder in encoders.items():
            table[role][loss_name] = _grad_norm(encoder)
    policy.zero_grad(set_to_none=True)
    if hasattr(policy, "feature_cache"):
        policy.feature_cache.clear()
    return table

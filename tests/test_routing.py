"""The Step 1 / Step 2 contrast, measured on real batches rather than asserted."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import SAC, HerReplayBuffer

from pixelpush_lib.nets.encoders import ManipulationExtractor
from pixelpush_lib.nets.routing import CriticEncoderPolicy, actor_loss, critic_loss, encoder_gradient_norms, encoders_of

pytestmark = pytest.mark.slow  # each test reads models trained on real pixel transitions (module fixture)

ROUTINGS = {
    "critic_encoder": (CriticEncoderPolicy, {}),
    "sb3_shared": ("MultiInputPolicy", {"share_features_extractor": True}),
}


def _model(env, routing):
    policy, extra = ROUTINGS[routing]
    kwargs = {"features_extractor_class": ManipulationExtractor, "normalize_images": False, **extra}
    model = SAC(
        policy, env, replay_buffer_class=HerReplayBuffer, buffer_size=500, learning_starts=100,
        batch_size=8, policy_kwargs=kwargs, seed=0, device="cpu",
    )
    return model


@pytest.fixture(scope="module")
def trained(pixel_env):
    """One model per routing, sharing a replay buffer of 110 real pixel transitions."""
    models = {}
    for routing in ROUTINGS:
        th.manual_seed(0)
        models[routing] = _model(pixel_env, routing)
    models["critic_encoder"].learn(110)  # 100 collection steps, then 10 updates
    for routing, model in models.items():
        if routing != "critic_encoder":
            model.replay_buffer = models["critic_encoder"].replay_buffer
    return models


def _batch(model, seed=0):
    np.random.seed(seed)
    return model.replay_buffer.sample(8)


def _encoder_grads(encoder):
    return [p.grad for p in encoder.parameters()]


def test_critic_encoder_critic_loss_reaches_every_encoder_parameter(trained):
    model = trained["critic_encoder"]
    model.policy.zero_grad(set_to_none=True)
    model.policy.feature_cache.clear()
    critic_loss(model, _batch(model)).backward()
    grads = _encoder_grads(model.policy.encoder)
    assert all(g is not None and g.abs().sum() > 0 for g in grads), "every encoder parameter learns from the TD loss"


def test_critic_encoder_actor_loss_never_reaches_the_encoder(trained):
    model = trained["critic_encoder"]
    model.policy.zero_grad(set_to_none=True)
    model.policy.feature_cache.clear()
    loss = actor_loss(model, _batch(model))
    loss.backward()
    assert all(g is None or g.abs().sum() == 0 for g in _encoder_grads(model.policy.encoder))
    # ...while the actor's own layers did get a gradient: the loss was real.
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.actor.latent_pi.parameters())


def test_sb3_shared_extractor_shows_the_opposite_pattern(trained):
    """SB3's share_features_extractor=True: the TD loss never reaches the encoder, the actor loss does."""
    model = trained["sb3_shared"]
    table = encoder_gradient_norms(model, _batch(model))
    assert list(table) == ["shared encoder"]
    assert table["shared encoder"]["critic loss"] == 0.0
    assert table["shared encoder"]["actor loss"] > 0.0

    ours = encoder_gradient_norms(trained["critic_encoder"], _batch(model))["shared encoder"]
    assert ours["critic loss"] > 0.0 and ours["actor loss"] == 0.0


def test_encoder_parameters_are_in_the_critic_optimizer_only(trained):
    policy = trained["critic_encoder"].policy
    encoder_ids = {id(p) for p in policy.encoder.parameters()}
    assert policy.actor.features_extractor is policy.critic.features_extractor
    in_critic = {id(p) for g in policy.critic.optimizer.param_groups for p in g["params"]}
    in_actor = {id(p) for g in policy.actor.optimizer.param_groups for p in g["params"]}
    assert encoder_ids <= in_critic
    assert not encoder_ids & in_actor
    others = [trained["critic_encoder"].ent_coef_optimizer]
    for optimizer in others:
        if optimizer is not None:
            assert not encoder_ids & {id(p) for g in optimizer.param_groups for p in g["params"]}


def test_target_encoder_is_a_separate_polyak_average(trained):
    model = trained["critic_encoder"]
    online, target = model.policy.critic.features_extractor, model.policy.critic_target.features_extractor
    assert online is not target
    old_target = [p.detach().clone() for p in target.parameters()]
    model.train(gradient_steps=1, batch_size=8)
    tau = model.tau
    for new_t, old_t, new_online in zip(target.parameters(), old_target, online.parameters()):
        th.testing.assert_close(new_t.detach(), (1 - tau) * old_t + tau * new_online.detach())
    assert any(not th.equal(a.detach(), b) for a, b in zip(target.parameters(), old_target))


def test_encoder_runs_once_on_obs_per_update(trained):
    """One SAC update: the online encoder runs on obs once (cached) and on next_obs once."""
    model = trained["critic_encoder"]
    calls = []  # the pixels each encoder call saw (copies: SB3's preprocessing buffers get reused)
    hook = model.policy.encoder.register_forward_hook(lambda m, args, out: calls.append(args[0]["pixels"].clone()))
    try:
        model.train(gradient_steps=1, batch_size=8)
    finally:
        hook.remove()
    assert len(calls) == 2 and not th.equal(calls[0], calls[1])  # obs once, next_obs once


def test_encoders_read_the_buffers_uint8_pixels_and_match_sb3s_preprocessing(trained):
    """CriticEncoderPolicy hands its extractors the sampled tensors as they are (no float32 copy of the pixels);
    the features are those SB3's own path (preprocess, then extract) gives."""
    from stable_baselines3.common.policies import BaseModel

    model = trained["critic_encoder"]
    seen = []
    hooks = [net.features_extractor.register_forward_hook(lambda m, args, out: seen.append(args[0]["pixels"].dtype))
             for net in (model.critic, model.critic_target)]
    try:
        model.train(gradient_steps=1, batch_size=8)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen and set(seen) == {th.uint8}
    batch = _batch(model)
    with th.no_grad():
        for net in (model.critic, model.critic_target):
            sb3_features = BaseModel.extract_features(net, batch.observations, net.features_extractor)
            assert sb3_features.dtype == th.float32
            th.testing.assert_close(net.features_extractor(batch.observations), sb3_features, rtol=0, atol=0)
            model.policy.feature_cache.clear()


def test_save_load_gives_identical_deterministic_actions(trained, pixel_env, tmp_path):
    model = trained["critic_encoder"]
    model.save(tmp_path / "model.zip")
    loaded = SAC.load(tmp_path / "model.zip", env=pixel_env, device="cpu")
    assert isinstance(loaded.policy, CriticEncoderPolicy)
    for seed in range(3):
        obs, _ = pixel_env.reset(seed=seed)
        np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])


def test_separate_default_has_two_encoders():
    from pixelpush_lib.env.wrappers import make_env

    env = make_env("pixels", seed=0)
    model = SAC(
        "MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, buffer_size=200, device="cpu",
        policy_kwargs={"features_extractor_class": ManipulationExtractor, "normalize_images": False},
    )
    assert list(encoders_of(model.policy)) == ["actor's encoder", "critic's encoder"]
    env.close()


def test_critic_encoder_policy_refuses_sb3_sharing(pixel_env):
    with pytest.raises(ValueError, match="share_features_extractor"):
        SAC(CriticEncoderPolicy, pixel_env, replay_buffer_class=HerReplayBuffer, buffer_size=200,
            policy_kwargs={"share_features_extractor": True}, device="cpu")

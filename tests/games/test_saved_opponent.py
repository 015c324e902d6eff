"""Saved SB3 PPO policies as opponents: same choices as SB3, and nothing ever unpickled."""

from __future__ import annotations

import base64
import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import PPO

import games
from games.errors import SavedPolicyError
from games.gym_single import SingleAgentEnv
from games.opponents.base import random_legal
from games.opponents.saved import SavedPolicyOpponent, saved_policy_factory

PONG = games.parse_spec("pong")
RPS = games.parse_spec("matrix(name=rps,rounds=20)")


class Payload:
    """Unpickling this creates ``marker``: proof that a loader ran the file's code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def train(spec, opponent: str, path: Path, illegal: str = "raise", **policy_kwargs) -> PPO:
    env = SingleAgentEnv(spec, games.make_opponent(spec, opponent, seed=0), illegal=illegal)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=64,
        batch_size=32,
        n_epochs=2,
        seed=0,
        device="cpu",
        policy_kwargs=policy_kwargs or None,
    )
    model.learn(256)
    model.save(path)
    return model


@pytest.fixture(scope="module")
def pong_model(tmp_path_factory) -> tuple[PPO, Path]:
    """A pong policy with a non-default shape: two policy layers, one value layer, ReLU."""
    path = tmp_path_factory.mktemp("saved") / "pong_ppo.zip"
    arch = {"pi": [16, 8], "vf": [12]}
    return train(PONG, "tracker_delay4", path, net_arch=arch, activation_fn=torch.nn.ReLU), path


@pytest.fixture(scope="module")
def rps_model(tmp_path_factory) -> tuple[PPO, Path]:
    """A matrix policy with SB3's defaults (plain-JSON policy_kwargs, Tanh, 64x64)."""
    path = tmp_path_factory.mktemp("saved") / "rps_ppo.zip"
    return train(RPS, "rock_heavy", path, illegal="random_legal"), path


def positions(spec, n: int = 200, frames: int = 12, seed: int = 0):
    """Seat-0 observations and masks from random play, re-dealing finished games."""
    kernel = games.make_kernel(spec)
    step = kernel.reset(n, seed=seed)
    rng = np.random.default_rng(seed)
    obs, masks = [], []
    for _ in range(frames):
        obs.append(step.obs[:, 0])
        masks.append(step.action_mask[:, 0])
        actions = random_legal(step.action_mask.reshape(-1, spec.num_actions), rng).reshape(n, 2)
        step = kernel.reset_where(kernel.step(actions).done)
    return np.concatenate(obs), np.concatenate(masks)


def sb3_logits(model: PPO, obs: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        dist = model.policy.get_distribution(torch.as_tensor(obs))
    return dist.distribution.logits.double().numpy()


@pytest.mark.parametrize("which", ["pong_model", "rps_model"])
def test_greedy_actions_equal_sb3_predict_where_legal(which, request):
    model, path = request.getfixturevalue(which)
    spec = PONG if which == "pong_model" else RPS
    opponent = SavedPolicyOpponent(spec, path)
    obs, mask = positions(spec)
    ours = opponent.act(obs, mask)
    theirs, _ = model.predict(obs, deterministic=True)
    legal = mask[np.arange(len(obs)), theirs]
    assert legal.sum() > 100
    np.testing.assert_array_equal(ours[legal], theirs[legal])
    # Where SB3 would play an illegal move, ours is the best legal one by SB3's own logits.
    best_legal = np.where(mask, sb3_logits(model, obs), -np.inf).argmax(axis=1)
    np.testing.assert_array_equal(ours, best_legal)
    assert mask[np.arange(len(obs)), ours].all()


@pytest.mark.parametrize("which", ["pong_model", "rps_model"])
def test_logits_equal_sb3_policy_logits(which, request):
    """The rebuilt network (sizes from the weights, activation from the JSON) is SB3's."""
    model, path = request.getfixturevalue(which)
    spec = PONG if which == "pong_model" else RPS
    obs, _ = positions(spec, n=50, frames=4)
    ours = SavedPolicyOpponent(spec, path).logits(obs)
    # torch's Categorical keeps logits normalised to log-probabilities; compare those.
    log_probs = ours - np.log(np.exp(ours).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(log_probs, sb3_logits(model, obs), rtol=1e-5, atol=1e-6)


def test_sampling_follows_the_masked_policy_distribution(rps_model):
    model, path = rps_model
    obs, mask = positions(RPS, n=3, frames=1)
    opponent = SavedPolicyOpponent(RPS, path, seed=1, deterministic=False)
    logits = np.where(mask, sb3_logits(model, obs), -np.inf)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    for row in range(len(obs)):
        draws = opponent.act(
            np.repeat(obs[row : row + 1], 4000, 0), np.repeat(mask[row : row + 1], 4000, 0)
        )
        frequencies = np.bincount(draws, minlength=RPS.num_actions) / 4000
        np.testing.assert_allclose(frequencies, expected[row], atol=0.03)
        assert frequencies[~mask[row]].sum() == 0


def test_sampling_is_reproducible_from_the_seed(rps_model):
    _, path = rps_model
    obs, mask = positions(RPS, n=100, frames=2)
    first = SavedPolicyOpponent(RPS, path, seed=5, deterministic=False).act(obs, mask)
    second = SavedPolicyOpponent(RPS, path, seed=5, deterministic=False).act(obs, mask)
    other = SavedPolicyOpponent(RPS, path, seed=6, deterministic=False).act(obs, mask)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_plays_a_batch_of_games_through_its_factory(pong_model):
    _, path = pong_model
    factory = saved_policy_factory(path)
    opponent = factory(PONG, seed=0)
    assert "pong_ppo.zip" in factory.description
    assert opponent.description == factory.description + " (greedy)"
    kernel = games.make_kernel(PONG)
    step = kernel.reset(16, seed=3)
    opponent.reset(16)
    for _ in range(600):
        actions = opponent.act(step.obs[:, 1], step.action_mask[:, 1])
        assert np.all(actions[step.done] == 0)  # empty masks get 0
        step = kernel.step(np.stack([np.ones(16, dtype=np.int64), actions], axis=1))
    assert step.done.any()


# --- files that must be refused -------------------------------------------------------------


def rewrite(source: Path, target: Path, replace: dict[str, bytes], drop: tuple[str, ...] = ()):
    """Copy a model zip, replacing or dropping members."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for name in old.namelist():
            if name not in drop:
                new.writestr(name, replace.get(name, old.read(name)))
    return target


def edited_data(path: Path, edit) -> bytes:
    with zipfile.ZipFile(path) as archive:
        data = json.loads(archive.read("data"))
    edit(data)
    return json.dumps(data).encode()


def saved_weights(path: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(path) as archive:
        return torch.load(io.BytesIO(archive.read("policy.pth")), weights_only=True)


def torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_the_payload_really_runs_when_unpickled(tmp_path):
    """So the tests below would notice a loader that unpickles."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("form", ["bare_pickle", "torch_archive"])
def test_pickled_code_in_policy_pth_is_refused_and_never_run(form, pong_model, tmp_path):
    _, path = pong_model
    marker = tmp_path / "payload_ran"
    if form == "bare_pickle":
        payload = pickle.dumps(Payload(marker))
    else:
        weights = saved_weights(path)
        weights["action_net.weight"] = Payload(marker)
        payload = torch_bytes(weights)
    tampered = rewrite(path, tmp_path / "tampered.zip", {"policy.pth": payload})
    with pytest.raises(SavedPolicyError, match=r"policy.pth") as error:
        SavedPolicyOpponent(PONG, tampered)
    assert "tampered.zip" in str(error.value)
    if form == "torch_archive":
        assert "weights_only=True" in str(error.value)
        assert "io.open, which is code" in str(error.value)
    assert not marker.exists()


def test_pickled_code_in_data_is_never_decoded(pong_model, tmp_path):
    """The ``:serialized:`` payloads are skipped, so the policy loads and nothing runs."""
    model, path = pong_model
    marker = tmp_path / "payload_ran"
    evil = base64.b64encode(pickle.dumps(Payload(marker))).decode()

    def poison(data):
        for key in ("policy_class", "policy_kwargs", "observation_space", "lr_schedule"):
            data[key][":serialized:"] = evil

    tampered = rewrite(path, tmp_path / "tampered.zip", {"data": edited_data(path, poison)})
    opponent = SavedPolicyOpponent(PONG, tampered)
    obs, mask = positions(PONG, n=20, frames=2)
    np.testing.assert_array_equal(
        opponent.act(obs, mask), model.predict(obs, deterministic=True)[0]
    )
    assert not marker.exists()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SavedPolicyError, match=r"nowhere\.zip: no such saved policy file"):
        SavedPolicyOpponent(PONG, tmp_path / "nowhere.zip")


def test_a_file_that_is_not_a_zip_is_refused(tmp_path):
    path = tmp_path / "notes.zip"
    path.write_text("not a model")
    with pytest.raises(SavedPolicyError, match=r"notes.zip: not a zip archive"):
        SavedPolicyOpponent(PONG, path)


def test_a_zip_that_is_not_an_sb3_model_is_refused(pong_model, tmp_path):
    _, path = pong_model
    no_weights = rewrite(path, tmp_path / "no_weights.zip", {}, drop=("policy.pth",))
    with pytest.raises(SavedPolicyError, match=r"not a stable-baselines3 model.*policy.pth"):
        SavedPolicyOpponent(PONG, no_weights)
    garbled = rewrite(path, tmp_path / "garbled.zip", {"data": b"{not json"})
    with pytest.raises(SavedPolicyError, match=r"garbled.zip: its 'data' entry is not JSON"):
        SavedPolicyOpponent(PONG, garbled)


def test_a_policy_for_another_game_is_refused(pong_model, rps_model):
    _, pong_path = pong_model
    _, rps_path = rps_model
    with pytest.raises(SavedPolicyError, match=r"observes shape \(11,\).*have shape \(81,\)"):
        SavedPolicyOpponent(RPS, pong_path)
    with pytest.raises(SavedPolicyError, match=r"observes shape \(81,\)"):
        SavedPolicyOpponent("connect_n", rps_path)


def test_action_counts_that_disagree_are_refused(pong_model, tmp_path):
    _, path = pong_model

    def four_actions(data):
        data["action_space"]["n"] = "4"

    recorded = rewrite(path, tmp_path / "four.zip", {"data": edited_data(path, four_actions)})
    with pytest.raises(SavedPolicyError, match=r"among 4 actions, but pong.* has 3"):
        SavedPolicyOpponent(PONG, recorded)
    weights = saved_weights(path)
    weights["action_net.weight"] = torch.zeros(4, 8)
    weights["action_net.bias"] = torch.zeros(4)
    reshaped = rewrite(path, tmp_path / "wide.zip", {"policy.pth": torch_bytes(weights)})
    with pytest.raises(SavedPolicyError, match=r"action_net has weight \(4, 8\).*needs \(3, 8\)"):
        SavedPolicyOpponent(PONG, reshaped)


def test_unsupported_networks_are_refused(pong_model, tmp_path):
    _, path = pong_model

    def parametric_activation(data):
        data["policy_kwargs"]["activation_fn"] = "<class 'torch.nn.modules.activation.PReLU'>"

    def custom_policy(data):
        data["policy_class"]["__init__"] = "<function MyPolicy.__init__ at 0x7f0>"

    custom = rewrite(path, tmp_path / "custom.zip", {"data": edited_data(path, custom_policy)})
    with pytest.raises(SavedPolicyError, match=r"MyPolicy.* not SB3's ActorCriticPolicy"):
        SavedPolicyOpponent(PONG, custom)
    odd = rewrite(path, tmp_path / "prelu.zip", {"data": edited_data(path, parametric_activation)})
    with pytest.raises(SavedPolicyError, match=r"activation .*PReLU.* not supported"):
        SavedPolicyOpponent(PONG, odd)
    weights = saved_weights(path)
    weights["features_extractor.cnn.0.weight"] = torch.zeros(2, 2)
    cnn = rewrite(path, tmp_path / "cnn.zip", {"policy.pth": torch_bytes(weights)})
    with pytest.raises(SavedPolicyError, match=r"not an MlpPolicy.*features_extractor.cnn"):
        SavedPolicyOpponent(PONG, cnn)


def test_games_import_without_torch_and_loading_says_torch_is_needed(pong_model):
    _, path = pong_model
    script = (
        "import sys\n"
        "sys.modules['torch'] = None\n"
        "sys.modules['stable_baselines3'] = None\n"
        "import games, games.gym_single, games.opponents.saved as saved\n"
        "games.make('pong').reset(seed=0)\n"
        "try:\n"
        f"    saved.SavedPolicyOpponent('pong', {str(path)!r})\n"
        "except games.GameError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "needs torch installed" in result.stdout

"""Brain-tuning on a simulated participant with tiny models."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
import transformers
import yaml

from braintune.cli import main as cli_main
from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.data.fmri import SplitSettings, resolve_split
from braintune.errors import ConfigError, DataError, ModelNotAvailable
from braintune.models import hidden_states, load_encoder, tiny_config
from braintune.tuning.settings import LoraSettings
from braintune.tuning import BrainTuner, TuneSettings, audio_window, load_data, tune, write_spec
from braintune.tuning.schedule import backbone_lr_factor, head_lr_factor

SUBJECT = "UTS01"
# Small and fast: 4 s windows, a few epochs, high learning rates (the demo's) so 3 epochs show learning.
FAST = TuneSettings(
    window_seconds=4.0, ceiling_threshold=0.4, epochs=3, batch_size=16, micro_batch_size=8,
    backbone_lr=1e-3, warmup_epochs=1, head_lr=1e-2, seed=0,
)


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _checkpoint(out: Path) -> dict:
    return torch.load(out / "checkpoint.pt", weights_only=True)


@pytest.fixture(scope="module")
def tuned(sim_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tuned")
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", out, FAST)
    return out


def _flags(settings: TuneSettings) -> list[str]:
    """`braintune tune` flags for `settings` (those that differ from the defaults)."""
    flags, defaults = [], TuneSettings().to_dict()
    for key, value in settings.to_dict().items():
        if value != defaults[key]:
            name = "--" + key.replace("_", "-")
            flags += [name if value is True else "--no-" + name[2:]] if isinstance(value, bool) else [name, str(value)]
    return flags


def deterministic_tiny(path: Path) -> Path:
    """A tiny wav2vec2 without dropout, layer drop or time masking: runs differ only by sums' order."""
    config = tiny_config("wav2vec2")
    for key in ("hidden_dropout", "attention_dropout", "activation_dropout", "feat_proj_dropout", "layerdrop", "mask_time_prob"):
        setattr(config, key, 0.0)
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(path)
    return path


# ---- pieces ---------------------------------------------------------------------------
def test_split_forward_equals_the_encoders_own():
    for family in ("wav2vec2", "hubert"):
        backbone = load_encoder(f"tiny:{family}")
        net = BrainTuner(backbone, 3).eval()
        x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            torch.testing.assert_close(net.last_hidden_state(net.cnn(x)), backbone(input_values=x).last_hidden_state, rtol=0, atol=0)


def test_head_pools_the_last_layer_by_its_mean_over_frames():
    """Guards against another pooling (sum, last or first frame, max) in the tuning head: in float64,
    the prediction equals the linear head applied to an explicit mean over the frames of the
    encoder's own last hidden state; permuting the frames leaves it unchanged, and adding 1 to one
    frame moves it by exactly the head's weight row sums / frames (rounding: ~1e-15, effects: ~1e-2)."""
    net = BrainTuner(load_encoder("tiny:wav2vec2").double(), 3).eval()
    weight, bias = net.head.weight.detach().numpy(), net.head.bias.detach().numpy()
    x = torch.randn(2, 8000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        hidden = net.backbone(input_values=x).last_hidden_state.numpy()  # (batch, frames, hidden)
        predicted = net(net.cnn(x)).numpy()
    frames = hidden.shape[1]
    assert frames > 1
    np.testing.assert_allclose(predicted, hidden.sum(axis=1) / frames @ weight.T + bias, rtol=1e-12, atol=1e-12)

    fixed = torch.from_numpy(hidden)
    permutation = torch.randperm(frames, generator=torch.Generator().manual_seed(1))
    pooled_output = {}
    for name, states in {"as is": fixed, "frames permuted": fixed[:, permutation],
                         "one frame + 1": fixed + (torch.arange(frames) == frames // 2)[None, :, None]}.items():
        net.last_hidden_state = lambda cnn_features, states=states: states
        with torch.no_grad():
            pooled_output[name] = net(torch.zeros(2, 1, 1, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(pooled_output["frames permuted"], pooled_output["as is"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pooled_output["one frame + 1"] - pooled_output["as is"],
                               np.broadcast_to(weight.sum(axis=1) / frames, (2, 3)), rtol=1e-9, atol=1e-12)


def test_schedules():
    # 2 steps per epoch, 2 warm-up epochs, 6 epochs: lr rises 1/4 .. 1 then falls to 1/8 at the last step
    factors = [backbone_lr_factor(s, 2, 2, 6) for s in range(12)]
    np.testing.assert_allclose(factors[:4], [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(factors[4:], [8 / 8, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8])
    heads = [head_lr_factor(s, 1, 0.8, 0.1) for s in (0, 1, 2, 10, 11, 50)]
    np.testing.assert_allclose(heads, [1, 0.8, 0.64, 0.8**10, 0.1, 0.1])


def test_audio_window_pads_with_silence_outside_the_audio():
    audio = np.arange(1, 11, dtype=np.float32)
    np.testing.assert_array_equal(audio_window(audio, 6, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(audio_window(audio, 2, 4), [0, 0, 1, 2])
    np.testing.assert_array_equal(audio_window(audio, 12, 4), [9, 10, 0, 0])


def test_training_targets_are_per_story_per_voxel_zscores(tmp_path):
    """Guards against brain-tuning targets that are not z-scored, z-scored across voxels
    instead of over time, or z-scored over the stacked stories instead of per story: every
    story and voxel gets its own offset and scale, and the targets the training loop reads
    must equal each story's per-voxel z-scores over time, computed here by hand."""
    import h5py

    from conftest import write_real_layout

    root = write_real_layout(tmp_path / "ds", participants=(SUBJECT,), n_voxels=6)
    rng = np.random.default_rng(1)
    folder = root / "derivative" / "preprocessed_data" / SUBJECT
    raw = {}
    for story in ("storya", "storyb", "storyc", "stagefright"):
        offsets, scales = rng.normal(0, 100, 6), np.exp(rng.uniform(-3, 3, 6))
        raw[story] = (offsets + scales * rng.standard_normal((10, 6))).astype(np.float32)
        with h5py.File(folder / f"{story}.hf5", "w") as f:
            f["data"] = raw[story]
    signal = rng.standard_normal((10, 6))  # repeats share it: every voxel's ceiling is high
    repeats = np.stack([signal + 0.1 * rng.standard_normal((10, 6)) for _ in range(3)])
    repeats = ((repeats - repeats.mean(1, keepdims=True)) / repeats.std(1, keepdims=True)).astype(np.float32)
    with h5py.File(folder / "wheretheressmoke.hf5", "w") as f:
        f["data"], f["individual_repeats"] = repeats.mean(0), repeats

    dataset = Dataset(root)
    data = load_data(dataset, SUBJECT, resolve_split(dataset, [SUBJECT])[SUBJECT], FAST)
    assert data.voxels.tolist() == list(range(6))
    for pairs in (data.train, data.validation):
        for i, story in enumerate(pairs.stories):
            x = raw[story].astype(np.float64)
            by_hand = (x - x.mean(axis=0)) / x.std(axis=0)
            np.testing.assert_allclose(pairs.targets[pairs.story == i], by_hand, rtol=0, atol=1e-5, err_msg=story)
    assert data.train.stories == ["storya", "storyb", "storyc"] and data.validation.stories == ["stagefright"]


def test_control_pairing_is_a_seeded_shuffle_of_the_true_one(sim_dataset):
    """Guards against a control that is not one: its training targets must be the true targets
    re-paired (each a true target row, every row once, most windows paired with another moment
    of another story), the same for the same seed, while its windows and its validation pairs
    stay the true ones."""
    dataset = Dataset(sim_dataset)
    split = resolve_split(dataset, [SUBJECT])[SUBJECT]
    true = load_data(dataset, SUBJECT, split, FAST)
    control = load_data(dataset, SUBJECT, split, replace(FAST, shuffle_pairs=True))
    np.testing.assert_array_equal(control.voxels, true.voxels)
    for name in ("story", "end"):  # the same windows, in the same order
        np.testing.assert_array_equal(getattr(control.train, name), getattr(true.train, name))
    rows = {row.tobytes(): i for i, row in enumerate(true.train.targets)}
    assert len(rows) == len(true.train) > 50  # distinct rows: each control target names its source pair
    source = np.array([rows[row.tobytes()] for row in control.train.targets])
    assert sorted(source) == list(range(len(true.train)))  # a permutation: the same multiset of targets
    assert (source != np.arange(len(source))).mean() > 0.9
    assert (true.train.story[source] != true.train.story).mean() > 0.5  # across the training stories
    again = load_data(dataset, SUBJECT, split, replace(FAST, shuffle_pairs=True))
    np.testing.assert_array_equal(again.train.targets, control.train.targets)
    other = load_data(dataset, SUBJECT, split, replace(FAST, shuffle_pairs=True, seed=1))
    assert not np.array_equal(other.train.targets, control.train.targets)
    for name in ("story", "end", "targets"):  # validation: the true pairing
        np.testing.assert_array_equal(getattr(control.validation, name), getattr(true.validation, name))


def test_settings_reject_nonsense():
    with pytest.raises(ConfigError, match="batch_size"):
        TuneSettings(batch_size=0)
    with pytest.raises(ConfigError, match="head_lr_decay"):
        TuneSettings(head_lr_decay=1.5)
    with pytest.raises(ConfigError, match="unknown key learning_rate"):
        from braintune.settings import from_mapping

        from_mapping(TuneSettings, {"learning_rate": 1})


# ---- a run ----------------------------------------------------------------------------
def test_validation_loss_falls(tuned):
    log = _log(tuned)
    assert [r["epoch"] for r in log] == [0, 1, 2, 3]
    # ~70 training windows: the loss falls on the training stories, and on the validation
    # story (there mostly as the randomly initialised head is calibrated)
    assert log[-1]["train_loss"] < log[1]["train_loss"] - 0.03
    assert log[-1]["validation_loss"] < log[0]["validation_loss"] - 0.01
    assert log[1]["head_lr"] == pytest.approx(FAST.head_lr * 0.8)


def test_validation_loss_and_r_are_those_of_the_validation_story(sim_dataset, tmp_path, monkeypatch):
    """Guards against validating on the training pairs (or on the validation story's windows with
    other responses): the logged validation loss and r after an epoch equal, in float64, an
    independent computation on the validation story's windows and z-scored responses with the
    checkpoint's weights, and differ from the same numbers on the training stories (rounding moves
    them by ~1e-15; the two sets differ by 3e-3 in loss, 4e-2 in r)."""
    from braintune.arrays import zscore
    from braintune.models import model_input

    monkeypatch.setattr("braintune.tuning.model.load_encoder", lambda *a, **k: load_encoder(*a, **k).double())
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, replace(FAST, epochs=1, cnn_cache=False))
    logged = _log(tmp_path)[1]
    voxels = np.load(tmp_path / "voxels.npy")
    net = BrainTuner(load_encoder("tiny:wav2vec2").double(), len(voxels)).eval()
    net.load_state_dict(_checkpoint(tmp_path)["model"])
    dataset = Dataset(sim_dataset)
    split = resolve_split(dataset, [SUBJECT])[SUBJECT]
    window = round(FAST.window_seconds * 16000)

    def loss_and_r(stories):
        predicted, observed = [], []
        for story in stories:
            audio = dataset.load_audio(story)
            ends = np.round(dataset.row_times(story) * 16000).astype(int)
            assert ends[0] >= window and ends[-1] <= len(audio)  # no window needs padding
            waves = torch.from_numpy(np.stack([audio[end - window : end] for end in ends])).double()
            with torch.no_grad():
                predicted.append(net(net.cnn(model_input(net.backbone, waves))).numpy())
            observed.append(zscore(dataset.load_responses(SUBJECT, story)[:, voxels]).astype(np.float64))
        p, y = np.concatenate(predicted), np.concatenate(observed)
        r = [np.corrcoef(p[:, v], y[:, v])[0, 1] if y[:, v].std() > 0 else 0.0 for v in range(y.shape[1])]
        return np.mean((p - y) ** 2), np.mean(r)

    validation_loss, validation_r = loss_and_r([split.validation])
    assert logged["validation_loss"] == pytest.approx(validation_loss, rel=1e-9)
    assert logged["validation_r"] == pytest.approx(validation_r, rel=1e-9, abs=1e-12)
    train_loss, train_r = loss_and_r(split.train)
    assert abs(train_loss - validation_loss) > 1e-3 and abs(train_r - validation_r) > 1e-3


def test_the_backbone_learns_not_only_the_head(tuned, sim_dataset, tmp_path):
    """Guards against a backbone that does not learn (left out of the optimiser, its lr stuck
    at 0, gradients that never reach it, or trained the wrong way: gradient ascent), which
    test_validation_loss_falls alone would miss: a head alone lowers the loss too. Every
    transformer weight must have moved (Adam moves it by about the lr per step: ~7e-3 here;
    a backbone without gradient moves by exactly 0), and the full tuning must beat a head-only
    run (backbone_lr 0, same seed) on the training loss by 0.005: measured 0.997 against 1.013,
    while rounding moves either by about 5e-4 (measured between micro-batch sizes 3 and 8)."""
    tuned_state = _checkpoint(tuned)["model"]
    start = BrainTuner(load_encoder("tiny:wav2vec2"), len(np.load(tuned / "voxels.npy"))).state_dict()
    for key, before in start.items():
        if key.startswith("backbone.encoder.") and not key.endswith("k_proj.bias"):  # softmax ignores a key bias
            assert (tuned_state[key] - before).abs().max() > 1e-4, f"{key} did not move"
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, replace(FAST, backbone_lr=0.0))
    head_only = _checkpoint(tmp_path)["model"]
    torch.testing.assert_close(head_only["backbone.encoder.layers.1.feed_forward.output_dense.weight"],
                               start["backbone.encoder.layers.1.feed_forward.output_dense.weight"], rtol=0, atol=0)
    assert _log(tuned)[-1]["train_loss"] < _log(tmp_path)[-1]["train_loss"] - 0.005


def test_outputs(tuned, sim_dataset):
    voxels = np.load(tuned / "voxels.npy")
    truth = np.load(Path(sim_dataset) / "simulation_truth" / f"{SUBJECT}.npz")
    # selected by ceilings estimated from 5 repeats of 70 rows (noisy: about 1 in 5 noise voxels
    # passes 0.4): signal voxels are enriched (57% of all voxels) and have high true ceilings
    assert np.mean(truth["kind"][voxels] > 0) > 0.75
    assert np.median(truth["ceiling"][voxels]) > FAST.ceiling_threshold + 0.1
    head = safetensors.torch.load_file(tuned / "head.safetensors")
    assert head["weight"].shape == (len(voxels), 64) and head["bias"].shape == (len(voxels),)
    config = (tuned / "config.yaml").read_text()
    assert "window_seconds: 4.0" in config and "validation_story: stagefright" in config


def test_exported_backbone_gives_the_tuned_hidden_states(tuned):
    state = _checkpoint(tuned)["model"]
    net = BrainTuner(load_encoder("tiny:wav2vec2"), len(np.load(tuned / "voxels.npy")))
    net.load_state_dict(state)
    net.eval()
    raw = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1))
    x = (raw - raw.mean(1, keepdim=True)) / torch.sqrt(raw.var(1, unbiased=False, keepdim=True) + 1e-7)
    hf = transformers.AutoModel.from_pretrained(tuned / "backbone").eval()
    with torch.no_grad():
        inside = net.last_hidden_state(net.cnn(x))
        exported = hf(input_values=x).last_hidden_state
        loaded = hidden_states(load_encoder(tuned / "backbone"), raw)[-1]  # normalises as training did
    torch.testing.assert_close(exported, inside, rtol=0, atol=1e-6)
    torch.testing.assert_close(loaded, inside, rtol=0, atol=1e-6)
    # and it is not the untuned model
    assert not torch.allclose(hidden_states(load_encoder("tiny:wav2vec2"), raw)[-1], inside, atol=1e-3)
    head = safetensors.torch.load_file(tuned / "head.safetensors")
    torch.testing.assert_close(head["weight"], state["head.weight"], rtol=0, atol=0)


def test_killed_and_resumed_run_ends_with_the_same_weights(tuned, sim_dataset, tmp_path):
    """Guards against an inexact resume, and against a finished run that keeps (or a paused
    run that loses) its CNN cache: it stays between invocations, goes when the run finishes
    (the `tuned` run), and stays with keep_cnn_cache."""
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, FAST, stop_after_epoch=1)
    assert [r["epoch"] for r in _log(tmp_path)] == [0, 1]
    assert not (tmp_path / "backbone").exists() and (tmp_path / "cnn_cache" / "train.npy").is_file()
    with pytest.raises(ConfigError, match="resume"):
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, FAST)
    with pytest.raises(ConfigError, match="seed"):
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, replace(FAST, seed=1), resume=True)
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, replace(FAST, keep_cnn_cache=True), resume=True)
    resumed, uninterrupted = _checkpoint(tmp_path), _checkpoint(tuned)
    for key, tensor in uninterrupted["model"].items():
        torch.testing.assert_close(resumed["model"][key], tensor, rtol=0, atol=0, msg=key)
    assert _log(tmp_path)[-1]["validation_loss"] == _log(tuned)[-1]["validation_loss"]
    assert (tmp_path / "cnn_cache" / "train.npy").is_file() and not (tuned / "cnn_cache").exists()


def test_cnn_cache_changes_nothing(tuned, sim_dataset, tmp_path):
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, replace(FAST, cnn_cache=False), stop_after_epoch=1)
    assert not (tmp_path / "cnn_cache").exists()
    cached = _log(tuned)[1]
    uncached = _log(tmp_path)[1]
    assert uncached["validation_loss"] == pytest.approx(cached["validation_loss"], rel=1e-5)
    assert uncached["train_loss"] == pytest.approx(cached["train_loss"], rel=1e-5)


def test_damaged_checkpoint_or_cache_is_one_clear_error(sim_dataset, tmp_path, capsys):
    """Guards against a traceback (or a silent restart that overwrites the run) when a resumed
    run finds a truncated or garbled checkpoint.pt, CNN cache or config.yaml: one DataError
    line naming the file and what to do, and every file of the run left as it was."""
    out = tmp_path / "run"
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", out, FAST, stop_after_epoch=1)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    cache, checkpoint, config = out / "cnn_cache" / "train.npy", out / "checkpoint.pt", out / "config.yaml"
    intact = {p: p.read_bytes() for p in (cache, checkpoint, config)}
    damages = [(cache, intact[cache][: len(intact[cache]) // 2], "delete .*cnn_cache to rebuild it"),
               (checkpoint, intact[checkpoint][: len(intact[checkpoint]) // 2], "move it away to restart"),
               (checkpoint, b"not a checkpoint", "move it away to restart"),
               (config, b"data: [unclosed", "move the folder away")]
    for path, damaged, advice in damages:
        path.write_bytes(damaged)
        before = {p: p.read_bytes() for p in files}
        with pytest.raises(DataError, match=f"{re.escape(str(path))}: .*{advice}"):
            tune(sim_dataset, SUBJECT, "tiny:wav2vec2", out, FAST, resume=True)
        assert sorted(p for p in out.rglob("*") if p.is_file()) == files
        assert all(p.read_bytes() == content for p, content in before.items())
        code = cli_main(["tune", "--data", str(sim_dataset), "--subject", SUBJECT, "--model", "tiny:wav2vec2",
                         "--out", str(out), "--resume", *_flags(FAST)])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err and err.splitlines()[-1].startswith(f"braintune tune: error: {path}")
        path.write_bytes(intact[path])


def test_disk_space_message_shows_the_sizes(sim_dataset, tmp_path, monkeypatch):
    """Guards against a disk-space error that reads "needs 0.0 GB, 0.0 GB free" for a cache of
    a few MB: sizes are shown in the unit that shows their digits."""
    import shutil

    from braintune.io import size_text

    assert [size_text(n) for n in (512, 2_345, 3_456_789, 3.7e9, 2.2e12)] == \
        ["512 bytes", "2.3 kB", "3.5 MB", "3.7 GB", "2.2 TB"]
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("braintune.tuning.cache.shutil.disk_usage", lambda path: usage._replace(free=1_500))
    with pytest.raises(ConfigError, match=r"train.npy: the CNN cache needs \d+\.\d MB, 1\.5 kB free"):
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path, FAST)


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_checkpoint(sim_dataset, tmp_path, monkeypatch,
                                                                                capsys):
    """Guards against a torch traceback with no word of space when the disk fills while checkpoint.pt
    is written: one line naming the file, saying the disk is full and how much is free, the previous
    checkpoint intact and no temporary left (torch.save fails as on a full disk, the folder shows 1.5 kB free)."""
    import errno
    import shutil

    from braintune.cli import one_line

    out = tmp_path / "run"
    tune(sim_dataset, SUBJECT, "tiny:wav2vec2", out, FAST, stop_after_epoch=1)
    checkpoint = out / "checkpoint.pt"
    before = checkpoint.read_bytes()
    disk_usage = shutil.disk_usage

    def save_on_a_full_disk(obj, f, *args, **kwargs):
        Path(f).write_bytes(bytes(3_000))
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                           "data/7: file write failed")

    monkeypatch.setattr(torch, "save", save_on_a_full_disk)
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda path: disk_usage(path)._replace(free=1_500) if Path(path) == out else disk_usage(path))
    message = (f"{checkpoint}: No space left on device (the disk is full: 1.5 kB free in {out}; the write stopped "
               "after 3.0 kB); the previous checkpoint.pt is kept; free some space and rerun")
    with pytest.raises(OSError) as full:
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", out, FAST, resume=True)
    assert full.value.errno == errno.ENOSPC and one_line(full.value) == message
    assert checkpoint.read_bytes() == before and not [p for p in out.rglob("*") if ".tmp-" in p.name]
    code = cli_main(["tune", "--data", str(sim_dataset), "--subject", SUBJECT, "--model", "tiny:wav2vec2",
                     "--out", str(out), "--resume", *_flags(FAST)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.splitlines()[-1] == f"braintune tune: error: {message}"
    assert checkpoint.read_bytes() == before and not [p for p in out.rglob("*") if ".tmp-" in p.name]


# ---- bad input --------------------------------------------------------------------------
def test_bad_input_gives_clear_errors(sim_dataset, tmp_path):
    with pytest.raises(DataError, match=r"UTS01 has no voxel with a noise ceiling above 0.999"):
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path / "a", replace(FAST, ceiling_threshold=0.999))
    with pytest.raises(ConfigError, match=r"simstory01.wav: tuning window of 1000 s is longer than the story"):
        tune(sim_dataset, SUBJECT, "tiny:wav2vec2", tmp_path / "b", replace(FAST, window_seconds=1000))
    with pytest.raises(ModelNotAvailable, match="no-such-org/no-such-model"):
        tune(sim_dataset, SUBJECT, "no-such-org/no-such-model", tmp_path / "c", FAST)
    with pytest.raises(DataError, match="UTS01/nostory.hf5: missing; the split's validation story 'nostory'"):
        resolve_split(Dataset(sim_dataset), [SUBJECT], SplitSettings(validation_story="nostory"))


def test_cli_prints_one_line_errors(sim_dataset, tmp_path, capsys):
    code = cli_main(["tune", "--data", str(sim_dataset), "--subject", SUBJECT, "--model", "tiny:wav2vec2",
                     "--out", str(tmp_path), "--window-seconds", "1000"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "longer than the story" in err


# ---- several processes --------------------------------------------------------------------
@pytest.mark.parametrize("adapter", ["none", "lora"])
def test_two_processes_take_the_same_steps_as_one(adapter, sim_dataset, tmp_path, monkeypatch):
    """Guards against DDP computing another update than one process (gradients not summed over
    the processes, the loss divided by the local instead of the global batch, a rank's share
    of a batch dropped or counted twice, validation or loss sums not reduced). Both runs go through `python -m braintune.tuning SPEC.json`
    (the second under torch.distributed.run, 2 processes) with the encoder in float64
    (tests/_tune_float64.py), so rounding (~1e-15 here) cannot decide what a wrong update
    changes by ~1e-3; the last batch of the epoch is split unevenly between the processes."""
    model = deterministic_tiny(tmp_path / "tiny")
    # LoRA without its dropout: dropout masks differ between one process and two (seeded per rank)
    settings = replace(FAST, epochs=1, window_seconds=2.0, cnn_cache=False, adapter=adapter,
                       lora=LoraSettings(dropout=0.0))
    split = resolve_split(Dataset(sim_dataset), [SUBJECT])[SUBJECT]
    split = replace(split, train=split.train[:2])  # 2 stories: half the work
    helper = Path(__file__).with_name("_tune_float64.py")
    one = write_spec(tmp_path / "one.json", sim_dataset, SUBJECT, model, tmp_path / "one", settings, split)
    two = write_spec(tmp_path / "two.json", sim_dataset, SUBJECT, model, tmp_path / "two", settings, split)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    ddp = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                            str(helper), str(two)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    import braintune.tuning.model as model_step
    from braintune.tuning.__main__ import main

    real_build = model_step.build_model
    monkeypatch.setattr(model_step, "build_model", lambda *args, **kwargs: real_build(*args, **kwargs).double())
    assert main([str(one)]) == 0
    output = ddp.communicate(timeout=300)[0]
    assert ddp.returncode == 0, output[-3000:]
    assert yaml.safe_load((tmp_path / "one" / "config.yaml").read_text())["n_train_pairs"] % settings.batch_size
    alone, pair = _checkpoint(tmp_path / "one")["model"], _checkpoint(tmp_path / "two")["model"]
    for key, tensor in alone.items():
        assert tensor.dtype == torch.float64, key
        torch.testing.assert_close(pair[key], tensor, rtol=0, atol=1e-10, msg=key)
    for a, b in zip(_log(tmp_path / "one"), _log(tmp_path / "two"), strict=True):
        for key in ("validation_loss", "validation_r") + (("train_loss",) if a["epoch"] else ()):
            assert b[key] == pytest.approx(a[key], rel=0, abs=1e-10), (a["epoch"], key)


def test_ddp_cell_reports_a_process_error_in_one_line(sim_dataset, tmp_path):
    """Guards against the study's DDP branch (a tune cell with executor.gpus_per_job > 1 on one
    machine) failing with a traceback, or not running the cell's spec: its processes run
    `python -m braintune.tuning` on the cell's spec, and their DataError (no voxel passes the
    threshold) comes back as the same DataError in the study."""
    from braintune.demo import demo_config
    from braintune.study.plan import plan_cells
    from braintune.study.stages import run_tune

    data = {"fmri": sim_dataset, "timit": tmp_path, "speech_commands": tmp_path}
    cfg = demo_config(tmp_path, data, ["models=[tiny-pretrained:hubert]", "participants=[UTS01]", "stages=[tune]",
                                       "executor.gpus_per_job=2", "tune.ceiling_threshold=0.999"])
    (cell,) = plan_cells(cfg)
    folder = cell.folder(tmp_path / "run")
    folder.mkdir(parents=True)
    with pytest.raises(DataError, match="UTS01 has no voxel with a noise ceiling above 0.999"):
        run_tune(cell, cfg, tmp_path / "run", folder)
    spec = json.loads((folder / "ddp_spec.json").read_text())
    assert spec["out"] == str(folder) and spec["settings"]["ceiling_threshold"] == 0.999 and spec["resume"]
    assert spec["splits"]["UTS01"]["validation"] == "stagefright"


# ---- science ------------------------------------------------------------------------------
def test_tuning_raises_late_layer_alignment(tmp_path):
    """The science check, through the study's tune and alignment stages on the demo's simulated
    participants, settings and shipped pretrained HuBERT (UTS01): brain-tuning raises the
    alignment with the simulated late-language voxels, averaged over the transformer's layers
    and at the last one, and with the auditory voxels at the last layer (~2 min on 2 cores).

    Measured for UTS01 (`braintune demo`, AMD EPYC): late language, mean of layers 1-6, 0.096 -> 0.132,
    layer 6 0.110 -> 0.154; primary auditory, layer 6 0.404 -> 0.561.
    """
    import pandas as pd

    from braintune.synthetic.fmri import simulate_dataset
    from braintune.demo import demo_config, fmri_settings
    from braintune.study.runner import run_study

    data = {"fmri": simulate_dataset(tmp_path / "fmri", **fmri_settings()), "timit": tmp_path, "speech_commands": tmp_path}
    cfg = demo_config(tmp_path, data, ["models=[tiny-pretrained:hubert]", "participants=[UTS01]",
                                          "stages=[tune, align_pretrained, align_tuned]"])
    table = pd.read_csv(run_study(cfg) / "tables" / "alignment.csv")
    by_layer = table.pivot_table(index=["roi", "layer"], columns="variant", values="alignment")
    language = by_layer.loc["late_language"]
    assert (language.tuned - language.pretrained).loc[1:].mean() > 0.02, by_layer
    last = by_layer.xs(table.layer.max(), level="layer")
    assert last.loc["late_language", "tuned"] > last.loc["late_language", "pretrained"] + 0.02, last
    assert last.loc["primary_auditory", "tuned"] > last.loc["primary_auditory", "pretrained"] + 0.05, last

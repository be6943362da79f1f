"""Self-supervised pretraining (braintune.pretraining), its stand-in corpus and the shipped checkpoint."""

import dataclasses
import json
import re
import shlex

import numpy as np
import pytest
import soundfile as sf
import torch
import transformers

from braintune import models
from braintune.cli import build_parser, main
from braintune.settings import from_arguments
from braintune.data.speech_commands import WORDS as COMMAND_WORDS
from braintune.errors import ConfigError, DataError, ModelNotAvailable
from braintune.pretraining import (
    PretrainSettings,
    build_model,
    load_corpus,
    mfcc_features,
    model_config,
    plan_windows,
    pretrain,
    span_mask,
)
from braintune.pretraining.recipe import PredictionHead, masked_prediction
from braintune.synthetic import corpora, fmri, speech_corpus

# a few steps of the recipe on a tiny corpus: 3 speakers of ~8 s, a 2-layer model, two iterations
# (MFCC targets, then layer 1 of the first model) of two epochs of 4 steps each
TINY = PretrainSettings(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, conv_channels=16,
                        corpus_seconds=24.0, speaker_seconds=8.0, clusters=8, kmeans_frames=1000, iterations=2,
                        target_layer=1, epochs=2, window_seconds=1.0, batch_size=4, final_dim=16,
                        unmasked_weight=0.5)


def _flags(settings: PretrainSettings) -> list[str]:
    return shlex.split(settings.command("X"))[4:]


def _tokens(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split() if w.strip(".,?!")]


def _grammar_regex(slots) -> re.Pattern:
    return re.compile(" ".join("(" + "|".join(map(re.escape, slot)) + ")" for slot in slots) + r"\.", re.IGNORECASE)


def test_corpus_text_shares_no_content_word_and_no_sentence_with_the_probe_sets():
    """Guards against pretraining on the probes' test text: the stand-in TIMIT's SA sentences and
    SX/SI grammars, the simulated fMRI stories' generator and the 35 Speech Commands words."""
    probe_words = set(fmri.VOCABULARY)
    for text in corpora.SA_TEXTS:
        probe_words |= set(_tokens(text))
    for grammar in (corpora._SX_GRAMMAR, corpora._SI_GRAMMAR):
        probe_words |= {w for slot in grammar for phrase in slot for w in _tokens(phrase)}
    assert not set(speech_corpus.VOCABULARY) & set(COMMAND_WORDS)
    assert set(speech_corpus.VOCABULARY) & probe_words <= speech_corpus.FUNCTION_WORDS
    assert speech_corpus.FUNCTION_WORDS <= set(speech_corpus.VOCABULARY)

    rng = np.random.default_rng(0)
    texts = {speech_corpus.generate_utterance(rng) for _ in range(5000)}
    assert len(texts) > 4000
    sx, si = _grammar_regex(corpora._SX_GRAMMAR), _grammar_regex(corpora._SI_GRAMMAR)
    fmri_rng = np.random.default_rng(0)
    fmri_texts = {fmri.generate_sentence(fmri_rng) for _ in range(2000)}
    for text in texts:
        words = _tokens(text)
        assert set(words) <= set(speech_corpus.VOCABULARY), text
        assert not set(words) & set(COMMAND_WORDS), text
        assert not sx.fullmatch(text) and not si.fullmatch(text), text
        assert all(sa.lower().rstrip(".") not in text.lower() for sa in corpora.SA_TEXTS), text
    assert not texts & fmri_texts


def test_speech_corpus_is_byte_identical_across_runs_and_after_an_interruption(tmp_path):
    """Guards against espeak-ng state leaking between calls: each shard is spoken in a fresh process."""
    args = dict(seconds=12.0, speaker_seconds=6.0, seed=3, progress=False)
    a = speech_corpus.simulate_speech_corpus(tmp_path / "a", **args)
    b = speech_corpus.simulate_speech_corpus(tmp_path / "b", **args)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir()) and "spk0001.wav" in files and "speakers.tsv" in files
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    (b / "spk0001.wav").unlink()
    (b / ".complete").unlink()  # as if killed before the end
    speech_corpus.simulate_speech_corpus(tmp_path / "b", **args)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    lines = (a / "spk0000.txt").read_text().splitlines()
    assert lines and all(int(line.split()[0]) < int(line.split()[1]) for line in lines)


def test_span_mask_starts_spans_of_the_given_length():
    rng = np.random.default_rng(0)
    single = span_mask(50, 100, 0.08, 1, rng)  # spans of one frame: the starts themselves, 8 per row
    assert single.dtype == bool and single.shape == (50, 100) and np.all(single.sum(axis=1) == 8)
    mask = span_mask(200, 100, 0.08, 10, rng)
    runs = [np.diff(np.flatnonzero(np.diff(np.r_[0, row, 0])))[::2] for row in mask.astype(int)]
    assert all(r.min() >= 10 and r.sum() <= 80 for r in runs)  # every masked run is one span or overlapping ones
    assert 0.4 < mask.mean() < 0.6  # 1 - (1 - 0.08)^10 = 0.57 less the edges
    again = [span_mask(20, 100, 0.08, 10, np.random.default_rng(1)) for _ in range(2)]
    assert np.array_equal(*again)


def test_training_windows_tile_each_recording_on_the_frame_grid():
    frames = np.array([250, 99, 400])
    plan = plan_windows(frames, np.array([0, 1, 2]), 50, np.random.default_rng(0))
    assert sorted(np.bincount(plan[:, 0], minlength=3)) == [1, 5, 8]
    assert np.all(plan[:, 1] >= 0) and np.all(plan[:, 1] + 50 <= frames[plan[:, 0]])
    for r in range(3):
        starts = np.sort(plan[plan[:, 0] == r, 1])
        assert np.all(np.diff(starts) == 50)


def test_mfcc_targets_are_on_the_model_frame_grid():
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    feats = mfcc_features(audio)
    assert feats.shape == (models.num_frames(16000), 39) and feats.dtype == np.float32


def test_pretrain_resumes_to_identical_weights_and_writes_a_loadable_model_with_its_card(tmp_path):
    """Guards against a resumed run drifting from an uninterrupted one (per-epoch reseeding,
    windows and masks from (seed, iteration, epoch), optimiser and schedule state restored)."""
    a = tmp_path / "a"
    assert main(["pretrain", "--out", str(a), "--no-probes", *_flags(TINY)]) == 0
    card = json.loads((a / "model" / "card.json").read_text())
    assert [(r["iteration"], r["epoch"]) for r in card["epochs"]] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert card["settings"] == TINY.to_dict() and card["probes"] is None
    assert card["corpus"]["speakers"] == 3 and card["corpus"]["validation_recordings"] == 1
    assert card["machine"]["cpu"] and card["wall_seconds"] > 0 and "pretrain" in (a / "model" / "card.md").read_text()
    args = build_parser().parse_args(shlex.split(card["command"])[1:])
    assert from_arguments(PretrainSettings, args) == TINY

    b = tmp_path / "b"  # the same corpus, given as a folder; killed in the middle of iteration 1, then resumed
    pretrain(b, TINY, corpus=a / "corpus", probes=False, stop_after_epoch=1, progress=False)
    assert not (b / "model").exists() and torch.load(b / "checkpoint.pt", weights_only=True)["epoch"] == 1
    pretrain(b, TINY, corpus=a / "corpus", probes=False, progress=False)
    card_b = json.loads((b / "model" / "card.json").read_text())
    drop = {"seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in card_b["epochs"]] == \
           [{k: v for k, v in r.items() if k not in drop} for r in card["epochs"]]

    loaded = models.load_encoder(a / "model")
    assert models.model_identity(loaded) == models.model_identity(models.load_encoder(b / "model"))
    auto = transformers.AutoModel.from_pretrained(a / "model")
    assert type(auto).__name__ == "HubertModel" and models.model_identity(auto) == models.model_identity(loaded)
    assert loaded.config.do_normalize is True
    states = models.hidden_states(loaded, torch.zeros(1, 16000).normal_(generator=torch.Generator().manual_seed(0)))
    assert len(states) == TINY.num_layers + 1 and states[0].shape == (1, 49, TINY.hidden_size)

    with pytest.raises(ConfigError, match="run.json"):
        pretrain(b, dataclasses.replace(TINY, lr=0.005), corpus=a / "corpus", probes=False, progress=False)


def test_pretrain_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path / "x"), "--mask-prob", "1.5"]) == 1
    err = capsys.readouterr().err.strip()
    assert "mask_prob" in err and "\n" not in err
    short = tmp_path / "short"
    short.mkdir()
    for name in ("a.wav", "b.wav"):
        sf.write(short / name, np.zeros(8000, np.float32), 16000)
    with pytest.raises(DataError, match="a.wav.*shorter than a training window"):
        load_corpus(short, PretrainSettings())


def _write_noise(folder, names, seconds=1.2, seed=0):
    """WAVs of seeded noise (16 kHz), each longer than TINY's 1 s window."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        sf.write(folder / name, 0.1 * rng.standard_normal(round(seconds * 16000)).astype(np.float32), 16000)
    return folder


def _files(folder):
    """Relative path -> bytes of every file under `folder`."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pretrain_refuses_a_non_empty_folder_that_holds_no_run(tmp_path, monkeypatch, capsys):
    """Guards against `--out` into an unrelated folder replacing its files and mixing its WAVs into
    the generated corpus while run.json says "generated"; a new or empty folder, or one that holds
    the same run, is still used."""
    def no_generation(*args, **kwargs):
        raise AssertionError("the corpus was generated into a folder that holds no pretraining run")

    monkeypatch.setattr(speech_corpus, "simulate_speech_corpus", no_generation)
    mine = _write_noise(tmp_path / "mine" / "corpus", ["old.wav"]).parent
    (mine / "model").mkdir()
    (mine / "model" / "weights.bin").write_bytes(b"mine")
    (mine / "notes.txt").write_text("my notes")
    before = _files(mine)
    assert main(["pretrain", "--out", str(mine), "--no-probes", *_flags(TINY)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"braintune pretrain: error: {mine}: folder is not empty and holds no pretraining run "
                   "(no run.json); use a new or empty --out")
    recordings = _write_noise(tmp_path / "recordings", ["a.wav", "b.wav"])
    with pytest.raises(ConfigError, match="holds no pretraining run"):
        pretrain(mine, TINY, corpus=recordings, probes=False, progress=False)
    assert _files(mine) == before

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="at least two audio files"):  # a corpus that does not load binds nothing
        pretrain(empty, TINY, corpus=tmp_path / "mine" / "model", probes=False, progress=False)
    for _ in range(2):  # claimed by this run, then resumed by the same command
        pretrain(empty, TINY, corpus=recordings, probes=False, stop_after_epoch=0, progress=False)
    run = json.loads((empty / "run.json").read_text())
    assert run["corpus"] == str(recordings) and sorted(run["recordings"]) == ["a.wav", "b.wav"]
    with pytest.raises(ConfigError, match=r"run.json: the run in this folder has other settings \(epochs\)"):
        pretrain(empty, dataclasses.replace(TINY, epochs=3), corpus=recordings, probes=False, progress=False)

    (empty / "run.json").write_text("{}")
    with pytest.raises(ConfigError, match="run.json: not the record of a pretraining run"):
        pretrain(empty, TINY, corpus=recordings, probes=False, progress=False)


def test_pretraining_loss_is_the_cross_entropy_of_exactly_the_masked_frames():
    """Guards against a loss (or its tally) that counts unmasked frames, or masks other frames than
    the model saw masked: float64, frames counted here, cross-entropy computed here in numpy."""
    settings = TINY
    model = build_model(settings).double().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        head = PredictionHead(settings.hidden_size, settings.final_dim, settings.clusters, settings.temperature).double()
    rng = np.random.default_rng(0)
    waves = torch.from_numpy(rng.standard_normal((3, settings.window_samples)))
    labels = torch.from_numpy(rng.integers(0, settings.clusters, (3, settings.window_frames)))
    mask = torch.from_numpy(span_mask(3, settings.window_frames, 0.1, 5, rng))
    masked_frames = [(b, t) for b in range(3) for t in range(settings.window_frames) if mask[b, t]]
    unmasked_frames = [(b, t) for b in range(3) for t in range(settings.window_frames) if not mask[b, t]]
    assert masked_frames and unmasked_frames

    seen = {}
    model.encoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.update(encoder_input=args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True)
    nudge = {}  # frame -> added to the model's last hidden state there

    def last_hidden_state_hook(module, args, kwargs, output):
        for (b, t), value in nudge.items():
            output.last_hidden_state[b, t] += value
        seen["last"] = output.last_hidden_state.clone()

    model.register_forward_hook(last_hidden_state_hook, with_kwargs=True)

    def cross_entropy(frames):
        """Per-frame cross-entropy of the last forward pass, in numpy float64."""
        w, bias = head.project.weight.detach().numpy(), head.project.bias.detach().numpy()
        embeddings = head.embeddings.detach().numpy()
        embeddings = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        out = []
        for b, t in frames:
            projected = w @ seen["last"][b, t].numpy() + bias
            logits = embeddings @ (projected / np.linalg.norm(projected)) / settings.temperature
            out.append(np.log(np.exp(logits - logits.max()).sum()) + logits.max() - logits[labels[b, t]])
        return np.array(out)

    with torch.no_grad():
        loss, tally = masked_prediction(model, head, waves, labels, mask)
        masked_only = cross_entropy(masked_frames)
        assert torch.equal((seen["encoder_input"] == model.masked_spec_embed).all(dim=-1), mask)
        assert loss.dtype == torch.float64 and tally[2] == len(masked_frames) and tally[4] == len(unmasked_frames)
        np.testing.assert_allclose([loss.item(), tally[0].item()], [masked_only.mean(), masked_only.sum()], rtol=1e-12)
        unmasked = cross_entropy(unmasked_frames)
        assert abs(unmasked.mean() - masked_only.mean()) > 1e-3  # counting the other frames would show
        weighted, _ = masked_prediction(model, head, waves, labels, mask, unmasked_weight=0.5)
        np.testing.assert_allclose(weighted.item(), masked_only.mean() + 0.5 * unmasked.mean(), rtol=1e-12)

        nudge[unmasked_frames[len(unmasked_frames) // 2]] = 5.0  # another output at an unmasked frame
        changed, changed_tally = masked_prediction(model, head, waves, labels, mask)
        assert torch.equal(changed, loss) and torch.equal(changed_tally[:3], tally[:3])
        assert masked_prediction(model, head, waves, labels, mask, unmasked_weight=0.5)[0] != weighted
        nudge.clear()
        nudge[masked_frames[len(masked_frames) // 2]] = 5.0  # and at a masked frame
        assert masked_prediction(model, head, waves, labels, mask)[0] != loss


# ---- the shipped checkpoint ------------------------------------------------------------------------
SHIPPED = "tiny-pretrained:hubert"


def test_shipped_checkpoint_loads_offline_by_id_and_by_path(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = models.pretrained_folder(SHIPPED)
    assert (folder / "model.safetensors").stat().st_size <= 10 * 2**20
    by_id = models.load_encoder(SHIPPED)
    assert models.model_tag(by_id) == models.model_tag(SHIPPED) == "tiny-pretrained-hubert"
    by_path = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
    assert models.model_identity(by_path) == models.model_identity(by_id)
    assert by_id.config.num_hidden_layers >= 6 and by_id.config.do_normalize is True
    # what the stages ask of a model without loading it (a cell's key, its layers) works by id too
    assert models.num_layers(SHIPPED) == models.num_layers(folder) == by_id.config.num_hidden_layers + 1
    assert models.model_fingerprint(SHIPPED) == models.model_fingerprint(folder)
    assert models.load_encoder("tiny:wav2vec2").config.num_hidden_layers == 2  # the tiny presets still load
    with pytest.raises(ModelNotAvailable, match="tiny-pretrained:hubert"):
        models.load_encoder("tiny-pretrained:wavlm")


def test_shipped_card_command_reproduces_its_config():
    """Guards against a shipped checkpoint whose card no longer says how it was made."""
    folder = models.pretrained_folder(SHIPPED)
    card = json.loads((folder / "card.json").read_text())
    args = build_parser().parse_args(shlex.split(card["command"])[1:])
    settings = from_arguments(PretrainSettings, args)
    assert settings.to_dict() == card["settings"]
    volatile = ("architectures", "transformers_version", "dtype", "torch_dtype", "_name_or_path")
    expected = {k: v for k, v in model_config(settings).to_dict().items() if k not in volatile}
    shipped = {k: v for k, v in transformers.AutoConfig.from_pretrained(folder).to_dict().items() if k not in volatile}
    assert shipped == expected
    last = card["epochs"][-1]
    assert last["validation_accuracy"] > 5 * card["targets"]["chance_accuracy"]


@pytest.mark.slow
def test_full_recipe_rebuilds_the_shipped_checkpoint(tmp_path):
    """Runs the shipped card's command (hours at one thread) and compares its masked-prediction
    accuracy and probe numbers with the card's."""
    card = json.loads((models.pretrained_folder(SHIPPED) / "card.json").read_text())
    argv = shlex.split(card["command"])[1:]
    argv[argv.index("--out") + 1] = str(tmp_path / "run")
    assert main(argv) == 0
    rebuilt = json.loads((tmp_path / "run" / "model" / "card.json").read_text())
    for old, new in zip(card["epochs"], rebuilt["epochs"], strict=True):
        assert abs(old["validation_accuracy"] - new["validation_accuracy"]) < 0.02
    old = {(p["model"], p["layer"], p["task"], p["metric"]): p["value"] for p in card["probes"]}
    new = {(p["model"], p["layer"], p["task"], p["metric"]): p["value"] for p in rebuilt["probes"]}
    assert old.keys() == new.keys()
    assert max(abs(old[k] - new[k]) for k in old) < 0.05

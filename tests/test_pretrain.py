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
    contrastive_masks,
    mfcc_features,
    model_config,
    plan_windows,
    pretrain,
    span_mask,
)
from braintune.pretraining.model import PredictionHead
from braintune.pretraining.objectives import contrastive, masked_prediction
from braintune.synthetic import corpora, fmri, speech_corpus

# a few steps of the recipe on a tiny corpus: 3 speakers of ~8 s, a 2-layer model, two iterations
# (MFCC targets, then layer 1 of the first model) of two epochs of 4 steps each
TINY = PretrainSettings(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, conv_channels=16,
                        corpus_seconds=24.0, speaker_seconds=8.0, clusters=8, kmeans_frames=1000, iterations=2,
                        target_layer=1, epochs=2, window_seconds=1.0, batch_size=4, final_dim=16,
                        unmasked_weight=0.5)


def _flags(settings: PretrainSettings) -> list[str]:
    return shlex.split(settings.command("X"))[4:]


def _epochs(out) -> list[dict]:
    """The per-epoch records of OUT/model/card.json without their wall seconds."""
    card = json.loads((out / "model" / "card.json").read_text())
    return [{k: v for k, v in r.items() if k != "seconds"} for r in card["epochs"]]


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
    assert _epochs(b) == _epochs(a)

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

    old = {**run, "settings": {k: v for k, v in run["settings"].items() if k not in ("objective", "num_negatives")}}
    (empty / "run.json").write_text(json.dumps(old))  # written before these settings existed: still this run
    pretrain(empty, TINY, corpus=recordings, probes=False, stop_after_epoch=0, progress=False)

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


# ---- the contrastive objective (wav2vec 2.0) ---------------------------------------------------------
# a tiny Wav2Vec2ForPreTraining: 2 codebooks of 8 entries, 5 distractors per masked frame
W2V = PretrainSettings(family="wav2vec2", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                       conv_channels=16, corpus_seconds=24.0, speaker_seconds=8.0, epochs=2, window_seconds=1.0,
                       batch_size=4, final_dim=16, num_negatives=5, codevector_groups=2, codevectors_per_group=8,
                       codevector_dim=16, gumbel_decay=0.9)


def test_objective_defaults_to_the_familys_own_and_refuses_the_other_objectives_settings():
    assert PretrainSettings().training_objective == "masked-prediction"
    assert W2V.training_objective == "contrastive" and W2V.objective == ""
    assert dataclasses.replace(W2V, objective="contrastive") == W2V  # one spelling per run
    args = build_parser().parse_args(["pretrain", "--out", "X", "--family", "wav2vec2"])
    assert from_arguments(PretrainSettings, args).training_objective == "contrastive"
    hubert_style = PretrainSettings(family="wav2vec2", objective="masked-prediction")
    assert type(build_model(dataclasses.replace(hubert_style, num_layers=1))).__name__ == "Wav2Vec2Model"
    for base, change, error in [(TINY, {"objective": "contrastive"}, "objective contrastive needs family wav2vec2"),
                                (W2V, {"clusters": 50}, "clusters applies to the masked-prediction objective only"),
                                (TINY, {"num_negatives": 10}, "num_negatives applies to the contrastive objective only"),
                                (W2V, {"codevector_dim": 15}, "codevector_dim")]:
        with pytest.raises(ConfigError, match=error):
            dataclasses.replace(base, **change)
    assert "--clusters" not in W2V.command("X") and "--num-negatives" not in TINY.command("X")


def test_contrastive_loss_is_wav2vec2s_over_exactly_the_masked_frames():
    """Guards against a contrastive loss (or tally) other than the paper's, recomputed in numpy float64 from the
    model's intermediate tensors (transformers takes cosines and perplexity in float32, hence rtol 1e-5): logits
    cos(c_t, q) / temperature over the target and its distractors (those with the target's codes left out), summed
    over exactly the masked frames; diversity (GV - perplexity) / GV of the masked frames' mean codebook softmax."""
    settings = W2V
    model = build_model(settings).double().train()
    rng = np.random.default_rng(0)
    n, frames = 3, settings.window_frames
    waves = torch.from_numpy(rng.standard_normal((n, settings.window_samples)))
    np.random.seed(0)
    mask, negatives = contrastive_masks(n, settings)
    masked_frames = [(b, t) for b in range(n) for t in range(frames) if mask[b, t]]
    unmasked_frames = [(b, t) for b in range(n) for t in range(frames) if not mask[b, t]]
    assert masked_frames and unmasked_frames and mask.shape == (n, frames)
    for b, t in masked_frames:  # transformers' distractors: other masked frames of the same window
        assert mask.flatten()[negatives[b, t]].all() and torch.all(negatives[b, t] // frames == b)
        assert not torch.any(negatives[b, t] == b * frames + t)

    seen, nudge_q, nudge_c = {}, {}, {}

    def quantizer_hook(module, args, output):
        for (b, t), value in nudge_q.items():
            output[0][b, t] += value
        seen.update(features=args[0].clone(), codevectors=output[0].clone())

    def project_hid_hook(module, args):
        for (b, t), value in nudge_c.items():
            args[0][b, t] += value
        seen["last"] = args[0].clone()

    model.quantizer.register_forward_hook(quantizer_hook)
    model.project_hid.register_forward_pre_hook(project_hid_hook)
    model.wav2vec2.encoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.update(encoder_input=args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True)

    def run():
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(1)  # the same Gumbel noise every time
            return contrastive(model, waves, mask, negatives)

    def reference(kappa):
        """(L_m, right, L_d, perplexity, per-frame margins) of the last forward pass, in numpy float64."""
        def linear(layer, x):
            return x @ layer.weight.detach().numpy().T + layer.bias.detach().numpy()

        codes = seen["codevectors"].numpy()
        q, c = linear(model.project_q, codes), linear(model.project_hid, seen["last"].numpy())
        flat_q, flat_codes = q.reshape(n * frames, -1), codes.reshape(n * frames, -1)
        loss, right, margins = 0.0, 0, []
        for b, t in masked_frames:
            candidates = np.concatenate([q[b, t][None], flat_q[negatives[b, t].numpy()]])
            logits = candidates @ c[b, t] / (np.linalg.norm(candidates, axis=1) * np.linalg.norm(c[b, t])) / kappa
            same = np.all(flat_codes[negatives[b, t].numpy()] == codes[b, t], axis=1)
            others = np.where(same, -np.inf, logits[1:])
            top = max(logits[0], others.max())
            loss += np.log(np.exp(logits[0] - top) + np.exp(others - top).sum()) + top - logits[0]
            right += int(logits[0] > others.max())
            margins.append(abs(logits[0] - others.max()))
        g, v = settings.codevector_groups, settings.codevectors_per_group
        code_logits = linear(model.quantizer.weight_proj, seen["features"].numpy())[mask.numpy()].reshape(-1, g, v)
        soft = np.exp(code_logits - code_logits.max(axis=-1, keepdims=True))
        mean = (soft / soft.sum(axis=-1, keepdims=True)).mean(axis=0)  # (g, v) over the masked frames
        perplexity = np.exp(-(mean * np.log(mean)).sum(axis=-1)).sum()
        return loss, right, (g * v - perplexity) / (g * v) * len(masked_frames), perplexity, np.array(margins)

    loss, tally = run()
    assert torch.equal((seen["encoder_input"] == model.wav2vec2.masked_spec_embed).all(dim=-1), mask)
    ref_m, ref_right, ref_d, ref_perplexity, margins = reference(0.1)
    assert tally[3] == len(masked_frames) and tally[6] == 1 and margins.min() > 1e-3  # rounding cannot flip a rank
    assert tally[2] == ref_right and 0 < ref_right < len(masked_frames)
    np.testing.assert_allclose(tally[[0, 5]].numpy(), [ref_m, ref_perplexity], rtol=1e-5)
    np.testing.assert_allclose(tally[1].item(), ref_d, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(loss.item(), (ref_m + settings.diversity_weight * ref_d) / len(masked_frames), rtol=1e-5)

    model.config.contrastive_logits_temperature = 0.5  # the temperature divides the logits
    hot = run()[1][0].item()
    np.testing.assert_allclose(hot, reference(0.5)[0], rtol=1e-5)
    assert abs(hot - tally[0].item()) > 1.0
    model.config.contrastive_logits_temperature = 0.1

    nudge_q[unmasked_frames[len(unmasked_frames) // 2]] = 5.0  # another target at an unmasked frame
    nudge_c[unmasked_frames[len(unmasked_frames) // 3]] = 5.0  # and another prediction
    same_loss, same_tally = run()
    assert torch.equal(same_loss, loss) and torch.equal(same_tally, tally)
    nudge_q.clear(), nudge_c.clear()
    nudge_q[masked_frames[len(masked_frames) // 2]] = 5.0  # a masked frame's target counts
    assert run()[1][0] != tally[0]


def test_contrastive_pretrain_resumes_to_identical_bytes_and_saves_the_encoder_only(tmp_path):
    """Guards against a resumed contrastive run drifting (Gumbel noise, masks and distractors from
    the reseeded global generators, the Gumbel temperature from the step count) and against shipping
    the quantiser and projections."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["pretrain", "--out", str(a), "--no-probes", *_flags(W2V)]) == 0
    pretrain(b, W2V, corpus=a / "corpus", probes=False, stop_after_epoch=1, progress=False)
    assert not (b / "model").exists() and torch.load(b / "checkpoint.pt", weights_only=True)["epoch"] == 1
    pretrain(b, W2V, corpus=a / "corpus", probes=False, progress=False)
    assert (a / "model" / "model.safetensors").read_bytes() == (b / "model" / "model.safetensors").read_bytes()

    card = json.loads((a / "model" / "card.json").read_text())
    assert card["settings"] == W2V.to_dict() and card["targets"]["chance_accuracy"] == 1 / 6
    assert _epochs(b) == _epochs(a)
    steps = card["epochs"][0]["steps"]
    for i, record in enumerate(card["epochs"], start=1):
        assert record["gumbel_temperature"] == round(max(2.0 * 0.9 ** (i * steps - 1), 0.5), 5)
        assert 0 <= record["validation_accuracy"] <= 1 and 0 < record["validation_perplexity"] <= 16
    text = (a / "model" / "card.md").read_text()
    assert "Contrastive prediction per epoch" in text and "--num-negatives 5" in text and "--clusters" not in text
    args = build_parser().parse_args(shlex.split(card["command"])[1:])
    assert from_arguments(PretrainSettings, args) == W2V

    auto = transformers.AutoModel.from_pretrained(a / "model")
    loaded = models.load_encoder(a / "model")
    assert type(auto).__name__ == type(loaded).__name__ == "Wav2Vec2Model"
    assert models.model_identity(auto) == models.model_identity(loaded)
    trained = build_model(W2V)
    assert set(auto.state_dict()) == set(trained.wav2vec2.state_dict())  # no quantizer, project_q, project_hid
    assert card["model"]["parameters"] == sum(p.numel() for p in trained.wav2vec2.parameters())
    assert card["model"]["pretraining_parameters"] == sum(p.numel() for p in trained.parameters())


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


@pytest.mark.parametrize("name", ["hubert", "hubert-iter1", "wav2vec2"])
def test_shipped_card_command_reproduces_its_config(name):
    """Guards against a shipped checkpoint whose card no longer says how it was made, or that did not learn."""
    folder = models.pretrained_folder(f"tiny-pretrained:{name}")
    card = json.loads((folder / "card.json").read_text())
    args = build_parser().parse_args(shlex.split(card["command"])[1:])
    settings = from_arguments(PretrainSettings, args)
    defaults = PretrainSettings().to_dict()  # settings added since the card was written are at their defaults
    added = {k: v for k, v in defaults.items() if k not in card["settings"]}
    assert settings.to_dict() == {**added, **card["settings"]}
    volatile = ("architectures", "transformers_version", "dtype", "torch_dtype", "_name_or_path")
    expected = {k: v for k, v in model_config(settings).to_dict().items() if k not in volatile}
    shipped = {k: v for k, v in transformers.AutoConfig.from_pretrained(folder).to_dict().items() if k not in volatile}
    assert shipped == expected
    last = card["epochs"][-1]
    assert last["validation_accuracy"] > 5 * card["targets"]["chance_accuracy"]
    assert card["model"]["safetensors_bytes"] == (folder / "model.safetensors").stat().st_size <= 8 * 2**20


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

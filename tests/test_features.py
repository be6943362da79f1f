import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.synthetic.speech import Voice, synthesize
from braintune.errors import DataError
from braintune.features import (
    Scheme,
    extract,
    lanczos_kernel,
    lanczos_matrix,
    lanczos_resample,
    make_delayed,
    step_ends,
    step_features,
    story_tr_features,
    tr_features,
)
from braintune.arrays import zscore
from braintune.features.extraction import _run, _run_on_cnn, fast_cnn, fast_windows, reference_features
from braintune.models import hidden_states, load_encoder
from braintune.models.encoders import model_input

SR = 16000
SMALL = dict(step=0.1, context=1.0)  # short context keeps the reference cheap on the tiny model


@pytest.fixture(scope="module")
def speech():
    text = (
        "Once upon a time a little river ran through a quiet valley. Every morning the children walked along it "
        "to school, and every evening they walked back home, counting the stones and the birds on the water."
    )
    audio = synthesize(text, Voice(rate=170)).audio.astype(np.float32)
    assert len(audio) > 10 * SR
    return audio


@pytest.fixture(scope="module")
def tiny():
    return load_encoder("tiny:wav2vec2")


def _mini_dataset(root, speech, seconds=(24.0, 26.0, 22.0)):
    """A ds003020-layout folder: stimuli/<story>.wav + derivative/respdict.json (rows = TRs - 20)."""
    (root / "stimuli").mkdir(parents=True)
    (root / "derivative").mkdir()
    respdict = {}
    for i, sec in enumerate(seconds):
        story = f"story{i}"
        audio = np.resize(np.roll(speech, 7919 * i), int(sec * SR))
        sf.write(root / "stimuli" / f"{story}.wav", audio, SR, subtype="FLOAT")
        respdict[story] = 20 + int((sec - 11) // 2)  # rows at 11, 13, ... s, within the audio
    (root / "derivative" / "respdict.json").write_text(json.dumps(respdict))
    return Dataset(root)


class _CountingModel:
    """Counts forward passes of a model per story being extracted."""

    def __init__(self, model, dataset):
        self.calls: list[str] = []
        self.story = None
        self.fail_at = None
        model.register_forward_pre_hook(self._hook)
        loader = dataset.load_audio

        def load_audio(story, sample_rate=16000):
            self.story = story
            return loader(story, sample_rate=sample_rate)

        dataset.load_audio = load_audio

    def _hook(self, module, args):
        self.calls.append(self.story)
        if self.fail_at is not None and len(self.calls) >= self.fail_at:
            raise KeyboardInterrupt("simulated kill")


# ---- Lanczos, z-score, delays ------------------------------------------------------------


def test_lanczos_kernel_matches_published_formula_by_hand():
    t = np.array([0.0, 0.5, -0.5, 1.0, 1.5, 2.5, 3.0, 3.5, -4.0])
    expected = [
        1.0,
        6 / np.pi**2,  # 3 sin(pi/2) sin(pi/6) / (pi^2 / 4)
        6 / np.pi**2,
        0.0,
        -4 / (3 * np.pi**2),  # 3 sin(3pi/2) sin(pi/2) / (pi^2 * 9/4)
        3 * 1 * np.sin(2.5 * np.pi / 3) / (np.pi**2 * 6.25),
        0.0,
        0.0,  # beyond 3 lobes
        0.0,
    ]
    np.testing.assert_allclose(lanczos_kernel(t), expected, atol=1e-12)
    # cutoff 1/TR scales time: 1 s apart at TR 2 is t = 0.5
    np.testing.assert_allclose(lanczos_matrix(np.array([10.0]), np.array([9.0, 10.0, 16.0, 17.0]), 0.5), [[6 / np.pi**2, 1, 0, 0]], atol=1e-12)


def test_lanczos_resample_is_unnormalised_weighted_sum():
    in_times = np.arange(0, 20, 0.1)
    x = np.stack([np.ones_like(in_times), in_times], axis=1).astype(np.float32)
    out = lanczos_resample(x, in_times, np.array([8.0, 10.0]), tr=2.0)
    weights = lanczos_kernel(0.5 * (10.0 - in_times))
    np.testing.assert_allclose(out[1], [weights.sum(), (weights * in_times).sum()], rtol=1e-5)
    assert abs(out[0, 0] - 20.0) < 0.2  # unnormalised: about rate / cutoff = 10 / 0.5


def test_zscore_and_delays_by_hand():
    x = np.arange(1, 9, dtype=np.float32).reshape(4, 2)
    np.testing.assert_allclose(zscore(x).mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(zscore(x).std(0), 1, atol=1e-6)
    d = make_delayed(x, (1, 2))
    assert d.shape == (4, 4)
    np.testing.assert_array_equal(d[:, :2], [[0, 0], [1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(d[:, 2:], [[0, 0], [0, 0], [1, 2], [3, 4]])
    np.testing.assert_array_equal(make_delayed(x, (0, 9))[:, 2:], 0)


# ---- schemes ---------------------------------------------------------------------------------


def test_reference_equals_the_model_run_by_hand_on_one_window(tiny, speech):
    audio = speech[: 3 * SR]
    times, feats = extract(tiny, audio, Scheme("reference", **SMALL), progress=False)
    np.testing.assert_allclose(times, np.arange(1, 31) / 10)
    assert feats.shape == (3, 30, 64) and feats.dtype == np.float32
    for t, window in [(2.5, audio[int(1.5 * SR) : int(2.5 * SR)]), (0.4, audio[: int(0.4 * SR)])]:
        with torch.no_grad():
            by_hand = torch.stack([h[0, -1] for h in hidden_states(tiny, torch.from_numpy(window)[None])])
        np.testing.assert_allclose(feats[:, round(t * 10) - 1], by_hand.numpy(), rtol=1e-4, atol=1e-4)


def test_fast_plan_serves_every_step_once_with_context_and_bounded_lookahead():
    n, scheme = int(13.37 * SR), Scheme("fast", step=0.1, context=2.0, chunk=0.6)
    ends = step_ends(n, 0.1)
    served = np.concatenate([steps for _, _, steps, _ in fast_windows(n, scheme)])
    np.testing.assert_array_equal(np.sort(served), np.arange(len(ends)))
    for start, end, steps, frames in fast_windows(n, scheme):
        assert start % 320 == 0
        frame_start = start + 320 * frames
        frame_end = frame_start + 400
        # the reference's frame for step t: last frame of the window [t - context, t]
        np.testing.assert_array_equal(frame_end, ends[steps] - (np.minimum(ends[steps], 2 * SR) - 400) % 320)
        assert np.all((frame_start - start >= 2 * SR - 400) | (start == 0))
        assert np.all(end - frame_end < 0.6 * SR)
        # look-ahead bounded relative to the audio before the step: at most chunk/context of it
        lookahead, bound = end - ends[steps], 0.6 * SR * np.minimum(ends[steps], 2 * SR) / (2 * SR)
        assert np.all(lookahead <= bound), (end, ends[steps])
        assert np.all(lookahead[bound < 320] == 0)  # where the bound is under a hop: the reference's window
    assert scheme.settings()["plan"] == 2 and "plan" not in Scheme("reference").settings()  # new plan, new cache key
    plan = fast_windows(n, scheme)
    assert plan[0][:2] == (0, 1600) and plan[1][:2] == (0, 3520)
    # the full stride, and full-length windows, once context is available
    strides = np.diff([e for _, e, _, _ in plan])
    assert np.all(strides[-10:-1] == 0.6 * SR) and plan[-2][1] - plan[-2][0] == 2.6 * SR


def test_fast_cnn_frames_are_those_of_the_first_window_that_ends_with_them(tiny):
    audio = (0.1 * np.random.default_rng(0).standard_normal(5 * SR)).astype(np.float32)
    plan = fast_windows(len(audio), Scheme("fast", step=0.1, context=2.0, chunk=0.6))
    cnn = fast_cnn(tiny, audio, plan)
    assert cnn.shape[1] == 1 + (len(audio) - 400) // 320
    done = 0
    for start, end, _, _ in plan:
        window = model_input(tiny, torch.from_numpy(audio[start:end])[None])
        with torch.no_grad():
            own = tiny.feature_extractor(window)[0]
        last = (end - 400) // 320
        # exact: the window's input normalisation and group-norm statistics, not the new frames' alone
        np.testing.assert_allclose(cnn[:, done : last + 1], own[:, done - start // 320 :], rtol=1e-4, atol=1e-5)
        first, done = done, last + 1
    with torch.no_grad():  # the last window's new frames from their own audio alone: other group-norm statistics
        alone = tiny.feature_extractor(window[:, (first - start // 320) * 320 :])[0]
    assert alone.shape[1] == done - first and not np.allclose(alone, cnn[:, first:done], atol=1e-3)
    # the transformer from given CNN features is the model's own forward pass
    np.testing.assert_array_equal(_run_on_cnn(tiny, own[None], False), _run(tiny, audio[None, start:end], False))


def test_fast_is_close_to_reference_on_tiny_model(tiny, speech):
    speech = np.concatenate([speech, speech[::-1]])  # ~21 s: 10 rows
    rows = np.arange(2.0, len(speech) / SR - 1, 2.0)
    tr_ref, ref = extract(tiny, speech, Scheme("reference", **SMALL), progress=False)
    tr_fast, fast = extract(tiny, speech, Scheme("fast", chunk=0.2, **SMALL), progress=False)
    np.testing.assert_array_equal(tr_ref, tr_fast)
    a = zscore(lanczos_resample(ref, tr_ref, rows, 2.0), axis=-2)
    b = zscore(lanczos_resample(fast, tr_fast, rows, 2.0), axis=-2)
    r = (a * b).mean(axis=1)  # (layers, features) correlation over rows
    assert np.median(r) > 0.97 and r.min() > 0.85, (np.median(r), r.min())
    # bf16 autocast stays close too
    _, fast16 = extract(tiny, speech, Scheme("fast", chunk=0.2, dtype="bfloat16", **SMALL), progress=False)
    c = zscore(lanczos_resample(fast16, tr_fast, rows, 2.0), axis=-2)
    assert (b * c).mean(axis=1).min() > 0.99


# ---- stories: rows, delays, cache, resume ----------------------------------------------------


def test_story_features_align_with_response_rows_and_delays_stay_within_story(sim_dataset, tiny, tmp_path):
    dataset = Dataset(sim_dataset)
    stories = dataset.stories_of("UTS01")[:2]
    scheme = Scheme("fast", step=0.1, context=2.0, chunk=1.0)
    out = story_tr_features(tiny, dataset, stories, cache_dir=tmp_path, scheme=scheme, layers=[0, "layer_2"], delays=(1, 2, 3, 4))
    raw = tr_features(tiny, dataset, stories, cache_dir=tmp_path, scheme=scheme, layers=[0, 2])
    for story in stories:
        rows = dataset.row_times(story)
        assert out[story].shape == (2, len(rows), 64 * 4) and out[story].dtype == np.float32
        assert out[story].shape[1] == dataset.load_responses("UTS01", story).shape[0]
        _, times, feats = next(step_features(tiny, dataset, [story], cache_dir=tmp_path, scheme=scheme, progress=False))
        np.testing.assert_allclose(raw[story], lanczos_matrix(rows, times, 0.5) @ feats[[0, 2]], rtol=1e-4, atol=1e-3)
        z = zscore(raw[story], axis=-2)
        for k, d in enumerate((1, 2, 3, 4)):
            block = out[story][:, :, 64 * k : 64 * (k + 1)]
            np.testing.assert_array_equal(block[:, :d], 0)  # nothing from the previous story
            np.testing.assert_allclose(block[:, d:], z[:, :-d], atol=1e-6)


def test_cache_reused_only_when_settings_match(tmp_path, speech):
    dataset = _mini_dataset(tmp_path / "ds", speech, seconds=(14.0,))
    model = load_encoder("tiny:wav2vec2")
    counter = _CountingModel(model, dataset)
    scheme = Scheme("fast", step=0.1, context=1.0, chunk=1.0)
    first = story_tr_features(model, dataset, ["story0"], cache_dir=tmp_path / "cache", scheme=scheme, delays=(1, 2, 3, 4))
    n_first = len(counter.calls)
    assert n_first > 0
    again = story_tr_features(model, dataset, ["story0"], cache_dir=tmp_path / "cache", scheme=scheme, delays=(1,))
    assert len(counter.calls) == n_first  # delays are applied after the cache
    np.testing.assert_array_equal(again["story0"], first["story0"][..., :64])
    story_tr_features(model, dataset, ["story0"], cache_dir=tmp_path / "cache", scheme=Scheme("fast", step=0.2, context=1.0, chunk=1.0), delays=(1, 2, 3, 4))
    assert len(counter.calls) > n_first  # new step: recomputed
    n_second = len(counter.calls)
    with torch.no_grad():
        model.encoder.layers[1].feed_forward.output_dense.bias.add_(1.0)  # same object, other weights
    story_tr_features(model, dataset, ["story0"], cache_dir=tmp_path / "cache", scheme=scheme, delays=(1, 2, 3, 4))
    assert len(counter.calls) > n_second
    assert len(list((tmp_path / "cache").iterdir())) == 3
    for folder in (tmp_path / "cache").iterdir():
        assert json.loads((folder / "settings.json").read_text())["context"] == 1.0


def test_killed_extraction_resumes_without_recomputing_finished_stories(tmp_path, speech):
    dataset = _mini_dataset(tmp_path / "ds", speech)
    model = load_encoder("tiny:hubert")
    counter = _CountingModel(model, dataset)
    scheme = Scheme("fast", step=0.1, context=1.0, chunk=1.0, batch_size=1)  # one forward pass per window
    counter.fail_at = 30  # story0 needs 27 windows: the kill lands inside story1
    with pytest.raises(KeyboardInterrupt):
        story_tr_features(model, dataset, dataset.stories, cache_dir=tmp_path / "cache", scheme=scheme, delays=(1, 2, 3, 4))
    assert set(counter.calls) == {"story0", "story1"}
    cached = sorted(p.name for p in next((tmp_path / "cache").iterdir()).iterdir())
    assert cached == ["settings.json", "story0.npz"]  # no partial file left behind
    counter.calls.clear()
    counter.fail_at = None
    out = story_tr_features(model, dataset, dataset.stories, cache_dir=tmp_path / "cache", scheme=scheme, delays=(1, 2, 3, 4))
    assert set(counter.calls) == {"story1", "story2"}
    assert sorted(out) == ["story0", "story1", "story2"]


def test_too_short_audio_names_the_story(tmp_path, speech):
    dataset = _mini_dataset(tmp_path / "ds", speech[:200], seconds=(0.01,))
    with pytest.raises(DataError, match="story0"):
        story_tr_features("tiny:wav2vec2", dataset, ["story0"], cache_dir=tmp_path / "cache", delays=(1,))


def test_cli_extract_fills_the_cache(tmp_path, speech):
    from braintune.cli import main

    _mini_dataset(tmp_path / "ds", speech, seconds=(14.0,))
    code = main(
        ["extract", "--data", str(tmp_path / "ds"), "--model", "tiny:wav2vec2", "--cache", str(tmp_path / "cache"),
         "--context", "1.0", "--chunk", "1.0"]
    )
    assert code == 0
    (folder,) = (tmp_path / "cache").iterdir()
    assert folder.name.startswith("tiny-wav2vec2-") and (folder / "story0.npz").is_file()
    assert main(["extract", "--data", str(tmp_path / "ds"), "--model", "nobody/missing", "--cache", str(tmp_path)]) == 1


def test_reference_batches_equal_length_windows_without_changing_a_step(speech):
    """Guards against batching mixing steps up (a step getting another window's frame) or padding
    the story start's shorter windows: run in float64, the batched reference equals one window per
    pass to the float32 rounding of the stored features (a wrong frame differs by ~0.1)."""
    model = load_encoder("tiny:wav2vec2").double()
    audio = speech[: int(2.35 * SR)].astype(np.float64)  # 9 steps with shorter windows, 14 of the full second
    one = Scheme("reference", batch_size=1, **SMALL)
    times, alone = reference_features(model, audio, one, progress=False)
    _, batched = reference_features(model, audio, replace(one, batch_size=3), progress=False)
    assert alone.shape == (3, 23, 64)
    np.testing.assert_allclose(batched, alone, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(times, np.arange(1, 24) / 10)

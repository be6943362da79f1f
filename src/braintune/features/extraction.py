"""Hidden states of every layer along a story, sampled on a grid of steps.

The field's reference scheme is a causal sliding window: for each step t (every 0.1 s), run
the model on the `context` seconds of audio ending at t (shorter at the story start) and keep
the last frame of every layer, time-stamped t. Frame j of a window covers samples
[320 j, 320 j + 400) of it, so the kept frame is the latest one that ends by t.

The fast scheme computes nearby frames with far less audio through the model:
windows of context + chunk seconds end every chunk seconds; each keeps the frames that end
within its last chunk seconds — every kept frame has at least `context` seconds of audio
before it, and sees at most `chunk` seconds after it. At the story start, where less than
`context` seconds precede a frame, the stride shrinks in proportion to the audio available
(down to one 20 ms hop, where windows are the reference's own), so a kept frame at t never
sees more than chunk * min(t, context) / context seconds ahead. At each step t it keeps, like
the reference, the latest frame that ends by t. Windows start on the 320-sample frame grid, so
when step and context are multiples of 20 ms both schemes pick frames over exactly the same
samples; they differ only in how much audio around a frame the model sees. That difference is
not small on a trained model: its positional convolution and attention read the frames after the
kept one, which the reference's last frame never has (docs/pretraining.md measures it), so the
reference is the default and the paper's scheme, and the fast one a documented approximation.

The fast scheme also runs the CNN feature encoder once per frame, not once per window: each
frame's CNN features are computed as in the first window that ends with it (that window's
input normalisation and, for base models, its group-norm statistics over time — so the kept
frames' are exactly their window's), and later windows reuse them as context.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import numpy as np
import torch

from braintune.data.audio import HOP, RECEPTIVE_FIELD, SAMPLE_RATE, to_samples
from braintune.features.settings import Scheme
from braintune.models import hidden_states
from braintune.models.encoders import model_input
from braintune.progress import tqdm



def step_ends(n_samples: int, step: float) -> np.ndarray:
    """Sample index of every step k*step (k >= 1) whose window holds at least one frame. -> (steps,) int64"""
    ends = np.round(np.arange(1, n_samples / (step * SAMPLE_RATE) + 1) * step * SAMPLE_RATE).astype(np.int64)
    return ends[(ends >= RECEPTIVE_FIELD) & (ends <= n_samples)]


@contextmanager
def _patched(module, forward):
    """module.forward replaced by `forward` for the duration (restoring any earlier replacement)."""
    previous = module.__dict__.get("forward")
    module.forward = forward
    try:
        yield
    finally:
        if previous is None:
            del module.forward
        else:
            module.forward = previous


@contextmanager
def _autocast_blocks(model, enabled: bool):
    """bfloat16 autocast for the transformer blocks only: the CNN, the feature projection and the
    convolutional position embedding stay in float32 (in bfloat16 they alone move frames by ~25%
    on the tiny model; the blocks by ~0.01%)."""
    if not enabled:
        yield
        return
    device = next(model.parameters()).device
    exact = [getattr(model, "feature_extractor", None), getattr(model, "feature_projection", None)]
    exact.append(getattr(getattr(model, "encoder", None), "pos_conv_embed", None))
    with ExitStack() as stack:
        for module in exact:
            if module is not None:
                stack.enter_context(_patched(module, torch.autocast(device.type, enabled=False)(module.forward)))
        stack.enter_context(torch.autocast(device.type, dtype=torch.bfloat16))
        yield


def _run(model, windows: np.ndarray, bf16: bool, frames=slice(None)) -> torch.Tensor:
    """All layers for a batch of equal-length windows (batch, samples), the frames `frames` selected
    on the model's device. -> (batch, layers, frames, hidden) float32 on the CPU"""
    with torch.inference_mode(), _autocast_blocks(model, bf16):
        states = hidden_states(model, torch.from_numpy(np.ascontiguousarray(windows)))
        return torch.stack([h[:, frames] for h in states], dim=1).float().cpu()


def _equal_length_batches(lengths, batch_size: int):
    """Indices into `lengths` in batches of at most `batch_size` equal lengths (lengths in order of
    first appearance): windows of one batch need no padding, which base models' group norm forbids."""
    by_length: dict[int, list[int]] = {}
    for i, length in enumerate(lengths):
        by_length.setdefault(int(length), []).append(i)
    for indices in by_length.values():
        for b in range(0, len(indices), batch_size):
            yield indices[b : b + batch_size]


def _empty(model, n_steps: int) -> np.ndarray:
    return np.empty((model.config.num_hidden_layers + 1, n_steps, model.config.hidden_size), dtype=np.float32)


def reference_features(
    model, audio: np.ndarray, scheme: Scheme = Scheme("reference"), desc: str | None = None, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The causal sliding window, equal-length windows batched (`scheme.batch_size` per forward pass;
    at the story start each window has its own length). audio (samples,) 16 kHz -> times (steps,) s,
    features (layers, steps, hidden)."""
    ends = step_ends(len(audio), scheme.step)
    starts = np.maximum(0, ends - to_samples(scheme.context))
    features = _empty(model, len(ends))
    with tqdm(total=len(ends), desc=desc, unit="step", disable=not progress, leave=False) as bar:
        for batch in _equal_length_batches(ends - starts, scheme.batch_size):
            windows = np.stack([audio[starts[i] : ends[i]] for i in batch])
            last = _run(model, windows, scheme.bf16, frames=slice(-1, None))[:, :, -1]  # (batch, layers, hidden)
            features[:, batch] = last.transpose(0, 1).numpy()
            bar.update(len(batch))
    return ends / SAMPLE_RATE, features


def fast_windows(n_samples: int, scheme: Scheme) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """The fast scheme's plan: (start, end, steps it serves, frame index within the window per step).

    Each window ends one stride after the previous one: `chunk`, or at the story start
    chunk * audio so far / context (a multiple of the hop, at least one hop).
    """
    ends = step_ends(n_samples, scheme.step)
    frame = (ends - RECEPTIVE_FIELD) // HOP  # latest frame that ends by each step (global index)
    frame_end = frame * HOP + RECEPTIVE_FIELD
    chunk, context = to_samples(scheme.chunk), to_samples(scheme.context)
    plan, previous = [], 0
    while previous < n_samples:
        stride = max(HOP, chunk * min(previous, context) // context // HOP * HOP)
        end = min(previous + stride, n_samples)
        start = max(0, (end - context - chunk) // HOP * HOP)
        steps = np.flatnonzero((frame_end > previous) & (frame_end <= end))
        if steps.size:
            plan.append((start, end, steps, frame[steps] - start // HOP))
        previous = end
    return plan


def _group_norm(model):
    """The CNN's group norm over time (base models' first layer), or None."""
    norm = getattr(model.feature_extractor.conv_layers[0], "layer_norm", None)
    return norm if isinstance(norm, torch.nn.GroupNorm) else None


def _frozen_group_norm(norm: torch.nn.GroupNorm, example: torch.Tensor):
    """A forward for `norm` that normalises with the statistics of `example` (1, channels, time)."""
    groups = example.reshape(len(example), norm.num_groups, -1)
    mean, var = groups.mean(-1, keepdim=True), groups.var(-1, unbiased=False, keepdim=True)

    def forward(x):
        b, c, t = x.shape
        x = ((x.reshape(b, norm.num_groups, -1) - mean) / torch.sqrt(var + norm.eps)).reshape(b, c, t)
        return x * norm.weight[:, None] + norm.bias[:, None] if norm.affine else x

    return forward


def fast_cnn(model, audio: np.ndarray, plan: list) -> torch.Tensor:
    """CNN features of every frame up to the plan's last, each as computed in the first window that
    ends with it: its input normalisation and group-norm statistics. -> (channels, frames), model's dtype"""
    extractor, norm, param = model.feature_extractor, _group_norm(model), next(model.parameters())
    pieces, done = [], 0
    with torch.inference_mode():
        for start, end, _, _ in plan:
            last = (end - RECEPTIVE_FIELD) // HOP  # the window's last frame (global index)
            if last < done:
                continue
            window = torch.from_numpy(np.ascontiguousarray(audio[start:end], dtype=np.float32))[None]
            window = model_input(model, window.to(param.device)).to(param.dtype)
            new = window[:, (done - start // HOP) * HOP : (last - start // HOP) * HOP + RECEPTIVE_FIELD]
            if norm is None:
                pieces.append(extractor(new)[0])
            else:
                with _patched(norm, _frozen_group_norm(norm, extractor.conv_layers[0].conv(window[:, None]))):
                    pieces.append(extractor(new)[0])
            done = last + 1
    return torch.cat(pieces, dim=1)


def _run_on_cnn(model, cnn: torch.Tensor, bf16: bool, frames: list[np.ndarray] | None = None):
    """All layers from given CNN features (batch, channels, frames). -> (batch, layers, frames, hidden)
    float32 on the CPU; with `frames` (one index array per row), only those frames of each row,
    selected on the model's device: [(layers, len(frames[row]), hidden) float32 numpy]."""
    placeholder = torch.zeros(len(cnn), (cnn.shape[2] - 1) * HOP + RECEPTIVE_FIELD)  # what the CNN would have read
    with torch.inference_mode(), _autocast_blocks(model, bf16), _patched(model.feature_extractor, lambda _: cnn):
        stacked = torch.stack(hidden_states(model, placeholder), dim=1)
        if frames is None:
            return stacked.float().cpu()
        return [stacked[row][:, torch.as_tensor(f, device=stacked.device)].float().cpu().numpy()
                for row, f in enumerate(frames)]


def fast_features(
    model, audio: np.ndarray, scheme: Scheme = Scheme("fast"), desc: str | None = None, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping long windows, batched. audio (samples,) 16 kHz -> times (steps,) s, features (layers, steps, hidden)."""
    ends = step_ends(len(audio), scheme.step)
    features = _empty(model, len(ends))
    plan = fast_windows(len(audio), scheme)
    cnn = fast_cnn(model, audio, plan)
    with tqdm(total=len(plan), desc=desc, unit="window", disable=not progress, leave=False) as bar:
        for indices in _equal_length_batches([end - start for start, end, _, _ in plan], scheme.batch_size):
            batch = [plan[i] for i in indices]
            inputs = [cnn[:, start // HOP : (end - RECEPTIVE_FIELD) // HOP + 1] for start, end, _, _ in batch]
            kept = _run_on_cnn(model, torch.stack(inputs), scheme.bf16, [frames for *_, frames in batch])
            for (_, _, steps, _), states in zip(batch, kept):
                features[:, steps] = states
            bar.update(len(batch))
    return ends / SAMPLE_RATE, features


def extract(
    model, audio: np.ndarray, scheme: Scheme, desc: str | None = None, progress: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Features of one story by `scheme`: times (steps,) s after audio onset, features (layers, steps, hidden) float32."""
    return EXTRACTORS[scheme.scheme](model, np.asarray(audio, dtype=np.float32), scheme, desc=desc, progress=progress)


EXTRACTORS = {"reference": reference_features, "fast": fast_features}  # Scheme.scheme -> its extraction

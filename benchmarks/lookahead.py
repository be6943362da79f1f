"""Benchmark: where the fast scheme's features part from the reference's on a trained model.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/lookahead.py --model tiny-pretrained:hubert

For --steps times t along espeak-ng speech, the same frame (the last one ending by t) is computed
twice: in the reference's window (the --context seconds ending at t) and in a window that goes on
--ahead seconds after t, as a fast-scheme window does. Per layer it prints the correlation, over
the steps, of each feature between the two (min / median), and the same for the CNN's projected
output before the transformer (the front end: the CNN with its group norm and the input
normalisation). Not a test.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from braintune.arrays import zscore
from braintune.data.audio import HOP, RECEPTIVE_FIELD, to_samples
from braintune.models import hidden_states, load_encoder
from extract import speech


def frame_states(model, window: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """(front end (hidden,), every layer (layers, hidden)) of `frame` of `window` (samples,)."""
    x = torch.from_numpy(window)[None]
    with torch.inference_mode():
        projected = model.feature_projection(model.feature_extractor(x).transpose(1, 2))
        projected = projected[0] if isinstance(projected, tuple) else projected  # wav2vec2 also returns the CNN's
        layers = torch.stack([h[0, frame] for h in hidden_states(model, x)])
    return projected[0, frame].numpy(), layers.numpy()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny-pretrained:hubert", help="model id or folder (braintune.models.load_encoder)")
    p.add_argument("--context", type=float, default=16.0)
    p.add_argument("--ahead", type=float, default=0.8, help="seconds of audio after the frame (a fast window's chunk)")
    p.add_argument("--steps", type=int, default=40)
    args = p.parse_args()
    model = load_encoder(args.model, device="cpu")
    context, ahead = to_samples(args.context), to_samples(args.ahead)
    audio = speech(args.context + args.steps * 0.5 + args.ahead + 1)
    ends = context + np.arange(args.steps) * to_samples(0.5)
    frame = (context - RECEPTIVE_FIELD) // HOP  # the reference window's last frame
    pairs = [(frame_states(model, audio[e - context : e], frame), frame_states(model, audio[e - context : e + ahead], frame))
             for e in ends]
    front = [zscore(np.stack([pair[k][0] for pair in pairs]), axis=0) for k in (0, 1)]
    layers = [zscore(np.stack([pair[k][1] for pair in pairs]), axis=0) for k in (0, 1)]  # (steps, layers, hidden)
    print(f"model: {args.model}; the same frame with {args.context:g} s before it, without and with {args.ahead:g} s "
          f"after it; {args.steps} steps; per-feature r over steps, min / median")
    r = (front[0] * front[1]).mean(axis=0)
    print(f"  front end (CNN, projected): {np.nanmin(r):.3f} / {np.nanmedian(r):.4f}")
    r = (layers[0] * layers[1]).mean(axis=0)  # (layers, hidden)
    for i, row in enumerate(r):
        print(f"  layer {i}: {np.nanmin(row):.3f} / {np.nanmedian(row):.4f}")


if __name__ == "__main__":
    main()

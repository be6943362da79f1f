"""Compute cost of speech encoders side by side: one 8 s window (batch 1 by default), three ways.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/model_cost.py tiny:wav2vec2 tiny-pretrained:hubert

    forward                 eval-mode forward with every hidden state (feature extraction, probing)
    tune step (CNN cached)  forward + backward of a brain-tuning step (BrainTuner, 100 voxels) from the
                            frozen CNN's cached output, as braintune.tuning runs it by default
    train all               forward + backward of CNN and transformer (pretraining)

Each measurement is the best of --repeats, the models taking turns (so a load change on the
machine hits them alike); ratios are against the first model. Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from braintune.models import hidden_states, load_encoder
from braintune.tuning.model import BrainTuner

N_VOXELS = 100


def _seconds(step) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def measurements(model, audio: torch.Tensor) -> dict:
    tuner = BrainTuner(model, N_VOXELS)
    cached = tuner.cnn(audio)

    def forward():
        with torch.no_grad():
            hidden_states(model.eval(), audio)

    def tune():
        for p in model.feature_extractor.parameters():
            p.requires_grad = False
        tuner.train()(cached).pow(2).mean().backward()
        tuner.zero_grad(set_to_none=True)

    def train_all():
        for p in model.feature_extractor.parameters():
            p.requires_grad = True
        hidden_states(model.train(), audio)[-1].pow(2).mean().backward()
        model.zero_grad(set_to_none=True)

    return {"forward": forward, "tune step (CNN cached)": tune, "train all": train_all}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="model ids or folders (braintune.models.load_encoder)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    print(f"torch threads: {torch.get_num_threads()}; {args.batch} x {args.seconds:g} s window")
    audio = torch.randn(args.batch, int(args.seconds * 16000), generator=torch.Generator().manual_seed(0))
    steps = {}
    for name in args.models:
        model = load_encoder(name, device="cpu")
        steps[name] = measurements(model, audio)
        n = sum(p.numel() for p in model.parameters())
        print(f"{name}: {n:,} parameters")
    best = {name: {kind: float("inf") for kind in steps[name]} for name in steps}
    for _ in range(args.repeats):
        for name, kinds in steps.items():
            for kind, step in kinds.items():
                best[name][kind] = min(best[name][kind], _seconds(step))
    base = args.models[0]
    for kind in best[base]:
        print(f"{kind}:")
        for name in args.models:
            print(f"  {name}: {best[name][kind] * 1000:.0f} ms ({best[name][kind] / best[base][kind]:.2f}x {base})")


if __name__ == "__main__":
    main()

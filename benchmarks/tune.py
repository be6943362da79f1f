"""Brain-tuning throughput: training windows per second, with and without the CNN cache.

    OMP_NUM_THREADS=2 python benchmarks/tune.py --arch tiny base --window 10 --micro-batch 4 --steps 3

For each architecture (tiny = braintune's tiny wav2vec2 preset; base = the wav2vec2-base
config with random weights) it times optimiser steps of brain-tuning exactly as
braintune.tuning.tune runs them (BrainTuner, frozen CNN, Adam, MSE on 100 voxels), on
random audio windows, and splits each step into
    cnn      the frozen CNN forward (0 with the cache: the cache is read instead)
    fwd_bwd  transformer + head forward and backward
    other    everything else: batch assembly, cache reads, optimiser step, zeroing
and reports windows/s and the share of step time outside forward/backward (other / step).
The first step is a warm-up and not counted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from braintune.models import freeze_feature_encoder, tiny_config
from braintune.tuning.cache import cached_batch, cnn_shape
from braintune.tuning.model import BrainTuner

N_VOXELS = 100


def build(arch: str) -> BrainTuner:
    config = tiny_config("wav2vec2") if arch == "tiny" else transformers.Wav2Vec2Config()  # defaults = wav2vec2-base
    torch.manual_seed(0)
    backbone = transformers.AutoModel.from_config(config)
    freeze_feature_encoder(backbone)
    return BrainTuner(backbone, N_VOXELS)


def bench(arch: str, window_s: float, micro: int, steps: int, cache: bool, folder: Path) -> dict:
    net = build(arch).train()
    window = int(window_s * 16000)
    rng = np.random.default_rng(0)
    n = micro * (steps + 1)
    audio = rng.standard_normal((n, window)).astype(np.float32)
    targets = torch.from_numpy(rng.standard_normal((n, N_VOXELS)).astype(np.float32))
    store = None
    if cache:
        store = np.lib.format.open_memmap(folder / f"{arch}.npy", mode="w+", dtype=np.float32, shape=(n, *cnn_shape(net, window)))
        for i in range(0, n, micro):
            store[i : i + micro] = net.cnn(torch.from_numpy(audio[i : i + micro])).numpy()
        store.flush()
        store = np.load(folder / f"{arch}.npy", mmap_mode="r")
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-5)
    times = {"cnn": 0.0, "fwd_bwd": 0.0, "step": 0.0}
    for s in range(steps + 1):
        idx = np.arange(s * micro, (s + 1) * micro)
        t0 = time.perf_counter()
        if store is not None:
            features = cached_batch(store, idx, torch.device("cpu"))
            t1 = t0
        else:
            t1 = time.perf_counter()
            features = net.cnn(torch.from_numpy(audio[idx]))
        t2 = time.perf_counter()
        loss = ((net(features) - targets[idx]) ** 2).mean()
        loss.backward()
        t3 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        if s > 0:
            times["cnn"] += t2 - t1
            times["fwd_bwd"] += t3 - t2
            times["step"] += t4 - t0
    other = times["step"] - times["cnn"] - times["fwd_bwd"]
    return {
        "arch": arch,
        "cache": cache,
        "windows_per_s": steps * micro / times["step"],
        "step_s": times["step"] / steps,
        "cnn_share": times["cnn"] / times["step"],
        "other_share": other / times["step"],
        "cache_mb_per_window": (np.prod(cnn_shape(net, window)) * 4 / 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["tiny", "base"], choices=["tiny", "base"])
    parser.add_argument("--window", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}, window {args.window:g} s, micro-batch {args.micro_batch}, "
          f"{args.steps} timed steps")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in args.arch:
            for cache in (False, True):
                r = bench(arch, args.window, args.micro_batch, args.steps, cache, Path(tmp))
                print(f"{r['arch']:5s} cache={'on ' if r['cache'] else 'off'}  {r['windows_per_s']:8.2f} windows/s  "
                      f"step {r['step_s']:.3f} s  CNN {100 * r['cnn_share']:5.1f}%  outside fwd/bwd "
                      f"{100 * r['other_share']:5.1f}%  (cache {r['cache_mb_per_window']:.2f} MB/window)")


if __name__ == "__main__":
    main()

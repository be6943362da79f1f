"""LoRA vs full brain-tuning: trainable parameters, step time and peak memory on the same batch.

    OMP_NUM_THREADS=1 python benchmarks/lora.py --tiny                      # seconds: the shipped tiny model only
    OMP_NUM_THREADS=1 python benchmarks/lora.py --window 2 --micro-batch 2  # + base size on a CPU: minutes
    python benchmarks/lora.py --device cuda --window 10 --micro-batch 8     # a GPU, the study's window

Models: "tiny" is the shipped tiny-pretrained:hubert (braintune.models.load_encoder); "base" is
wav2vec2-base's architecture (transformers.Wav2Vec2Config() defaults) with random weights (seed 0).
For each, one optimiser step of brain-tuning as braintune.tuning runs it (BrainTuner: frozen
CNN, its output precomputed as the CNN cache does, transformer + mean pool + linear head to
100 voxels, MSE, backward, optimiser step, zeroing) on the same random windows, two ways:

    full   every transformer weight trains (Adam, backbone lr 5e-5, head 1e-4: Moussa et al. 2025a)
    lora   braintune.tuning.lora.add_lora, LoraSettings() (r 8, alpha 32, dropout 0.1, q/k/v/out_proj),
           AdamW lr 1e-4 (Moussa & Toneva 2025); the base weights are frozen

Each (model, way) runs in its own child process. Peak memory is that of the first step above
the memory in use before it (weights, batch): activations, gradients and the optimiser state it
creates. On CUDA: torch.cuda.max_memory_allocated after reset_peak_memory_stats; on the CPU: the
resident set's peak (VmHWM, reset by writing 5 to /proc/self/clear_refs; Linux only). "state MB"
counts the optimiser state and one gradient per trained weight. The first step is also the
warm-up and not timed; every step reseeds torch, so both ways drop the same layers and mask the
same frames (base configs have layerdrop and time masking).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

from tune import N_VOXELS  # benchmarks/tune.py: the same head size
from braintune.machine import cpu_model

SCRIPT = os.path.abspath(__file__)
MODELS = {"tiny": "tiny-pretrained:hubert", "base": "wav2vec2-base architecture, random weights"}


def build(arch: str, way: str, device: torch.device):
    """(BrainTuner, optimiser) of `arch` tuned `way`, in float32 on `device`, train mode."""
    import transformers

    from braintune.models import freeze_feature_encoder, load_encoder
    from braintune.tuning.lora import LoraSettings, add_lora
    from braintune.tuning.model import BrainTuner

    torch.manual_seed(0)
    if arch == "tiny":
        backbone = load_encoder(MODELS["tiny"], device="cpu")
    else:
        backbone = transformers.AutoModel.from_config(transformers.Wav2Vec2Config())  # defaults: wav2vec2-base
    freeze_feature_encoder(backbone)
    if way == "lora":
        backbone = add_lora(backbone, LoraSettings())
    net = BrainTuner(backbone, N_VOXELS).to(device).train()
    trainable = [p for p in net.backbone.parameters() if p.requires_grad]
    head = list(net.head.parameters())
    if way == "lora":
        optimizer = torch.optim.AdamW([{"params": trainable}, {"params": head}], lr=1e-4)
    else:
        optimizer = torch.optim.Adam([{"params": trainable, "lr": 5e-5}, {"params": head, "lr": 1e-4}])
    return net, optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _kb(field: str) -> int:
    """A field of /proc/self/status in kB: VmRSS (resident set now) or VmHWM (its peak)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def _start_peak(device: torch.device) -> float:
    """Reset the memory peak; returns the memory in use now, MB (CUDA: allocated; CPU: resident,
    its peak reset through /proc/self/clear_refs)."""
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return torch.cuda.memory_allocated(device) / 1e6
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _kb("VmRSS") / 1e3


def _peak(device: torch.device) -> float:
    """The memory peak since _start_peak, MB."""
    _sync(device)
    return torch.cuda.max_memory_allocated(device) / 1e6 if device.type == "cuda" else _kb("VmHWM") / 1e3


def measure(arch: str, way: str, window_s: float, micro: int, steps: int, device: torch.device) -> dict:
    """Trainable parameters, seconds per optimiser step (one micro-batch of `micro` windows), the
    memory peak of the first step above the memory before it (activations, gradients, optimiser
    state), and the optimiser state + gradients alone (MB, counted), of `arch` tuned `way`."""
    net, optimizer = build(arch, way, device)
    rng = np.random.default_rng(0)
    waves = torch.from_numpy(rng.standard_normal((micro, int(window_s * 16000)), dtype=np.float32)).to(device)
    targets = torch.from_numpy(rng.standard_normal((micro, N_VOXELS), dtype=np.float32)).to(device)
    features = net.cnn(waves)  # the CNN cache's content

    def step(seed: int) -> None:
        torch.manual_seed(seed)
        loss = ((net(features) - targets) ** 2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    before = _start_peak(device)
    step(0)  # also the warm-up: not timed
    peak_mb = _peak(device) - before
    state = [t for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)]
    trainable = [p for group in optimizer.param_groups for p in group["params"]]
    state_mb = sum(t.numel() * t.element_size() for t in state + trainable) / 1e6  # + one gradient per weight
    _sync(device)
    start = time.perf_counter()
    for s in range(1, steps + 1):
        step(s)
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    backbone = sum(p.numel() for p in net.backbone.parameters() if p.requires_grad)
    return {"arch": arch, "way": way, "trainable_backbone": backbone,
            "trainable": backbone + sum(p.numel() for p in net.head.parameters()),
            "total": sum(p.numel() for p in net.parameters()), "step_s": seconds, "peak_mb": peak_mb,
            "state_mb": state_mb}


def run_child(arch: str, way: str, args: argparse.Namespace) -> dict:
    """measure() in a fresh process (its own memory peak)."""
    command = [sys.executable, SCRIPT, "--child", arch, way, "--window", str(args.window),
               "--micro-batch", str(args.micro_batch), "--steps", str(args.steps), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"benchmarks/lora.py: {arch} {way} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["tiny", "base"], choices=list(MODELS))
    parser.add_argument("--window", type=float, default=2.0, help="seconds per window (the study's: 10)")
    parser.add_argument("--micro-batch", type=int, default=2, help="windows per step")
    parser.add_argument("--steps", type=int, default=3, help="timed steps (after one warm-up step)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    parser.add_argument("--tiny", action="store_true", help="the tiny model only, 1 s windows, 2 steps")
    parser.add_argument("--child", nargs=2, metavar=("ARCH", "WAY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tiny:
        args.arch, args.window, args.steps = ["tiny"], 1.0, 2
    device = torch.device(args.device)
    if args.child:
        import transformers

        transformers.logging.set_verbosity_error()
        print(json.dumps(measure(*args.child, args.window, args.micro_batch, args.steps, device)))
        return
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU: {cpu_model()}"
    print(f"# LoRA vs full brain-tuning ({where}; torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{args.window:g} s windows, {args.micro_batch} per step, {args.steps} timed steps, {N_VOXELS} voxels; "
          f"peak memory of the first step: {'GPU allocated' if device.type == 'cuda' else 'resident set'} above "
          "the level before it\n")
    print(f"{'model':6s} {'way':5s} {'trainable (backbone+head)':>26s} {'of all':>8s} {'step s':>8s} {'peak MB':>9s} "
          f"{'state MB':>9s}")
    for arch in args.arch:
        rows = {way: run_child(arch, way, args) for way in ("full", "lora")}
        for way, r in rows.items():
            print(f"{arch:6s} {way:5s} {r['trainable']:>26,d} {100 * r['trainable'] / r['total']:7.2f}% "
                  f"{r['step_s']:8.3f} {r['peak_mb']:9.1f} {r['state_mb']:9.1f}")
        full, lora = rows["full"], rows["lora"]
        print(f"{arch:6s} lora/full: trainable x{lora['trainable'] / full['trainable']:.4f} "
              f"(backbone x{lora['trainable_backbone'] / full['trainable_backbone']:.4f}), "
              f"step time x{lora['step_s'] / full['step_s']:.2f}, peak memory x{lora['peak_mb'] / full['peak_mb']:.2f}"
              f"  [{MODELS[arch]}]")


if __name__ == "__main__":
    main()

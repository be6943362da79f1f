"""The study's stages at real scale on one CUDA device, and the projected wall time of a study.

    python benchmarks/gpu.py --json gpu.json          # a CUDA machine: base-size models, the real sizes
    OMP_NUM_THREADS=1 python benchmarks/gpu.py --tiny  # any CPU: tiny models and sizes (tests/test_benchmarks.py)

Models are the wav2vec2-base and HuBERT-base architectures (transformers' default configs) with
random weights: nothing is downloaded. On synthetic data (espeak-ng speech of random words, or
noise) it times what the study runs, through braintune's own functions (one module of
benchmarks/gpu_parts/ per part):

1. feature extraction, seconds of story per second: every scheme (braintune.features.extract,
   Scheme defaults) in bfloat16, and the study's `features` scheme if that differs; the fast
   schemes on a story of a training story's length, the default (reference) on its first minute;
2. brain-tuning windows per second: optimiser steps at the study's `tune` settings through
   braintune.tuning's own steps (BrainTuner, make_optimizer, make_scheduler, CNNFeatures with the
   on-disk CNN cache or the CNN per micro-batch, train_epoch, validate); plus the CNN cache build
   and the validation forward. Then the same with LoRA (braintune.tuning.lora, LoraSettings()):
   trainable parameters, seconds per step and peak memory next to full tuning;
3. probing: braintune.probing.features.extract on Speech-Commands-like 1 s clips (batched) and
   TIMIT-like 2-4.5 s utterances (one per batch, as TIMIT's lengths differ), and the CPU probe
   fits of one layer (each task's probe) on synthetic features with a share of the real rows, scaled;
4. ridge per layer: braintune.encoding.fit_encoding_model on random float32 data at 100,000
   voxels x 9,000 rows x 3,072 features, backend torch_cuda, with the study's alphas and its
   protocol's fold rule and metric (configs/lebel2024.yaml: the authors' protocol);
5. the projected wall time of the study config (default configs/lebel2024.yaml) on one GPU,
   stages run one after another, from these rates and the study sizes (StudySizes, flags).

Peak GPU memory (torch.cuda.max_memory_allocated) is reset before every measurement. A part
that fails (e.g. out of GPU memory) is reported in one line and the others still run; the exit
status is then 1. Not a test: tests/test_benchmarks.py runs --tiny so that the script keeps working.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
import traceback
from pathlib import Path

import torch
import yaml

from braintune.encoding.ridge import resolve_backend
from braintune.errors import BraintuneError, ConfigError
from braintune.models import select_layers
from braintune.settings import add_arguments, from_arguments, from_mapping, to_dict

from gpu_parts import report  # benchmarks/gpu_parts/, beside this script
from gpu_parts.extraction import measure_extraction, schemes_to_time
from gpu_parts.machine import FAMILY_NAMES, bf16_supported, describe, encoder, encoder_config, reset_peak, story_audio
from gpu_parts.probing import measure_probe_features, measure_probe_fits
from gpu_parts.projection import project
from gpu_parts.ridge import measure_ridge
from gpu_parts.sizes import Measure, StudySizes
from gpu_parts.tuning import measure_lora_tuning, measure_tuning

ROOT = Path(__file__).resolve().parents[1]


def load_study(path: Path, overrides: list[str], tiny: bool):
    """The study config (its settings owners; data folders are not needed), with `overrides`;
    --tiny shrinks the tuning windows and batch."""
    from braintune.study.config import StudyConfig, apply_overrides

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the study config ({exc})") from None
    tiny_overrides = ["tune.window_seconds=1", "tune.batch_size=4", "tune.micro_batch_size=2"] if tiny else []
    return from_mapping(StudyConfig, apply_overrides(raw, tiny_overrides + list(overrides)))


def attempt(name: str, failures: list[str], function):
    """function(), or None after a one-line report (out of GPU memory: with what to lower)."""
    try:
        return function()
    except torch.OutOfMemoryError as exc:
        message = (f"{name}: out of GPU memory ({str(exc).splitlines()[0]}); lower the sizes, e.g. "
                   "--set tune.micro_batch_size=8 align.voxel_batch=4096, or --ridge-voxels 20000")
    except (BraintuneError, ImportError, OSError) as exc:
        message = f"{name}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a benchmark on a lent GPU: report it, keep measuring the other parts
        traceback.print_exc()
        message = f"{name}: {type(exc).__name__}: {exc}"
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
    print(f"FAILED {message}", flush=True)
    failures.append(message)
    return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models and sizes (default device: cpu)")
    parser.add_argument("--device", help="torch device (default: cuda; cpu with --tiny)")
    parser.add_argument("--families", nargs="+", default=list(FAMILY_NAMES), choices=list(FAMILY_NAMES))
    parser.add_argument("--audio", choices=("speech", "noise"), default="speech",
                        help="the synthetic story (default: speech)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "lebel2024.yaml", help="the study to project")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the study config, e.g. tune.micro_batch_size=8")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    add_arguments(parser, Measure)
    add_arguments(parser, StudySizes)
    return parser.parse_args(argv)


def measure_models(names: dict[str, str], args, cfg, measure: Measure, tune, schemes: dict, device: torch.device,
                   results: dict, failures: list[str]) -> None:
    """Parts 1-3 of each model (family -> name) into `results`: extraction, probing features, LoRA
    tuning of a copy, then full tuning, which trains the model."""
    audio = attempt("synthetic story (--audio noise needs no espeak-ng)", failures,
                    lambda: story_audio(measure.story_seconds, args.audio))
    for family, name in names.items() if audio is not None else []:
        model = attempt(f"{name}: model", failures, lambda: encoder(family, args.tiny, device))
        if model is None:
            continue
        tuning = (tune, measure.tune_voxels, measure.tune_steps, device)
        for key, function in (
            ("extraction", lambda: measure_extraction(model, audio, schemes, measure.reference_seconds, device)),
            ("probe_features", lambda: measure_probe_features(model, audio, cfg.probe, measure, device)),
            ("tuning_lora", lambda: measure_lora_tuning(model, audio, *tuning)),
            ("tuning", lambda: measure_tuning(model, audio, *tuning)),
        ):  # full tuning last: it trains the model
            value = attempt(f"{name}: {key}", failures, function)
            if value is not None:
                results[key][name] = value
        del model
        reset_peak(device)
        print(f"measured {name}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        device = torch.device(args.device or ("cpu" if args.tiny else "cuda"))
    except RuntimeError as exc:
        print(f"benchmarks/gpu.py: --device {args.device}: {exc}", file=sys.stderr)
        return 2
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"benchmarks/gpu.py: torch {torch.__version__} sees no CUDA device; on a CPU, run with --tiny "
              "(tiny models and sizes) or --device cpu (the real sizes: hours)", file=sys.stderr)
        return 2
    try:
        measure = from_arguments(Measure, args, base=Measure.tiny() if args.tiny else Measure())
        study = from_arguments(StudySizes, args)
        cfg = load_study(args.config, args.overrides, args.tiny)
        config = encoder_config(args.families[0], args.tiny)
        hidden, n_layers = config.hidden_size, len(select_layers(cfg.layers, config.num_hidden_layers + 1))
    except BraintuneError as exc:
        print(f"benchmarks/gpu.py: {exc}", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # himalaya's torch_cuda backend computes on the current device
    import transformers

    transformers.logging.set_verbosity_error()
    dtype = "bfloat16" if bf16_supported(device) else "float32"
    tune = dataclasses.replace(cfg.tune_settings(), bf16=cfg.tune.bf16 and dtype == "bfloat16")

    meta = describe(device)
    print("# braintune GPU benchmark" + (" (--tiny)" if args.tiny else ""))
    print(f"device: {meta['device']}; torch {meta['torch']} (CUDA {meta['cuda']}); "
          f"transformers {meta['transformers']}; CPU: {meta['cpu']}, {meta['torch_threads']} torch threads")
    print(f"command: {meta['command']}")
    if dtype != "bfloat16":
        print("note: this GPU has no bfloat16: extraction and tuning run in float32")
    names = {family: f"tiny:{family}" if args.tiny else FAMILY_NAMES[family] for family in args.families}
    print(f"models: {', '.join(names.values())} ({'presets' if args.tiny else 'architectures'}), random weights; "
          f"story: {measure.story_seconds:g} s of {args.audio}", flush=True)

    failures: list[str] = []
    results: dict = {"meta": meta, "measure": to_dict(measure), "study_sizes": to_dict(study),
                     "config": str(args.config), "extraction": {}, "tuning": {}, "tuning_lora": {},
                     "probe_features": {}}
    measure_models(names, args, cfg, measure, tune, schemes_to_time(cfg.features, dtype), device, results, failures)
    if results["extraction"]:
        report.print_extraction(results["extraction"])
    if results["tuning"]:
        report.print_tuning(results["tuning"])
    if results["tuning_lora"]:
        report.print_lora(results["tuning"], results["tuning_lora"])
    results["probe_fits"] = attempt("probe fits", failures,
                                    lambda: measure_probe_fits(cfg.probe, study, hidden, measure.probe_fit_fraction))
    report.print_probing(results["probe_features"], results.get("probe_fits"))
    sys.stdout.flush()
    results["ridge"] = attempt("ridge", failures,
                               lambda: measure_ridge(cfg.align, measure, study.train_stories, device))
    if results["ridge"]:
        report.print_ridge(results["ridge"])
    if not failures:
        rows, notes = project(cfg, study, results, n_layers, hidden * len(cfg.align.delays))
        if device.type == "cuda" and resolve_backend(cfg.align.backend) != "torch_cuda":
            notes.append(f"the ridge rows assume align.backend=torch_cuda ({args.config.name} has {cfg.align.backend})")
        results["projection"], results["projection_notes"] = rows, notes
        report.print_projection(rows, notes, args.config, args.tiny)
    else:
        print("\nNo projection: a part failed (see above).")
    results["failures"] = failures
    if args.json:
        from braintune.io import write_atomic

        write_atomic(args.json, json.dumps(results, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""LoRA brain-tuning through peft (Moussa & Toneva, NeurIPS 2025; Huth lab's BrainWavLM).

LoRA adapters (rank r, scale alpha / r, dropout on their input) on the attention projections
of every transformer block; the base weights, the CNN included, stay frozen. What is
evaluated is the MERGED model: W + (alpha / r) B A folded into each projection's weight, a
plain Hugging Face encoder that loads without peft.

    model = add_lora(backbone, LoraSettings())      # a peft.PeftModel; only lora_A / lora_B train
    ...train...
    export_lora(model, OUT / "backbone")            # merged save_pretrained + adapter/ (peft's format)

Targets are names of linear layers inside the transformer blocks (`encoder.layers.<i>.`,
matched at the end of the name, e.g. "q_proj" or "attention.q_proj"): the CNN, the feature
projection and the convolutional position embedding are never adapted.

WavLM is refused: transformers' WavLMAttention passes q/k/v/out_proj's weights to
F.multi_head_attention_forward instead of calling the modules, so peft's adapters would never
run (no gradient, no effect; huggingface/transformers PR #48773). add_lora checks, with one
forward of 1 s of silence before wrapping, that every target layer is called.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from pathlib import Path

import torch
import transformers
from torch import nn

from braintune.errors import ConfigError, ModelNotAvailable
from braintune.io import write_folder_atomic
from braintune.models import normalizes_input
from braintune.tuning.settings import PAPER_TARGETS, LoraSettings  # noqa: F401 (part of this module's API)

BLOCKS = r"encoder\.layers\.\d+\."  # the transformer blocks of wav2vec2, HuBERT, WavLM, data2vec-audio
ADAPTER_FOLDER = "adapter"  # export_lora's subfolder holding the adapter in peft's format


def target_pattern(targets: list[str]) -> str:
    """The regular expression (peft's target_modules, matched in full) of `targets` inside the blocks."""
    names = "|".join(re.escape(t.strip(".")) for t in targets)
    return rf"{BLOCKS}(?:.+\.)?(?:{names})"


def adapted_layers(model: nn.Module, targets: list[str]) -> list[str]:
    """Names of the linear layers of `model`'s transformer blocks that `targets` select;
    a ConfigError (one line, naming `targets`) if a target selects none or selects something else."""
    found = []
    for target in targets:
        pattern = re.compile(target_pattern([target]))
        matched = [(name, module) for name, module in model.named_modules() if pattern.fullmatch(name)]
        if not matched:
            linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                             if re.match(BLOCKS, name) and isinstance(module, nn.Linear)})
            raise ConfigError(f"targets: {target!r} matches no layer in the transformer blocks of "
                              f"{type(model).__name__} (their linear layers: {', '.join(linear) or 'none'})")
        other = sorted({type(module).__name__ for _, module in matched if type(module) is not nn.Linear})
        if other:
            raise ConfigError(f"targets: {target!r} matches {', '.join(other)} layers; LoRA adapts nn.Linear only")
        found += [name for name, _ in matched]
    return sorted(set(found))


def add_lora(model: transformers.PreTrainedModel, settings: LoraSettings = LoraSettings()):
    """`model` (wav2vec2, HuBERT, data2vec-audio) wrapped in a peft.PeftModel with LoRA on settings.targets.

    Only the adapters (lora_A, lora_B) require gradients afterwards; every base weight, the
    CNN included, is frozen. lora_A is drawn from torch's global RNG (seed it first), lora_B
    starts at zero, so the wrapped model computes what `model` did. `model` itself is modified
    (peft replaces the target layers in place; not if add_lora raises); its train/eval mode is kept.
    The wrapper forwards attribute access to `model` (feature_extractor, encoder, config, ...),
    so tuning.model.BrainTuner accepts it as its backbone.
    """
    import peft

    _check_layers_called(model, adapted_layers(model, settings.targets))
    config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, bias="none",
                             target_modules=target_pattern(settings.targets))
    training = model.training
    with warnings.catch_warnings():  # peft reads the deprecated is_gradient_checkpointing of transformers 5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        wrapped = peft.get_peft_model(model, config)
    wrapped.peft_config["default"].base_model_name_or_path = model.config._name_or_path or None  # adapter_config.json
    return wrapped.train(training)


def _check_layers_called(base: nn.Module, layers: list[str]) -> None:
    """ModelNotAvailable unless one forward of `base` (eval mode, 1 s of silence) calls every layer in `layers`."""
    modules = dict(base.named_modules())
    called: set[str] = set()
    hooks = [modules[name].register_forward_hook(lambda *_, name=name: called.add(name)) for name in layers]
    weight = next(base.parameters())
    training = base.training
    try:
        base.eval()
        with torch.no_grad():
            base(input_values=torch.zeros(1, 16000, dtype=weight.dtype, device=weight.device))
    finally:
        base.train(training)
        for hook in hooks:
            hook.remove()
    skipped = [name for name in layers if name not in called]
    if skipped:
        raise ModelNotAvailable(
            f"{type(base).__name__}: LoRA adapters would never run: its forward reads the weights of "
            f"{len(skipped)} adapted layers ({', '.join(skipped[:2])}{', ...' if len(skipped) > 2 else ''}) instead of "
            "calling them (transformers' WavLM attention passes them to F.multi_head_attention_forward); "
            "LoRA brain-tuning supports wav2vec2, HuBERT and data2vec-audio")


def merged_backbone(model) -> transformers.PreTrainedModel:
    """A merged copy of LoRA model `model`: each adapted layer's weight W + (alpha / r) B A, the
    adapters removed (peft merge_and_unload), the same class and config as the model that
    add_lora wrapped. `model` is unchanged. Its parameters keep their requires_grad (False)."""
    with torch.no_grad():
        return copy.deepcopy(model).merge_and_unload()


def export_lora(model, folder: str | os.PathLike) -> Path:
    """Write `folder` atomically (braintune.io.write_folder_atomic):

        config.json, model.safetensors   the merged encoder (merged_backbone): AutoModel.from_pretrained
                                         and braintune.models.load_encoder load it, peft not needed
        preprocessor_config.json         the feature extractor (do_normalize from the model's config)
        adapter/                         the adapter alone, peft's save_pretrained: adapter_config.json,
                                         adapter_model.safetensors (peft.PeftModel.from_pretrained(base, ...))
    """
    merged = merged_backbone(model)

    def save(tmp: Path) -> None:
        merged.save_pretrained(tmp)
        transformers.Wav2Vec2FeatureExtractor(do_normalize=normalizes_input(merged)).save_pretrained(tmp)
        model.save_pretrained(tmp / ADAPTER_FOLDER, save_embedding_layers=False)  # "auto" asks the hub

    return write_folder_atomic(folder, save)


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The adapters' weights alone (peft get_peft_model_state_dict; keys without the adapter name),
    e.g. for a checkpoint: with the base model they are the LoRA model's whole state."""
    import peft

    return peft.get_peft_model_state_dict(model, save_embedding_layers=False)  # "auto" asks the hub


def load_adapter_state(model, state: dict[str, torch.Tensor]) -> None:
    """Put `state` (adapter_state of a model with the same base and settings) into LoRA model `model`,
    in place; a ValueError names the keys if it does not hold exactly the model's adapter weights."""
    import peft

    result = peft.set_peft_model_state_dict(model, state)
    missing = sorted(k for k in result.missing_keys if ".lora_" in k)
    unexpected = sorted(result.unexpected_keys)
    if missing or unexpected:
        raise ValueError(f"adapter state does not fit the model: {len(missing)} missing ({', '.join(missing[:2])}), "
                         f"{len(unexpected)} unexpected ({', '.join(unexpected[:2])})")

"""Model step of brain-tuning: speech encoder, mean over frames of its last layer, linear head to voxels.

The frozen CNN feature encoder and the trainable rest are called separately so that the
CNN's output of a window can be computed once and cached (see tuning.cache). The split
follows the encoders' own forward (wav2vec2, HuBERT, WavLM, data2vec-audio):
CNN -> feature projection -> time masking (train mode only) -> transformer encoder.
"""

from __future__ import annotations

import torch
from torch import nn

from braintune.errors import ModelNotAvailable
from braintune.models import freeze_feature_encoder, load_encoder
from braintune.tuning.settings import TuneSettings


class BrainTuner(nn.Module):
    """backbone + mean pool over frames of the last hidden state + linear head (in the backbone's dtype)."""

    def __init__(self, backbone: nn.Module, n_voxels: int):
        super().__init__()
        for part in ("feature_extractor", "feature_projection", "encoder"):
            if not hasattr(backbone, part):
                raise ModelNotAvailable(
                    f"{type(backbone).__name__} has no {part}: brain-tuning supports wav2vec2-style encoders "
                    "(wav2vec2, HuBERT, WavLM, data2vec-audio)"
                )
        if getattr(backbone, "adapter", None) is not None:
            raise ModelNotAvailable(f"{type(backbone).__name__} has an adapter (add_adapter=True); not supported")
        self.backbone = backbone
        self.head = nn.Linear(backbone.config.hidden_size, n_voxels, dtype=next(backbone.parameters()).dtype)

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype: CNN features, inputs and targets are cast to it."""
        return self.head.weight.dtype

    @torch.no_grad()
    def cnn(self, waveforms: torch.Tensor) -> torch.Tensor:
        """Frozen CNN features. (batch, samples) -> (batch, channels, frames)"""
        return self.backbone.feature_extractor(waveforms)

    def last_hidden_state(self, cnn_features: torch.Tensor) -> torch.Tensor:
        """The encoder's last layer from CNN features. (batch, channels, frames) -> (batch, frames, hidden)"""
        model = self.backbone
        projected = model.feature_projection(cnn_features.transpose(1, 2))
        hidden = projected[0] if isinstance(projected, tuple) else projected  # wav2vec2 also returns the normed input
        hidden = model._mask_hidden_states(hidden)
        return model.encoder(hidden).last_hidden_state

    def forward(self, cnn_features: torch.Tensor) -> torch.Tensor:
        """Predicted responses. (batch, channels, frames) -> (batch, voxels)"""
        return self.head(self.last_hidden_state(cnn_features).mean(dim=1))


def build_model(model_source: str, n_voxels: int, settings: TuneSettings, device: torch.device) -> BrainTuner:
    """The model step: the encoder `model_source` (float32, CNN frozen; with adapter "lora" only
    its LoRA adapters train, braintune.tuning.lora) and a head seeded by settings.seed, on
    `device`. With several processes, broadcast rank 0's weights after."""
    torch.manual_seed(settings.seed)
    backbone = load_encoder(model_source, dtype="float32", device=device)
    freeze_feature_encoder(backbone)
    if settings.adapter == "lora":
        from braintune.tuning.lora import add_lora

        backbone = add_lora(backbone, settings.lora)
    if settings.gradient_checkpointing:  # after wrapping: peft would otherwise ask for input embeddings
        base = backbone.get_base_model() if settings.adapter == "lora" else backbone
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return BrainTuner(backbone, n_voxels).to(device)

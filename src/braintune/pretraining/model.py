"""The model being pretrained, its prediction head, and the encoder it ships.

A Hugging Face HubertModel or Wav2Vec2Model built like the tiny preset
(braintune.models.encoders.tiny_config: group-norm CNN with the real kernels and strides, no
dropout, a short position convolution), only wider and deeper, so every other stage loads it
like any checkpoint. The masked-prediction objective trains it with a PredictionHead; the
contrastive objective trains a transformers Wav2Vec2ForPreTraining (the Wav2Vec2Model, a
Gumbel product quantiser of the CNN features, and the projections of both to final_dim), of
which only the Wav2Vec2Model is saved.
"""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from torch import nn

from braintune.io import write_folder_atomic
from braintune.models.encoders import tiny_config
from braintune.pretraining.settings import PretrainSettings


def model_config(settings: PretrainSettings) -> transformers.PretrainedConfig:
    """The encoder's config: the tiny preset of `family` (no dropout, 32-frame position
    convolution, real CNN kernels and strides, do_normalize) at the settings' size; with the
    contrastive objective also the quantiser, the distractors and the loss weights of
    Wav2Vec2ForPreTraining."""
    config = tiny_config(settings.family)
    config.hidden_size = settings.hidden_size
    config.num_hidden_layers = settings.num_layers
    config.num_attention_heads = settings.num_heads
    config.intermediate_size = settings.intermediate_size
    config.conv_dim = (settings.conv_channels,) * len(config.conv_dim)
    if settings.training_objective == "contrastive":
        config.num_codevector_groups = settings.codevector_groups
        config.num_codevectors_per_group = settings.codevectors_per_group
        config.codevector_dim = settings.codevector_dim
        config.proj_codevector_dim = settings.final_dim
        config.num_negatives = settings.num_negatives
        config.contrastive_logits_temperature = settings.temperature
        config.diversity_loss_weight = settings.diversity_weight
        config.feat_quantizer_dropout = 0.0
    return config


def build_model(settings: PretrainSettings) -> transformers.PreTrainedModel:
    """The model at its initialisation (drawn with `settings.seed`; torch's global generator is left
    as it was): the encoder (masked-prediction) or a Wav2Vec2ForPreTraining around it (contrastive)."""
    config = model_config(settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        if settings.training_objective == "contrastive":
            return transformers.Wav2Vec2ForPreTraining(config)
        return transformers.AutoModel.from_config(config)


def encoder_of(model: transformers.PreTrainedModel) -> transformers.PreTrainedModel:
    """The encoder that ships: a Wav2Vec2ForPreTraining's Wav2Vec2Model, or the model itself."""
    return model.wav2vec2 if isinstance(model, transformers.Wav2Vec2ForPreTraining) else model


class PredictionHead(nn.Module):
    """Logits of each frame's cluster: cos(W h, e_k) / temperature for every cluster embedding e_k."""

    def __init__(self, hidden: int, final_dim: int, clusters: int, temperature: float):
        super().__init__()
        self.project = nn.Linear(hidden, final_dim)
        self.embeddings = nn.Parameter(torch.randn(clusters, final_dim))
        self.temperature = temperature

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, hidden) -> (n, clusters)"""
        projected = nn.functional.normalize(self.project(frames), dim=-1)
        return projected @ nn.functional.normalize(self.embeddings, dim=-1).T / self.temperature


def build_head(settings: PretrainSettings, iteration: int) -> PredictionHead | None:
    """The masked-prediction head of `iteration` (drawn with seed + iteration); None for the contrastive
    objective, whose heads are part of Wav2Vec2ForPreTraining."""
    if settings.training_objective == "contrastive":
        return None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed + iteration)
        return PredictionHead(settings.hidden_size, settings.final_dim, settings.clusters, settings.temperature)


def save_encoder(model: transformers.PreTrainedModel, folder: Path) -> Path:
    """save_pretrained (safetensors) of the encoder (encoder_of) + preprocessor_config.json
    (do_normalize=True), replacing `folder` at once."""

    def save(tmp: Path) -> None:
        encoder_of(model).save_pretrained(tmp)
        transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp)

    return write_folder_atomic(folder, save)

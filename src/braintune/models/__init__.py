"""Hugging Face speech encoders (wav2vec2, HuBERT, WavLM, data2vec-audio): loading, tiny presets,
the shipped small pretrained models (pretraining: braintune.pretraining), layer-wise hidden states.

Nothing here reaches the network: hub ids are looked up in the local Hugging Face cache only.
"""

from braintune.models.encoders import (
    FAMILIES,
    freeze_feature_encoder,
    hidden_states,
    layer_names,
    load_encoder,
    model_config_json,
    model_identity,
    model_fingerprint,
    model_input,
    model_source,
    model_tag,
    normalizes_input,
    num_frames,
    num_layers,
    pretrained_folder,
    resolve_device,
    save_tiny_model,
    select_layers,
    tiny_config,
)

__all__ = [
    "FAMILIES",
    "freeze_feature_encoder",
    "hidden_states",
    "layer_names",
    "load_encoder",
    "model_config_json",
    "model_identity",
    "model_fingerprint",
    "model_input",
    "model_source",
    "model_tag",
    "normalizes_input",
    "num_frames",
    "num_layers",
    "pretrained_folder",
    "resolve_device",
    "save_tiny_model",
    "select_layers",
    "tiny_config",
]

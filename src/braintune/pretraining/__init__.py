"""Self-supervised pretraining of a small speech encoder (`braintune pretrain`): HuBERT-style
masked prediction on a stand-in espeak-ng corpus; how the shipped `tiny-pretrained:<family>`
checkpoints were made (docs/pretraining.md)."""

from braintune.pretraining.recipe import (
    PretrainSettings,
    build_model,
    load_corpus,
    mfcc_features,
    model_config,
    plan_windows,
    pretrain,
    span_mask,
)

__all__ = [
    "PretrainSettings",
    "build_model",
    "load_corpus",
    "mfcc_features",
    "model_config",
    "plan_windows",
    "pretrain",
    "span_mask",
]

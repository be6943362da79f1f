"""Self-supervised pretraining of a small speech encoder (`braintune pretrain`) on a stand-in
espeak-ng corpus, by HuBERT's masked prediction or wav2vec 2.0's contrastive objective; how the
shipped `tiny-pretrained:<family>` checkpoints were made (docs/pretraining.md).

Modules: settings (PretrainSettings), model (the model, its head, the saved encoder), corpus
(recordings, k-means targets, masks, windows), objectives (a batch's loss and tally), training
(the loop of one iteration), card (card.json / card.md), run (`pretrain`: the run folder).
"""

from braintune.pretraining.corpus import contrastive_masks, load_corpus, mfcc_features, plan_windows, span_mask
from braintune.pretraining.model import build_model, encoder_of, model_config
from braintune.pretraining.run import pretrain
from braintune.pretraining.settings import PretrainSettings

__all__ = [
    "PretrainSettings",
    "build_model",
    "contrastive_masks",
    "encoder_of",
    "load_corpus",
    "mfcc_features",
    "model_config",
    "plan_windows",
    "pretrain",
    "span_mask",
]

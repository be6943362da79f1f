"""The two pretraining objectives: a batch's loss and its tally (summed per epoch, then summarised).

Masked prediction (HuBERT, Hsu et al. 2021): spans of frames are masked (each frame starts a
span with probability `mask_prob`, spans of `mask_length` frames, overlaps allowed); the encoder
sees the masked frames replaced by a learned embedding and predicts, for every masked frame, its
k-means cluster: the last layer is projected to `final_dim`, and its cosine similarity with a
learned embedding of each cluster, divided by `temperature`, gives the logits of a cross-entropy
over the masked frames. HuBERT's loss is alpha L_masked + (1 - alpha) L_unmasked (alpha = 1 in its
base recipe); here L_masked + unmasked_weight L_unmasked. On a CPU budget of a few thousand steps
the unmasked term (weight 0.5, alpha = 2/3) teaches the CNN front end faster and lowers the masked
loss too (docs/pretraining.md).

Contrastive (wav2vec 2.0, Baevski et al. 2020), computed by transformers'
Wav2Vec2ForPreTraining.forward: the CNN features (layer-normed, unmasked) are quantised by a
Gumbel product quantiser (G codebooks of V entries; hard Gumbel samples in training, argmax in
evaluation) and projected to `final_dim` (q_t); the masked frames enter the transformer as the
learned mask embedding and its last layer is projected to `final_dim` (c_t). For every masked
frame the logits are cos(c_t, q) / temperature over q_t and K distractors q drawn from the other
masked frames of its window (a distractor identical to q_t gets -inf); L_m is the cross-entropy
of q_t, summed over the masked frames; L_d = (GV - perplexity) / GV x masked frames, the
perplexity being sum over groups of exp(entropy of the mean softmax of the codebook logits over
the masked frames) (of the argmax codes in evaluation). The loss is (L_m + alpha L_d) / masked
frames (the HF pretraining script divides the gradients by the masked frames).
"""

from __future__ import annotations

import torch
import transformers
from torch import nn

from braintune.models.encoders import model_input
from braintune.pretraining.model import PredictionHead

TALLY = {"masked-prediction": 5, "contrastive": 7}  # entries of a batch's tally


def masked_prediction(model, head: PredictionHead, waveforms: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                      unmasked_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a batch, mean cross-entropy over masked frames + unmasked_weight x that over
    unmasked frames, and its tally (5,) float64: [Σ cross-entropy over masked frames, masked
    frames predicted right, masked frames, unmasked frames predicted right, unmasked frames].

    waveforms: (n, samples); labels, mask: (n, frames)."""
    hidden = model(input_values=model_input(model, waveforms), mask_time_indices=mask).last_hidden_state
    logits, target, masked = head(hidden.flatten(0, 1)), labels.flatten(), mask.flatten()
    loss = nn.functional.cross_entropy(logits, target, reduction="none")
    total = loss[masked].mean() + (unmasked_weight * loss[~masked].mean() if unmasked_weight else 0.0)
    right = logits.argmax(dim=1) == target
    tally = torch.stack([loss[masked].sum(), right[masked].sum(), masked.sum(), right[~masked].sum(), (~masked).sum()])
    return total, tally.detach().double()


def contrastive(model: transformers.Wav2Vec2ForPreTraining, waveforms: torch.Tensor, mask: torch.Tensor,
                negatives: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a batch, (L_m + alpha L_d) / masked frames as Wav2Vec2ForPreTraining computes
    it, and its tally (7,) float64: [L_m, L_d (both summed over masked frames), masked frames whose
    target scores above every distractor, masked frames, Σ chance of that (1 / (1 + distractors
    not identical to the target)), codebook perplexity, 1 (batches)].

    waveforms: (n, samples); mask: (n, frames) bool; negatives: (n, frames, K) (contrastive_masks)."""
    out = model(input_values=model_input(model, waveforms), mask_time_indices=mask,
                sampled_negative_indices=negatives)
    masked = mask.sum()
    with torch.no_grad():  # the forward's logits of the masked frames again (it returns only the loss)
        q = out.projected_quantized_states
        target = q[mask]  # (masked frames, final_dim)
        distractors = q.flatten(0, 1)[negatives[mask]].transpose(0, 1)  # (K, masked frames, final_dim)
        logits = model.compute_contrastive_logits(target[None], distractors, out.projected_states[mask],
                                                  model.config.contrastive_logits_temperature)  # (1 + K, masked)
        same = (distractors == target).all(-1)  # (K, masked frames)
        logits[1:][same] = float("-inf")
        right = logits[0] > logits[1:].max(dim=0).values
        chance = 1.0 / (1.0 + (~same).sum(dim=0).double())
    tally = torch.stack([out.contrastive_loss.double(), out.diversity_loss.double(), right.sum().double(),
                         masked.double(), chance.sum(), out.codevector_perplexity.double(),
                         torch.ones((), dtype=torch.float64)])
    return out.loss / masked, tally.detach()


def summary(tally: torch.Tensor, prefix: str, objective: str) -> dict:
    """Per-frame losses and accuracies of a tally summed over batches.

    masked-prediction: loss and accuracy of the masked frames, accuracy of the unmasked ones;
    contrastive: contrastive and diversity loss per masked frame, accuracy, its chance, and the
    mean codebook perplexity of the batches."""
    if objective == "masked-prediction":
        loss, right, n, right_u, n_u = tally.tolist()
        return {f"{prefix}_loss": round(loss / max(n, 1), 5), f"{prefix}_accuracy": round(right / max(n, 1), 5),
                f"{prefix}_unmasked_accuracy": round(right_u / max(n_u, 1), 5)}
    contrast, diversity, right, n, chance, perplexity, batches = tally.tolist()
    return {f"{prefix}_contrastive_loss": round(contrast / max(n, 1), 5),
            f"{prefix}_diversity_loss": round(diversity / max(n, 1), 5),
            f"{prefix}_accuracy": round(right / max(n, 1), 5), f"{prefix}_chance": round(chance / max(n, 1), 5),
            f"{prefix}_perplexity": round(perplexity / max(batches, 1), 3)}

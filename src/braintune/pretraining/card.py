"""The model card: MODEL/card.json (everything) and MODEL/card.md (the same, readable)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch
import transformers

from braintune.io import write_atomic
from braintune.pretraining.corpus import Corpus
from braintune.pretraining.model import build_model, encoder_of
from braintune.pretraining.settings import PretrainSettings
from braintune.machine import cpu_model


def _corpus_card(corpus: Corpus, generated: bool, settings: PretrainSettings) -> dict:
    card = {"recordings": len(corpus.names), "seconds": round(corpus.seconds(), 1),
            "train_seconds": round(corpus.seconds(False), 1), "validation_seconds": round(corpus.seconds(True), 1),
            "validation_recordings": int(corpus.validation.sum())}
    if not generated:
        return {"folder": str(corpus.root), **card}
    import pandas as pd

    speakers = pd.read_csv(corpus.root / "speakers.tsv", sep="\t")
    accent, variant = speakers["voice"].str.split("+", expand=True).T.values
    return {
        "generator": "braintune.synthetic.speech_corpus.simulate_speech_corpus",
        "arguments": {"seconds": settings.corpus_seconds, "speaker_seconds": settings.speaker_seconds,
                      "seed": settings.corpus_seed},
        "speakers": len(speakers), "accents": sorted(set(accent)), "variants": sorted(set(variant)),
        "rate_wpm": [int(speakers["rate"].min()), int(speakers["rate"].max())],
        "pitch": [int(speakers["pitch"].min()), int(speakers["pitch"].max())],
        **card,
    }


def _objective(settings: PretrainSettings) -> str:
    """One sentence: what the model learned to predict."""
    if settings.training_objective == "contrastive":
        g, v = settings.codevector_groups, settings.codevectors_per_group
        return (f"wav2vec 2.0 contrastive (transformers' Wav2Vec2ForPreTraining): spans of {settings.mask_length} "
                f"frames starting at p={settings.mask_prob}; for every masked frame, cross-entropy of its quantised "
                f"target among {settings.num_negatives} distractors from the masked frames of its window, logits "
                f"cos(proj(c_t), proj(q))/{settings.temperature}; targets from a Gumbel product quantiser of the CNN "
                f"features ({g} codebooks x {v} entries, {settings.codevector_dim} dimensions; Gumbel temperature "
                f"max({settings.gumbel_start} x {settings.gumbel_decay}^step, {settings.gumbel_end})); "
                f"+ {settings.diversity_weight} x the codebook diversity loss (GV - perplexity) / GV")
    return (f"HuBERT masked prediction: spans of {settings.mask_length} frames starting at "
            f"p={settings.mask_prob}; cross-entropy on masked frames"
            + (f" (+ {settings.unmasked_weight} x on unmasked frames)" if settings.unmasked_weight else "")
            + f" of cos(proj(h), e_k)/"
            f"{settings.temperature} over {settings.clusters} k-means clusters of "
            + ("MFCC frames (13 + deltas + delta-deltas)" if settings.iterations == 1 else
               f"layer {settings.target_layer} of the iteration-1 model "
               + (f"{settings.teacher}" if settings.teacher else "(iteration 1: MFCC frames)")))


def _targets(settings: PretrainSettings, targets: dict | None) -> dict:
    if targets is None:  # contrastive
        return {"codebook_entries": settings.codevector_groups * settings.codevectors_per_group,
                "distractors": settings.num_negatives, "chance_accuracy": 1 / (1 + settings.num_negatives)}
    counts = np.bincount(targets["labels"], minlength=settings.clusters)
    return {"clusters": settings.clusters, "chance_accuracy": 1 / settings.clusters,
            "majority_share": round(float(counts.max() / counts.sum()), 5)}


def write_card(model_dir: Path, settings: PretrainSettings, corpus: Corpus, targets: dict | None, records: list[dict],
               probes, timings: dict, command: str, generated: bool) -> None:
    """MODEL/card.json (everything) and MODEL/card.md (the same, readable). targets: the last
    iteration's k-means targets (None: contrastive)."""
    weights = model_dir / "model.safetensors"
    model = build_model(settings)
    card = {
        "name": f"tiny-pretrained-{settings.family}",
        "command": command,
        "objective": _objective(settings),
        "settings": settings.to_dict(),
        "model": {"parameters": sum(p.numel() for p in encoder_of(model).parameters()),
                  "safetensors_bytes": weights.stat().st_size}
                 | ({"pretraining_parameters": sum(p.numel() for p in model.parameters())}
                    if encoder_of(model) is not model else {}),
        "corpus": _corpus_card(corpus, generated, settings),
        "targets": _targets(settings, targets),
        "epochs": records,
        "probes": None if probes is None else probes.to_dict(orient="records"),
        "timings_seconds": timings,
        "wall_seconds": round(sum(timings.values()), 1),
        "machine": {"cpu": cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "transformers": transformers.__version__, "python": platform.python_version()},
    }
    write_atomic(model_dir / "card.json", json.dumps(card, indent=1) + "\n")
    write_atomic(model_dir / "card.md", card_markdown(card))


def probe_summary(probes):
    """Layers × (task metric, model) DataFrame of probe records: r2 for mfcc, macro F1 for the classifiers."""
    import pandas as pd

    table = pd.DataFrame(probes)
    main = table[(table["task"] == "mfcc") | (table["metric"] == "macro_f1")]
    wide = main.pivot_table(index="layer", columns=["task", "model"], values="value")
    return wide.reindex(columns=sorted(wide.columns, key=lambda c: (c[0] != "mfcc", c[0], c[1] != "pretrained")))


def card_markdown(card: dict) -> str:
    """The card as Markdown: what it is, how it was made, how well it predicts, what its layers carry."""
    s, c = card["settings"], card["corpus"]
    lines = [
        f"# {card['name']}", "",
        f"A {s['family']} encoder ({s['num_layers']} layers, hidden {s['hidden_size']}, "
        f"{card['model']['parameters']:,} parameters) pretrained by braintune on stand-in speech.", "",
        "Rebuilt by:", "", "```", card["command"], "```", "",
        f"Objective ({PretrainSettings(**s).training_objective}): {card['objective']}.", "",
        "## Corpus", "",
    ]
    if "generator" in c:
        lines += [f"{c['seconds'] / 3600:.2f} h of espeak-ng speech ({c['generator']}, seed {c['arguments']['seed']}): "
                  f"{c['speakers']} speakers over {len(c['accents'])} accents and {len(c['variants'])} voice variants, "
                  f"{c['rate_wpm'][0]}-{c['rate_wpm'][1]} words/min, pitch {c['pitch'][0]}-{c['pitch'][1]}; "
                  f"{c['validation_seconds']:.0f} s ({c['validation_recordings']} recordings) held out for validation. "
                  "Its text shares no content word with any probe set's text.", ""]
    else:
        lines += [f"{c['seconds'] / 3600:.2f} h from {c['folder']} ({c['recordings']} recordings).", ""]
    settings = PretrainSettings(**s)
    lines += ["## Recipe", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in s.items() if settings.applies(k) and k != "objective"]
    lines += _epochs_markdown(card) if "codebook_entries" in card["targets"] else _masked_epochs_markdown(card)
    if card["probes"]:
        wide = probe_summary(card["probes"])
        lines += ["", "## Probes per layer", "",
                  "Stand-in TIMIT and Speech Commands (braintune.synthetic.corpora, default sizes), "
                  "braintune.probing.run_probes: MFCC R², word / phoneme / sentence-type macro F1; "
                  "random-init is the same config and seed, untrained.", "",
                  "| layer | " + " | ".join(f"{t} {m}" for t, m in wide.columns) + " |",
                  "| --- |" + " --- |" * len(wide.columns)]
        lines += [f"| {layer} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for layer, row in wide.iterrows()]
    m = card["machine"]
    lines += ["", "## Cost", "",
              f"{card['wall_seconds'] / 60:.1f} min wall ({', '.join(f'{k}: {v:.0f} s' for k, v in card['timings_seconds'].items())}) "
              f"on {m['cpu']}, {m['threads']} thread(s), torch {m['torch']}, transformers {m['transformers']}.", ""]
    return "\n".join(lines)


def _masked_epochs_markdown(card: dict) -> list[str]:
    lines = ["", "## Masked prediction per epoch", "",
             f"Chance: {card['targets']['chance_accuracy']:.3f}; most frequent cluster: "
             f"{card['targets']['majority_share']:.3f} of frames.", "",
             "Loss: cross-entropy over masked frames. Accuracy: of the masked frames' clusters; unmasked: "
             "of the other frames' (a measure of the front end).", "",
             "| iteration | epoch | train loss | train accuracy | validation loss | validation accuracy "
             "| validation unmasked accuracy | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    return lines + [f"| {r['iteration']} | {r['epoch']} | {r['train_loss']:.3f} | {r['train_accuracy']:.3f} | "
                    f"{r['validation_loss']:.3f} | {r['validation_accuracy']:.3f} | "
                    f"{r['validation_unmasked_accuracy']:.3f} | {r['seconds']:.0f} |" for r in card["epochs"]]


def _epochs_markdown(card: dict) -> list[str]:
    t = card["targets"]
    lines = ["", "## Contrastive prediction per epoch", "",
             f"Accuracy: share of the masked frames whose quantised target scores above all of its "
             f"{t['distractors']} distractors; chance 1/{1 + t['distractors']} = {t['chance_accuracy']:.3f}, or "
             "higher where distractors identical to the target are left out (they get -inf, as in the loss): the "
             "chance column. Losses per masked frame: contrastive L_m, diversity L_d = (GV - perplexity) / GV. "
             f"Perplexity: of the codebook use per batch (at most G x V = {t['codebook_entries']}; training: mean "
             "softmax, validation: argmax codes). Validation quantises by argmax (no Gumbel noise).", "",
             "| epoch | train contrastive | train diversity | train accuracy | train perplexity "
             "| validation contrastive | validation diversity | validation accuracy | validation chance "
             "| validation perplexity | Gumbel temperature | seconds |",
             "| --- |" + " --- |" * 11]
    return lines + [f"| {r['epoch']} | {r['train_contrastive_loss']:.3f} | {r['train_diversity_loss']:.3f} | "
                    f"{r['train_accuracy']:.3f} | {r['train_perplexity']:.1f} | {r['validation_contrastive_loss']:.3f} "
                    f"| {r['validation_diversity_loss']:.3f} | {r['validation_accuracy']:.3f} | "
                    f"{r['validation_chance']:.3f} | {r['validation_perplexity']:.1f} | {r['gumbel_temperature']:.3f} "
                    f"| {r['seconds']:.0f} |" for r in card["epochs"]]

"""The training loop of one iteration: epochs of steps, validation, a checkpoint after every epoch.

Deterministic on one machine and thread count: each epoch's windows and masks (numpy
generators seeded by (seed, iteration, epoch)) and torch's and numpy's global generators
(reseeded every epoch; the contrastive objective's masks and distractors and the Gumbel noise
come from them) depend only on the settings, so a run killed at any point and rerun ends with
the same weights. The Gumbel temperature of a step is a function of the steps already taken.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from braintune.io import write_atomic, write_atomic_with
from braintune.pretraining.corpus import Corpus, contrastive_masks, plan_windows, span_mask, window_batch
from braintune.pretraining.model import build_head, build_model
from braintune.pretraining.objectives import TALLY, contrastive, masked_prediction, summary
from braintune.pretraining.settings import PretrainSettings
from braintune.progress import tqdm
from braintune.training import reseed, warmup_then_linear_decay

log = logging.getLogger(__name__)

ADAM_BETAS, ADAM_EPS = (0.9, 0.98), 1e-6  # HuBERT's and wav2vec 2.0's


def _schedule(settings: PretrainSettings, total_steps: int):
    warmup = max(1, int(settings.warmup_fraction * total_steps))
    return lambda step: warmup_then_linear_decay(step, warmup, total_steps)


def gumbel_temperature(settings: PretrainSettings, step: int) -> float:
    """The Gumbel softmax temperature of the step after `step` steps: max(start * decay^step, end)
    (the schedule of wav2vec 2.0 and of transformers' pretraining script)."""
    return max(settings.gumbel_start * settings.gumbel_decay ** step, settings.gumbel_end)


class _Timer:
    """Wall seconds per step of the run, kept in OUT/timings.json across resumed runs."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = json.loads(path.read_text()) if path.is_file() else {}

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = round(self.seconds.get(step, 0.0) + seconds, 3)
        write_atomic(self.path, json.dumps(self.seconds, indent=1))


@contextlib.contextmanager
def _numpy_global_seed(*key: int):
    """numpy's global generator seeded from `key` inside, restored after (validation draws its
    contrastive masks there without moving the training's draws)."""
    state = np.random.get_state()
    np.random.seed(np.random.SeedSequence(list(key)).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(state)


def batch_loss(model, head, corpus: Corpus, targets: dict | None, part: np.ndarray, settings: PretrainSettings,
               rng: np.random.Generator, unmasked_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective's loss and tally (objectives) on the windows `part` ((n, 2) plan rows), masks drawn
    here: span_mask from `rng` (masked prediction), contrastive_masks from numpy's global generator."""
    waves, labels = window_batch(corpus, targets, part, settings.window_frames)
    if head is None:
        return contrastive(model, waves, *contrastive_masks(len(part), settings))
    mask = torch.from_numpy(span_mask(len(part), settings.window_frames, settings.mask_prob, settings.mask_length, rng))
    return masked_prediction(model, head, waves, labels, mask, unmasked_weight)


def validate(model, head, corpus: Corpus, targets: dict | None, settings: PretrainSettings) -> dict:
    """Losses and accuracies (objectives.summary) over fixed windows and masks of the validation recordings."""
    rng = np.random.default_rng([settings.seed, 3])
    plan = plan_windows(corpus.frames, np.flatnonzero(corpus.validation), settings.window_frames, rng, shuffle=False)
    model.eval()
    tally = torch.zeros(TALLY[settings.training_objective], dtype=torch.float64)
    with torch.no_grad(), _numpy_global_seed(settings.seed, 3):
        for b in range(0, len(plan), settings.batch_size):
            tally += batch_loss(model, head, corpus, targets, plan[b: b + settings.batch_size], settings, rng)[1]
    return summary(tally, "validation", settings.training_objective)


def train_iteration(out: Path, iteration: int, corpus: Corpus, targets: dict | None, settings: PretrainSettings,
                    timer: _Timer, stop_after_epoch: int | None = None, progress: bool = True):
    """Train a fresh model and head on `targets` (None: contrastive) for settings.epochs, resuming from
    OUT/checkpoint.pt if it holds this iteration. -> (model, head, log records), or None if stopped early."""
    objective = settings.training_objective
    model = build_model(settings)
    head = build_head(settings, iteration)
    params = list(model.parameters()) + (list(head.parameters()) if head is not None else [])
    optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                  weight_decay=settings.weight_decay)
    train = np.flatnonzero(~corpus.validation)
    per_epoch = -(-len(plan_windows(corpus.frames, train, settings.window_frames, np.random.default_rng(0)))
                  // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings, per_epoch * settings.epochs))
    records, first = [], 1
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=True)
        if state["iteration"] == iteration:
            model.load_state_dict(state["model"])
            if head is not None:
                head.load_state_dict(state["head"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            records, first = list(state["log"]), state["epoch"] + 1
            log.info("resuming iteration %d after epoch %d", iteration, state["epoch"])
        else:  # the previous iteration's last checkpoint: keep its log
            records = list(state["log"])
    for epoch in range(first, settings.epochs + 1):
        if stop_after_epoch is not None and (iteration - 1) * settings.epochs + epoch > stop_after_epoch:
            return None
        start = time.perf_counter()
        reseed(settings.seed, iteration, epoch)
        rng = np.random.default_rng([settings.seed, iteration, epoch])
        plan = plan_windows(corpus.frames, train, settings.window_frames, rng)
        model.train()
        tally = torch.zeros(TALLY[objective], dtype=torch.float64)
        bar = tqdm(range(0, len(plan), settings.batch_size), desc=f"iteration {iteration} epoch {epoch}/{settings.epochs}",
                   unit="step", disable=not progress, leave=False)
        for b in bar:
            if head is None:
                model.set_gumbel_temperature(gumbel_temperature(settings, scheduler.last_epoch))
            loss, batch_tally = batch_loss(model, head, corpus, targets, plan[b: b + settings.batch_size], settings,
                                           rng, settings.unmasked_weight)
            loss.backward()
            nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            tally += batch_tally
            bar.set_postfix({k.removeprefix("train_"): v for k, v in summary(tally, "train", objective).items()},
                            refresh=False)
        record = {"iteration": iteration, "epoch": epoch, **summary(tally, "train", objective),
                  **validate(model, head, corpus, targets, settings), "steps": len(bar)}
        if head is None:
            record["gumbel_temperature"] = round(gumbel_temperature(settings, scheduler.last_epoch - 1), 5)
        record["seconds"] = round(time.perf_counter() - start, 1)
        records.append(record)
        log.info("iteration %d epoch %d: %s", iteration, epoch,
                 ", ".join(f"{k} {v}" for k, v in record.items() if k not in ("iteration", "epoch")))
        checkpoint = {"iteration": iteration, "epoch": epoch, "model": model.state_dict(),
                      "head": head.state_dict() if head is not None else {},
                      "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "log": records}
        write_atomic_with(checkpoint_path, lambda tmp, state=checkpoint: torch.save(state, tmp))
        write_atomic(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        timer.add(f"train iteration {iteration}", record["seconds"])
    return model.eval(), head, records

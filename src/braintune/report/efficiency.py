"""The data-efficiency study (split.n_train_stories: several k): how the alignment of a participant
grows with the number k of its training stories, for the pretrained, single-participant tuned and
multi-participant tuned models (Moussa & Toneva, NeurIPS 2025: a new participant needs 5x less fMRI).

Per participant, variant, k and ROI the alignment is that of the layer best at the full data
(k_max) for that participant and variant (chosen on all the participant's stories, then fixed
across k, so a smaller k is not flattered by its own best layer); then mean ± SE over
participants. The pretrained model at k_max is the reference: for each variant the smallest k
from which on its mean stays at or above it (a noisy small k that happens to reach it does not
count), and k_max / that k ("x less data").
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from braintune.report.figures import ROI_LABELS, STYLE
from braintune.report.tables import ROI_ORDER, mean_se, sort_summary

COLUMN = "n_train_stories"
EFFICIENCY_ROIS = ("late_language", "primary_auditory")


def has_sizes(alignment: pd.DataFrame) -> bool:
    """Whether the alignment table holds several numbers of training stories (a data-efficiency study)."""
    return COLUMN in alignment and alignment[COLUMN].nunique() > 1


def best_layer_curves(alignment: pd.DataFrame) -> pd.DataFrame:
    """Per model x roi x variant x k: mean and SE over participants of the alignment at each participant's
    best layer at k_max (module docstring). -> columns model, roi, variant, n_train_stories, mean, se,
    n_participants."""
    keys = ["model", "roi", "variant", "participant"]
    full = alignment[alignment[COLUMN] == alignment.groupby(keys)[COLUMN].transform("max")]
    best = full.loc[full.groupby(keys)["alignment"].idxmax().dropna(), [*keys, "layer"]]
    at_best = alignment.merge(best, on=[*keys, "layer"])
    summary = mean_se(at_best, ["model", "roi", "variant", COLUMN], "alignment", "n_participants")
    return sort_summary(summary, {"roi": ROI_ORDER}).sort_values(["model", "roi", "variant", COLUMN], kind="stable")


def stories_needed(curves: pd.DataFrame) -> pd.DataFrame:
    """Per model x roi x variant: the pretrained model's alignment at k_max, the smallest k from which on
    the variant's mean stays at or above it (NaN if none) and k_max / k. -> columns model, roi, variant, reference,
    k_max, smallest_k, less_data."""
    rows = []
    for (model, roi), group in curves.groupby(["model", "roi"], sort=False):
        k_max = group[COLUMN].max()
        reference = group.loc[(group.variant == "pretrained") & (group[COLUMN] == k_max), "mean"]
        if reference.empty:
            continue
        for variant, curve in group.groupby("variant", sort=False):
            curve = curve.sort_values(COLUMN)
            above = (curve["mean"] >= reference.iloc[0]).to_numpy()
            stays = np.flip(np.logical_and.accumulate(np.flip(above)))  # at k and at every larger k
            smallest = float(curve[COLUMN].to_numpy()[stays].min()) if stays.any() else np.nan
            rows.append((model, roi, variant, float(reference.iloc[0]), int(k_max), smallest, k_max / smallest))
    return pd.DataFrame(rows, columns=["model", "roi", "variant", "reference", "k_max", "smallest_k", "less_data"])


def efficiency_figure(curves: pd.DataFrame, rois=EFFICIENCY_ROIS) -> Figure:
    """Alignment against k per ROI (columns) and model (rows), one line per variant with a ± SE band."""
    models = list(dict.fromkeys(curves["model"]))
    rois = [r for r in rois if r in set(curves["roi"])] or list(dict.fromkeys(curves["roi"]))[:2]
    figure = Figure(figsize=(4.6 * len(rois), 3.2 * len(models)), layout="constrained")
    axes = figure.subplots(len(models), len(rois), squeeze=False)
    for row, model in enumerate(models):
        for col, roi in enumerate(rois):
            ax = axes[row][col]
            for variant, line in curves[(curves.model == model) & (curves.roi == roi)].groupby("variant", sort=False):
                style = STYLE.get(variant, dict(color="#555555", linestyle="-", marker="d", label=variant))
                x, y, se = line[COLUMN].to_numpy(), line["mean"].to_numpy(), line["se"].fillna(0).to_numpy()
                ax.plot(x, y, **style)
                ax.fill_between(x, y - se, y + se, color=style["color"], alpha=0.15, linewidth=0)
            ax.set_title(f"{model}: {ROI_LABELS.get(roi, roi)}", fontsize=9)
            ax.set_xlabel("training stories of the participant (k)")
            ax.set_ylabel("normalised alignment (r / CCmax)")
            ax.legend(fontsize=7)
    return figure


def figure_bytes(figure: Figure, kind: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind, dpi=150)
    return buffer.getvalue()

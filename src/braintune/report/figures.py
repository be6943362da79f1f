"""Figures 1 and 2 of Moussa & Toneva (Interspeech 2025) from the summary tables.

Figures are plain `matplotlib.figure.Figure` objects (no pyplot state); PNG and PDF
render through Agg-based canvases, so no display is needed.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from braintune.report.tables import VARIANTS, ordered_tasks, primary_metric

FIGURE1_ROIS = ("late_language", "primary_auditory")
ROI_LABELS = {
    "late_language": "late language regions",
    "primary_auditory": "primary auditory (A1)",
    "early_auditory": "early auditory",
    "angular_gyrus": "angular gyrus",
    "lateral_temporal": "lateral temporal",
    "ifg_mfg": "IFG / MFG",
    "whole_cortex": "whole cortex",
}
TASK_LABELS = {
    "mfcc": "MFCC (TIMIT)",
    "words": "Word identity (Speech Commands)",
    "phonemes": "Phonemes (TIMIT)",
    "sentence-type": "Sentence type (TIMIT)",
}
METRIC_LABELS = {"r2": "$R^2$ on test frames", "macro_f1": "macro-F1 on test items", "micro_f1": "micro-F1 on test items"}
# Okabe-Ito colours: distinguishable with colour-blindness, and in greyscale by line style and
# marker. The dashed pretrained line is drawn over the solid tuned one and the dotted control
# over both, so that every line shows where they coincide.
STYLE = {
    "pretrained": dict(color="#0072B2", linestyle="--", marker="o", label="pretrained", zorder=3),
    "tuned": dict(color="#D55E00", linestyle="-", marker="s", label="brain-tuned", zorder=2),
    "control": dict(color="#009E73", linestyle=":", marker="^", label="control (shuffled pairs)", zorder=4),
    "multi-tuned": dict(color="#CC79A7", linestyle="-.", marker="D", label="multi-participant tuned", zorder=2),
}
PANEL_SIZE = (4.6, 3.2)  # inches per panel


def _panel(ax: Axes, rows: pd.DataFrame, ylabel: str) -> None:
    """Draw the mean per layer of each variant in `rows`, with a ± SE band where SE exists."""
    if rows.empty:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="0.4")
        ax.set_axis_off()  # not set_yticks([]): the y axis is shared with the column's other panels
        return
    for variant in VARIANTS:
        line = rows[rows["variant"] == variant].sort_values("layer")
        if line.empty:
            continue
        style = STYLE[variant]
        ax.fill_between(
            line["layer"], line["mean"] - line["se"], line["mean"] + line["se"],
            color=style["color"], alpha=0.22, linewidth=0,
        )
        ax.plot(line["layer"], line["mean"], markersize=4, linewidth=1.8, **style)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.grid(True, color="0.9", linewidth=0.8)


def _legend(fig: Figure, summary: pd.DataFrame, count_column: str, what: str, single: str) -> None:
    """One legend for the figure, titled with what the bands are across ("participants"); each
    label says how many (n), or `single` ("single model") where there is one value per layer."""
    handles = []
    for variant in VARIANTS:
        counts = summary.loc[summary["variant"] == variant, count_column]
        if counts.empty:
            continue
        n = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}–{counts.max()}"
        label = STYLE[variant]["label"] + (f" (n={n})" if counts.max() > 1 else f" ({single})")
        handles.append(Line2D([], [], markersize=4, linewidth=1.8, **{**STYLE[variant], "label": label}))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False,
               title=f"mean ± SE across {what}")


def _grid(n_rows: int, n_cols: int, title: str) -> tuple[Figure, list[list[Axes]]]:
    fig = Figure(figsize=(PANEL_SIZE[0] * n_cols, PANEL_SIZE[1] * n_rows + 0.8), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey="row")
    fig.suptitle(title, fontsize="large", fontweight="bold")
    return fig, axes


def figure1(alignment_summary: pd.DataFrame) -> Figure:
    """Normalised alignment per layer, late-language and primary-auditory ROIs.

    alignment_summary: output of summarise_alignment (model, roi, variant, layer, mean, se,
    n_participants). One column of panels per model (the paper's Wav2Vec2.0 and HuBERT), one row per ROI.
    """
    models = list(dict.fromkeys(alignment_summary["model"]))
    fig, axes = _grid(len(FIGURE1_ROIS), len(models), "Figure 1 — layer-wise brain alignment")
    shown = alignment_summary[alignment_summary["roi"].isin(FIGURE1_ROIS)]
    _legend(fig, shown, "n_participants", "participants", "one participant")
    for col, model in enumerate(models):
        for row, roi in enumerate(FIGURE1_ROIS):
            ax = axes[row][col]
            rows = alignment_summary[(alignment_summary["model"] == model) & (alignment_summary["roi"] == roi)]
            _panel(ax, rows, r"normalised alignment ($r$ / CC$_\mathrm{max}$)")
            ax.set_title(f"{model}\n{ROI_LABELS.get(roi, roi)}", fontsize="medium")
    return fig


def figure2(probing_summary: pd.DataFrame) -> Figure:
    """Probe score per layer for each task (r2 for mfcc, macro-F1 for the others).

    probing_summary: output of summarise_probing (model, task, metric, variant, layer, mean,
    se, n_models). One column of panels per model (the paper's Wav2Vec2.0 and HuBERT), one row per
    task; brain-tuned lines are the mean ± SE across the per-participant tuned models.
    """
    models = list(dict.fromkeys(probing_summary["model"]))
    tasks = ordered_tasks(probing_summary["task"])
    metrics = {t: primary_metric(t, set(probing_summary.loc[probing_summary["task"] == t, "metric"])) for t in tasks}
    fig, axes = _grid(len(tasks), len(models), "Figure 2 — layer-wise probing")
    _legend(fig, probing_summary, "n_models", "per-participant models", "single model")
    for col, model in enumerate(models):
        for row, task in enumerate(tasks):
            ax = axes[row][col]
            metric = metrics[task]
            rows = probing_summary[
                (probing_summary["model"] == model)
                & (probing_summary["task"] == task)
                & (probing_summary["metric"] == metric)
            ]
            _panel(ax, rows, METRIC_LABELS.get(metric, metric))
            ax.set_title(f"{model}\n{TASK_LABELS.get(task, task)}", fontsize="medium")
    return fig


def render(fig: Figure, fmt: str, dpi: int = 150) -> bytes:
    """The figure encoded as `fmt` ("png" or "pdf")."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi)
    return buffer.getvalue()

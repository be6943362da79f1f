"""build_report: summaries, hierarchy statistics, paired differences, Figures 1-2 and report.html from a run's tables.

Reads (whichever exist)            Writes (each atomically: temp file, then os.replace)
  RUN/config.yaml                    RUN/tables/alignment_summary.csv, probing_summary.csv
  RUN/tables/alignment.{parquet,csv} RUN/tables/alignment_hierarchy.csv, probing_hierarchy.csv
  RUN/tables/probing.{parquet,csv}   RUN/tables/alignment_differences.{csv,parquet},
                                       alignment_hierarchy_differences.{csv,parquet} (statistics.py)
                                     RUN/figures/figure1.{png,pdf}, figure2.{png,pdf}
  RUN/cache/alignment/ voxel arrays, the dataset's cortex files   RUN/figures/maps/*.{png,pdf} (run_maps.py)
                                     RUN/report.html
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from pathlib import Path
from typing import Callable, NamedTuple

import pandas as pd

import braintune
from braintune.errors import BraintuneError, DataError
from braintune.io import write_atomic, write_table
from braintune.report import figures
from braintune.report import html as page
from braintune.report.hierarchy import alignment_hierarchy, probing_hierarchy
from braintune.report.run_maps import MapSettings, brain_maps, brain_maps_html
from braintune.report.statistics import alignment_differences, hierarchy_differences
from braintune.report.tables import (
    full_data,
    read_alignment,
    read_probing,
    summarise_alignment,
    summarise_probing,
    table_path,
)

log = logging.getLogger(__name__)


def _write_figure(fig, run_dir: Path, stem: str) -> bytes:
    """Save figures/<stem>.png and .pdf; return the PNG bytes."""
    png = figures.render(fig, "png")
    write_atomic(run_dir / "figures" / f"{stem}.png", png)
    write_atomic(run_dir / "figures" / f"{stem}.pdf", figures.render(fig, "pdf"))
    return png


def _timestamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")


def _run_info(run_dir: Path, sources: dict[str, Path | None], tables: list[pd.DataFrame],
              roi_values: str | None = None) -> str:
    models = sorted({m for t in tables for m in t["model"]})
    participants = sorted({p for t in tables for p in t["participant"] if p})
    layers = sorted({int(layer) for t in tables for layer in t["layer"]})
    esc = html.escape
    rows = {
        "run folder": f"<code>{esc(str(run_dir.resolve()))}</code>",
        "report built": esc(datetime.now().astimezone().isoformat(timespec="seconds")),
        "braintune version": esc(braintune.__version__),
        "models": esc(", ".join(models)),
        "participants": esc(", ".join(participants)) or "—",
        "layers": esc(f"{layers[0]}–{layers[-1]}") if layers else "—",
    }
    rows.update(_story_rows(run_dir / "config.yaml"))
    if roi_values:
        rows["ROI values"] = esc(roi_values)
    for name, path in sources.items():
        rows[f"{name} table"] = (
            f"<code>{esc(str(path.relative_to(run_dir)))}</code> (written {esc(_timestamp(path))})" if path else "absent"
        )
    return page.definition_table_html(rows)


def _story_rows(config_path: Path) -> dict[str, str]:
    """The run's resolved story split (config.yaml's `split`), as rows of the run table."""
    import yaml

    try:
        split = (yaml.safe_load(config_path.read_text("utf-8")) or {}).get("split") or {}
    except (OSError, yaml.YAMLError):
        return {}
    train = split.get("train_stories")
    if not train:
        return {}
    esc = html.escape
    if isinstance(train, dict):
        text = "; ".join(f"{p}: {len(v)} ({', '.join(v)})" for p, v in train.items())
    else:
        text = f"{len(train)} ({', '.join(train)})"
    return {"training stories": esc(text), "validation story": esc(str(split.get("validation_story"))),
            "test story": esc(str(split.get("test_story")))}


def _efficiency_html(run_dir: Path, alignment: pd.DataFrame | None) -> str:
    """The data-efficiency section (several numbers of training stories; braintune.report.efficiency):
    its tables and figure, or nothing for a study with one."""
    from braintune.report import efficiency

    if alignment is None or not efficiency.has_sizes(alignment):
        return ""
    curves = efficiency.best_layer_curves(alignment)
    needed = efficiency.stories_needed(curves)
    write_table(curves, run_dir / "tables", "data_efficiency")
    write_table(needed, run_dir / "tables", "data_efficiency_stories")
    figure = efficiency.efficiency_figure(curves)
    png = efficiency.figure_bytes(figure, "png")
    write_atomic(run_dir / "figures" / "data_efficiency.png", png)
    write_atomic(run_dir / "figures" / "data_efficiency.pdf", efficiency.figure_bytes(figure, "pdf"))
    shown = needed[needed["roi"].isin(efficiency.EFFICIENCY_ROIS)]
    return ("<h2>Data efficiency: alignment against a participant's training stories</h2>"
            "<p>Each participant aligned (and, for the single-participant brain-tuned models, tuned) on its first k "
            "training stories; the layer is each participant's best at the full data, then fixed across k; mean ± SE "
            "over participants. The table gives, per variant, the smallest k whose mean reaches the pretrained "
            "model's alignment at the full data, and the full number over it (how many times less data).</p>"
            + page.figure_html(png, "Data efficiency: alignment against the number of training stories",
                               "Also <code>figures/data_efficiency.pdf</code>, <code>tables/data_efficiency.csv</code>.")
            + shown.to_html(index=False, na_rep="not reached", float_format=lambda v: f"{v:.3g}", border=0))


class _Part(NamedTuple):
    """One results table and what the report makes of it."""

    name: str  # table name, also the study stage
    summarise: Callable[[pd.DataFrame], pd.DataFrame]
    draw: Callable[[pd.DataFrame], object]
    figure: str
    figure_title: str
    figure_alt: str
    caption: str
    table_title: str
    keys: list[str]
    count: str
    hierarchy: Callable[[pd.DataFrame], pd.DataFrame]
    hierarchy_title: str


PARTS = (
    _Part("alignment", summarise_alignment, figures.figure1, "figure1", "Figure 1", "normalised alignment per layer",
          "Normalised brain alignment (r / CC<sub>max</sub>) per layer in the late language regions and "
          "primary auditory cortex: pretrained, brain-tuned and (where the study ran it) the shuffled-pairing "
          "control; lines are means and bands ± 1 SE across participants.",
          "Alignment: mean ± SE across participants, every ROI", ["model", "roi"], "n_participants",
          alignment_hierarchy, "Alignment hierarchy: each participant's statistic, mean ± SE across participants"),
    _Part("probing", summarise_probing, figures.figure2, "figure2", "Figure 2", "probe score per layer and task",
          "Linear-probe score per layer: R² for MFCC, macro-F1 for the classification tasks. Pretrained: the "
          "single pretrained model; brain-tuned and control: mean ± 1 SE across the per-participant models.",
          "Probing: pretrained value, brain-tuned and control mean ± SE across models, every metric",
          ["model", "task", "metric"], "n_models",
          probing_hierarchy, "Probing hierarchy: pretrained value, tuned and control mean ± SE across models"),
)


# (table name, function of the alignment table, columns naming a row, title)
DIFFERENCES = (
    ("alignment_differences", alignment_differences, ["model", "roi", "layer"],
     "Normalised alignment per layer and ROI: brain-tuned minus pretrained and minus control, across participants"),
    ("alignment_hierarchy_differences", hierarchy_differences, ["model", "roi", "statistic"],
     "Hierarchy statistics: brain-tuned minus pretrained and minus control, across participants"),
)


def _statistics_html(run_dir: Path, alignment: pd.DataFrame | None) -> str:
    """Write the paired-difference tables of the alignment table; return their report section."""
    if alignment is None:
        return page.absent_html("No alignment table: no paired differences.")
    parts = []
    for name, compute, rows, title in DIFFERENCES:
        differences = compute(alignment)
        write_table(differences, run_dir / "tables", name)
        body = (page.differences_table_html(differences, rows) if len(differences) else
                page.absent_html("No model in this run has both a brain-tuned and a pretrained or control variant."))
        parts.append(f"<details open><summary>{title} (<code>tables/{name}.csv</code>)</summary>{body}</details>")
    return "".join(parts)


def _maps_html(run_dir: Path, settings: MapSettings | None) -> str:
    """Draw the brain maps (run_maps.brain_maps) and return their report section; a map that cannot
    be drawn (a broken cortex or voxel file) leaves the section saying why, not a failed report."""
    try:
        return brain_maps_html(brain_maps(run_dir, settings))
    except BraintuneError as exc:
        log.warning("%s: brain maps not drawn: %s", run_dir, exc)
        return page.absent_html(f"No brain maps: {html.escape(str(exc))}")


def build_report(run_dir: str | Path, maps: MapSettings | None = None, roi_values: str | None = None) -> Path:
    """Rebuild the summaries, hierarchy statistics, paired differences, Figures 1-2, the brain maps and
    report.html of a run folder.

    Either results table may be absent (the report says so); both absent, a missing run
    folder, or a table lacking required columns raise DataError naming the file.
    maps: what the brain maps show (default: the run's config.yaml `align` section; run_maps.py).
    roi_values: how the ROI values were made (AlignSettings.roi_values), shown with the run's facts.
    Returns the path of RUN/report.html.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: run folder not found")
    sources = {name: table_path(run_dir, name) for name in ("alignment", "probing")}
    if not any(sources.values()):
        raise DataError(
            f"{run_dir / 'tables'}: no alignment or probing table (alignment.parquet/.csv, probing.parquet/.csv); "
            "is this a braintune run folder whose study has finished a stage?"
        )
    read = {"alignment": read_alignment, "probing": read_probing}
    results = {name: read[name](path) for name, path in sources.items() if path}
    every_size = results.get("alignment")
    if every_size is not None:  # the figures, summaries and statistics: each participant's full data
        results["alignment"] = full_data(every_size)

    absent, fig_html, tables_html, hierarchy_html = [], {}, [], []
    for part in PARTS:
        table = results.get(part.name)
        if table is None:
            absent.append(f"No {part.name} table (tables/{part.name}.parquet or .csv): {part.figure_title} and the "
                          f"{part.name} summary are absent; the study did not run the {part.name} stage.")
            fig_html[part.figure] = page.absent_html(f"{part.figure_title} is absent: this run has no {part.name} table.")
            continue
        summary, hierarchy = part.summarise(table), part.hierarchy(table)
        write_atomic(run_dir / "tables" / f"{part.name}_summary.csv", summary.to_csv(index=False).encode("utf-8"))
        write_atomic(run_dir / "tables" / f"{part.name}_hierarchy.csv", hierarchy.to_csv(index=False).encode("utf-8"))
        png = _write_figure(part.draw(summary), run_dir, part.figure)
        fig_html[part.figure] = page.figure_html(
            png, f"{part.figure_title}: {part.figure_alt}", f"{part.caption} Also <code>figures/{part.figure}.pdf</code>.",
        )
        tables_html.append(
            f"<details open><summary>{part.table_title} (<code>tables/{part.name}_summary.csv</code>)</summary>"
            + page.summary_table_html(summary, [*part.keys, "layer"], part.count) + "</details>"
        )
        hierarchy_html.append(
            f"<details open><summary>{part.hierarchy_title} (<code>tables/{part.name}_hierarchy.csv</code>)</summary>"
            + page.summary_table_html(hierarchy, [*part.keys, "statistic"], part.count) + "</details>"
        )

    statistics_html = _statistics_html(run_dir, results.get("alignment"))
    efficiency_html = _efficiency_html(run_dir, every_size)
    maps_html = _maps_html(run_dir, maps)
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        config_html = f"<p><code>config.yaml</code></p><pre>{html.escape(config_path.read_text('utf-8'))}</pre>"
    else:
        config_html = page.absent_html("No <code>config.yaml</code> in the run folder.")

    report = page.render_page(
        title=f"braintune report — {run_dir.resolve().name}",
        run_info=_run_info(run_dir, sources, list(results.values()), roi_values),
        absent="".join(page.absent_html(html.escape(a)) for a in absent),
        hierarchy="".join(hierarchy_html),
        statistics=statistics_html,
        brain_maps=maps_html,
        efficiency=efficiency_html,
        tables="".join(tables_html),
        config=config_html,
        **fig_html,
    )
    out = run_dir / "report.html"
    write_atomic(out, report.encode("utf-8"))  # bytes: UTF-8 whatever the locale
    for part in absent:
        log.warning("%s: %s", run_dir, part)
    log.info("wrote %s", out)
    return out

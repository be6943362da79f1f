"""build_report: summaries, Figures 1 and 2 and report.html from a run folder's tables.

Reads (whichever exist)            Writes (each atomically: temp file, then os.replace)
  RUN/config.yaml                    RUN/tables/alignment_summary.csv, probing_summary.csv
  RUN/tables/alignment.{parquet,csv} RUN/figures/figure1.{png,pdf}, figure2.{png,pdf}
  RUN/tables/probing.{parquet,csv}   RUN/report.html
"""

from __future__ import annotations

import html
import logging
from datetime import datetime
from pathlib import Path

import pandas as pd

import braintune
from braintune.errors import DataError
from braintune.io import write_atomic
from braintune.report import figures
from braintune.report import html as page
from braintune.report.tables import (
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


def _run_info(run_dir: Path, sources: dict[str, Path | None], tables: list[pd.DataFrame]) -> str:
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
    for name, path in sources.items():
        rows[f"{name} table"] = (
            f"<code>{esc(str(path.relative_to(run_dir)))}</code> (written {esc(_timestamp(path))})" if path else "absent"
        )
    return page.definition_table_html(rows)


def build_report(run_dir: str | Path) -> Path:
    """Rebuild the summaries, Figures 1 and 2 and report.html of a run folder.

    Either results table may be absent (the report says so); both absent, a missing run
    folder, or a table lacking required columns raise DataError naming the file.
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

    absent, fig_html, tables_html = [], {}, []
    alignment = results.get("alignment")
    if alignment is not None:
        summary = summarise_alignment(alignment)
        write_atomic(run_dir / "tables" / "alignment_summary.csv", summary.to_csv(index=False).encode("utf-8"))
        png = _write_figure(figures.figure1(summary), run_dir, "figure1")
        fig_html["figure1"] = page.figure_html(
            png, "Figure 1: normalised alignment per layer",
            "Normalised brain alignment (r / CC<sub>max</sub>) per layer in the late language regions and "
            "primary auditory cortex, pretrained vs brain-tuned; lines are means and bands ± 1 SE across "
            "participants. Also <code>figures/figure1.pdf</code>.",
        )
        tables_html.append(
            "<details open><summary>Alignment: mean ± SE across participants, every ROI "
            "(<code>tables/alignment_summary.csv</code>)</summary>"
            + page.summary_table_html(summary, ["model", "roi"], "n_participants") + "</details>"
        )
    else:
        absent.append("No alignment table (tables/alignment.parquet or .csv): Figure 1 and the alignment "
                      "summary are absent; the study did not run the alignment stage.")
        fig_html["figure1"] = page.absent_html("Figure 1 is absent: this run has no alignment table.")

    probing = results.get("probing")
    if probing is not None:
        summary = summarise_probing(probing)
        write_atomic(run_dir / "tables" / "probing_summary.csv", summary.to_csv(index=False).encode("utf-8"))
        png = _write_figure(figures.figure2(summary), run_dir, "figure2")
        fig_html["figure2"] = page.figure_html(
            png, "Figure 2: probe score per layer and task",
            "Linear-probe score per layer: R² for MFCC, macro-F1 for the classification tasks. Pretrained: the "
            "single pretrained model; brain-tuned: mean ± 1 SE across the per-participant tuned models. "
            "Also <code>figures/figure2.pdf</code>.",
        )
        tables_html.append(
            "<details open><summary>Probing: pretrained value, brain-tuned mean ± SE across models, every "
            "metric (<code>tables/probing_summary.csv</code>)</summary>"
            + page.summary_table_html(summary, ["model", "task", "metric"], "n_models") + "</details>"
        )
    else:
        absent.append("No probing table (tables/probing.parquet or .csv): Figure 2 and the probing "
                      "summary are absent; the study did not run the probing stage.")
        fig_html["figure2"] = page.absent_html("Figure 2 is absent: this run has no probing table.")

    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        config_html = f"<p><code>config.yaml</code></p><pre>{html.escape(config_path.read_text('utf-8'))}</pre>"
    else:
        config_html = page.absent_html("No <code>config.yaml</code> in the run folder.")

    report = page.render_page(
        title=f"braintune report — {run_dir.resolve().name}",
        run_info=_run_info(run_dir, sources, list(results.values())),
        absent="".join(page.absent_html(html.escape(a)) for a in absent),
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

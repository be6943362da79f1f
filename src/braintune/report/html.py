"""report.html: one self-contained page (inline CSS, figures as base64 PNG, no scripts)."""

from __future__ import annotations

import base64
import html
from importlib import resources
from string import Template

import numpy as np
import pandas as pd

from braintune.report.tables import VARIANTS

VARIANT_HEADERS = {"pretrained": "pretrained", "tuned": "brain-tuned", "control": "control (shuffled pairs)",
                   "multi-tuned": "multi-participant tuned"}


def _mean_se_text(mean: float, se: float, n: int) -> str:
    if np.isnan(mean):
        return ""
    text = f"{mean:.3f}" if np.isnan(se) else f"{mean:.3f} ± {se:.3f}"
    return f"{text} (n={n})"


def summary_table_html(summary: pd.DataFrame, rows: list[str], count_column: str) -> str:
    """`summary` as an HTML table: one row per value of the `rows` columns (e.g. model, roi,
    layer), one column per variant holding "mean ± se (n=...)"."""
    cells = summary.assign(
        text=[_mean_se_text(m, s, n) for m, s, n in zip(summary["mean"], summary["se"], summary[count_column])]
    )
    wide = cells.pivot(index=rows, columns="variant", values="text")
    wide = wide[[v for v in VARIANTS if v in wide.columns]].fillna("")
    wide.columns = [f"{VARIANT_HEADERS[v]}: mean ± SE (n)" for v in wide.columns]
    wide = wide.reindex(pd.MultiIndex.from_frame(summary[rows].drop_duplicates()))
    return wide.reset_index().to_html(index=False, escape=True, border=0)


def _difference_text(mean: float, low: float, high: float) -> str:
    if np.isnan(mean):
        return ""
    return f"{mean:+.3f}" if np.isnan(low) else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


def _test_text(t: float, p: float) -> str:
    return "" if np.isnan(p) else f"t = {t:.2f}, p = {p:.3g}"


def differences_table_html(differences: pd.DataFrame, rows: list[str]) -> str:
    """A paired-differences table (braintune.report.statistics) as HTML: one row per value of
    the `rows` columns and comparison, with the mean difference [95% interval], the paired
    t-test and the note."""
    comparison = [f"{VARIANT_HEADERS[v]} − {VARIANT_HEADERS[b]}"
                  for v, b in zip(differences["variant"], differences["baseline"])]
    intervals = zip(differences["mean_difference"], differences["ci_low"], differences["ci_high"])
    tests = zip(differences["t_statistic"], differences["p_value"])
    shown = differences[rows].assign(**{
        "comparison": comparison,
        "participants": differences["n_participants"],
        "mean difference [95% CI]": [_difference_text(*values) for values in intervals],
        "paired t-test": [_test_text(*values) for values in tests],
        "note": differences["note"],
    })
    return shown.to_html(index=False, escape=True, border=0)


def figure_html(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def absent_html(message: str) -> str:
    return f'<p class="absent">{message}</p>'


def definition_table_html(rows: dict[str, str]) -> str:
    """A two-column table of already-escaped HTML values."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in rows.items())
    return f"<table>{body}</table>"


def render_page(
    *, title: str, run_info: str, absent: str, figure1: str, figure2: str, hierarchy: str, statistics: str,
    brain_maps: str, tables: str, config: str, efficiency: str = "",
) -> str:
    """Fill the page template; every argument is an HTML fragment (escape text first)."""
    template = Template(resources.files("braintune.report").joinpath("template.html").read_text("utf-8"))
    return template.substitute(
        title=html.escape(title), run_info=run_info, absent=absent,
        figure1=figure1, figure2=figure2, hierarchy=hierarchy, statistics=statistics, brain_maps=brain_maps,
        tables=tables, config=config, efficiency=efficiency,
    )

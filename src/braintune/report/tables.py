"""Read a run's result tables and summarise them across participants.

A study run writes tidy tables under ``RUN/tables/`` as ``<name>.parquet`` and
``<name>.csv``; the parquet file is read when present (it keeps the column types), else
the CSV. Extra columns are ignored; missing required columns are a DataError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from braintune.errors import DataError

ALIGNMENT_KEYS = ("model", "variant", "participant", "n_train_stories", "layer", "roi")
PROBING_KEYS = ("model", "variant", "participant", "layer", "task", "metric")
INTEGER_KEYS = ("layer", "n_train_stories")
OPTIONAL_KEYS = {"n_train_stories": 0}  # key -> its value where a table of an earlier braintune lacks it (all stories)

# The model measured: as given, brain-tuned on one participant, the control tuned on that
# participant's responses with the window->response pairing shuffled, or one model tuned on
# several participants at once (braintune.study.stages).
VARIANTS = ("pretrained", "tuned", "control", "multi-tuned")
ROI_ORDER = (
    "late_language", "primary_auditory", "early_auditory", "angular_gyrus",
    "lateral_temporal", "ifg_mfg", "whole_cortex",
)
# Tasks in increasing semantic level, as in the paper's Figure 2.
TASK_ORDER = ("mfcc", "words", "phonemes", "sentence-type")
METRIC_ORDER = ("r2", "macro_f1", "micro_f1")
PRIMARY_METRIC = {"mfcc": "r2"}  # every other task: macro_f1
DEFAULT_METRIC = "macro_f1"


def table_path(run_dir: str | Path, name: str) -> Path | None:
    """RUN/tables/<name>.parquet if it exists, else <name>.csv if it exists, else None."""
    tables = Path(run_dir) / "tables"
    for suffix in (".parquet", ".csv"):
        path = tables / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def read_table(path: str | Path, keys: tuple[str, ...], value: str) -> pd.DataFrame:
    """Read a CSV or parquet table and check it.

    keys: the columns that identify a row (at most one row per combination); `value`: the
    number column. These must be present; other columns are kept but unused.
    Returns the table with `layer` as int, `value` as float (NaN kept) and the text keys as
    str ("" where empty, e.g. the participant of a pretrained model's probe).
    """
    required = (*keys, value)
    text_keys = [c for c in keys if c not in INTEGER_KEYS]
    path = Path(path)
    if path.suffix != ".parquet":
        _check_complete(path)
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:  # labels stay text: participant "01" is not the number 1
            table = pd.read_csv(path, dtype=dict.fromkeys(text_keys, str))
    except (OSError, ValueError) as exc:  # pandas' parser and pyarrow errors are ValueErrors
        raise DataError(f"{path}: cannot read table ({exc})") from exc
    missing = [c for c in required if c not in table.columns and c not in OPTIONAL_KEYS]
    if missing:
        raise DataError(
            f"{path}: missing required column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, table.columns))})"
        )
    table = table.assign(**{c: v for c, v in OPTIONAL_KEYS.items() if c in keys and c not in table.columns})
    if table.empty:
        raise DataError(f"{path}: the table has no rows")
    table = table.copy()
    integers = [c for c in keys if c in INTEGER_KEYS]
    for col in (*integers, value):
        values = pd.to_numeric(table[col], errors="coerce")
        bad = values.isna() & table[col].notna()
        if bad.any():
            raise DataError(f"{path}: column {col!r} holds non-numbers, e.g. {table[col][bad].iloc[0]!r}")
        table[col] = values.astype(float)
    for col in integers:
        if table[col].isna().any() or (table[col] % 1 != 0).any():
            raise DataError(f"{path}: column {col!r} must hold whole numbers")
        table[col] = table[col].astype(int)
    for col in text_keys:
        table[col] = table[col].fillna("").astype(str)
    unknown = sorted(set(table["variant"]) - set(VARIANTS))
    if unknown:
        raise DataError(f"{path}: unknown variant(s) {', '.join(map(repr, unknown))}; expected {', '.join(VARIANTS)}")
    duplicated = table.duplicated(list(keys), keep=False)
    if duplicated.any():
        row = table.loc[duplicated, list(keys)].iloc[0].to_dict()
        raise DataError(f"{path}: {int(duplicated.sum())} rows repeat the same {', '.join(keys)}, e.g. {row}")
    return table


def _check_complete(path: Path) -> None:
    """A DataError when a CSV's last row is cut short (a truncated copy): it must end with a newline
    and hold as many fields as the header."""
    import csv

    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 CSV table ({exc})") from None
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith("\n"):
        raise DataError(f"{path}: the last row is incomplete (the file ends without a newline: truncated?); "
                        "rebuild the table or use the .parquet beside it")
    if len(lines) > 1:
        header, last = next(csv.reader([lines[0]])), next(csv.reader([lines[-1]]))
        if len(last) != len(header):
            raise DataError(f"{path}: the last row has {len(last)} fields, the header {len(header)} (truncated?)")


def full_data(alignment: pd.DataFrame) -> pd.DataFrame:
    """The rows measured on all of a participant's training stories: the largest n_train_stories of
    each model x variant x participant (a data-efficiency study runs several; braintune.report.efficiency)."""
    keys = ["model", "variant", "participant"]
    return alignment[alignment["n_train_stories"] == alignment.groupby(keys)["n_train_stories"].transform("max")]


def read_alignment(path: str | Path) -> pd.DataFrame:
    """The alignment table: one row per participant x model x variant x layer x roi."""
    return read_table(path, ALIGNMENT_KEYS, "alignment")


def read_probing(path: str | Path) -> pd.DataFrame:
    """The probing table: one row per model x variant x participant x layer x task x metric."""
    return read_table(path, PROBING_KEYS, "value")


def mean_se(table: pd.DataFrame, by: list[str], value: str, count_name: str) -> pd.DataFrame:
    """Mean, standard error (sample std / sqrt(n); NaN when n = 1) and n of `value` per group.

    NaN values (e.g. an ROI with no voxel above the ceiling threshold) are left out.
    """
    grouped = table.groupby(by, sort=False)[value]
    out = grouped.agg(mean="mean", std=lambda v: v.std(ddof=1), n="count").reset_index()
    out["se"] = out["std"] / np.sqrt(out["n"])
    out = out.drop(columns="std").rename(columns={"n": count_name})
    return out[by + ["mean", "se", count_name]]


def _order(values, preferred: tuple[str, ...]) -> list[str]:
    """`preferred` entries that occur, in that order, then the rest sorted."""
    present = set(values)
    return [v for v in preferred if v in present] + sorted(present - set(preferred))


def sort_summary(summary: pd.DataFrame, orders: dict[str, tuple[str, ...]]) -> pd.DataFrame:
    """Rows sorted by model, then each column of `orders` in its preferred order, then layer (if any)."""
    ranks = {
        f"_{col}": summary[col].map({v: i for i, v in enumerate(_order(summary[col], preferred))})
        for col, preferred in orders.items()
    }
    return (
        summary.assign(**ranks)
        .sort_values(["model", *ranks, *(["layer"] if "layer" in summary else [])], kind="stable")
        .drop(columns=list(ranks))
        .reset_index(drop=True)
    )


def summarise_alignment(alignment: pd.DataFrame) -> pd.DataFrame:
    """Mean and SE across participants of the normalised alignment.

    Returns columns model, roi, variant, layer, mean, se, n_participants;
    one row per model x roi x variant x layer.
    """
    summary = mean_se(alignment, ["model", "roi", "variant", "layer"], "alignment", "n_participants")
    return sort_summary(summary, {"roi": ROI_ORDER, "variant": VARIANTS})


def summarise_probing(probing: pd.DataFrame) -> pd.DataFrame:
    """Probe scores per model x task x metric x variant x layer.

    Pretrained: the single pretrained model's value (n_models = 1, se NaN).
    Tuned and control: mean and SE across the per-participant models (n_models of them).
    Returns columns model, task, metric, variant, layer, mean, se, n_models.
    """
    summary = mean_se(probing, ["model", "task", "metric", "variant", "layer"], "value", "n_models")
    return sort_summary(summary, {"task": TASK_ORDER, "metric": METRIC_ORDER, "variant": VARIANTS})


def primary_metric(task: str, metrics: set[str]) -> str:
    """The metric Figure 2 shows for `task`: r2 for mfcc, macro_f1 otherwise, if present
    (else the first present metric in alphabetical order)."""
    preferred = PRIMARY_METRIC.get(task, DEFAULT_METRIC)
    return preferred if preferred in metrics else sorted(metrics)[0]


def ordered_tasks(tasks) -> list[str]:
    """Tasks in the paper's order (mfcc, words, phonemes, sentence-type), then the rest."""
    return _order(tasks, TASK_ORDER)

"""The report: summaries and hierarchy statistics against hand-computed values, figures,
report.html, CLI, bad input."""

from __future__ import annotations

import argparse
import base64
import math
import re
import shutil

import pandas as pd
import pytest

from braintune.cli import report as report_cli
from braintune.errors import DataError
from braintune.report import alignment_hierarchy, build_report, probing_hierarchy, profile_statistics

MODELS = ("facebook/wav2vec2-base", "tiny:hubert")
PARTICIPANTS = ("UTS01", "UTS02", "UTS03")
VARIANTS = ("pretrained", "tuned", "control")
LAYERS = (0, 1, 2)
ROIS = ("late_language", "primary_auditory", "whole_cortex")
TASKS = {"mfcc": ("r2",), "words": ("macro_f1", "micro_f1"), "phonemes": ("macro_f1", "micro_f1"),
         "sentence-type": ("macro_f1", "micro_f1")}
# Each participant's value = a base value + its offset: mean = base + 0.01 and
# SE = sd([-0.02, 0, 0.05], ddof=1) / sqrt(3) = sqrt((0.03² + 0.01² + 0.04²) / 2 / 3).
OFFSETS = {"UTS01": -0.02, "UTS02": 0.0, "UTS03": 0.05}
MEAN_OFFSET = 0.01
SE = math.sqrt((0.03**2 + 0.01**2 + 0.04**2) / 2 / 3)
CONFIG = ("# braintune run configs/study.yaml\nmodels: [facebook/wav2vec2-base, tiny:hubert]\nseed: 0\n"
          "split: {test_story: wheretheressmoke, validation_story: stagefright, train_stories: [adollshouse, avatar]}\n")


def base_alignment(model: str, variant: str, layer: int, roi: str) -> float:
    """Pretrained peaks mid-way; tuned rises in late-language regions (as in the paper); the
    control rises a little everywhere."""
    value = 0.30 + 0.10 * (layer == 1) + 0.05 * MODELS.index(model) + 0.02 * ROIS.index(roi)
    if variant == "tuned" and roi == "late_language":
        value += 0.08 * layer
    return value + 0.01 * layer * (variant == "control")


def base_probe(model: str, variant: str, layer: int, task: str, metric: str) -> float:
    value = 0.50 + 0.05 * layer + 0.03 * list(TASKS).index(task) + 0.01 * (metric == "micro_f1")
    value += 0.02 * layer * (variant == "control")
    return value + (0.04 * MODELS.index(model)) + (0.06 * layer if variant == "tuned" and task != "mfcc" else 0.0)


def alignment_table() -> pd.DataFrame:
    rows = [
        dict(model=m, variant=v, participant=p, layer=layer, roi=roi,
             alignment=base_alignment(m, v, layer, roi) + OFFSETS[p], sem=0.01, n_voxels=100, extra="ignored")
        for m in MODELS for v in VARIANTS for p in PARTICIPANTS for layer in LAYERS for roi in ROIS
    ]
    return pd.DataFrame(rows)


def probing_table() -> pd.DataFrame:
    rows = []
    for m in MODELS:
        for layer in LAYERS:
            for task, metrics in TASKS.items():
                for metric in metrics:
                    value = base_probe(m, "pretrained", layer, task, metric)
                    rows.append(dict(model=m, variant="pretrained", participant=None, layer=layer,
                                     task=task, metric=metric, value=value))
                    rows += [dict(model=m, variant=v, participant=p, layer=layer, task=task, metric=metric,
                                  value=base_probe(m, v, layer, task, metric) + OFFSETS[p])
                             for v in ("tuned", "control") for p in PARTICIPANTS]
    return pd.DataFrame(rows)


def cli(*argv: str) -> int:
    """`braintune report ...` through the subcommand module (parse, then run)."""
    parser = argparse.ArgumentParser(prog="braintune report")
    report_cli.add_arguments(parser)
    return report_cli.run(parser.parse_args(argv))


def make_run(root, alignment: pd.DataFrame | None = None, probing: pd.DataFrame | None = None, fmt: str = "csv"):
    (root / "tables").mkdir(parents=True)
    (root / "config.yaml").write_text(CONFIG)
    for name, table in (("alignment", alignment), ("probing", probing)):
        if table is not None:
            path = root / "tables" / f"{name}.{fmt}"
            table.to_csv(path, index=False) if fmt == "csv" else table.to_parquet(path, index=False)
    return root


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("run"), alignment_table(), probing_table())
    return run, build_report(run)


def test_alignment_summary_is_mean_and_se_across_participants(full_run):
    run, _ = full_run
    summary = pd.read_csv(run / "tables" / "alignment_summary.csv")
    assert len(summary) == len(MODELS) * len(VARIANTS) * len(LAYERS) * len(ROIS)
    assert set(summary["n_participants"]) == {3}
    for m in MODELS:
        for v in VARIANTS:
            for layer in LAYERS:
                for roi in ROIS:
                    row = summary[(summary["model"] == m) & (summary["variant"] == v)
                                  & (summary["layer"] == layer) & (summary["roi"] == roi)]
                    assert len(row) == 1
                    assert row["mean"].iloc[0] == pytest.approx(base_alignment(m, v, layer, roi) + MEAN_OFFSET)
                    assert row["se"].iloc[0] == pytest.approx(SE)
    tuned_late = summary[(summary["variant"] == "tuned") & (summary["roi"] == "late_language")
                         & (summary["model"] == MODELS[0])]
    assert list(tuned_late["mean"]) == pytest.approx([0.31, 0.49, 0.47])  # layers 0, 1, 2 by hand
    assert list(summary["roi"][:9]) == ["late_language"] * 9  # Figure 1's ROIs first
    assert list(summary["variant"][:9:3]) == list(VARIANTS)  # pretrained, tuned, control


def test_probing_summary_pretrained_single_value_tuned_mean_se(full_run):
    run, _ = full_run
    summary = pd.read_csv(run / "tables" / "probing_summary.csv")
    n_rows = sum(len(metrics) for metrics in TASKS.values())
    assert len(summary) == len(MODELS) * len(VARIANTS) * len(LAYERS) * n_rows
    pre = summary[summary["variant"] == "pretrained"]
    tuned = summary[summary["variant"] == "tuned"]
    control = summary[summary["variant"] == "control"]
    assert set(pre["n_models"]) == {1} and pre["se"].isna().all()
    assert set(tuned["n_models"]) == {3} and tuned["se"].to_numpy() == pytest.approx(SE)
    assert set(control["n_models"]) == {3} and control["se"].to_numpy() == pytest.approx(SE)
    row = lambda t, v: t[(t["model"] == "tiny:hubert") & (t["layer"] == 2) & (t["task"] == "phonemes")
                         & (t["metric"] == "micro_f1")]["mean"].iloc[0]
    assert row(pre, "pretrained") == pytest.approx(0.50 + 0.10 + 0.06 + 0.01 + 0.04)
    assert row(tuned, "tuned") == pytest.approx(0.50 + 0.10 + 0.06 + 0.01 + 0.04 + 0.12 + MEAN_OFFSET)
    assert row(control, "control") == pytest.approx(0.50 + 0.10 + 0.06 + 0.01 + 0.04 + 0.04 + MEAN_OFFSET)
    assert list(dict.fromkeys(summary["task"])) == ["mfcc", "words", "phonemes", "sentence-type"]


def test_figures_plot_the_summary_tables_numbers(full_run):
    """Guards against a figure that draws other numbers than its table: every line's points, read
    back from the figure, are the summary's means of that model, panel and variant."""
    from braintune.report import figure1, figure2
    from braintune.report.figures import FIGURE1_ROIS, METRIC_LABELS, ROI_LABELS, STYLE, TASK_LABELS

    run, _ = full_run
    variant_of = {style["label"]: variant for variant, style in STYLE.items()}
    alignment = pd.read_csv(run / "tables" / "alignment_summary.csv")
    probing = pd.read_csv(run / "tables" / "probing_summary.csv")
    panels = {f"{ROI_LABELS[r]}": ("roi", r) for r in FIGURE1_ROIS}
    panels |= {TASK_LABELS[t]: ("task", t) for t in TASKS}
    drawn = 0
    for fig, summary in ((figure1(alignment), alignment), (figure2(probing), probing)):
        for ax in fig.axes:
            model, panel = ax.get_title().split("\n")
            column, value = panels[panel]
            rows = summary[(summary["model"] == model) & (summary[column] == value)]
            if column == "task":
                metric = "r2" if value == "mfcc" else "macro_f1"
                assert ax.get_ylabel() == METRIC_LABELS[metric]
                rows = rows[rows["metric"] == metric]
            for line in ax.get_lines():
                expected = rows[rows["variant"] == variant_of[line.get_label()]].sort_values("layer")
                assert list(line.get_xdata()) == list(expected["layer"])
                assert list(line.get_ydata()) == pytest.approx(list(expected["mean"]))
                drawn += 1
    assert drawn == 2 * (3 * len(FIGURE1_ROIS) + 3 * len(TASKS))  # 2 models x panels x 3 variants
    legend = [t.get_text() for fig in (figure1(alignment), figure2(probing)) for t in fig.legends[0].get_texts()]
    assert [t.split(":")[0].split(" (")[0] for t in legend] == ["pretrained", "brain-tuned", "control"] * 2


def test_figures_are_non_trivial_png_and_pdf(full_run):
    run, _ = full_run
    # one column per model (the paper's families), one row per ROI (Figure 1) or task (Figure 2)
    for stem, (n_rows, n_cols) in {"figure1": (2, 2), "figure2": (4, 2)}.items():
        png = (run / "figures" / f"{stem}.png").read_bytes()
        pdf = (run / "figures" / f"{stem}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 30_000
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
        # 4.6 x 3.2 inch panels (+0.8 inch title and legend) at 150 dpi
        assert width == round(4.6 * n_cols * 150) and height == round((3.2 * n_rows + 0.8) * 150)


def test_html_is_self_contained_with_figures_tables_and_config(full_run):
    run, report = full_run
    assert report == run / "report.html"
    text = report.read_text("utf-8")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert [base64.b64decode(i) for i in images] == [
        (run / "figures" / "figure1.png").read_bytes(), (run / "figures" / "figure2.png").read_bytes()]
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<(script|link)\b", text)
    assert "# braintune run configs/study.yaml" in text and "seed: 0" in text
    # run info, alignment and probing hierarchy, the two paired-difference tables, alignment and probing summary
    assert text.count("<table") == 7
    assert "control (shuffled pairs): mean ± SE (n)" in text and "shuffled" in text
    assert f"{0.31:.3f} ± {SE:.3f} (n=3)" in text  # wav2vec2 late-language tuned layer 0
    assert "tiny:hubert" in text and "UTS01, UTS02, UTS03" in text
    assert "noise ceiling" in text and "macro-F1" in text
    assert "<th>training stories</th><td>2 (adollshouse, avatar)</td>" in text  # the resolved split is shown
    assert not list(run.glob("**/.*tmp*"))


def test_missing_probing_table_is_reported_not_fatal(tmp_path):
    run = make_run(tmp_path / "run", alignment=alignment_table())
    report = build_report(run)
    text = report.read_text("utf-8")
    assert "No probing table" in text and "Figure 2 is absent" in text
    assert text.count("data:image/png;base64,") == 1
    assert (run / "figures" / "figure1.png").is_file() and not (run / "figures" / "figure2.png").exists()
    assert not (run / "tables" / "probing_summary.csv").exists()


def test_parquet_table_is_read_with_empty_pretrained_participant(tmp_path):
    run = make_run(tmp_path / "run", probing=probing_table(), fmt="parquet")
    text = build_report(run).read_text("utf-8")
    assert "No alignment table" in text and "tables/probing.parquet" in text
    summary = pd.read_csv(run / "tables" / "probing_summary.csv")
    assert set(summary.loc[summary["variant"] == "pretrained", "n_models"]) == {1}


def test_table_missing_a_column_is_a_data_error_naming_file_and_column(tmp_path):
    run = make_run(tmp_path / "run", alignment=alignment_table().drop(columns=["roi"]))
    expected = re.escape(f"{run / 'tables' / 'alignment.csv'}: missing required column(s) roi (has: model,")
    with pytest.raises(DataError, match=expected):
        build_report(run)
    with pytest.raises(DataError, match=expected):
        cli(str(run))


@pytest.mark.parametrize("corrupt, message", [
    (lambda t: t.assign(alignment=["x"] + list(t["alignment"][1:])), "column 'alignment' holds non-numbers"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "rows repeat the same"),
    (lambda t: t.assign(variant="finetuned"), "unknown variant"),
    (lambda t: t.iloc[:0], "has no rows"),
])
def test_malformed_table_is_a_data_error(tmp_path, corrupt, message):
    run = make_run(tmp_path / "run", alignment=corrupt(alignment_table()))
    with pytest.raises(DataError, match=message):
        build_report(run)


def test_missing_run_dir_or_tables_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="run folder not found"):
        build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no alignment or probing table"):
        build_report(tmp_path / "empty")


def test_cli_rebuilds_report_and_prints_its_path(full_run, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(full_run[0], run)
    (run / "report.html").unlink()
    shutil.rmtree(run / "figures")
    assert cli(str(run)) == 0
    assert capsys.readouterr().out.strip() == str(run / "report.html")
    assert (run / "report.html").is_file() and (run / "figures" / "figure2.pdf").is_file()


def test_figure2_metric_is_r2_for_mfcc_macro_f1_otherwise_else_what_exists():
    from braintune.report.tables import primary_metric

    assert primary_metric("mfcc", {"r2", "macro_f1"}) == "r2"
    assert primary_metric("phonemes", {"micro_f1", "macro_f1"}) == "macro_f1"
    assert primary_metric("my-task", {"micro_f1", "accuracy"}) == "accuracy"


# ---- the hierarchy as numbers ---------------------------------------------------------------
RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
PEAKED = [0.1, 0.3, 0.5, 0.6, 0.5, 0.3, 0.2]
FLAT = [0.3] * 7


@pytest.mark.parametrize("values, peak, slope, late_minus_peak", [
    # 7 layers: the late slope spans ceil(7/3) = 3 layers (4, 5, 6); with x = -1, 0, 1 about
    # their mean, the least-squares slope is (y6 - y4) / 2
    (RISING, 6, (0.7 - 0.5) / 2, 0.0),
    (PEAKED, 3, (0.2 - 0.5) / 2, 0.2 - 0.6),
    (FLAT, 0, 0.0, 0.0),  # ties: the first layer
])
def test_profile_statistics_of_rising_peaked_and_flat_profiles(values, peak, slope, late_minus_peak):
    stats = profile_statistics(range(7), values)
    assert stats["peak_layer"] == peak
    assert stats["late_slope"] == pytest.approx(slope, abs=1e-12)
    assert stats["late_minus_peak"] == pytest.approx(late_minus_peak, abs=1e-12)


def test_late_slope_is_least_squares_over_the_last_third_of_the_layer_indices():
    """Guards against a slope from the end points, over the wrong layers, or against the
    position instead of the layer index."""
    # 10 layers: ceil(10/3) = 4 late layers 6..9, x - mean x = -1.5, -0.5, 0.5, 1.5 (sum of squares 5);
    # sum (x - mean x) y = -0.6 - 0.05 + 0.25 + 0.3 = -0.1, so b = -0.02 (the end points alone: -0.0667)
    values = [0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.1, 0.5, 0.2]
    assert profile_statistics(range(10), values) == pytest.approx(
        {"peak_layer": 0, "late_slope": -0.02, "late_minus_peak": 0.2 - 0.9})
    # layers 2, 4, 6 (a subset): the last max(2, ceil(3/3)) = 2, slope per layer index (0.8 - 0.5) / (6 - 4)
    assert profile_statistics([2, 4, 6], [0.1, 0.5, 0.8]) == pytest.approx(
        {"peak_layer": 6, "late_slope": 0.15, "late_minus_peak": 0.0})
    one = profile_statistics([3], [0.4])
    assert one["peak_layer"] == 3 and one["late_minus_peak"] == 0 and math.isnan(one["late_slope"])
    assert all(math.isnan(v) for v in profile_statistics(range(3), [0.1, math.nan, 0.2]).values())


def test_hierarchy_tables_are_mean_and_se_of_per_participant_statistics():
    # UTS01 rising, UTS02 peaked: n = 2, so SE = sd / sqrt(2) = |a - b| / 2
    profiles = {("late_language", "UTS01"): RISING, ("late_language", "UTS02"): PEAKED,
                ("primary_auditory", "UTS01"): FLAT, ("primary_auditory", "UTS02"): [math.nan] * 7}
    alignment = pd.DataFrame([dict(model="m", variant="tuned", participant=p, layer=k, roi=roi, alignment=v)
                              for (roi, p), values in profiles.items() for k, v in enumerate(values)])
    table = alignment_hierarchy(alignment).set_index(["roi", "statistic"])
    assert list(table.columns) == ["model", "variant", "mean", "se", "n_participants"]
    late = table.loc["late_language"]
    assert late.loc["peak_layer", "mean"] == 4.5 and late.loc["peak_layer", "se"] == pytest.approx(1.5)
    assert late.loc["late_slope", "mean"] == pytest.approx((0.1 - 0.15) / 2)
    assert late.loc["late_slope", "se"] == pytest.approx((0.1 + 0.15) / 2)
    assert late.loc["late_minus_peak", "mean"] == pytest.approx(-0.2)
    assert late.loc["late_minus_peak", "se"] == pytest.approx(0.2)
    assert set(late["n_participants"]) == {2}
    auditory = table.loc["primary_auditory"]  # UTS02 has no value: left out, not a zero
    assert set(auditory["n_participants"]) == {1} and auditory["se"].isna().all()
    assert list(auditory["mean"]) == [0.0, 0.0, 0.0]
    assert list(table.index.get_level_values("statistic")[:3]) == ["peak_layer", "late_slope", "late_minus_peak"]

    probing = pd.DataFrame([dict(model="m", variant="pretrained", participant="", layer=k, task="phonemes",
                                 metric="macro_f1", value=v) for k, v in enumerate(PEAKED)])
    (pretrained,) = [probing_hierarchy(probing).set_index("statistic").loc["late_minus_peak"]]
    assert pretrained["mean"] == pytest.approx(-0.4) and pretrained["n_models"] == 1 and math.isnan(pretrained["se"])


def test_report_writes_the_hierarchy_tables_of_every_variant(full_run):
    run, report = full_run
    alignment = pd.read_csv(run / "tables" / "alignment_hierarchy.csv")
    assert len(alignment) == len(MODELS) * len(ROIS) * len(VARIANTS) * 3
    # wav2vec2's tuned late-language profile is 0.30, 0.48, 0.46 (+ each participant's offset):
    # peak at layer 1; last max(2, ceil(3/3)) = 2 layers: slope 0.46 - 0.48; the same in every participant
    tuned = alignment[(alignment["model"] == MODELS[0]) & (alignment["roi"] == "late_language")
                      & (alignment["variant"] == "tuned")].set_index("statistic")
    assert tuned["mean"].to_dict() == pytest.approx({"peak_layer": 1, "late_slope": -0.02, "late_minus_peak": -0.02})
    assert tuned["se"].to_numpy() == pytest.approx(0, abs=1e-12) and set(tuned["n_participants"]) == {3}
    probing = pd.read_csv(run / "tables" / "probing_hierarchy.csv")
    assert set(probing["variant"]) == set(VARIANTS)
    assert set(probing.loc[probing["variant"] == "pretrained", "n_models"]) == {1}
    assert set(probing.loc[probing["variant"] == "control", "n_models"]) == {3}
    text = report.read_text("utf-8")
    assert "tables/alignment_hierarchy.csv" in text and "late_minus_peak" in text


def test_a_data_efficiency_run_gets_its_section_and_the_full_data_everywhere_else(tmp_path):
    """Several numbers of training stories: the figures and summaries use each participant's full data;
    the data-efficiency table gives the smallest k reaching the pretrained model's full-data alignment."""
    rows = []
    for k in (2, 4, 8):
        for v in ("pretrained", "tuned", "multi-tuned"):
            gain = {"pretrained": 0.0, "tuned": 0.02 * k, "multi-tuned": 0.2}[v]
            rows += [dict(model="m", variant=v, participant=p, n_train_stories=k, layer=layer, roi=roi,
                          alignment=0.1 * k / 8 + gain + 0.01 * layer + OFFSETS[p])
                     for p in PARTICIPANTS for layer in LAYERS for roi in ROIS]
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(run / "tables" / "alignment.csv", index=False)
    build_report(run)
    summary = pd.read_csv(run / "tables" / "alignment_summary.csv")
    assert len(summary) == 3 * len(LAYERS) * len(ROIS)  # k = 8 only
    needed = pd.read_csv(run / "tables" / "data_efficiency_stories.csv").set_index(["roi", "variant"])
    # pretrained at k = 8: 0.1 + 0.02 (layer 2) + 0.01 (mean offset); tuned reaches it at k = 4 (0.05 + 0.08 + ...),
    # multi-tuned at k = 2 (0.025 + 0.2 + ...): 2x and 4x less data
    assert needed.loc[("late_language", "tuned"), "smallest_k"] == 4
    assert needed.loc[("late_language", "multi-tuned"), "less_data"] == 4.0
    assert needed.loc[("late_language", "pretrained"), "smallest_k"] == 8
    assert (run / "figures" / "data_efficiency.png").stat().st_size > 10_000
    assert "Data efficiency" in (run / "report.html").read_text("utf-8")


@pytest.mark.parametrize("cut", ["mid-row", "missing-fields"])
def test_a_truncated_csv_table_is_refused_in_one_line_and_parquet_is_preferred(cut, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    table = alignment_table()
    text = table.to_csv(index=False)
    lines = text.splitlines()
    csv = run / "tables" / "alignment.csv"
    csv.write_text(text[:-12] if cut == "mid-row" else "\n".join(lines[:-1] + [",".join(lines[-1].split(",")[:4])]) + "\n")
    from braintune.cli import main

    assert main(["report", str(run)]) == 1
    assert re.match(rf"braintune report: error: {re.escape(str(csv))}: the last row (is incomplete|has 4 fields)",
                    capsys.readouterr().err)
    table.to_parquet(run / "tables" / "alignment.parquet", index=False)  # both: the parquet table is read
    assert main(["report", str(run)]) == 0
    assert "whole_co," not in (run / "tables" / "alignment_summary.csv").read_text()


@pytest.mark.parametrize("align, expected", [
    ("", "means over each ROI&#x27;s voxels"),
    ("align: {protocol: authors}\n", "means over each ROI&#x27;s voxels"),  # no atlas given: voxel means
    ("align: {protocol: nonsense}\n", None),  # a config that no longer validates: the row is left out
])
def test_the_report_states_how_the_roi_values_were_made(align, expected, tmp_path):
    """Guards against a report that names another ROI-value rule than the run's protocol used (the
    row comes from the protocol's own rule, braintune.alignment.protocols, not from its name)."""
    run = make_run(tmp_path / "run", alignment_table())
    (run / "config.yaml").write_text(CONFIG + align)
    assert cli(str(run)) == 0
    page = (run / "report.html").read_text()
    row = re.search(r"ROI values</th><td>([^<]*)", page)
    assert (row.group(1).startswith(expected) if expected else row is None), row

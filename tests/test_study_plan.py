"""Study configs, the grid of cells, cache keys and the runner's reuse of finished cells."""

from __future__ import annotations

import dataclasses
import json

import pytest

from braintune.errors import ConfigError
from braintune.study import runner
from braintune.study.config import DEFAULT_STAGES, dump_config, load_config
from braintune.study.plan import plan_cells, waves
from conftest import OTHER_ALIGN_VALUES, TOGETHER, write_commands_layout, write_fake_outputs, write_real_layout, write_timit_layout


def config(tmp_path, *overrides):
    """A two-model, two-participant study on a small real-layout folder written by hand."""
    fmri = tmp_path / "ds003020"
    if not fmri.exists():
        write_real_layout(fmri)
        write_timit_layout(tmp_path / "timit")  # corpora the run's data check accepts
        write_commands_layout(tmp_path / "sc")
        for corpus in ("timit", "sc"):
            (tmp_path / corpus / "file.txt").write_text(corpus)
    raw = {"models": ["tiny:wav2vec2", "tiny:hubert"], "participants": ["UTS01", "UTS02"], "out": str(tmp_path / "run"),
           "align": {"n_folds": 3},  # the three training stories
           "data": {"fmri": str(fmri), "timit": str(tmp_path / "timit"), "speech_commands": str(tmp_path / "sc")}}
    return load_config(raw=raw, overrides=list(overrides))


def test_defaults_are_the_papers(tmp_path):
    cfg = config(tmp_path)
    assert (cfg.tune.epochs, cfg.tune.batch_size, cfg.tune.backbone_lr, cfg.tune.head_lr) == (30, 128, 5e-5, 1e-4)
    assert (cfg.tune.warmup_epochs, cfg.tune.head_lr_decay, cfg.tune.head_lr_floor) == (5, 0.8, 0.1)
    assert (cfg.tune.window_seconds, cfg.tune.ceiling_threshold, cfg.align.ceiling_threshold) == (10.0, 0.4, 0.05)
    assert cfg.align.delays == [1, 2, 3, 4] and cfg.align.protocol == "braintune"
    assert (cfg.split.test_story, cfg.split.validation_story, cfg.split.stories) == ("wheretheressmoke", "stagefright", "shared")
    assert load_config(raw=__import__("yaml").safe_load(dump_config(cfg))) == cfg  # resolved config round-trips


def test_overrides_parse_yaml_values(tmp_path):
    cfg = config(tmp_path, "tune.epochs=3", "participants=[UTS03]", "features.scheme=reference", "tune.bf16=true",
                 "tune.backbone_lr=2e-3", "layers=[0, 1]")
    assert cfg.tune.backbone_lr == 2e-3
    assert cfg.tune.epochs == 3 and cfg.participants == ["UTS03"]
    assert cfg.features.scheme == "reference" and cfg.tune.bf16 is True
    assert cfg.layers == [0, 1]  # the documented list of layer indices


@pytest.mark.parametrize(
    "override, message",
    [
        ("tune.epoch=3", "unknown key tune.epoch"),
        ("colour=red", "unknown key colour"),
        ("tune.epochs=many", "tune.epochs: expected a number"),
        ("tune.epochs=2.5", "expected a whole number"),
        ("stages=[tune, dance]", "unknown stage"),
        ("features.scheme=slow", "features.scheme"),
        ("probe.tasks=[mfcc, poetry]", "probe.tasks: choose from"),
        ("layers=some", "layers"),
        ("layers=[-1]", "layers"),
        ("executor.name=cloud", "executor.name"),
        ("tune.epochs", "expected key=value"),
        ("tune.epochs=0", "tune.epochs: must be > 0"),
        ("tune.seed=3", "tune.seed: set at the study level"),
        ("tune.shuffle_pairs=true", r"tune.shuffle_pairs: set at the study level \(stages: tune_control\)"),
        ("stages=[tune, controll]", "unknown stage"),
        # every stage's settings are checked when the config loads, not hours later in a cell
        ("align.alphas=[-1]", "align.alphas: positive numbers"),
        ("align.protocol=mine", "align.protocol"),
        ("features.chunk=0.05", "features.chunk: must be a positive multiple of 0.02"),
        ("features.dtype=float16", "features.dtype"),
        ("split.stories=most", "split.stories"),
        ("split.train_stories=[wheretheressmoke]", "split.train_stories: .'wheretheressmoke'. are held out"),
        ("probe.validation_fraction=2", "probe.validation_fraction"),
    ],
)
def test_bad_settings_are_named(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, override)


def test_missing_folders_are_named(tmp_path):
    with pytest.raises(ConfigError, match="data.fmri"):
        config(tmp_path, "data.fmri=null")
    with pytest.raises(ConfigError, match="data.speech_commands"):
        config(tmp_path, "data.speech_commands=null")
    with pytest.raises(ConfigError, match="no such study config"):
        load_config(tmp_path / "missing.yaml")


def test_grid_and_dependencies(tmp_path):
    cells = plan_cells(config(tmp_path))
    by_stage = {}
    for cell in cells:
        by_stage.setdefault(cell.stage, []).append(cell)
    assert {s: len(c) for s, c in by_stage.items()} == {
        "tune": 4, "probe_pretrained": 2, "align_pretrained": 4, "align_tuned": 4, "probe_tuned": 4}
    for cell in by_stage["align_tuned"] + by_stage["probe_tuned"]:
        (dep,) = cell.depends_on
        assert (dep.stage, dep.model, dep.participant) == ("tune", cell.model, cell.participant)
    first, second = waves(cells)
    assert {c.stage for c in second} == {"align_tuned", "probe_tuned"}
    assert len({c.key for c in cells}) == len(cells)


CONTROL = "stages=[tune, tune_control, align_pretrained, align_tuned, align_control, probe_pretrained, probe_tuned, " \
          "probe_control]"


def test_control_cells_measure_the_control_tune_cells(tmp_path):
    """The stage table plans the control like the tuned variant: one tune_control cell per
    model x participant, on which that model's and participant's align_control and
    probe_control cells depend; the default stages are the paper's, without the control."""
    assert set(config(tmp_path).stages) == set(DEFAULT_STAGES) and "tune_control" not in DEFAULT_STAGES
    cells = plan_cells(config(tmp_path, CONTROL))
    counts = {}
    for cell in cells:
        counts[cell.stage] = counts.get(cell.stage, 0) + 1
    assert counts == {"tune": 4, "tune_control": 4, "probe_pretrained": 2, "align_pretrained": 4, "align_tuned": 4,
                      "align_control": 4, "probe_tuned": 4, "probe_control": 4}
    for cell in cells:
        tune = {"align_tuned": "tune", "probe_tuned": "tune", "align_control": "tune_control",
                "probe_control": "tune_control"}.get(cell.stage)
        assert [(d.stage, d.model, d.participant) for d in cell.depends_on] == (
            [(tune, cell.model, cell.participant)] if tune else []), cell.label
    first, second = waves(cells)
    assert {c.stage for c in first} == {"tune", "tune_control", "align_pretrained", "probe_pretrained"}
    assert {c.stage for c in second} == {"align_tuned", "align_control", "probe_tuned", "probe_control"}
    assert len({c.key for c in cells}) == len(cells)
    # a control stage alone pulls in its own tune stage, not the true pairing's
    assert {c.stage for c in plan_cells(config(tmp_path, "stages=[align_control]"))} == {"tune_control", "align_control"}


def test_control_settings_reach_only_the_control_cells(tmp_path, monkeypatch):
    """Guards against a control that shares the tuned cells' key (and so their cached models), and
    against the control stages invalidating the paper's cached cells: adding them leaves every
    other key as it was, and the pairing a tune stage fixes reaches only its cells and theirs."""
    from braintune.study import stages
    from braintune.study.stages import tune_settings

    def keys(*overrides):
        return {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path, *overrides))}

    paper, both = keys(), keys(CONTROL)
    assert {k: both[k] for k in paper} == paper
    cfg = config(tmp_path, CONTROL)
    assert tune_settings("tune_control", cfg).shuffle_pairs and not tune_settings("tune", cfg).shuffle_pairs
    assert dataclasses.replace(tune_settings("tune_control", cfg), shuffle_pairs=False) == tune_settings("tune", cfg)

    def changed(*overrides):
        after = keys(CONTROL, *overrides)
        return {k[0] for k in both if both[k] != after[k]}

    assert changed("tune.epochs=5") == {"tune", "tune_control", "align_tuned", "align_control", "probe_tuned",
                                        "probe_control"}
    assert changed("align.ceiling_threshold=0.1") == {"align_pretrained", "align_tuned", "align_control"}
    table = dict(stages.STAGE_TABLE)
    table["tune_control"] = dataclasses.replace(table["tune_control"], fixes=(("shuffle_pairs", False),))
    monkeypatch.setattr(stages, "STAGE_TABLE", table)
    assert changed() == {"tune_control", "align_control", "probe_control"}


def test_a_changed_setting_changes_only_the_keys_it_reaches(tmp_path):
    before = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}

    def changed(*overrides):
        after = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path, *overrides))}
        return {k[0] for k in before if before[k] != after[k]}

    assert changed("tune.epochs=5") == {"tune", "align_tuned", "probe_tuned"}
    assert changed("align.ceiling_threshold=0.1") == {"align_pretrained", "align_tuned"}
    assert changed("probe.tasks=[mfcc]") == {"probe_pretrained", "probe_tuned"}
    assert changed("split.validation_story=storyc") == {"tune", "align_pretrained", "align_tuned", "probe_tuned"}
    # what the stages declare result-neutral: speed and memory, not results
    assert changed("tune.micro_batch_size=2", "tune.cnn_cache=false", "tune.gradient_checkpointing=true") == set()
    assert changed("align.voxel_batch=7", "features.batch_size=1", "probe.batch_size=3") == set()
    assert changed("executor.gpus_per_job=4") == set()
    assert changed("executor.name=slurm") == set()


def test_every_result_changing_align_setting_changes_the_align_cells_keys(tmp_path):
    """Guards against a reused align cell computed with other settings (delays included)."""
    from braintune.alignment.settings import AlignSettings

    assert set(OTHER_ALIGN_VALUES) == {f.name for f in dataclasses.fields(AlignSettings)}
    before = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}
    for name, value in {**OTHER_ALIGN_VALUES, "n_folds": 2}.items():  # config() sets n_folds 3
        overrides = [f"align.{n}={OTHER_ALIGN_VALUES[n]}" for n in [TOGETHER.get(name)] if n] + [f"align.{name}={value}"]
        after = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path, *overrides))}
        changed = {k[0] for k in before if before[k] != after[k]}
        # the atlas and affines count only for the authors' ROI values (the default protocol averages voxels)
        unchanged = name in AlignSettings.RESULT_NEUTRAL or name in TOGETHER
        assert changed == (set() if unchanged else {"align_pretrained", "align_tuned"}), name


def test_edited_data_files_rerun_exactly_the_cells_that_read_them(tmp_path):
    """Guards against stale results: keys cover the content of the files each cell reads."""
    import h5py

    before = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}

    def changed():
        after = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}
        return sorted({(k[0], k[2]) for k in before if before[k] != after[k]})

    roi = tmp_path / "ds003020" / "derivative" / "rois" / "UTS01.json"
    stat = roi.stat()
    roi.write_text(roi.read_text().replace("[3, 4, 5]", "[3, 4, 6]"))  # same size and mtime: the content counts
    __import__("os").utime(roi, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert changed() == [("align_pretrained", "UTS01"), ("align_tuned", "UTS01")]
    before = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}
    with h5py.File(tmp_path / "ds003020" / "derivative" / "preprocessed_data" / "UTS02" / "storyb.hf5", "r+") as f:
        f["data"][0, 0] = 99.0
    assert changed() == [("align_pretrained", "UTS02"), ("align_tuned", "UTS02"), ("probe_tuned", "UTS02"),
                         ("tune", "UTS02")]
    before = {(c.stage, c.model, c.participant): c.key for c in plan_cells(config(tmp_path))}
    (tmp_path / "timit" / "file.txt").write_text("edited")
    assert changed() == [("probe_pretrained", None), ("probe_tuned", "UTS01"), ("probe_tuned", "UTS02")]


def test_runner_reuses_finished_cells_and_recomputes_changed_ones(tmp_path, monkeypatch):
    calls = []

    def fake(cell, cfg, run_dir, folder):
        calls.append((cell.stage, cell.model, cell.participant))
        write_fake_outputs(cell, folder)

    monkeypatch.setattr(runner, "RUNNERS", {s: fake for s in runner.RUNNERS})
    cfg = config(tmp_path, "stages=[tune, align_pretrained, align_tuned, probe_pretrained, probe_tuned]")
    run_dir = runner.run_study(cfg)
    assert len(calls) == len(plan_cells(cfg)) == 18
    saved = load_config(run_dir / "config.yaml")
    assert saved.split.train_stories == ["storya", "storyb", "storyc"]  # the resolved story lists are written
    assert (run_dir / "config.yaml").exists() and (run_dir / "tables" / "alignment.parquet").exists()

    calls.clear()
    runner.run_study(cfg)
    assert calls == []  # everything cached

    calls.clear()
    runner.run_study(config(tmp_path, "stages=[tune, align_pretrained, align_tuned, probe_pretrained, probe_tuned]",
                            "align.n_folds=2"))
    assert sorted({c[0] for c in calls}) == ["align_pretrained", "align_tuned"] and len(calls) == 8


def test_a_failed_cell_is_not_marked_done(tmp_path, monkeypatch):
    def boom(cell, cfg, run_dir, folder):
        raise RuntimeError("killed")

    monkeypatch.setattr(runner, "RUNNERS", {s: boom for s in runner.RUNNERS})
    cfg = config(tmp_path, "stages=[probe_pretrained]")
    with pytest.raises(RuntimeError):
        runner.run_study(cfg)
    cell = plan_cells(cfg)[0]
    assert not (cell.folder(tmp_path / "run") / "done.json").exists()
    assert not runner.is_done(cell, tmp_path / "run")


def test_done_marker_holds_the_key(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RUNNERS", {s: (lambda cell, cfg, run, folder: write_fake_outputs(cell, folder))
                                            for s in runner.RUNNERS})
    cfg = config(tmp_path, "stages=[probe_pretrained]")
    runner.run_study(cfg)
    cell = plan_cells(cfg)[0]
    assert json.loads((cell.folder(tmp_path / "run") / "done.json").read_text())["key"] == cell.key


@pytest.mark.parametrize("damage", ["truncated", "edited", "deleted", "marker without outputs"])
def test_a_finished_cell_with_damaged_outputs_runs_again(tmp_path, monkeypatch, caplog, damage):
    """Guards against a truncated table.csv reused as "cached" and a study table that shrinks."""
    calls = []

    def fake(cell, cfg, run_dir, folder):
        calls.append(cell.stage)
        if cell.stage == "tune" and (folder / "backbone").exists():
            return  # as brain-tuning does: a run folder with its backbone has finished
        write_fake_outputs(cell, folder)
        if cell.stage == "align_pretrained":  # a table of many rows, as a real cell's
            (folder / "table.csv").write_text("model,variant,value\n" + "".join(f"{cell.model},x,{i}\n" for i in range(50)))

    monkeypatch.setattr(runner, "RUNNERS", {s: fake for s in runner.RUNNERS})
    cfg = config(tmp_path, "stages=[tune, align_pretrained, align_tuned]")
    run_dir = runner.run_study(cfg)
    whole = (run_dir / "tables" / "alignment.csv").read_text()
    cell = next(c for c in plan_cells(cfg) if c.stage == "align_pretrained")
    table, marker = cell.folder(run_dir) / "table.csv", cell.folder(run_dir) / "done.json"
    if damage == "truncated":
        table.write_bytes(table.read_bytes()[:200])
    elif damage == "edited":  # same size, other numbers
        table.write_text(table.read_text().replace(",1\n", ",7\n"))
    elif damage == "deleted":
        table.unlink()
    else:  # a marker written before markers recorded the outputs
        record = json.loads(marker.read_text())
        del record["outputs"]
        marker.write_text(json.dumps(record))
    calls.clear()
    runner.run_study(cfg)
    assert calls == ["align_pretrained"]
    assert (run_dir / "tables" / "alignment.csv").read_text() == whole
    assert any("align_pretrained" in r.message and "running it again" in r.message for r in caplog.records)
    # a damaged backbone of a tune cell (a file under an output folder) is written anew (from the
    # run's last checkpoint, in brain-tuning), not taken for a finished run
    tune = next(c for c in plan_cells(cfg) if c.stage == "tune")
    config_json = tune.folder(run_dir) / "backbone" / "config.json"
    config_json.write_text("{ ")
    assert not runner.is_done(tune, run_dir) and runner.is_done(cell, run_dir)
    calls.clear()
    runner.run_study(cfg)
    assert config_json.read_text() == "{}" and runner.is_done(tune, run_dir)
    assert calls == ["tune"]


def test_a_cell_that_leaves_no_output_is_not_done(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "RUNNERS", {s: (lambda *a: None) for s in runner.RUNNERS})
    cfg = config(tmp_path, "stages=[probe_pretrained]")
    with pytest.raises(RuntimeError, match="table.csv: the probe_pretrained stage finished without writing it"):
        runner.run_study(cfg)
    assert not runner.is_done(plan_cells(cfg)[0], tmp_path / "run")


def test_too_many_folds_for_the_stories_stops_the_study_before_it_starts(tmp_path):
    """Guards against n_folds larger than the training stories being recorded but silently reduced."""
    with pytest.raises(ConfigError, match="align.n_folds: 4 .* but UTS01 has 3 .storya, storyb, storyc."):
        runner.run_study(config(tmp_path, "align.n_folds=4"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, stages", [("demo", (*DEFAULT_STAGES, "tune_control", "align_control", "probe_control")),
                                         ("lebel2024", DEFAULT_STAGES)])
def test_shipped_configs_load_and_name_their_command(name, stages, tmp_path):
    from braintune.demo import packaged_config

    path = packaged_config(name)
    assert "braintune " in path.read_text().splitlines()[1] or "braintune " in path.read_text()[:600]
    data = [f"data.{k}={tmp_path}" for k in ("fmri", "timit", "speech_commands")]
    cfg = load_config(path, data)
    assert cfg.models and cfg.participants and set(cfg.stages) == set(stages)
    with pytest.raises(ConfigError, match="data.fmri"):
        load_config(path)


def test_lebel2024_is_the_papers_study(tmp_path):
    import numpy as np

    from braintune.demo import packaged_config

    data = [f"data.{k}={tmp_path}" for k in ("fmri", "timit", "speech_commands")]
    cfg = load_config(packaged_config("lebel2024"), data)
    assert cfg.models == ["facebook/wav2vec2-base", "facebook/hubert-base-ls960"]
    assert cfg.participants == [f"UTS0{i}" for i in range(1, 9)]
    assert (cfg.tune.epochs, cfg.tune.batch_size, cfg.tune.window_seconds, cfg.tune.ceiling_threshold) == (30, 128, 10.0, 0.4)
    assert cfg.align.ceiling_threshold == 0.05 and cfg.split.test_story == "wheretheressmoke"
    assert cfg.align.protocol == "authors"
    # the paper's features: the causal 16 s window every 0.1 s (the fast scheme hears what follows a frame)
    assert (cfg.features.scheme, cfg.features.context, cfg.features.step) == ("reference", 16.0, 0.1)
    # Huth-lab ridge penalises alpha**2: the authors' logspace(1, 4, 15) is 1e2..1e8 in himalaya's convention
    np.testing.assert_allclose(cfg.align.alphas, np.logspace(2, 8, 15), rtol=1e-12)


def test_demo_data_is_reused_only_when_made_by_the_same_settings(tmp_path):
    from braintune import demo

    calls = []

    def generate(folder, n):
        calls.append(n)
        folder.mkdir(parents=True)
        (folder / "data.txt").write_text(str(n))

    folder = tmp_path / "fmri"
    assert demo._generate_once(folder, generate, "data", {"n": 1}) == folder
    demo._generate_once(folder, generate, "data", {"n": 1})
    assert calls == [1]  # reused
    demo._generate_once(folder, generate, "data", {"n": 2})
    assert calls == [1, 2] and (folder / "data.txt").read_text() == "2"  # other settings: made again
    (folder / demo.COMPLETE).unlink()  # an interrupted generation
    demo._generate_once(folder, generate, "data", {"n": 2})
    assert calls == [1, 2, 2]


# ds003020's sessions 1-5 (HuthLab/deep-fMRI-dataset's sess_to_story.json, written out here
# independently of the package's list), less "stagefright" which the simulator adds as the
# validation story and "wheretheressmoke", its test story.
SESSION_STORIES = [
    "alternateithicatom", "souls", "avatar", "legacy", "odetostepfather", "undertheinfluence", "howtodraw",
    "myfirstdaywiththeyankees", "naked", "life", "tildeath", "fromboyhoodtofatherhood", "sloth", "exorcism",
    "haveyoumethimyet", "adollshouse", "inamoment", "theclosetthatateeverything", "adventuresinsayingyes", "buck",
    "swimmingwithastronauts", "thatthingonmyarm", "eyespy", "itsabox", "hangtime",
]


@pytest.fixture(scope="module")
def real_names(tmp_path_factory):
    """Eight simulated participants with ds003020's story names: UTS01-03 heard two stories more
    (as they heard 84), UTS04 lacks "life" (as in ds003020). ~10 s."""
    from braintune.synthetic.fmri import simulate_dataset

    extra = ["penpal", "food"]
    unheard = {f"UTS0{i}": extra for i in range(4, 9)}
    unheard["UTS04"] = [*extra, "life"]
    return simulate_dataset(tmp_path_factory.mktemp("real_names"), n_participants=8, story_names=SESSION_STORIES + extra,
                            story_seconds=(30, 30), n_repeats=2, n_voxels=60, unheard=unheard)


def test_lebel2024_trains_everyone_on_the_papers_stories_whoever_else_is_in_the_study(real_names, tmp_path, caplog):
    """The paper trains on ds003020's sessions 1-5 minus wheretheressmoke (test) and stagefright
    (validation): 25 stories; UTS04, lacking "life", on the other 24, with a warning naming the file.
    Guards against a split that depends on who else is in the study (the 'shared' split does)."""
    from braintune.data.check import check_data
    from braintune.data.fmri import SplitSettings
    from braintune.demo import packaged_config
    from braintune.study.plan import study_inputs

    data = [f"data.fmri={real_names}", f"data.timit={tmp_path}", f"data.speech_commands={tmp_path}"]
    cfg = load_config(packaged_config("lebel2024"), data)
    assert cfg.split.stories == "paper"
    splits = study_inputs(cfg).splits
    paper = sorted(SESSION_STORIES)
    assert len(paper) == 25 and sorted(splits) == [f"UTS0{i}" for i in range(1, 9)]
    assert {p: s.train for p, s in splits.items() if p != "UTS04"} == {f"UTS0{i}": paper for i in (1, 2, 3, 5, 6, 7, 8)}
    assert splits["UTS04"].train == [s for s in paper if s != "life"]
    assert all((s.validation, s.test) == ("stagefright", "wheretheressmoke") for s in splits.values())
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [f"{real_names}/derivative/preprocessed_data/UTS04/life.hf5: missing; UTS04 trains on 24 of the "
                      "paper's 25 stories, without life"]
    # the same lists whoever else is in the study; "shared" would follow the group
    for group in (["UTS01"], ["UTS01", "UTS05"], ["UTS04", "UTS05"]):
        alone = study_inputs(load_config(packaged_config("lebel2024"), data + [f"participants={group}"])).splits
        assert all(alone[p].train == splits[p].train for p in group), group
    shared = study_inputs(load_config(packaged_config("lebel2024"), data + ["split.stories=shared"])).splits
    assert shared["UTS01"].train == splits["UTS04"].train  # UTS04's gap drops "life" for everyone
    alone = load_config(packaged_config("lebel2024"), data + ["participants=[UTS01]", "split.stories=all"])
    assert len(study_inputs(alone).splits["UTS01"].train) == 27
    resolved = cfg.split.resolved(splits)  # what RUN/config.yaml records: each participant's list
    assert resolved.train_stories["UTS01"] == paper and resolved.train_stories["UTS04"] == splits["UTS04"].train
    # `braintune check --stories paper` reports UTS04's gap as a warning, nothing as an error
    found = check_data(real_names, split=SplitSettings(stories="paper"), progress=False)
    assert [q.message for q in found.warnings if "paper" in q.message] == warned[:1]
    assert not found.errors


def test_the_paper_split_on_other_story_names_is_one_clear_error(real_layout):
    from braintune.data.fmri.ds003020 import DS003020 as Dataset
    from braintune.data.fmri import SplitSettings, resolve_split
    from braintune.errors import DataError

    with pytest.raises(DataError, match="UTS01: none of the paper's 25 training stories .ds003020 sessions 1-5"):
        resolve_split(Dataset(real_layout), ["UTS01"], SplitSettings(stories="paper"))

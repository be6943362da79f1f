"""Study configs: YAML files read into the settings owners, with `key=value` overrides.

A study config names the models, the participants, the data folders, the stages to run
and each stage's settings. Each section is one owner, defined beside the code that uses
it (braintune.settings): `split` (braintune.data.fmri.SplitSettings), `features`
(braintune.features.Scheme), `align` (braintune.alignment.AlignSettings), `tune`
(braintune.tuning.TuneSettings), `probe` (braintune.probing.ProbeSettings), `executor`.
Every value is checked when the config loads: unknown keys and bad values raise
`ConfigError` naming the key. The resolved config (defaults filled in, overrides applied,
story lists resolved) is what a run saves and what cache keys are computed from.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from braintune.alignment.settings import AlignSettings
from braintune.data.corpora import PROBE_CORPORA
from braintune.data.fmri import DEFAULT_LAYOUT, SplitSettings, check_layout, dataset_class, story_list
from braintune.errors import ConfigError
from braintune.features.settings import Scheme
from braintune.probing.settings import ProbeSettings
from braintune.settings import from_mapping, to_dict
from braintune.study.executors.settings import ExecutorSettings
from braintune.study.stages import STAGE_TABLE, tune_settings
from braintune.tuning.settings import TuneSettings
from braintune.tuning.variants import per_participant

STAGES = (*STAGE_TABLE, "report")  # what `stages` may name (braintune.study.stages)
DEFAULT_STAGES = (*(name for name, stage in STAGE_TABLE.items() if stage.default), "report")  # the paper's


@dataclass(frozen=True)
class DataFolders:
    """Data folders: `fmri` in the layout `layout` (braintune.data.fmri.LAYOUTS), the probe
    corpora (braintune.data.corpora.PROBE_CORPORA) in their original layouts."""

    fmri: str | None = field(default=None, metadata={"help": "fMRI dataset root (ds003020: stimuli/, derivative/)"})
    layout: str = field(default=DEFAULT_LAYOUT, metadata={"help": "on-disk layout of the fMRI folder"})
    timit: str | None = field(default=None, metadata={"help": PROBE_CORPORA["timit"].folder})
    speech_commands: str | None = field(default=None, metadata={"help": PROBE_CORPORA["speech_commands"].folder})

    def __post_init__(self):
        check_layout(self.layout)

    def open_fmri(self):
        """The fMRI dataset (braintune.data.fmri.open_dataset)."""
        from braintune.data.fmri import open_dataset

        return open_dataset(self.layout, self.fmri)

    def corpus(self, name: str) -> str | None:
        """The folder of probe corpus `name` (a key of PROBE_CORPORA)."""
        return getattr(self, name)


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: the grid models × participants and the stages over it."""

    name: str = "study"
    out: str = "runs/study"
    models: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    layers: str | list[int] = "all"
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    seed: int = 0
    device: str | None = None
    data: DataFolders = field(default_factory=DataFolders)
    split: SplitSettings = field(default_factory=SplitSettings)
    features: Scheme = field(default_factory=Scheme)
    align: AlignSettings = field(default_factory=AlignSettings)
    tune: TuneSettings = field(default_factory=TuneSettings)  # the paper's defaults
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)

    def __post_init__(self):
        bad = [s for s in self.stages if s not in STAGES]
        if bad:
            raise ConfigError(f"stages: unknown stage(s) {bad}; choose from {list(STAGES)}")
        if isinstance(self.layers, str) and self.layers != "all":
            raise ConfigError(f"layers: 'all' or a list of layer indices, got {self.layers!r}")
        if not isinstance(self.layers, str) and (not self.layers or any(k < 0 for k in self.layers)):
            raise ConfigError(f"layers: 'all' or a non-empty list of layer indices >= 0, got {self.layers!r}")
        for key in ("models", "participants", "layers", "stages"):
            values = getattr(self, key)
            twice = sorted({v for v in values if list(values).count(v) > 1}, key=str) if isinstance(values, list) else []
            if twice:
                raise ConfigError(f"{key}: {', '.join(map(str, twice))} listed twice; name each once")
        if self.device is not None:
            from braintune.models.devices import check_device

            check_device(self.device, "device")

    @property
    def tuning_participants(self) -> list[str]:
        """Who tunes: tune.participants, else the study's participants."""
        return list(self.tune.participants or self.participants)

    @property
    def split_group(self) -> list[str]:
        """The participants whose stories the split is resolved over: the study's, then those who
        only tune (held out from alignment)."""
        return list(dict.fromkeys([*self.participants, *(self.tune.participants or [])]))

    def tune_settings(self) -> TuneSettings:
        """The tuning settings of the tune cells: the `tune` section with the study's seed and device
        (a tune stage may fix more, braintune.study.stages.tune_settings)."""
        return dataclasses.replace(self.tune, seed=self.seed, device=self.device)

    def to_dict(self) -> dict:
        """Plain nested dict; tune settings the study sets itself are left out."""
        out = to_dict(self)
        for key in _STUDY_LEVEL:
            out["tune"].pop(key)
        return out


# TuneSettings fields that the study sets for every tune cell from its own keys (or its stages)
_STUDY_LEVEL = {"seed": "seed", "device": "device", "shuffle_pairs": "stages: tune_control"}


def _validate(cfg: StudyConfig) -> StudyConfig:
    """Checks that need several sections at once."""
    if not cfg.models:
        raise ConfigError("models: name at least one model (hub id, local folder, or tiny:<family>)")
    stages = {s: STAGE_TABLE[s] for s in cfg.stages if s in STAGE_TABLE}
    needs_fmri = sorted(s for s, stage in stages.items() if stage.per_participant)
    if needs_fmri and not cfg.participants:
        raise ConfigError(f"participants: stages {needs_fmri} need at least one participant")
    if needs_fmri and not cfg.data.fmri:
        raise ConfigError(f"data.fmri: the fMRI folder ({cfg.data.layout} layout) is needed by the chosen stages")
    story_list(dataset_class(cfg.data.layout), cfg.split)
    if any(stage.kind == "probe" for stage in stages.values()):
        for name in cfg.probe.corpora:
            if not cfg.data.corpus(name):
                raise ConfigError(f"data.{name}: the {PROBE_CORPORA[name].title} folder is needed by the probe "
                                  f"task(s) {', '.join(cfg.probe.tasks_on(name))}")
    tune_stages = {s for s, stage in stages.items() if stage.kind == "tune"} | {stage.tuned_by for stage in stages.values()}
    pooled = [s for s in tune_stages - {None} if not per_participant(tune_settings(s, cfg).variant)]
    if any(tune_settings(s, cfg).head == "common" for s in pooled) and not cfg.align.atlas:
        raise ConfigError("tune.head: common brings the participants' responses onto fsaverage through the authors' "
                          "projection: set align.atlas and align.affines")
    if cfg.tune.participants is not None and not pooled:
        raise ConfigError("tune.participants: only a stage that tunes one model for several participants reads it "
                          "(tune_multi, or tune.variant: multi); the others tune each participant of the study")
    return cfg


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply `a.b.c=value` overrides (values parsed as YAML) to a nested dict; returns a copy."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. tune.epochs=5")
        key, text = item.split("=", 1)
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({exc})") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is not a section")
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] = (), raw: dict | None = None) -> StudyConfig:
    """Read a study YAML (or take `raw`), apply overrides, check every setting, and return the config."""
    if raw is None:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such study config") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the study config ({exc})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path or 'config'}: a study config is a mapping of settings (name: value), "
                          f"got a {type(raw).__name__}")
    raw = apply_overrides(raw, list(overrides))
    inherited = sorted(set((raw.get("tune") or {}) if isinstance(raw.get("tune"), dict) else {}) & set(_STUDY_LEVEL))
    if inherited:
        raise ConfigError(f"tune.{inherited[0]}: set at the study level ({_STUDY_LEVEL[inherited[0]]}), not here")
    return _validate(from_mapping(StudyConfig, raw))


def dump_config(cfg: StudyConfig) -> str:
    """The resolved config as YAML text (what a run saves as config.yaml)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)

"""Study configs: YAML files validated against a schema, with `key=value` overrides.

A study config names the models, the participants, the data folders, the stages to run
and each stage's settings. Unknown keys and bad values raise `ConfigError` naming the key.
The resolved config (defaults filled in, overrides applied) is what a run saves and what
cache keys are computed from.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from braintune.errors import ConfigError
from braintune.study.executors import ExecutorSettings
from braintune.tuning.settings import TuneSettings

STAGES = ("tune", "align_pretrained", "align_tuned", "probe_pretrained", "probe_tuned", "report")
PROBE_TASKS = ("mfcc", "words", "phonemes", "sentence-type")  # braintune.probing.TASKS (kept light to import)


@dataclass
class DataConfig:
    """Data folders. `fmri` is in the ds003020 layout; the corpora in their original layouts."""

    fmri: str | None = None
    timit: str | None = None
    speech_commands: str | None = None
    test_story: str = "wheretheressmoke"
    validation_story: str = "stagefright"


@dataclass
class FeaturesConfig:
    """How hidden states become TR-rate features (see braintune.features.Scheme).

    Every `step_seconds` the model hears the `context_seconds` of audio before; "fast"
    advances windows by `chunk_seconds` and keeps all their final frames.
    """

    scheme: str = "fast"  # "fast" | "reference"
    dtype: str = "float32"  # "float32" | "bfloat16"
    delays: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    context_seconds: float = 16.0
    step_seconds: float = 0.1
    chunk_seconds: float = 0.8  # braintune.features.Scheme.chunk


@dataclass
class AlignConfig:
    """Ridge encoding models (see braintune.encoding)."""

    # braintune.encoding.DEFAULT_ALPHAS: 10 log-spaced from 1e1 to 1e4 (himalaya's convention, penalty α‖β‖²)
    alphas: list[float] = field(default_factory=lambda: [float(10 ** (1 + k / 3)) for k in range(10)])
    ceiling_threshold: float = 0.05
    n_folds: int = 5


@dataclass
class ProbeConfig:
    """Downstream probes (see braintune.probing)."""

    tasks: list[str] = field(default_factory=lambda: list(PROBE_TASKS))


@dataclass
class StudyConfig:
    """A whole study: the grid models × participants and the stages over it."""

    name: str = "study"
    out: str = "runs/study"
    models: list[str] = field(default_factory=list)
    participants: list[str] = field(default_factory=list)
    layers: Any = "all"  # "all" or a list of layer indices
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    seed: int = 0
    device: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    tune: TuneSettings = field(default_factory=TuneSettings)  # the paper's defaults
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)

    def to_dict(self) -> dict:
        """Plain nested dict; tune settings the study sets itself are left out."""
        out = asdict(self)
        for key in _STUDY_LEVEL[TuneSettings]:
            out["tune"].pop(key)
        return out


# TuneSettings fields that the study sets for every tune cell from its own keys
_STUDY_LEVEL = {TuneSettings: {"validation_story": "data.validation_story", "seed": "seed", "device": "device"}}


def _build(cls, values: dict, where: str):
    """Instantiate dataclass `cls` from `values`, recursing into nested dataclasses."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(where + k for k in unknown)}"
                          f" (known: {', '.join(sorted(known))})")
    inherited = sorted(set(values) & set(_STUDY_LEVEL.get(cls, {})))
    if inherited:
        raise ConfigError(f"{where}{inherited[0]}: set at the study level ({_STUDY_LEVEL[cls][inherited[0]]}), not here")
    kwargs = {}
    for name, value in values.items():
        default = known[name].default_factory() if callable(known[name].default_factory) else known[name].default
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, f"{where}{name}.")
        else:
            kwargs[name] = _check_type(value, default, f"{where}{name}")
    return cls(**kwargs)


def _check_type(value, default, key: str):
    """Coerce `value` to the type of `default` where that is unambiguous; else ConfigError."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, str):  # YAML 1.1 reads 2e-3 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if isinstance(default, int) and not float(value).is_integer():
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return type(default)(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if isinstance(default, list):
        if not isinstance(value, list):
            value = [value]
        return value
    return value


def _validate(cfg: StudyConfig) -> StudyConfig:
    bad = [s for s in cfg.stages if s not in STAGES]
    if bad:
        raise ConfigError(f"stages: unknown stage(s) {bad}; choose from {list(STAGES)}")
    if not cfg.models:
        raise ConfigError("models: name at least one model (hub id, local folder, or tiny:<family>)")
    needs_participants = {"tune", "align_pretrained", "align_tuned", "probe_tuned"} & set(cfg.stages)
    if needs_participants and not cfg.participants:
        raise ConfigError(f"participants: stages {sorted(needs_participants)} need at least one participant")
    if needs_participants and not cfg.data.fmri:
        raise ConfigError("data.fmri: the fMRI folder (ds003020 layout) is needed by the chosen stages")
    if cfg.layers != "all" and not (isinstance(cfg.layers, list) and all(isinstance(x, int) for x in cfg.layers)):
        raise ConfigError(f"layers: 'all' or a list of layer indices, got {cfg.layers!r}")
    if cfg.features.scheme not in ("fast", "reference"):
        raise ConfigError(f"features.scheme: 'fast' or 'reference', got {cfg.features.scheme!r}")
    if cfg.features.dtype not in ("float32", "bfloat16"):
        raise ConfigError(f"features.dtype: 'float32' or 'bfloat16', got {cfg.features.dtype!r}")
    bad = [t for t in cfg.probe.tasks if t not in PROBE_TASKS]
    if bad:
        raise ConfigError(f"probe.tasks: unknown task(s) {bad}; choose from {list(PROBE_TASKS)}")
    if {"probe_pretrained", "probe_tuned"} & set(cfg.stages):
        if {"mfcc", "phonemes", "sentence-type"} & set(cfg.probe.tasks) and not cfg.data.timit:
            raise ConfigError("data.timit: the TIMIT folder is needed by the probe tasks mfcc/phonemes/sentence-type")
        if "words" in cfg.probe.tasks and not cfg.data.speech_commands:
            raise ConfigError("data.speech_commands: the Speech Commands folder is needed by the probe task 'words'")
    if not 0 <= cfg.align.ceiling_threshold < 1:
        raise ConfigError("align.ceiling_threshold: must lie in [0, 1)")
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
    """Read a study YAML (or take `raw`), apply overrides, validate, and return the config."""
    if raw is None:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such study config") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    raw = apply_overrides(raw, list(overrides))
    return _validate(_build(StudyConfig, raw, ""))


def dump_config(cfg: StudyConfig) -> str:
    """The resolved config as YAML text (what a run saves as config.yaml)."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)

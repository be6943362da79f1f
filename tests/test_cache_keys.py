"""The cache keys of the demo study's cells, pinned: a refactor of how keys are derived
(datasets, protocols, tuning variants) must not invalidate the align and probe cells a user
has already computed.

The keys are those of `configs/demo.yaml` as it stood when they were recorded (its settings
copied below), on a fixed stand-in of the data (dummy files with fixed sizes and times: a
key reads only file metadata, the content of small metadata files and the settings) and a
fixed stand-in of the model's folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from braintune.models import encoders
from braintune.study.config import load_config
from braintune.study.plan import plan_cells

DEMO_AS_RECORDED = {
    "name": "demo",
    "models": ["tiny-pretrained:hubert"],
    "participants": ["UTS01", "UTS02"],
    "stages": ["tune", "tune_control", "align_pretrained", "align_tuned", "align_control", "probe_pretrained",
               "probe_tuned", "probe_control", "report"],
    "features": {"scheme": "fast", "context": 6.0, "chunk": 2.4},
    "align": {"alphas": [1.0, 3.16, 10.0, 31.6, 100.0, 316.0, 1000.0, 3160.0, 10000.0, 31600.0, 100000.0, 316000.0,
                         1000000.0, 3160000.0, 10000000.0, 31600000.0, 100000000.0]},
    "tune": {"epochs": 2, "batch_size": 8, "window_seconds": 8.0, "warmup_epochs": 1, "backbone_lr": 1.0e-3,
             "head_lr": 1.0e-2},
}
STORIES = ["simstory01", "simstory02", "simstory03", "simstory04", "simstory05", "stagefright", "wheretheressmoke"]
TIME_NS = 1_700_000_000_000_000_000

# (stage, participant) -> key. Recorded before the plug points (datasets, protocols, tuning variants),
# which changed none; the align cells' keys changed once since, when each voxel's block-permutation
# significance (align.permutations) became part of their results.
RECORDED = {
    ('tune', 'UTS01'): "315e09df162b9a80c5ecf70d63b09ba4135fce852c3eb6d2888c97ccf03571a5",
    ('tune', 'UTS02'): "2c40856de51363c5134900168e78b75e2c091335834bbb95e654042a99fe06f8",
    ('tune_control', 'UTS01'): "a6bc3c5184bb2712657b1d821ca5011092d25b62204b636c7fe8d917a258282d",
    ('tune_control', 'UTS02'): "20f5b981d30399ddbd5c652d6283b778d8e1ffdfbf75d9fd2a00720853767af5",
    ('align_pretrained', 'UTS01'): "8ebdafadb867fa3a5424b666d168e3722611be371bdaae9f98ea75a3da54b8cd",
    ('align_pretrained', 'UTS02'): "ebf0620fed3d9d237b2ff169e9b6269630da2117251a969289dea0d6e13cc25a",
    ('align_tuned', 'UTS01'): "fc0127be7e31cf54bf585ea0bad6363807955c6f01495f744387b9bf5fd3fcac",
    ('align_tuned', 'UTS02'): "d7917224a2a7bfd5bbecb4510e5b1b5aa43e87e25a0477ffd5d505c7328be6ff",
    ('align_control', 'UTS01'): "4e2f50c84efb01588582e1d3b1508867c49ea4221ca2325b53303e469c52a524",
    ('align_control', 'UTS02'): "a9af59043db000d103ae323db88a0f0ceb11e1291a16a2c22268b8a604f5e51d",
    ('probe_pretrained', None): "0e5853f7cfa6d97e459bac382aebec02b07919a9bec6dc2dec528b834eabedd9",
    ('probe_tuned', 'UTS01'): "951c533b0650142c23ffe974b5b433c972861a87db211fd9425e09602b459706",
    ('probe_tuned', 'UTS02'): "2eca0c417e48c85529f1b338473b621b3de90a00551b10bd17cd862df2587ab8",
    ('probe_control', 'UTS01'): "a30d36f016cdf8c656709a78173343bb260421e437a39374a7a45803320a30f3",
    ('probe_control', 'UTS02'): "0340787d20eb3967449907fd4a8c14fd1a4c6dbc65168204d1bc1e5a4c2942ee",
}


def _file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    os.utime(path, ns=(TIME_NS, TIME_NS))


def _stand_in(root: Path) -> dict[str, Path]:
    """Dummy files in the demo's layout, with fixed sizes and times."""
    fmri, timit, commands = root / "fmri", root / "timit", root / "speech_commands"
    _file(fmri / "derivative" / "respdict.json", json.dumps({s: 40 + i for i, s in enumerate(STORIES)}).encode())
    for i, story in enumerate(STORIES):
        _file(fmri / "stimuli" / f"{story}.wav", b"w" * (100 + i))
        for p in ("UTS01", "UTS02"):
            _file(fmri / "derivative" / "preprocessed_data" / p / f"{story}.hf5", b"h" * (200 + i))
    for p in ("UTS01", "UTS02"):
        _file(fmri / "derivative" / "rois" / f"{p}.json", json.dumps({"A1": [0, 1], "PGi": [2]}).encode())
    _file(timit / "TEST" / "DR1" / "FAKS0" / "SA1.WAV", b"t" * 50)
    _file(timit / "TEST" / "DR1" / "FAKS0" / "SA1.PHN", b"0 10 h#\n")
    _file(commands / "yes" / "a_nohash_0.wav", b"c" * 30)
    _file(commands / "validation_list.txt", b"yes/a_nohash_0.wav\n")
    _file(commands / "testing_list.txt", b"")
    return {"fmri": fmri, "timit": timit, "speech_commands": commands}


@pytest.fixture
def demo_cells(tmp_path, monkeypatch):
    model = tmp_path / "model"
    _file(model / "config.json", json.dumps({"model_type": "hubert", "num_hidden_layers": 6}).encode())
    _file(model / "model.safetensors", b"m" * 1000)
    monkeypatch.setattr(encoders, "pretrained_folder", lambda id_: model)
    monkeypatch.chdir(tmp_path)  # the probe cells' keys name the corpus files by their paths as given
    data = _stand_in(Path("data"))
    raw = {**DEMO_AS_RECORDED, "out": "run", "data": {k: str(v) for k, v in data.items()}}
    return plan_cells(load_config(raw=raw))


def test_the_demo_cell_keys_are_those_recorded(demo_cells):
    assert {(c.stage, c.participant): c.key for c in demo_cells} == RECORDED

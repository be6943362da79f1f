"""Multi-participant brain-tuning and LoRA through the tuning recipe: pooled participants whose
targets a window lacks get no gradient, a LoRA run resumed after a kill ends byte-identical to an
uninterrupted one and exports a merged model that loads without peft."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

from braintune.data.fmri import open_dataset, resolve_split
from braintune.models import load_encoder
from braintune.tuning import BrainTuner, TuneSettings, tune
from braintune.tuning.loop import pair_losses
from braintune.tuning.targets import BlockTargets, target_batch
from braintune.tuning.variants import get_variant

FAST = TuneSettings(epochs=2, batch_size=8, micro_batch_size=4, window_seconds=4.0, warmup_epochs=1,
                    ceiling_threshold=0.3, backbone_lr=1e-3, head_lr=1e-2)


def test_pooled_targets_hold_each_pair_to_its_own_participants_voxels():
    a = np.arange(6, dtype=np.float32).reshape(3, 2)  # participant A: 3 pairs, 2 voxels
    b = -np.arange(8, dtype=np.float32).reshape(2, 4) - 1  # participant B: 2 pairs, 4 voxels
    targets = BlockTargets.pool([a, b])
    assert targets.shape == (5, 6) and len(targets[np.array([4, 0])]) == 2
    y, mask = target_batch(targets, np.array([1, 3]))
    np.testing.assert_array_equal(y, [[2, 3, 0, 0, 0, 0], [0, 0, -1, -2, -3, -4]])
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]])
    y, mask = target_batch(targets[np.array([4, 2])], np.array([0]))  # reordered (the control's pairing)
    np.testing.assert_array_equal(y, [[0, 0, -5, -6, -7, -8]])


def test_a_target_a_pairs_participant_lacks_receives_exactly_no_gradient():
    torch.manual_seed(0)
    net = BrainTuner(load_encoder("tiny:hubert", device="cpu"), n_voxels=6).double()
    cnn = net.cnn(torch.randn(3, 16000, dtype=torch.float64))
    y, mask = target_batch(BlockTargets.pool([np.ones((2, 2)), np.ones((2, 4))]), np.array([0, 1, 2]))
    loss = pair_losses(net(cnn), torch.from_numpy(y).double(), torch.from_numpy(mask)).sum()
    loss.backward()
    grad = net.head.weight.grad  # (6 voxels, hidden): rows of participant B's voxels see only pair 2
    assert torch.all(grad[:2] != 0) and torch.all(grad[2:] != 0)
    net.zero_grad()
    pair_losses(net(cnn[:2]), torch.from_numpy(y[:2]).double(), torch.from_numpy(mask[:2])).sum().backward()
    assert torch.count_nonzero(net.head.weight.grad[2:]) == 0 and torch.count_nonzero(net.head.bias.grad[2:]) == 0
    assert torch.all(net.head.weight.grad[:2] != 0)


def test_the_multi_variant_pools_participants_with_their_own_voxels(sim_dataset):
    dataset = open_dataset("ds003020", sim_dataset)
    splits = resolve_split(dataset, ["UTS01", "UTS02"])
    single = {p: get_variant("single").load_data(dataset, [p], splits, FAST) for p in ("UTS01", "UTS02")}
    pooled = get_variant("multi").load_data(dataset, ["UTS01", "UTS02"], splits, FAST)
    assert pooled.voxels.tolist() == [*single["UTS01"].voxels, *single["UTS02"].voxels]
    assert pooled.owners.tolist() == ["UTS01"] * len(single["UTS01"].voxels) + ["UTS02"] * len(single["UTS02"].voxels)
    assert len(pooled.train) == len(single["UTS01"].train) + len(single["UTS02"].train)
    first = len(single["UTS01"].train)
    y, mask = target_batch(pooled.train.targets, np.array([0, first]))
    np.testing.assert_array_equal(y[0, : len(single["UTS01"].voxels)], single["UTS01"].train.targets[0])
    np.testing.assert_array_equal(y[1, len(single["UTS01"].voxels):], single["UTS02"].train.targets[0])
    assert mask.sum(axis=1).tolist() == [len(single["UTS01"].voxels), len(single["UTS02"].voxels)]
    np.testing.assert_array_equal(pooled.train.waveforms([first]), single["UTS02"].train.waveforms([0]))


def test_a_lora_run_killed_and_resumed_ends_byte_identical_and_loads_without_peft(sim_dataset, tmp_path):
    settings = dataclasses.replace(FAST, adapter="lora", optimizer="adamw")
    whole = tune(sim_dataset, "UTS01", "tiny:hubert", tmp_path / "whole", settings)
    tune(sim_dataset, "UTS01", "tiny:hubert", tmp_path / "resumed", settings, stop_after_epoch=1)
    resumed = tune(sim_dataset, "UTS01", "tiny:hubert", tmp_path / "resumed", settings, resume=True)
    assert (whole / "model.safetensors").read_bytes() == (resumed / "model.safetensors").read_bytes()
    assert (whole / "adapter" / "adapter_model.safetensors").is_file()
    script = ("import sys; sys.modules['peft'] = None\n"
              "import transformers\n"
              f"m = transformers.AutoModel.from_pretrained({str(whole)!r})\n"
              "print(type(m).__name__, sorted(k for k in m.state_dict() if 'lora' in k))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "HubertModel []"
    tuned, base = load_encoder(whole, device="cpu"), load_encoder("tiny:hubert", device="cpu")
    changed = [n for n, p in tuned.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert changed and all(n.split(".")[-2] in ("q_proj", "k_proj", "v_proj", "out_proj") for n in changed)


@pytest.mark.parametrize("stage", ["tune_multi"])
def test_a_multi_participant_study_tunes_one_model_that_every_participant_is_aligned_with(stage, sim_dataset, tmp_path):
    from braintune.study.config import load_config
    from braintune.study.plan import plan_cells

    raw = {"models": ["tiny:hubert"], "participants": ["UTS01", "UTS02"], "out": str(tmp_path / "run"),
           "stages": [stage, "align_multi", "align_pretrained"], "data": {"fmri": str(sim_dataset)},
           "tune": {"participants": ["UTS02"]}, "split": {"n_train_stories": [2, 3]}, "align": {"n_folds": 2}}
    cells = plan_cells(load_config(raw=raw))
    (tune_cell,) = [c for c in cells if c.stage == "tune_multi"]
    assert tune_cell.participant is None and tune_cell.k is None
    aligned = [c for c in cells if c.stage == "align_multi"]
    assert sorted((c.participant, c.k) for c in aligned) == [("UTS01", 2), ("UTS01", 3), ("UTS02", 2), ("UTS02", 3)]
    assert all(c.depends_on == (tune_cell,) for c in aligned)
    assert len({c.key for c in aligned}) == 4


def test_a_common_head_puts_every_participant_on_the_same_fsaverage_vertices(sim_dataset, tmp_path):
    """tune.head: common (the anchor's): the responses of both participants brought onto the simulated
    atlas's late-language vertices by the authors' projection, one head over the shared vertices; the
    projection of a row equals the one-value projection (surface_values) of each voxel value."""
    from braintune.data.fsaverage import CommonSpace, FsaverageAtlas, area_vertices, surface_values
    from braintune.data.pycortex import Subject, cortical_mask
    from braintune.tuning.variants.multi import COMMON_AREAS, common_space_projection

    truth = sim_dataset / "simulation_truth"
    space = CommonSpace(str(truth / "atlas"), str(truth / "affine_transforms"))
    dataset = open_dataset("ds003020", sim_dataset)
    atlas = FsaverageAtlas.read(space.atlas)
    vertices = area_vertices(atlas, COMMON_AREAS)
    project = common_space_projection(dataset, "UTS01", space, atlas, vertices)
    row = dataset.load_responses("UTS01", "simstory01")[3]
    files = dataset.cortex("UTS01")
    subject = Subject(files.subject)
    mask = cortical_mask(subject, subject.transform(files.transform), "thick")
    from braintune.data.fsaverage import affine_path, read_affine

    one = surface_values(row, mask, read_affine(affine_path(space.affines, "UTS01")), atlas)
    expected = np.concatenate([np.nan_to_num(one["lh"][vertices[0]]), np.nan_to_num(one["rh"][vertices[1]])])
    np.testing.assert_allclose(project(row[None])[0], expected, rtol=1e-5, atol=1e-6)

    splits = resolve_split(dataset, ["UTS01", "UTS02"])
    data = get_variant("multi").load_data(dataset, ["UTS01", "UTS02"], splits, dataclasses.replace(FAST, head="common"),
                                          space)
    n = sum(map(len, vertices))
    assert data.voxels.tolist() == [*vertices[0], *vertices[1]] and data.owners is None
    assert data.train.targets.shape[1] == n and all(len(c) > 0 for c in data.train.targets.columns)
    shared = np.intersect1d(*data.train.targets.columns)
    assert len(shared) > 0  # both participants' language voxels reach the same vertices
    settings = dataclasses.replace(FAST, variant="multi", head="common", epochs=1)
    backbone = tune(dataset, ["UTS01", "UTS02"], "tiny:hubert", tmp_path / "common", settings, split=splits, space=space)
    from safetensors.numpy import load_file

    assert load_file(backbone.parent / "head.safetensors")["weight"].shape[0] == n

"""`braintune rois DATA --atlas DIR`: every participant's ROI files from the dataset's own pycortex
subjects, on simulated participants whose areas are known; `braintune check` reads the same files."""

from __future__ import annotations

import json
import shutil

import nibabel
import numpy as np
import pytest

from braintune.cli import main
from braintune.data.check import CheckSettings, check_data
from braintune.data.fmri import open_dataset
from braintune.synthetic.fmri import load_truth, simulate_dataset


@pytest.fixture(scope="module")
def without_rois(tmp_path_factory):
    """Two simulated participants whose ROI files are not written (the dataset's own cortex files are)."""
    return simulate_dataset(tmp_path_factory.mktemp("no_rois"), n_participants=2, n_train_stories=1,
                            story_seconds=(30, 30), n_repeats=2, n_voxels=150, write_roi_files=False)


def test_rois_of_a_dataset_recover_every_voxels_area(without_rois, tmp_path, capsys):
    root = shutil.copytree(without_rois, tmp_path / "data")
    atlas = root / "simulation_truth" / "atlas"
    assert main(["rois", str(root), "--atlas", str(atlas)]) == 0
    assert "UTS01: 32 HCP-MMP1 areas with voxels, 4 functional ROIs" in capsys.readouterr().out
    dataset = open_dataset("ds003020", root)
    for participant in ("UTS01", "UTS02"):
        truth = load_truth(root, participant)
        areas = dataset.load_rois(participant)
        recovered = np.full(len(truth.area), "", dtype=object)
        for area, columns in areas.items():
            assert not recovered[columns].any(), area  # no voxel in two areas
            recovered[columns] = area
        assert recovered.tolist() == truth.area.tolist()
        source = json.loads(dataset.roi_path(participant).read_text())["_source"]
        assert source["transform"] == f"{participant}_auto" and source["atlas"] == str(atlas)
        functional = dataset.load_functional_rois(participant)
        auditory = {"A1", "LBelt", "PBelt", "MBelt", "RI", "A4"}
        assert set(truth.area[functional["AC"]]) == auditory  # the shape drawn over the early auditory areas
        assert set(truth.area[functional["Broca"]]) == {"44", "45"}
        vertices = json.loads((root / "derivative" / "rois" / f"{participant}.vertices.json").read_text())
        assert set(vertices) >= {"AC", "A1", "_source"}


def test_check_reads_the_cortex_files_and_names_a_mask_that_does_not_fit(without_rois, tmp_path):
    root = shutil.copytree(without_rois, tmp_path / "data")
    atlas = root / "simulation_truth" / "atlas"
    assert main(["rois", str(root), "--atlas", str(atlas)]) == 0
    found = check_data(root, settings=CheckSettings(atlas=str(atlas)), progress=False)
    assert not found.errors and [row["cortex"] for row in found.participants] == ["ok", "ok"]

    mask = root / "derivative" / "pycortex-db" / "UTS02" / "transforms" / "UTS02_auto" / "mask_thick.nii.gz"
    image = nibabel.load(mask)
    data = np.asarray(image.dataobj).copy()
    data[np.unravel_index(np.flatnonzero(data)[0], data.shape)] = 0  # one voxel fewer than the responses' columns
    nibabel.save(nibabel.Nifti1Image(data, image.affine), mask)
    found = check_data(root, settings=CheckSettings(atlas=str(atlas)), progress=False)
    assert [e.message for e in found.errors] == [
        f"{mask}: the thick mask of UTS02_auto holds {int(data.sum())} voxels, but UTS02's responses have "
        f"{int(data.sum()) + 1} columns: the columns are the mask's voxels"]
    assert main(["rois", str(root), "--atlas", str(atlas), "--participants", "UTS02"]) == 1

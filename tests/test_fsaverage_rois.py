"""The authors' ROI values (align.protocol: authors, with an atlas): a direct computation with
nilearn's vol_to_surf on fsaverage5 (shipped inside nilearn) and a synthetic HCP-MMP1 annotation
gives the same numbers as braintune.alignment.fsaverage."""

from __future__ import annotations

import nibabel
import nibabel.freesurfer
import numpy as np
import pytest
from nilearn import datasets
from nilearn.surface import vol_to_surf

from braintune.alignment.fsaverage import FsaverageAtlas, fsaverage_roi_table
from braintune.data.rois import GLASSER_AREAS, ROI_GROUPS
from braintune.errors import DataError

AREAS = sorted({a for members in ROI_GROUPS.values() for a in members} | {"V1", "V2", "4"})


@pytest.fixture(scope="module")
def atlas(tmp_path_factory):
    """fsaverage5's pial and white meshes with a random annotation over AREAS (L_/R_<area>_ROI names)."""
    root = tmp_path_factory.mktemp("atlas") / "fsaverage"
    (root / "surf").mkdir(parents=True)
    (root / "label").mkdir()
    mesh = datasets.load_fsaverage("fsaverage5")
    rng = np.random.default_rng(0)
    for hemi, part in (("lh", "left"), ("rh", "right")):
        for kind, name in (("pial", "pial"), ("white_matter", "white")):
            geometry = mesh[kind].parts[part]
            nibabel.freesurfer.write_geometry(str(root / "surf" / f"{hemi}.{name}"),
                                              np.asarray(geometry.coordinates, np.float64), geometry.faces)
        n = len(mesh["pial"].parts[part].coordinates)
        side = "L" if hemi == "lh" else "R"
        names = ["???"] + [f"{side}_{a}_ROI" for a in AREAS]
        labels = rng.integers(0, len(names), n)  # "???" (0) included: unlabelled vertices
        ctab = np.column_stack([rng.integers(0, 255, (len(names), 3)), np.zeros(len(names)), np.arange(len(names))])
        nibabel.freesurfer.write_annot(str(root / "label" / f"{hemi}.HCPMMP1.annot"), labels, ctab.astype(np.int32),
                                       names, fill_ctab=True)
    return root.parent


def direct(r, ceiling, mask, affine, atlas_dir, threshold):
    """What the authors' code computes, written out with nilearn and nibabel directly."""
    value = np.where(ceiling > threshold, r / ceiling, np.nan)
    volume = np.zeros(mask.shape)
    volume[mask] = np.nan_to_num(value)
    image = nibabel.Nifti1Image(volume.T, affine)
    base = atlas_dir / "fsaverage"
    surface, labels = {}, {}
    for hemi in ("lh", "rh"):
        surface[hemi] = vol_to_surf(image, surf_mesh=str(base / "surf" / f"{hemi}.pial"),
                                    inner_mesh=str(base / "surf" / f"{hemi}.white"), interpolation="linear")
        codes, _, names = nibabel.freesurfer.read_annot(str(base / "label" / f"{hemi}.HCPMMP1.annot"))
        labels[hemi] = {n.decode().split("_")[1]: np.flatnonzero(codes == i) for i, n in enumerate(names) if i}
    means = {a: np.mean(np.nan_to_num(np.concatenate([surface["lh"][labels["lh"][a]], surface["rh"][labels["rh"][a]]])))
             for a in AREAS}
    return {group: np.mean([means[a] for a in members]) for group, members in ROI_GROUPS.items()}, means


def test_the_authors_roi_values_equal_a_direct_nilearn_computation(atlas):
    rng = np.random.default_rng(1)
    shape = (34, 45, 36)  # (z, y, x) voxels of 4 mm covering fsaverage's cortex
    affine = np.array([[4.0, 0, 0, -72], [0, 4.0, 0, -108], [0, 0, 4.0, -52], [0, 0, 0, 1]])
    mask = rng.random(shape) < 0.6
    n = int(mask.sum())
    r, ceiling = rng.uniform(-0.2, 0.8, n), rng.uniform(0.0, 1.0, n)
    table = fsaverage_roi_table(r, ceiling, mask, affine, FsaverageAtlas.read(atlas), participant="UTS01", model="m",
                                layer=3, threshold=0.05)
    groups, means = direct(r, ceiling, mask, affine, atlas, 0.05)
    got = table.set_index("roi")["alignment"]
    for group, value in groups.items():
        assert got[group] == pytest.approx(value, rel=1e-12, abs=1e-15), group
    assert got["whole_cortex"] == pytest.approx(np.mean(list(means.values())), rel=1e-12)
    assert set(table["layer"]) == {3} and table.loc[table.roi == "primary_auditory", "alignment_sem"].isna().all()
    assert abs(got["late_language"]) > 1e-3  # the volume reaches the cortex: a test that cannot pass on zeros


def test_an_annotation_on_another_mesh_is_one_line_naming_it(atlas, tmp_path):
    import shutil

    broken = shutil.copytree(atlas, tmp_path / "atlas")
    annot = broken / "fsaverage" / "label" / "rh.HCPMMP1.annot"
    codes, ctab, names = nibabel.freesurfer.read_annot(str(annot))
    nibabel.freesurfer.write_annot(str(annot), codes[:-5], ctab, names)
    with pytest.raises(DataError, match=f"{annot}: annotation of {len(codes) - 5} vertices, but its sphere "):
        FsaverageAtlas.read(broken)
    assert set(AREAS) <= set(GLASSER_AREAS)

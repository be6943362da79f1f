"""The simulated cortex: a canonical map shared by all participants, each a pycortex subject whose
files put every area's voxels where the truth says; the shared language read-out; the common space."""

import json
from fractions import Fraction

import nibabel
import numpy as np
import pytest

from braintune.cli import main
from braintune.data import pycortex
from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.data.rois import GLASSER_AREAS, ROI_GROUPS
from braintune.synthetic.cortex import (
    ATLAS_SIDE, KIND_SHARES, KINDS, OTHER_AREAS, OVERLAY_ROIS, REGIONS, ParticipantGrid, ReadoutField, atlas_labels,
    atlas_vertices,
)
from braintune.synthetic.cortex_files import affine_path, atlas_dir, transform_name
from braintune.synthetic.fmri import load_readout, load_truth, simulate_dataset

TINY = dict(n_participants=1, n_train_stories=1, story_seconds=(30.0, 30.0), n_repeats=2, n_voxels=60)


def _subject(root, participant):
    return root / "derivative" / "pycortex-db" / participant


def _freesurfer(root, participant):
    return root / "derivative" / "freesurfer_subjdir" / participant


def _canonical_area(hemisphere_column: int, row: int, nx: int, ny: int) -> str:
    """The REGIONS rectangle holding a cell's centre, in exact fractions (independent of cortex.atlas_cell)."""
    u, v = Fraction(2 * hemisphere_column + 1, 2 * nx) * ATLAS_SIDE, Fraction(2 * row + 1, 2 * ny) * ATLAS_SIDE
    (area,) = [a for a, (u0, u1, v0, v1) in REGIONS.items() if u0 <= u < u1 and v0 <= v < v1]
    return area


def test_canonical_map_tiles_the_square_with_the_simulated_areas():
    boxes = list(REGIONS.values())
    assert sum((u1 - u0) * (v1 - v0) for u0, u1, v0, v1 in boxes) == ATLAS_SIDE ** 2  # no overlap, no gap
    assert set(REGIONS) == set(ROI_GROUPS["early_auditory"]) | set(ROI_GROUPS["late_language"]) | set(OTHER_AREAS)
    assert KIND_SHARES == {"auditory": 0.15, "language": 0.45}
    assert all(u1 - u0 >= 6 and v1 - v0 >= 9 for u0, u1, v0, v1 in boxes)
    labels = atlas_labels()
    assert sorted(np.unique(labels)) == list(range(len(GLASSER_AREAS)))  # the atlas carries every HCP-MMP1 area
    for area, (u0, u1, v0, v1) in REGIONS.items():
        assert np.all(labels[v0:v1, u0:u1] == GLASSER_AREAS.index(area))
    for name, areas in OVERLAY_ROIS.items():  # each overlay ROI's areas tile a rectangle
        box = np.array([REGIONS[a] for a in areas])
        assert (box[:, 1].max() - box[:, 0].min()) * (box[:, 3].max() - box[:, 2].min()) == sum(
            (u1 - u0) * (v1 - v0) for u0, u1, v0, v1 in box), name


@pytest.mark.parametrize("n_voxels", range(152, 601, 7))
def test_every_area_has_voxels_at_the_demo_sizes(n_voxels):
    """The demo's ~320-480 voxels and the test fixture's ~160-240: every area of the map is sampled."""
    grid = ParticipantGrid.for_voxels(n_voxels)
    assert abs(grid.n_voxels - n_voxels) <= 0.06 * n_voxels and 1.1 <= grid.nx / grid.ny <= 1.5
    voxels = grid.voxels()
    assert set(voxels.area) == set(REGIONS)
    shares = np.bincount(voxels.kind, minlength=3) / grid.n_voxels
    assert abs(shares[1] - 0.15) < 0.05 and abs(shares[2] - 0.45) < 0.08, shares


def test_the_written_subject_reads_with_nibabel(sim_dataset):
    ds = Dataset(sim_dataset)
    for participant in ds.participants:
        truth = load_truth(sim_dataset, participant)
        subject, xfm = _subject(sim_dataset, participant), _subject(sim_dataset, participant) / "transforms"
        xfm = xfm / transform_name(participant)
        counts = {}
        for hemi in ("lh", "rh"):
            meshes = {}
            for kind in ("wm", "pia", "flat", "inflated"):
                gii = nibabel.load(subject / "surfaces" / f"{kind}_{hemi}.gii")
                points, triangles = (gii.get_arrays_from_intent(i)[0].data for i in ("pointset", "triangle"))
                assert points.dtype == np.float32 and points.shape[1] == 3 and triangles.max() < len(points)
                meshes[kind] = (points, triangles)
            reg, faces = nibabel.freesurfer.read_geometry(str(_freesurfer(sim_dataset, participant) / "surf" / f"{hemi}.sphere.reg"))
            assert {len(p) for p, _ in meshes.values()} == {len(reg)}
            assert all(np.array_equal(t, faces) for _, t in meshes.values())
            np.testing.assert_allclose(np.linalg.norm(reg, axis=1), 100.0, rtol=1e-6)
            counts[hemi] = len(reg)
        assert counts["lh"] == counts["rh"] == 2 * ds.n_voxels(participant)  # four vertices per voxel
        reference, mask = (nibabel.load(xfm / f"{n}.nii.gz") for n in ("reference", "mask_thick"))
        assert reference.shape == mask.shape and np.array_equal(reference.affine, mask.affine)
        thick = np.asarray(mask.dataobj).T != 0  # pycortex's (z, y, x)
        assert thick.sum() == ds.n_voxels(participant) == len(truth.kind)
        # the columns are the mask's True voxels in C order of (z, y, x): their (x, y, z) are the truth's
        z, y, x = np.nonzero(thick)
        np.testing.assert_array_equal(np.column_stack([x, y, z]), truth.voxel)
        matrices = json.loads((xfm / "matrices.xfm").read_text())
        np.testing.assert_allclose(np.array(matrices["magnet"]), np.eye(4), atol=1e-12)
        np.testing.assert_allclose(np.linalg.inv(matrices["coord"]), reference.affine, atol=1e-12)


def test_each_column_has_its_canonical_area(sim_dataset):
    """A column's area is the map's at its cell centre, from the voxel's place alone (exact fractions)."""
    for participant in Dataset(sim_dataset).participants:
        truth = load_truth(sim_dataset, participant)
        nx, ny = (truth.voxel[:, 0].max() // 2), truth.voxel[:, 1].max()
        x, y = truth.voxel[:, 0], truth.voxel[:, 1]
        left = x <= nx
        column = np.where(left, nx - x, x - nx - 1)
        np.testing.assert_array_equal(truth.hemisphere, (~left).astype(np.int8))
        np.testing.assert_array_equal(truth.position, np.column_stack([(2 * column + 1) / (2 * nx), (2 * y - 1) / (2 * ny)]))
        expected = [_canonical_area(c, r - 1, nx, ny) for c, r in zip(column, y)]
        assert list(truth.area) == expected
        assert list(truth.kind) == [1 if a in ROI_GROUPS["early_auditory"] else 2 if a in ROI_GROUPS["late_language"]
                                    else 0 for a in expected]
        roi_file = json.loads((sim_dataset / "derivative" / "rois" / f"{participant}.json").read_text())
        assert roi_file == {a: np.flatnonzero(truth.area == a).tolist() for a in roi_file} and set(roi_file) == set(REGIONS)


def test_pycortex_rules_recover_the_truth(sim_dataset):
    """pycortex's rules on the written files (braintune.data.pycortex): the thick mask computed from the
    surfaces is the written one, and the HCP-MMP1 areas (atlas through sphere.reg) and the overlays'
    ROIs reach exactly the voxels the truth puts in them."""
    for participant in Dataset(sim_dataset).participants:
        truth = load_truth(sim_dataset, participant)
        folder = _subject(sim_dataset, participant)
        subject = pycortex.Subject(folder)
        xfm = subject.transform(transform_name(participant))
        computed = pycortex.cortical_mask(subject, xfm, "thick", use_stored=False)
        np.testing.assert_array_equal(computed, xfm.stored_mask("thick"))
        rois = pycortex.build_subject_rois(folder, transform_name(participant), atlas_dir(sim_dataset),
                                           _freesurfer(sim_dataset, participant))
        assert set(rois.glasser) == set(GLASSER_AREAS)
        for area in GLASSER_AREAS:
            np.testing.assert_array_equal(rois.columns[area], np.flatnonzero(truth.area == area), err_msg=area)
        for name, areas in OVERLAY_ROIS.items():
            key = f"{name}_overlay" if name in GLASSER_AREAS else name
            np.testing.assert_array_equal(rois.columns[key], np.flatnonzero(np.isin(truth.area, areas)), err_msg=name)


def test_braintune_rois_writes_the_simulators_roi_file(sim_dataset, tmp_path):
    participant = "UTS02"
    assert main(["rois", "--pycortex-subject", str(_subject(sim_dataset, participant)), "--transform",
                 transform_name(participant), "--out", str(tmp_path), "--atlas", str(atlas_dir(sim_dataset)),
                 "--freesurfer-subject", str(_freesurfer(sim_dataset, participant))]) == 0
    built = json.loads((tmp_path / "rois.json").read_text())
    given = json.loads((sim_dataset / "derivative" / "rois" / f"{participant}.json").read_text())
    assert {area: built[area] for area in given} == given
    assert not any(built[area] for area in set(GLASSER_AREAS) - set(REGIONS))


def test_atlas_names_and_labels(sim_dataset):
    base = atlas_dir(sim_dataset) / "fsaverage"
    for hemi, prefix in (("lh", "L"), ("rh", "R")):
        labels, _, names = nibabel.freesurfer.read_annot(str(base / "label" / f"{hemi}.HCPMMP1.annot"))
        names = [n.decode() for n in names]
        assert names == ["???"] + [f"{prefix}_{a}_ROI" for a in GLASSER_AREAS]
        np.testing.assert_array_equal(labels, atlas_labels().ravel() + 1)
        sphere, faces = nibabel.freesurfer.read_geometry(str(base / "surf" / f"{hemi}.sphere"))
        for surface in ("white", "pial"):
            points, same_faces = nibabel.freesurfer.read_geometry(str(base / "surf" / f"{hemi}.{surface}"))
            assert points.shape == sphere.shape and np.array_equal(faces, same_faces)
            assert np.all(points[:, 0] < 0) if hemi == "lh" else np.all(points[:, 0] > 0)


def test_the_language_readout_is_shared(sim_dataset):
    """Language voxels' weights are the field at their canonical position, the same in every participant."""
    readout = load_readout(sim_dataset)
    seen = {}
    for participant in Dataset(sim_dataset).participants:
        truth = load_truth(sim_dataset, participant)
        language = truth.kind == KINDS.index("language")
        np.testing.assert_array_equal(truth.language_weights[language],
                                      readout(truth.position[language]).astype(np.float32))
        assert not truth.language_weights[~language].any()
        for position, weights in zip(map(tuple, truth.position[language]), truth.language_weights[language]):
            if position in seen:
                np.testing.assert_array_equal(seen[position], weights)
            seen[position] = weights
    # element by element: a position gives the same bits whatever else is evaluated with it
    grid = np.random.default_rng(0).uniform(0, 1, (50, 2))
    np.testing.assert_array_equal(readout(grid)[[7, 3]], readout(grid[[7, 3]]))
    # smooth (neighbours in the map read alike) yet varied (areas far apart read differently)
    near, far = readout([[0.3, 0.3], [0.31, 0.3]]), readout([[0.3, 0.3], [0.9, 0.1]])
    assert np.abs(near[0] - near[1]).max() < 0.2 * np.abs(far[0] - far[1]).max()


def test_the_readout_field_is_drawn_once_per_dataset():
    a = ReadoutField.draw(8, np.random.default_rng((0, 5)))
    b = ReadoutField.draw(8, np.random.default_rng((0, 5)))
    np.testing.assert_array_equal(a([[0.2, 0.7]]), b([[0.2, 0.7]]))
    values = a(np.random.default_rng(1).uniform(0, 1, (4000, 2)))
    assert np.all(np.abs(values.std(axis=0) - 1) < 0.35)  # about unit variance, as the former N(0, 1) weights


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # nilearn, at the atlas vertices outside the volume
def test_affines_bring_every_participant_onto_the_atlas(sim_dataset):
    """nilearn's vol_to_surf (the authors' call: pial, white as inner mesh, linear) with each participant's
    affine_s<N>.npy reaches the atlas vertex at the same canonical place: a volume holding each voxel's
    canonical (u, v), divided by the projection of ones (depth sampling dilutes both alike), gives back
    the vertex's (u, v) wherever the vertex lies between cell centres of one hemisphere; and the
    participants' language read-outs land alike on the atlas."""
    from nilearn.surface import vol_to_surf

    base = atlas_dir(sim_dataset) / "fsaverage" / "surf"
    projected = {}
    for participant in Dataset(sim_dataset).participants:
        truth = load_truth(sim_dataset, participant)
        affine = np.load(affine_path(sim_dataset, participant))
        shape = tuple(truth.voxel.max(axis=0) + [2, 2, 2])  # (x, y, z): one margin voxel beyond the cortex
        nx, ny = shape[0] // 2 - 1, shape[1] - 2

        def volume(values):
            vol = np.zeros(shape)
            vol[tuple(truth.voxel.T)] = values
            return nibabel.Nifti1Image(vol, affine)

        language = truth.kind == KINDS.index("language")
        u_vertex, v_vertex, _ = atlas_vertices()
        for h, hemi in enumerate(("lh", "rh")):
            pial, white = str(base / f"{hemi}.pial"), str(base / f"{hemi}.white")
            ones, u, v, in_language, weight = (
                vol_to_surf(volume(values), pial, inner_mesh=white, interpolation="linear")
                for values in (1.0, truth.position[:, 0], truth.position[:, 1], language, truth.language_weights[:, 0]))
            inside = ((u_vertex > 0.5 / nx + 1e-9) & (u_vertex < 1 - 0.5 / nx - 1e-9)
                      & (v_vertex > 0.5 / ny + 1e-9) & (v_vertex < 1 - 0.5 / ny - 1e-9))
            assert inside.sum() > 0.6 * ATLAS_SIDE ** 2
            np.testing.assert_allclose(u[inside] / ones[inside], u_vertex[inside], atol=1e-9)
            np.testing.assert_allclose(v[inside] / ones[inside], v_vertex[inside], atol=1e-9)
            assert np.all((ones[inside] > 0.94) & (ones[inside] <= 1 + 1e-12))
            assert np.all(np.isnan(ones[v_vertex >= 1]))  # the atlas's extra rows lie outside every participant
            among_language = inside & (np.abs(in_language - ones) < 1e-9)  # every voxel around is a language voxel
            projected[participant, h] = (weight / ones, among_language)
    for h in (0, 1):
        (a, where_a), (b, where_b) = projected["UTS01", h], projected["UTS02", h]
        both = where_a & where_b
        field = load_readout(sim_dataset)(np.column_stack([u_vertex, v_vertex]))[:, 0]
        assert both.sum() > 300
        assert np.corrcoef(a[both], b[both])[0, 1] > 0.85 and np.corrcoef(a[both], field[both])[0, 1] > 0.85


def test_same_seed_same_files_and_the_roi_file_flag(tmp_path):
    a = simulate_dataset(tmp_path / "a", seed=3, **TINY)
    b = simulate_dataset(tmp_path / "b", seed=3, write_roi_files=False, **TINY)
    cortex_files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and not p.suffix == ".json"
                          and ("pycortex-db" in p.parts or "freesurfer_subjdir" in p.parts or "atlas" in p.parts
                               or "affine_transforms" in p.parts))
    # 8 surfaces, overlays.svg, matrices.xfm, reference, mask, 2 sphere.reg, the affine; the atlas's 6 surfaces, 2 annotations
    assert len(cortex_files) == 8 + 1 + 3 + 2 + 1 + 6 + 2
    for path in cortex_files:
        assert (a / path).read_bytes() == (b / path).read_bytes(), path
    assert (a / "derivative" / "rois" / "UTS01.json").is_file() and not (b / "derivative" / "rois").exists()
    settings = json.loads((b / "simulation_truth" / "settings.json").read_text())
    assert settings["write_roi_files"] is False and "shared" in settings["cortex"]["language_readout"]

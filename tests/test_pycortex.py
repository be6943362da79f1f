"""braintune.data.pycortex on a tiny hand-built subject (tests/_pycortex_tiny.py): known answers for the
masks, the ROI vertices and voxels, the svg path rules, the Glasser areas, the written files and bad inputs.
pycortex's own outputs on its subject S1 are compared in tests/test_pycortex_s1.py."""

from __future__ import annotations

import json

import nibabel
import numpy as np
import pytest
from _pycortex_tiny import (SHAPE_XYZ, SQUARE, SQUARE_VERTICES, grid_points, grid_triangles, make_subject, svg_text,
                            write_freesurfer, write_gifti)

from braintune.cli import main
from braintune.data.pycortex import (Subject, build_subject_rois, cortical_mask, mask_columns, read_overlays,
                                     roi_vertices, roi_voxel_masks, voxel_distances, write_subject_rois)
from braintune.data.pycortex.overlays import parse_path
from braintune.data.rois import group_rois
from braintune.errors import ConfigError, DataError

SHAPE = SHAPE_XYZ[::-1]  # pycortex's (z, y, x)


def voxels(*xyz):
    """A (z, y, x) bool volume with the given (x, y, z) voxels True."""
    out = np.zeros(SHAPE, dtype=bool)
    for x, y, z in xyz:
        out[z, y, x] = True
    return out


@pytest.fixture
def tiny(tmp_path):
    return Subject(make_subject(tmp_path))


# ------------------------------------------------------------------------------------------ masks
def test_voxel_distances_name_the_nearest_vertex(tiny):
    """Guards against mixing (x, y, z) and (z, y, x) or the hemisphere order: a voxel on a vertex is
    0 mm from it, one 5 mm above the fiducial plane is 5 mm away, right vertices come after left."""
    dist, nearest = voxel_distances(tiny, tiny.transform("identity"))
    assert dist.shape == nearest.shape == SHAPE
    assert dist[2, 2, 2] == 0 and nearest[2, 2, 2] == 12  # left vertex (column 2, row 2)
    assert dist[7, 2, 2] == 5 and nearest[7, 2, 2] == 12
    assert nearest[2, 3, 9] == 25 + 5 * 3 + 3  # right vertex (3, 3) sits at mm (9, 3.25, 2)
    assert dist[2, 3, 9] == pytest.approx(0.25)


def test_mask_kinds_known_answers(tiny):
    """Guards against a wrong threshold or comparison (< 8, < 2, <= thickness) and against sampling
    the wrong surface: the fiducial plane is z = 2, the cortex 2 mm thick (wm z = 1, pia z = 3)."""
    xfm = tiny.transform("identity")
    thick, thin, cortical = (cortical_mask(tiny, xfm, kind) for kind in ("thick", "thin", "cortical"))
    assert [bool(thick[z, 2, 2]) for z in range(13)] == [True] * 10 + [False] * 3  # 8 mm is out
    assert [bool(thin[z, 2, 2]) for z in range(13)] == [False, True, True, True] + [False] * 9
    assert [bool(cortical[z, 2, 2]) for z in range(13)] == [True] * 5 + [False] * 8
    nearest = cortical_mask(tiny, xfm, "nearest")
    expected = voxels(*[(c, r, 2) for r in range(5) for c in range(5)], *[(c + 6, r, 2) for r in range(5) for c in range(5)])
    assert np.array_equal(nearest, expected)
    line = cortical_mask(tiny, xfm, "line_nearest")
    assert np.array_equal(line, expected | np.roll(expected, 1, axis=0) | np.roll(expected, -1, axis=0))


def test_nearest_mask_skips_vertices_the_flat_map_cut(tmp_path):
    """Guards against sampling cut vertices: pycortex's nearest mapper uses the flat map's triangles."""
    subject = Subject(make_subject(tmp_path, cut=(12,)))
    mask = cortical_mask(subject, subject.transform("identity"), "nearest")
    assert not mask[2, 2, 2] and mask[2, 2, 1] and int(mask.sum()) == 49


def test_stored_mask_is_read_as_pycortex_does(tmp_path):
    """Guards against recomputing a mask the subject ships: db.get_mask reads mask_<kind>.nii.gz first."""
    folder = make_subject(tmp_path)
    stored = voxels((0, 0, 0), (5, 4, 3))
    nibabel.save(nibabel.Nifti1Image(stored.T.astype(np.uint8), np.eye(4)), folder / "transforms/identity/mask_thick.nii.gz")
    subject = Subject(folder)
    xfm = subject.transform("identity")
    assert np.array_equal(cortical_mask(subject, xfm, "thick"), stored)
    assert cortical_mask(subject, xfm, "thick", use_stored=False).sum() > 2


# ------------------------------------------------------------------------------------------ overlays
@pytest.mark.parametrize("d", [
    SQUARE,
    "m 50,75 200,0 0,200 -200,0 z",
    "m 50,75 h 200 v 200 h -200 z",
    "M 50,75 250,75 250,275 50,275 z",
    "m 50,75 c 0,0 200,0 200,0 l 0,200 -200,0 z",
])
def test_square_roi_holds_its_four_vertices(tmp_path, d):
    """Guards against wrong svg -> flat coordinates (y flipped, normalised per axis) and wrong path
    commands: each spelling of the square holds left vertices 11, 12, 16, 17 and nothing else."""
    subject = Subject(make_subject(tmp_path, {"square": [d]}))
    assert roi_vertices(subject)["square"].tolist() == SQUARE_VERTICES


def test_path_rules_keep_pycortex_quirks():
    """Guards against 'fixing' pycortex's parser (which would change ROIs): absolute H/V put the
    pen at (x, 0)/(0, y), z closes without moving the pen, an unfinished curve is dropped."""
    path = parse_path("M 50,75 H 250 V 275 z l 10,10", "test")
    assert path.vertices.tolist() == [[50, 75], [250, 0], [0, 275], [0, 0], [10, 285]]
    assert parse_path("m 1,1 c 1,1 2,2", "test").vertices.tolist() == [[1, 1]]
    for bad in ("m 1,1 s 2,2 3,3", "m 1,1 22", "l 1,1"):
        with pytest.raises(DataError, match="test"):
            parse_path(bad, "test")


def test_only_direct_paths_of_the_rois_layer_count(tmp_path):
    """Guards against counting other layers, nested groups or non-path elements as ROI outlines."""
    folder = make_subject(tmp_path)
    text = svg_text({"square": [SQUARE], "empty": []}, extra='<rect x="0" y="0" width="800" height="425"/>')
    text = text.replace('<path d="' + SQUARE + '"/>', '<path d="' + SQUARE + '"/><g><path d="M 0,0 L 800,0 L 800,425 Z"/></g>')
    (folder / "overlays.svg").write_text(text.replace("</svg>", '<g inkscape:label="sulci"><g inkscape:label="shapes">'
                                                      '<g inkscape:label="square"><path d="M 0,0 L 800,0 L 800,425 Z"/>'
                                                      "</g></g></g></svg>"))
    rois = roi_vertices(Subject(folder))
    assert list(rois) == ["square", "empty"]
    assert rois["square"].tolist() == SQUARE_VERTICES and rois["empty"].tolist() == []


def test_cut_vertices_join_through_their_neighbours(tmp_path):
    """Guards against get_roi_verts' repair step: vertices the flat map cut (12 inside, 18 outside
    but next to 17) join the ROI through an ROI vertex on the flat map; others do not."""
    subject = Subject(make_subject(tmp_path, cut=(12, 18)))
    assert roi_vertices(subject)["square"].tolist() == [11, 12, 16, 17, 18]


# ------------------------------------------------------------------------------------------ ROI voxels
def test_roi_voxels_are_cortical_voxels_nearest_to_roi_vertices(tiny):
    """Guards against get_roi_masks' rule: the cortical ribbon (|z - 2| <= 2) above the ROI's vertices."""
    masks = roi_voxel_masks(tiny, tiny.transform("identity"))
    expected = voxels(*[(x, y, z) for x in (1, 2) for y in (2, 3) for z in range(5)])
    assert np.array_equal(masks["square"], expected)


def test_overlapping_rois_lose_their_shared_voxels(tmp_path):
    """Guards against allow_overlap=False: voxels of two ROIs (above vertices 12 and 17) leave both."""
    subject = Subject(make_subject(tmp_path, {"a": [SQUARE], "b": ["M 150,75 L 350,75 L 350,275 L 150,275 Z"]}))
    masks = roi_voxel_masks(subject, subject.transform("identity"))
    assert np.array_equal(masks["a"], voxels(*[(1, y, z) for y in (2, 3) for z in range(5)]))
    assert np.array_equal(masks["b"], voxels(*[(3, y, z) for y in (2, 3) for z in range(5)]))


def test_columns_count_thick_voxels_in_c_order():
    """Guards against (x, y, z) order or counting all voxels: a column is a rank among thick's True voxels."""
    thick = voxels((0, 0, 0), (3, 0, 0), (1, 1, 0), (0, 0, 1))
    roi = voxels((1, 1, 0), (0, 0, 1), (5, 5, 5))  # the last has no column
    assert mask_columns({"r": roi}, thick)["r"].tolist() == [2, 3]


# ------------------------------------------------------------------------------------------ Glasser
NAMES = ["???", "L_A1_ROI", "L_PGi_ROI"]


def _atlas(tmp_path, n_annot=40):
    labels = {"lh": np.r_[np.ones(10), 2 * np.ones(10), np.zeros(18), -np.ones(2)].astype(int),
              "rh": np.r_[np.ones(5), 2 * np.ones(35)].astype(int)}
    labels = {h: v[:n_annot] for h, v in labels.items()}
    return write_freesurfer(tmp_path, labels, NAMES, {h: np.arange(25) for h in ("lh", "rh")})


def test_glasser_areas_reach_subject_vertices_through_sphere_reg(tmp_path):
    """Guards against the hemisphere offset, the name normalisation and mapping through the wrong sphere."""
    atlas, fs = _atlas(tmp_path)
    rois = build_subject_rois(make_subject(tmp_path, {"A1": [SQUARE]}), "identity", atlas, fs)
    assert rois.glasser == ("A1", "PGi")
    assert rois.vertices["A1"].tolist() == list(range(10)) + list(range(25, 30))
    assert rois.vertices["PGi"].tolist() == list(range(10, 20)) + list(range(30, 50))
    assert rois.vertices["A1_overlay"].tolist() == SQUARE_VERTICES  # an overlays ROI named like an area
    groups = group_rois(rois.columns, int(rois.thick.sum()))
    assert np.array_equal(groups["primary_auditory"], rois.columns["A1"])


# ------------------------------------------------------------------------------------------ files and CLI
def test_write_subject_rois_files(tmp_path):
    """Guards against the file formats: NIfTI in (x, y, z) with the reference's affine, ROI ->
    thick-mask columns, ROI -> vertices; what braintune's ROI reader expects."""
    folder = make_subject(tmp_path)
    out = tmp_path / "out"
    rois = write_subject_rois(folder, "identity", out)
    image = nibabel.load(out / "mask_thick.nii.gz")
    assert image.shape == SHAPE_XYZ and np.array_equal(image.affine, np.diag([2.0, 2.0, 2.0, 1.0]))
    thick = np.asarray(image.dataobj).T != 0
    assert np.array_equal(thick, rois.thick) and thick.sum() == 12 * 6 * 10
    columns = json.loads((out / "rois.json").read_text())
    expected = voxels(*[(x, y, z) for x in (1, 2) for y in (2, 3) for z in range(5)])
    assert columns == {"square": np.flatnonzero(expected[thick]).tolist()}
    assert json.loads((out / "roi_vertices.json").read_text()) == {"square": SQUARE_VERTICES}
    assert sorted(p.name for p in out.iterdir()) == ["mask_thick.nii.gz", "roi_vertices.json", "rois.json"]


def test_cli_rois(tmp_path, capsys):
    """Guards against the subcommand's wiring: its flags reach write_subject_rois, errors are one line."""
    atlas, fs = _atlas(tmp_path)
    folder = make_subject(tmp_path)
    out = tmp_path / "out"
    assert main(["rois", "--pycortex-subject", str(folder), "--transform", "identity", "--out", str(out),
                 "--atlas", str(atlas), "--freesurfer-subject", str(fs)]) == 0
    assert set(json.loads((out / "rois.json").read_text())) == {"square", "A1", "PGi"}
    assert "3 ROIs (2 HCP-MMP1 areas)" in capsys.readouterr().out
    assert main(["rois", "--pycortex-subject", str(folder), "--transform", "nope", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "transforms/nope/matrices.xfm" in err and "identity" in err


# ------------------------------------------------------------------------------------------ bad inputs
def _remove(path):
    path.unlink()


def _extra_flat_vertex(folder):
    write_gifti(folder / "surfaces/flat_lh.gii", np.vstack([grid_points(), [[9, 9, 0]]]), grid_triangles())


def _mask_of_other_shape(folder):
    nibabel.save(nibabel.Nifti1Image(np.ones((12, 6, 5), np.uint8), np.eye(4)), folder / "transforms/identity/mask_thick.nii.gz")


def _svg_without_rois(folder):
    (folder / "overlays.svg").write_text(svg_text({"square": [SQUARE]}, layer="sulci"))


@pytest.mark.parametrize("spoil, names", [
    (lambda f: _remove(f / "surfaces/pia_rh.gii"), ["pia_rh.gii", "missing"]),
    (_extra_flat_vertex, ["flat_lh.gii", "26 vertices", "25"]),
    (_mask_of_other_shape, ["mask_thick.nii.gz", "reference.nii.gz", "(5, 6, 12)", "(13, 6, 12)"]),
    (_svg_without_rois, ["overlays.svg", "'rois'", "sulci"]),
])
def test_bad_subject_is_one_line_naming_the_file_and_writes_nothing(tmp_path, spoil, names):
    """Guards against tracebacks or half-written outputs on broken subject folders."""
    folder = make_subject(tmp_path)
    spoil(folder)
    out = tmp_path / "out"
    with pytest.raises(DataError) as error:
        write_subject_rois(folder, "identity", out)
    message = str(error.value)
    assert "\n" not in message and all(name in message for name in names), message
    assert not out.exists()


def test_bad_atlas_inputs_are_one_line_and_write_nothing(tmp_path):
    """Guards against an annotation on another mesh than its sphere, a sphere.reg of another subject,
    and an atlas without the subject's registration."""
    folder, out = make_subject(tmp_path), tmp_path / "out"
    atlas, fs = _atlas(tmp_path / "short", n_annot=39)
    with pytest.raises(DataError, match=r"lh\.HCPMMP1\.annot: annotation of 39 vertices, but its sphere .*lh\.sphere has 40"):
        write_subject_rois(folder, "identity", out, atlas, fs)
    atlas, fs = _atlas(tmp_path / "ok")
    nibabel.freesurfer.write_geometry(str(fs / "surf/rh.sphere.reg"), np.ones((30, 3)), grid_triangles())
    with pytest.raises(DataError, match=r"rh\.sphere\.reg: 30 vertices, but .*wm_rh\.gii has 25"):
        write_subject_rois(folder, "identity", out, atlas, fs)
    with pytest.raises(ConfigError, match="FreeSurfer"):
        write_subject_rois(folder, "identity", out, atlas)
    assert not out.exists()


def test_reader_reports_each_file(tmp_path):
    """Guards against vague errors from the reader's own checks (a missing subject, a bad xfm file)."""
    with pytest.raises(DataError, match="no such pycortex subject folder"):
        Subject(tmp_path / "absent")
    folder = make_subject(tmp_path)
    (folder / "transforms/identity/matrices.xfm").write_text('{"magnet": []}')
    with pytest.raises(DataError, match=r"matrices\.xfm: no readable 'coord' matrix"):
        Subject(folder).transform("identity")
    with pytest.raises(DataError, match=r"overlays\.svg: overlays file missing"):
        read_overlays(tmp_path / "overlays.svg")

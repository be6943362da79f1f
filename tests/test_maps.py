"""Brain maps: `braintune flatmap` (image = braintune.data.pycortex's Flatmap image, NaN off the cortex),
what each run map shows (best layer, FDR flags, layer preference) by hand, the area outlines, and the
report's "Brain maps" section on a simulated participant; bad inputs one line each.
The tiny subject (tests/_pycortex_tiny.py) has answers known by hand; S1 is pycortex's example subject."""

from __future__ import annotations

import base64
import logging
import re
from pathlib import Path

import nibabel
import numpy as np
import pandas as pd
import pytest
import yaml
from _pycortex_tiny import SHAPE_XYZ, make_subject
from matplotlib.path import Path as PolygonPath
from scipy import sparse

from braintune.cli import main as braintune
from braintune.data.pycortex import Flatmap, Subject
from braintune.report import build_report
from braintune.report.maps import HATCH, CortexMap, heaviest_column
from braintune.report.run_maps import MapSettings, VoxelLayers, draw_model_maps, variant_maps

from conftest import PYCORTEX_S1 as S1
REFERENCE = Path(__file__).resolve().parent / "data" / "pycortex_S1" / "reference.npz"  # pycortex 1.4.0's own images
MODEL = "tiny-pretrained-hubert"
LAYERS = (0, 1, 2, 3)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny subject with a stored thick mask: the voxels z = 1..3 (its cortex) of the first 4 rows."""
    folder = make_subject(tmp_path_factory.mktemp("maps_tiny"))
    thick = np.zeros(SHAPE_XYZ, dtype=np.uint8)  # NIfTI (x, y, z)
    thick[:, :4, 1:4] = 1
    nibabel.save(nibabel.Nifti1Image(thick, np.diag([2.0, 2.0, 2.0, 1.0])),
                 folder / "transforms" / "identity" / "mask_thick.nii.gz")
    return folder


def flatmap_cli(*args) -> int:
    return braintune(["flatmap", *map(str, args)])


# ---- braintune flatmap ------------------------------------------------------------------------------
@pytest.mark.usefixtures("pycortex_s1")
def test_cli_image_on_s1_is_pycortex_make_flatmap_image(tmp_path, capsys):
    """Guards against the CLI drawing another image than pycortex's, or flipping it: OUT.npy of the volume
    of tests/test_pycortex_s1.py (arange, every 7th voxel NaN) is pycortex 1.4.0's make_flatmap_image at
    height 64 bit for bit (tests/data/pycortex_S1/reference.npz), NaN on every pixel off its flat mask."""
    with np.load(REFERENCE) as reference:
        expected, mask_bits = reference["flat64__volume"], reference["flat64__mask_bits"]
    transform = Subject(S1).transform("fullhead")
    volume = np.arange(np.prod(transform.shape), dtype=np.float64).reshape(transform.shape)
    volume.ravel()[::7] = np.nan
    np.save(tmp_path / "volume.npy", volume)
    assert flatmap_cli("--pycortex-subject", S1, "--transform", "fullhead", "--values", tmp_path / "volume.npy",
                       "--height", 64, "--out", tmp_path / "map.png", "--pdf") == 0
    image = np.load(tmp_path / "map.npy")
    assert image.shape == expected.shape == (64, 122) and np.array_equal(image, expected, equal_nan=True)
    on_cortex = np.unpackbits(mask_bits, count=122 * 64).astype(bool).reshape(122, 64).T[::-1]
    assert np.isnan(image[~on_cortex]).all() and np.isfinite(image[on_cortex]).mean() > 0.9
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "map.pdf").read_bytes().startswith(b"%PDF")
    assert "map.npy" in capsys.readouterr().out


def test_cli_image_of_a_finite_volume_is_nan_exactly_off_the_cortex(tiny, tmp_path):
    """Guards against NaN on the cortex or values off it: every voxel has a value, so the image is finite
    on exactly the flat mask's pixels, and equals Flatmap.volume_image."""
    z, y, x = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in reversed(SHAPE_XYZ)), indexing="ij")
    np.save(tmp_path / "gradient.npy", z + 0.1 * y + 0.01 * x)
    assert flatmap_cli("--pycortex-subject", tiny, "--transform", "identity", "--values", tmp_path / "gradient.npy",
                       "--height", 20, "--out", tmp_path / "map.png") == 0
    image = np.load(tmp_path / "map.npy")
    subject = Subject(tiny)
    flatmap = Flatmap(subject, 20)
    assert np.array_equal(image, flatmap.volume_image(z + 0.1 * y + 0.01 * x, subject.transform("identity")),
                          equal_nan=True)
    assert np.array_equal(np.isnan(image), ~flatmap.mask.T[::-1])


def test_cli_one_voxel_lands_on_the_pixels_of_the_vertex_over_it(tiny, tmp_path):
    """Guards against voxel order and orientation: voxel (z, y, x) = (2, 2, 2) lies on left vertex 12's
    cortical segment; its value shows exactly on the pixels whose nearest vertex is 12, NaN elsewhere."""
    volume = np.full(tuple(reversed(SHAPE_XYZ)), np.nan)
    volume[2, 2, 2] = 7.0
    np.save(tmp_path / "voxel.npy", volume.ravel())  # flat in C order is accepted too
    assert flatmap_cli("--pycortex-subject", tiny, "--transform", "identity", "--values", tmp_path / "voxel.npy",
                       "--height", 20, "--out", tmp_path / "map.png", "--no-outlines") == 0
    image = np.load(tmp_path / "map.npy")
    nearest = Flatmap(Subject(tiny), 20).vertex_image(np.arange(50.0))
    assert np.isfinite(image).sum() > 0 and np.array_equal(np.isfinite(image), nearest == 12)
    assert (image[np.isfinite(image)] == 7.0).all()
    assert nearest[np.isfinite(image)].mean() < 25  # vertex 12 is in the left hemisphere: the left of the map
    assert np.nonzero(np.isfinite(image))[1].max() < image.shape[1] / 2


def test_cli_columns_land_on_their_voxels_pixels(tiny, tmp_path):
    """Guards against column order: per-column values (the thick mask's voxels in C order of (z, y, x))
    give the image of the volume holding them; the column of voxel (2, 2, 2) shows on vertex 12's pixels."""
    subject = Subject(tiny)
    transform = subject.transform("identity")
    thick = transform.stored_mask("thick")
    columns = np.full(int(thick.sum()), np.nan)
    order = np.flatnonzero(thick.ravel())
    columns[np.searchsorted(order, np.ravel_multi_index((2, 2, 2), thick.shape))] = 7.0
    np.save(tmp_path / "columns.npy", columns)
    assert flatmap_cli("--pycortex-subject", tiny, "--transform", "identity", "--values", tmp_path / "columns.npy",
                       "--height", 20, "--out", tmp_path / "map.png") == 0
    image = np.load(tmp_path / "map.npy")
    flatmap = Flatmap(subject, 20)
    assert np.array_equal(image, flatmap.columns_image(columns, transform, thick), equal_nan=True)
    nearest = flatmap.vertex_image(np.arange(50.0))
    assert np.isfinite(image).sum() > 0 and np.array_equal(np.isfinite(image), nearest == 12)
    assert (image[np.isfinite(image)] == 7.0).all()


@pytest.mark.parametrize("values, args, message", [
    (np.zeros((3, 4)), (), r"values.npy: values of shape \(3, 4\); expected one per voxel of the \(z, y, x\) volume "
                           r"\(13, 6, 12\) \(or flat, \(936,\)\) or one per column of the thick mask \(144,\)"),
    (None, (), "missing.npy: no such values file"),
    (np.zeros(144), ("--out", "map.jpg"), r"map.jpg: the output must be a .png file"),
    (np.zeros(144), ("--out", "values.png"), "would overwrite the values file"),
    (np.zeros(144), ("--cmap", "nope"), "unknown colour map 'nope'"),
    (np.zeros(144), ("--height", "1"), "flat map height 1: at least 2 pixels"),
    (np.zeros(144), ("--vmin", "2", "--vmax", "1"), "the upper limit must exceed the lower"),
    (np.zeros(144), ("--transform", "nope"), "nope"),
])
def test_cli_bad_inputs_are_one_line_each(tiny, tmp_path, monkeypatch, capsys, values, args, message):
    monkeypatch.chdir(tmp_path)
    if values is not None:
        np.save(tmp_path / "values.npy", values)
    options = {"--transform": "identity", "--values": "values.npy" if values is not None else "missing.npy",
               "--out": "map.png", "--height": "20"}
    extra = list(args)
    for key in list(options):
        if key in extra:
            options[key] = extra.pop(extra.index(key) + 1)
            extra.remove(key)
    argv = ["--pycortex-subject", str(tiny), *[x for kv in options.items() for x in kv], *extra]
    assert flatmap_cli(*argv) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "map.png").exists() and not (tmp_path / "map.npy").exists()


# ---- the maps' content ---------------------------------------------------------------------------------
def test_variant_maps_by_hand():
    """Guards against the best layer (mean r / CC_max over the voxels above the threshold), the preferred
    layer (argmax of r), the threshold, and the FDR flags (BH over the voxels above the threshold)."""
    r = np.array([[0.1, 0.4, 0.9, 0.2],
                  [0.3, 0.2, 0.8, 0.1],
                  [0.2, 0.1, 0.7, 0.3]])
    ceiling = np.array([0.5, 0.5, 0.01, 0.25])  # voxel 2 below the 0.05 threshold
    p = np.full((3, 4), 0.001)
    p[0, 3] = 0.03  # best layer 4, BH over voxels 0, 1, 3: p 0.001, 0.001, 0.03 <= 3/3 x 0.05: all significant
    p[1, 0] = 0.04  # preferred layers (5, 4, -, 6): p 0.04, 0.001, 0.5; BH: 0.5 > 0.05, 0.04 > 2/3 x 0.05,
    p[2, 3] = 0.5  # 0.001 <= 1/3 x 0.05: only voxel 1 significant
    voxels = VoxelLayers([4, 5, 6], r, ceiling, p)
    # normalised means over voxels 0, 1, 3: layer 4: (0.2 + 0.8 + 0.8) / 3 = 0.6; 5: (0.6 + 0.4 + 0.4) / 3;
    # 6: (0.4 + 0.2 + 1.2) / 3 = 0.6 -> a tie between 4 and 6: the first
    maps = variant_maps(voxels, MapSettings())
    assert maps.best_layer == 4 and maps.n_voxels == 3 and maps.layers == [4, 5, 6]
    assert np.allclose(maps.normalised, [0.2, 0.8, np.nan, 0.8], equal_nan=True)
    assert np.array_equal(maps.preferred, [5, 4, np.nan, 6], equal_nan=True)
    assert maps.normalised_not_significant.tolist() == [False, False, False, False]
    assert maps.preferred_not_significant.tolist() == [True, False, False, True]
    grey = variant_maps(voxels, MapSettings(not_significant="grey"))
    assert np.array_equal(grey.preferred, [np.nan, 4, np.nan, np.nan], equal_nan=True)
    assert grey.preferred_not_significant is None
    strict = variant_maps(voxels, MapSettings(fdr=0.01))  # best layer: 0.03 > 3/3 x 0.01, 0.001 <= 2/3 x 0.01
    assert strict.normalised_not_significant.tolist() == [False, False, False, True]
    no_p = variant_maps(VoxelLayers([4, 5, 6], r, ceiling, None), MapSettings())
    assert no_p.normalised_not_significant is None and no_p.preferred_not_significant is None
    with pytest.raises(ValueError, match="not_significant 'dots'"):
        MapSettings(not_significant="dots")


def test_heaviest_column_takes_the_largest_weight_first_on_a_tie():
    weights = sparse.csr_matrix(np.array([[0.25, 0.5, 0.25], [0.0, 0.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]]))
    chosen = heaviest_column(weights).toarray()
    assert chosen.tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]]


def test_dominant_image_holds_the_value_of_each_pixels_heaviest_voxel(tiny):
    """Guards against averaging categories: every pixel shows one of the columns' values (a layer number),
    that of its most-weighted voxel with a value; pixels with no such voxel are NaN."""
    cortex = CortexMap(tiny, "identity", 20)
    rng = np.random.default_rng(0)
    columns = rng.integers(0, 7, int(cortex.thick.sum())).astype(np.float64)
    columns[::5] = np.nan
    image = cortex.dominant_image(columns)
    shown = image[np.isfinite(image)]
    assert shown.size > 100 and set(np.unique(shown)) <= set(range(7))
    assert np.array_equal(np.isfinite(image), np.isfinite(cortex.image(columns)))
    volume = np.full(cortex.thick.shape, np.nan)
    volume[cortex.thick] = columns
    weights = cortex.flatmap.pixel_matrix(cortex.transform).toarray()
    weights[:, np.isnan(volume.ravel())] = 0
    expected = np.full(cortex.flatmap.mask.shape, np.nan)
    expected[cortex.flatmap.mask] = np.where(weights.sum(1) > 0, volume.ravel()[weights.argmax(1)], np.nan)
    assert np.array_equal(image, expected.T[::-1], equal_nan=True)


def test_area_outlines_enclose_exactly_the_areas_pixels(tiny):
    """Guards against misplaced area borders: each outline (one per area and hemisphere) contains the
    centres of exactly the pixels whose nearest vertex is in the area, and its name sits on one of them."""
    areas = {"A1": np.array([11, 12, 16, 17]), "PGi": np.array([0, 1, 30, 31])}  # PGi: both hemispheres
    cortex = CortexMap(tiny, "identity", 20, areas)
    nearest = cortex.flatmap.vertex_image(np.arange(50.0))
    rows, cols = np.mgrid[0:cortex.shape[0], 0:cortex.shape[1]]
    centres = np.column_stack([cols.ravel(), rows.ravel()])
    outlines = cortex.area_outlines
    assert sorted(o.name for o in outlines) == ["A1", "PGi", "PGi"]
    for outline in outlines:
        inside = np.zeros(len(centres), dtype=bool)
        for line in outline.lines:
            inside |= PolygonPath(line).contains_points(centres)
        vertices = [v for v in areas[outline.name] if (v >= 25) == (outline.anchor[0] > cortex.shape[1] / 2)]
        assert np.array_equal(inside.reshape(cortex.shape), np.isin(nearest, vertices)), outline.name
        col, row = outline.anchor.astype(int)
        assert nearest[row, col] in vertices
    assert [o.name for o in cortex.roi_outlines] == ["square"]


# ---- the report's brain maps --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """One simulated participant (UTS01) with ROI files and vertices built by `braintune rois`."""
    from braintune.data.fmri import open_dataset
    from braintune.data.fmri.rois import write_dataset_rois
    from braintune.synthetic.fmri import simulate_dataset

    root = simulate_dataset(tmp_path_factory.mktemp("maps_sim"), n_participants=1, n_train_stories=1,
                            story_seconds=(30, 30), n_repeats=2, n_voxels=150, write_roi_files=False)
    dataset = open_dataset("ds003020", root)
    write_dataset_rois(dataset, dataset.participants, atlas=root / "simulation_truth" / "atlas")
    return root, dataset.n_voxels("UTS01")


def voxel_arrays(n_voxels: int, variant: str) -> dict[str, np.ndarray]:
    """Per layer: pretrained best at layer 2, tuned at layer 3; each voxel prefers layer v % 4; every
    fifth voxel below the ceiling threshold, every third not significant."""
    v = np.arange(n_voxels)
    bump = {"pretrained": np.array([0.0, 0.05, 0.1, 0.0]), "tuned": np.array([0.0, 0.05, 0.1, 0.2])}[variant]
    r = 0.2 + bump[:, None] + 0.3 * (np.arange(4)[:, None] == v % 4)
    ceiling = np.where(v % 5 == 0, 0.01, 0.8)
    p = np.where(v % 3 == 0, 0.9, 0.001) * np.ones((4, 1))
    return {"r": r, "ceiling": ceiling, "p": p}


def make_run(root: Path, fmri: Path | None, n_voxels: int, participant: str = "UTS01", voxels: bool = True) -> Path:
    (root / "tables").mkdir(parents=True)
    config = {"data": {"fmri": str(fmri) if fmri else None, "layout": "ds003020"},
              "align": {"ceiling_threshold": 0.05, "fdr": 0.05}}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    pd.DataFrame([dict(model="tiny-pretrained:hubert", variant=v, participant=participant, layer=layer,
                       roi="late_language", alignment=0.1 * layer) for v in ("pretrained", "tuned") for layer in LAYERS]
                 ).to_csv(root / "tables" / "alignment.csv", index=False)
    for variant in ("pretrained", "tuned") if voxels else ():
        arrays = voxel_arrays(n_voxels, variant)
        folder = root / "cache" / "alignment" / variant / "voxels" / MODEL / participant
        folder.mkdir(parents=True)
        for layer in LAYERS:
            np.savez(folder / f"layer_{layer:02d}.npz", r=arrays["r"][layer].astype(np.float32),
                     ceiling=arrays["ceiling"].astype(np.float32), alpha=np.ones(n_voxels, np.float32),
                     cv_score=np.zeros(n_voxels, np.float32), p_value=arrays["p"][layer].astype(np.float32),
                     fit_key="key")
    return root


@pytest.fixture(scope="module")
def report_run(simulated, tmp_path_factory):
    root, n_voxels = simulated
    run = make_run(tmp_path_factory.mktemp("maps_run") / "run", root, n_voxels)
    return run, build_report(run, maps=MapSettings(height=200))


def test_report_embeds_the_maps_and_writes_png_and_pdf(report_run):
    run, report = report_run
    text = report.read_text("utf-8")
    assert 'id="brain-maps"' in text and f"<h3>UTS01 · {MODEL}</h3>" in text
    images = [base64.b64decode(i) for i in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)]
    for kind in ("alignment", "difference", "layer_preference"):
        png = (run / "figures" / "maps" / f"UTS01_{MODEL}_{kind}.png").read_bytes()
        pdf = (run / "figures" / "maps" / f"UTS01_{MODEL}_{kind}.pdf").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 30_000, kind
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000, kind
        assert png in images and f"figures/maps/UTS01_{MODEL}_{kind}.pdf" in text
    assert "http://" not in text and "https://" not in text and not re.search(r"<(script|link)\b", text)


def test_report_maps_show_the_best_layers_and_layer_numbers(simulated):
    """Guards against titles that name another layer than the one drawn, and a layer-preference image
    holding anything but layer numbers."""
    root, n_voxels = simulated
    cortex = CortexMap(root / "derivative" / "pycortex-db" / "UTS01", "UTS01_auto", 120)
    maps = {v: variant_maps(VoxelLayers(list(LAYERS), a["r"], a["ceiling"], a["p"]), MapSettings())
            for v in ("pretrained", "tuned") for a in [voxel_arrays(n_voxels, v)]}
    assert maps["pretrained"].best_layer == 2 and maps["tuned"].best_layer == 3
    figures = draw_model_maps(cortex, "UTS01", MODEL, maps, MapSettings())
    titles = [ax.get_title() for ax in figures["alignment"].axes if ax.get_title()]
    assert titles[0].startswith("pretrained: best layer 2") and titles[1].startswith("tuned: best layer 3")
    assert "tuned at its best layer 3 minus pretrained at its best layer 2" in figures["difference"].axes[0].get_title()
    preferred = cortex.dominant_image(maps["tuned"].preferred)
    assert set(np.unique(preferred[np.isfinite(preferred)])) == set(LAYERS)
    bar = figures["layer_preference"].axes[1]
    assert [float(t) for t in bar.get_yticks()] == list(LAYERS) and bar.get_ylabel() == "layer of highest r"
    hatched = [c for ax in figures["alignment"].axes for c in ax.collections if getattr(c, "hatches", None) == [HATCH]]
    assert len(hatched) == 2  # every third voxel is not significant: hatched on both maps


def test_maps_are_skipped_in_one_log_line_without_voxels_or_cortex(simulated, tmp_path, caplog):
    root, n_voxels = simulated
    caplog.set_level(logging.INFO, logger="braintune.report")
    cases = {
        "no_voxels": (make_run(tmp_path / "a", root, n_voxels, voxels=False), "no voxel arrays under"),
        "no_dataset": (make_run(tmp_path / "b", None, n_voxels), "cannot be opened"),
        "no_cortex": (make_run(tmp_path / "c", root, n_voxels, participant="UTS09"), "UTS09 skipped: no usable cortex"),
    }
    for name, (run, message) in cases.items():
        caplog.clear()
        text = build_report(run, maps=MapSettings(height=64)).read_text("utf-8")
        assert "No brain maps" in text, name
        lines = [r.getMessage() for r in caplog.records if "brain maps" in r.getMessage()]
        assert len(lines) == 1 and message in lines[0], (name, lines)
        assert not (run / "figures" / "maps").exists()


def test_maps_skip_voxel_arrays_of_another_participants_size(simulated, tmp_path, caplog):
    root, n_voxels = simulated
    run = make_run(tmp_path / "run", root, n_voxels + 1)
    caplog.set_level(logging.INFO, logger="braintune.report")
    assert "No brain maps" in build_report(run, maps=MapSettings(height=64)).read_text("utf-8")
    assert any(f"{n_voxels + 1} voxels in the arrays, {n_voxels} in the thick mask" in r.getMessage()
               for r in caplog.records)


def test_area_borders_come_from_the_vertices_file_else_from_the_atlas(simulated, tmp_path):
    """Guards against the fallback drawing other areas than `braintune rois` wrote: without the vertices
    file, the run's atlas through sphere.reg gives the same areas and vertices; without either, none."""
    from braintune.data.fmri import open_dataset
    from braintune.report.run_maps import area_vertices

    root, _ = simulated
    dataset = open_dataset("ds003020", root)

    class WithoutRoiFiles:
        roi_path = staticmethod(lambda participant: tmp_path / f"{participant}.json")
        cortex = staticmethod(dataset.cortex)

    from_file = area_vertices(dataset, "UTS01")
    assert {"A1", "PGi", "44", "STSva"} <= set(from_file) and "V1" not in from_file  # the study's ROI groups only
    from_atlas = area_vertices(WithoutRoiFiles(), "UTS01", atlas=str(root / "simulation_truth" / "atlas"))
    assert from_atlas.keys() == from_file.keys()
    assert all(np.array_equal(from_atlas[name], from_file[name]) for name in from_file)
    assert area_vertices(WithoutRoiFiles(), "UTS01") == {}


def test_report_screenshot_tool(report_run, tmp_path):
    """tools/report_screenshot.py: the section copy hides what precedes the section, blank rows are cut;
    where Chromium is installed, a screenshot of the maps section is not blank (CI has no Chromium)."""
    import importlib.util
    import shutil

    from PIL import Image

    path = Path(__file__).resolve().parents[1] / "tools" / "report_screenshot.py"
    spec = importlib.util.spec_from_file_location("report_screenshot", path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    page = "<html><head><title>t</title></head><body><h2>a</h2><h2 id=\"maps\">b</h2></body></html>"
    assert tool.from_section(page, "maps") == page.replace(
        "</head>", "<style>body > :has(~ #maps) { display: none; }</style></head>")
    picture = np.full((300, 40, 3), 255, np.uint8)
    picture[:100, :10] = 0
    Image.fromarray(picture).save(tmp_path / "tall.png")
    assert tool.trim_bottom(tmp_path / "tall.png") == (40, 120) and Image.open(tmp_path / "tall.png").size == (40, 120)
    if shutil.which("chromium"):
        run, report = report_run
        width, height = tool.screenshot(report, tmp_path / "shot.png", height=2000, section="brain-maps")
        shot = np.asarray(Image.open(tmp_path / "shot.png").convert("L"))
        assert width == 1300 and (shot < 128).mean() > 0.01  # text, outlines and maps drawn, not a blank page
        assert not list(run.glob(".screenshot-*"))

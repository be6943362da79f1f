"""The brain maps of a run folder: per participant and model, flat maps of its voxel arrays.

Reads                                                            Writes (RUN/figures/maps/, PNG and PDF)
  RUN/config.yaml (data.fmri, data.layout, align.ceiling_threshold, align.fdr)
  RUN/cache/alignment/<variant>/voxels/<model tag>/<participant>/layer_NN.npz   (r, ceiling, p_value if present)
  the dataset's cortex files (FMRIDataset.cortex) and <roi file>.vertices.json (HCP-MMP1 area borders)

    <participant>_<model>_alignment     r / CC_max per voxel at the variant's best layer: pretrained, tuned
    <participant>_<model>_difference    tuned minus pretrained, each at its own best layer
    <participant>_<model>_layer_preference   the layer of highest r per voxel: pretrained, tuned

A variant's best layer: the highest mean r / CC_max over the voxels whose ceiling exceeds the
threshold. Voxels at or below the threshold are grey; with p-values, voxels not significant at the
FDR level (Benjamini-Hochberg over the voxels above the threshold, per layer) are hatched (or greyed,
`not_significant="grey"`). One CortexMap per participant serves all its maps.
"""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from braintune.errors import BraintuneError, DataError
from braintune.report.maps import CortexMap, Panel, diverging_scale, layer_scale, legend_handles, map_figure, \
    sequential_scale

log = logging.getLogger(__name__)

VARIANTS = ("pretrained", "tuned")
MAP_HEIGHT = 512  # flat-map pixels: about as wide as a map drawn in the report (8.4 in at 120 dpi) for a 2:1 map
NOT_SIGNIFICANT = ("hatch", "grey", "show")
NORMALISED = r"normalised alignment $r$ / CC$_\mathrm{max}$"


@dataclass(frozen=True)
class MapSettings:
    """What the maps show: the ceiling threshold and FDR level (the run's `align` section), the flat
    map's height, and how not-significant voxels are drawn (hatch, grey, show)."""

    ceiling_threshold: float = 0.05
    fdr: float = 0.05
    height: int = MAP_HEIGHT
    not_significant: str = "hatch"

    def __post_init__(self):
        if self.not_significant not in NOT_SIGNIFICANT:
            raise ValueError(f"not_significant {self.not_significant!r}: one of {', '.join(NOT_SIGNIFICANT)}")


@dataclass
class VoxelLayers:
    """One variant's voxel arrays: layers (L,), r (L, V), ceiling (V,), p (L, V) or None (no p-values)."""

    layers: list[int]
    r: np.ndarray
    ceiling: np.ndarray
    p: np.ndarray | None


@dataclass
class VariantMaps:
    """Per voxel (V,): normalised alignment at the best layer, its not-significant flags, the preferred
    layer and its flags; NaN at or below the ceiling threshold (and, greying, where not significant)."""

    layers: list[int]
    best_layer: int
    normalised: np.ndarray
    normalised_not_significant: np.ndarray | None
    preferred: np.ndarray
    preferred_not_significant: np.ndarray | None
    n_voxels: int


def read_voxel_layers(folder: Path) -> VoxelLayers | None:
    """The layer_NN.npz of one variant, model and participant (None if none); DataError naming a file
    that does not read, lacks r or ceiling, or whose arrays are not (voxels,) like the others'."""
    import zipfile

    paths = sorted(folder.glob("layer_*.npz"))
    if not paths:
        return None
    arrays = []
    for path in paths:
        try:
            with np.load(path) as z:
                arrays.append({k: np.asarray(z[k], dtype=np.float64) for k in ("r", "ceiling", "p_value")
                               if k in z.files})
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: unreadable voxel arrays ({exc})") from exc
        shapes = {a.shape for a in arrays[-1].values()}
        if not {"r", "ceiling"} <= set(arrays[-1]) or shapes != {arrays[0]["r"].shape} or len(shapes.pop()) != 1:
            raise DataError(f"{path}: needs arrays r and ceiling of one shape (voxels,) like {paths[0].name}'s")
    p = np.stack([a["p_value"] for a in arrays]) if all("p_value" in a for a in arrays) else None
    return VoxelLayers([int(path.stem.split("_")[1]) for path in paths], np.stack([a["r"] for a in arrays]),
                       arrays[0]["ceiling"], p if p is not None and np.isfinite(p).any() else None)


def not_significant(p: np.ndarray, above: np.ndarray, fdr: float) -> np.ndarray:
    """(V,) bool: voxels above the threshold not significant at `fdr` (BH over the voxels above it)."""
    from braintune.encoding.significance import fdr_bh

    significant, _ = fdr_bh(np.where(above, p, np.nan), q=fdr)
    return above & ~significant


def variant_maps(voxels: VoxelLayers, settings: MapSettings) -> VariantMaps:
    """Best layer (highest mean r / CC_max over the voxels above the threshold), the values there and
    each voxel's preferred layer (argmax of r over layers; the first layer on a tie)."""
    above = voxels.ceiling > settings.ceiling_threshold
    with np.errstate(divide="ignore", invalid="ignore"):
        normalised = np.where(above, voxels.r / voxels.ceiling, np.nan)
    means = np.nanmean(normalised, axis=1) if above.any() else np.zeros(len(voxels.layers))
    best = int(np.nanargmax(np.nan_to_num(means, nan=-np.inf)))
    choice = np.argmax(np.nan_to_num(voxels.r, nan=-np.inf), axis=0)
    preferred = np.where(above, np.asarray(voxels.layers, dtype=np.float64)[choice], np.nan)
    at_best, at_preferred = normalised[best], preferred
    flags = [None, None]
    if voxels.p is not None:
        flags = [not_significant(voxels.p[best], above, settings.fdr),
                 not_significant(voxels.p[choice, np.arange(len(choice))], above, settings.fdr)]
        if settings.not_significant == "grey":
            at_best, at_preferred = np.where(flags[0], np.nan, at_best), np.where(flags[1], np.nan, at_preferred)
        if settings.not_significant != "hatch":
            flags = [None, None]
    return VariantMaps(voxels.layers, voxels.layers[best], at_best, flags[0], at_preferred, flags[1], int(above.sum()))


def map_settings(run_dir: Path, **overrides) -> MapSettings:
    """MapSettings from RUN/config.yaml's `align` section (ceiling_threshold, fdr), then `overrides`."""
    align = _config(run_dir).get("align") or {}
    values = {k: float(align[k]) for k in ("ceiling_threshold", "fdr") if align.get(k) is not None}
    return MapSettings(**{**values, **overrides})


def _config(run_dir: Path) -> dict:
    import yaml

    try:
        return yaml.safe_load((run_dir / "config.yaml").read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}


@dataclass
class MapFigure:
    """One written map figure: whose, its file stem under figures/maps/, PNG bytes and caption (HTML)."""

    participant: str
    model: str
    stem: str
    png: bytes
    caption: str


def draw_model_maps(cortex: CortexMap, participant: str, model: str, maps: dict[str, VariantMaps],
                    settings: MapSettings) -> dict[str, object]:
    """Figures (matplotlib) of one participant and model: alignment, difference (both variants) and
    layer preference, keyed by kind."""
    hatched = None
    if any(m.normalised_not_significant is not None for m in maps.values()):
        hatched = f"not significant (block permutations, BH-FDR q = {settings.fdr:g})"
    grey = f"noise ceiling ≤ {settings.ceiling_threshold:g}" + (
        " or not significant" if settings.not_significant == "grey" else "")
    legend = legend_handles(cortex, grey, hatched)
    images = {v: cortex.image(m.normalised) for v, m in maps.items()}
    scale = sequential_scale(np.concatenate([i.ravel() for i in images.values()]), NORMALISED)
    figures = {"alignment": map_figure(cortex, [
        Panel(images[v], scale, f"{v}: best layer {m.best_layer} (highest mean r / CC$_\\mathrm{{max}}$ over the "
                                f"{m.n_voxels} voxels with CC$_\\mathrm{{max}}$ > {settings.ceiling_threshold:g})",
              _fraction(cortex, m.normalised_not_significant, m.normalised))
        for v, m in maps.items()], f"{participant} · {model} · normalised alignment at the best layer", legend)}
    if set(VARIANTS) <= set(maps):
        pre, tuned = maps["pretrained"], maps["tuned"]
        difference = cortex.image(tuned.normalised - pre.normalised)
        figures["difference"] = map_figure(cortex, [Panel(
            difference, diverging_scale(difference, "Δ " + NORMALISED + "\n(tuned − pretrained)"),
            f"tuned at its best layer {tuned.best_layer} minus pretrained at its best layer {pre.best_layer}")],
            f"{participant} · {model} · brain-tuned minus pretrained", legend_handles(cortex, grey, None))
    all_layers = sorted({layer for m in maps.values() for layer in m.layers})
    figures["layer_preference"] = map_figure(cortex, [
        Panel(cortex.dominant_image(m.preferred), layer_scale(all_layers), f"{v}: the layer that predicts each voxel "
              "best (argmax of r over layers)", _fraction(cortex, m.preferred_not_significant, m.preferred))
        for v, m in maps.items()], f"{participant} · {model} · layer preference", legend)
    return figures


def _fraction(cortex: CortexMap, flags: np.ndarray | None, values: np.ndarray) -> np.ndarray | None:
    """(H, W) fraction of a pixel's voxels (with a value) that are flagged, or None without flags."""
    return None if flags is None else cortex.image(np.where(np.isfinite(values), flags.astype(np.float64), np.nan))


def voxel_folders(run_dir: Path) -> dict[tuple[str, str], dict[str, Path]]:
    """(participant, model tag) -> variant -> folder of layer_NN.npz, for the pretrained and tuned variants."""
    found: dict[tuple[str, str], dict[str, Path]] = {}
    for variant in VARIANTS:
        for folder in sorted((run_dir / "cache" / "alignment" / variant / "voxels").glob("*/*")):
            if folder.is_dir() and any(folder.glob("layer_*.npz")):
                found.setdefault((folder.name, folder.parent.name), {})[variant] = folder
    return found


def area_vertices(dataset, participant: str, atlas: str | None = None) -> dict[str, np.ndarray]:
    """HCP-MMP1 areas of the study's ROI groups -> vertex indices: from <roi file>.vertices.json (written by
    `braintune rois --atlas`), else carried from `atlas` (the run's align.atlas) through the participant's
    sphere.reg (glasser_vertices); {} when neither is there."""
    from braintune.data.fmri.rois import vertices_path
    from braintune.data.pycortex import Subject, glasser_vertices
    from braintune.data.rois import ROI_GROUPS

    wanted = {area for members in ROI_GROUPS.values() for area in members}
    try:
        raw = json.loads(vertices_path(dataset.roi_path(participant)).read_text())
    except (BraintuneError, OSError, ValueError):
        files = dataset.cortex(participant)
        if atlas is None or files.freesurfer is None or not Path(files.freesurfer).is_dir():
            return {}
        raw = glasser_vertices(Subject(files.subject), atlas, files.freesurfer)
    return {name: np.asarray(v, dtype=np.int64) for name, v in raw.items() if name in wanted and len(v)}


def participant_cortex(dataset, participant: str, settings: MapSettings, atlas: str | None) -> CortexMap | None:
    """The participant's CortexMap, its thick mask read; None (and one log line) without usable cortex files."""
    try:
        files = dataset.cortex(participant)
        cortex = CortexMap(files.subject, files.transform, settings.height, area_vertices(dataset, participant, atlas))
        cortex.thick  # noqa: B018 - read now, so that a missing transform or mask skips here
    except BraintuneError as exc:
        log.info("brain maps of %s skipped: no usable cortex files (%s)", participant, exc)
        return None
    return cortex


def write_model_maps(cortex: CortexMap, participant: str, model: str, variants: dict[str, Path],
                     settings: MapSettings, out: Path) -> list[MapFigure]:
    """Draw one participant's and model's figures and write them to out/ (PNG and PDF); [] and one log
    line when its voxel arrays are unreadable or do not match the thick mask."""
    from braintune.io import write_atomic
    from braintune.report.figures import render

    try:
        maps = {v: variant_maps(read_voxel_layers(folder), settings) for v, folder in variants.items()}
    except DataError as exc:
        log.warning("brain maps of %s, %s skipped: %s", participant, model, exc)
        return []
    n_columns = int(cortex.thick.sum())
    sizes = {len(m.normalised) for m in maps.values()}
    if sizes != {n_columns}:
        log.info("brain maps of %s, %s skipped: %s voxels in the arrays, %d in the thick mask of %s", participant,
                 model, "/".join(map(str, sorted(sizes))), n_columns, cortex.transform.name)
        return []
    if len(maps) < 2:
        log.info("brain maps of %s, %s: only the %s variant has voxel arrays, so no difference map", participant,
                 model, next(iter(maps)))
    written = []
    for kind, fig in draw_model_maps(cortex, participant, model, maps, settings).items():
        stem = f"{participant}_{model}_{kind}"
        png = render(fig, "png", dpi=120)
        write_atomic(out / f"{stem}.png", png)
        write_atomic(out / f"{stem}.pdf", render(fig, "pdf"))
        written.append(MapFigure(participant, model, stem, png, CAPTIONS[kind]))
    return written


def brain_maps(run_dir: str | Path, settings: MapSettings | None = None) -> list[MapFigure]:
    """Draw and write every participant's and model's maps (module docstring), one CortexMap per
    participant; [] with one log line saying why when the run has no voxel arrays or its dataset cannot
    be opened (and one per participant without cortex files)."""
    from braintune.data.fmri import open_dataset

    run_dir = Path(run_dir)
    settings = settings or map_settings(run_dir)
    folders = voxel_folders(run_dir)
    if not folders:
        log.info("brain maps skipped: no voxel arrays under %s", run_dir / "cache" / "alignment")
        return []
    config = _config(run_dir)
    data = config.get("data") or {}
    try:
        dataset = open_dataset(data.get("layout") or "ds003020", data.get("fmri"))
    except (BraintuneError, TypeError, OSError) as exc:
        log.info("brain maps skipped: the run's fMRI dataset (config.yaml data.fmri) cannot be opened (%s)", exc)
        return []
    models: dict[str, list[tuple[str, dict[str, Path]]]] = {}
    for (participant, model), variants in sorted(folders.items()):
        models.setdefault(participant, []).append((model, variants))
    written = []
    for participant, its_models in models.items():
        cortex = participant_cortex(dataset, participant, settings, (config.get("align") or {}).get("atlas"))
        for model, variants in its_models if cortex is not None else ():
            written += write_model_maps(cortex, participant, model, variants, settings, run_dir / "figures" / "maps")
    return written


CAPTIONS = {
    "alignment": "Each voxel's normalised alignment (r / CC<sub>max</sub>) at the layer of the highest mean "
                 "normalised alignment over the voxels above the ceiling threshold (per variant).",
    "difference": "Brain-tuned minus pretrained normalised alignment per voxel, each model at its own best layer "
                  "(the layers of the alignment maps); red: the tuned model aligns better.",
    "layer_preference": "The layer whose ridge prediction correlates best with each voxel (argmax of r over "
                        "layers), as the hierarchy maps of Millet et al. 2022 and Vaidya et al. 2022; each pixel "
                        "shows the layer of its most-weighted voxel.",
}


def brain_maps_html(figures: list[MapFigure]) -> str:
    """The report's "Brain maps" section body: each figure embedded as a data URI, with its caption."""
    from braintune.report import html as page

    if not figures:
        return page.absent_html("No brain maps: the run has no voxel arrays (cache/alignment/) or its fMRI dataset "
                                "no cortex files (pycortex subjects); the build log says which.")
    parts, shown = [], None
    for f in figures:
        if (f.participant, f.model) != shown:
            shown = (f.participant, f.model)
            parts.append(f"<h3>{html.escape(f.participant)} · {html.escape(f.model)}</h3>")
        pdf = f"figures/maps/{html.escape(f.stem)}.pdf"
        parts.append(page.figure_html(f.png, f.stem, f"{f.caption} Also <code>{pdf}</code>."))
    return "".join(parts)

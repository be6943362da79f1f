"""pycortex subject geometry without pycortex: surfaces, masks, ROIs and flat maps (pycortex 1.4.0's rules).

ds003020 ships each participant as a pycortex database subject (``derivative/pycortex-db/<UTSxx>``);
this package reads that folder and reproduces what pycortex computes from it (docs/rois.md maps
each function to the pycortex call it equals and says how that was verified):

    Subject(folder)                          surfaces, fiducial, transforms, stored masks
    cortical_mask(subject, transform, kind)  cortex.db.get_mask(subject, xfm, kind)
    voxel_distances(subject, transform)      cortex.utils.get_vox_dist(subject, xfm)
    read_overlays(svg)                       the "rois" layer's shapes (cortex.svgoverlay)
    roi_vertices(subject)                    cortex.get_roi_verts(subject)
    roi_voxel_masks(subject, transform)      cortex.utils.get_roi_masks(subject, xfm) (defaults)
    mask_columns(masks, thick)               ROI voxels as response-file columns
    glasser_vertices(subject, atlas, fs)     HCP-MMP1 areas through ?h.sphere.reg
    Flatmap(subject, height)                 cortex.quickflat.make_flatmap_image, ROI outlines
    write_subject_rois(subject, xfm, out)    mask_thick.nii.gz, rois.json, roi_vertices.json
"""

from braintune.data.pycortex.flatmap import Flatmap
from braintune.data.pycortex.glasser import glasser_vertices
from braintune.data.pycortex.masks import MASK_KINDS, cortical_mask, voxel_distances
from braintune.data.pycortex.overlays import Overlays, read_overlays
from braintune.data.pycortex.regions import mask_columns, roi_vertices, roi_voxel_masks, vertex_voxel_masks
from braintune.data.pycortex.subject import Subject, Transform
from braintune.data.pycortex.write import SubjectRois, build_subject_rois, write_subject_rois

__all__ = [
    "MASK_KINDS", "Flatmap", "Overlays", "Subject", "SubjectRois", "Transform", "build_subject_rois",
    "cortical_mask", "glasser_vertices", "mask_columns", "read_overlays", "roi_vertices", "roi_voxel_masks",
    "vertex_voxel_masks", "voxel_distances", "write_subject_rois",
]

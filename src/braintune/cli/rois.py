"""`braintune rois --pycortex-subject DIR --transform NAME --out OUT [--atlas DIR] [--freesurfer-subject DIR]`:
a participant's ROI files (thick mask, ROI -> response columns, ROI -> vertices) from its pycortex subject."""

NAME = "rois"
HELP = ("build a participant's ROI files from its pycortex subject (as pycortex computes them): "
        "OUT/mask_thick.nii.gz, OUT/rois.json, OUT/roi_vertices.json")


def add_arguments(parser):
    parser.add_argument("--pycortex-subject", required=True, metavar="DIR",
                        help="pycortex subject folder (surfaces/, overlays.svg, transforms/), "
                             "e.g. ds003020/derivative/pycortex-db/UTS01")
    parser.add_argument("--transform", required=True, metavar="NAME",
                        help="transform under DIR/transforms/, e.g. UTS01_auto")
    parser.add_argument("--out", required=True, metavar="OUT", help="folder to write the three files into")
    parser.add_argument("--atlas", metavar="DIR",
                        help="add the HCP-MMP1 areas: folder holding fsaverage/label/?h.HCPMMP1.annot and "
                             "fsaverage/surf/?h.sphere (MNE's fetch_hcp_mmp_parcellation layout)")
    parser.add_argument("--freesurfer-subject", metavar="DIR",
                        help="the participant's FreeSurfer folder with surf/?h.sphere.reg (needed with --atlas), "
                             "e.g. ds003020/derivative/freesurfer_subjdir/UTS01")


def run(args):
    from braintune.data.pycortex import write_subject_rois

    rois = write_subject_rois(args.pycortex_subject, args.transform, args.out, atlas=args.atlas,
                              freesurfer_subject=args.freesurfer_subject)
    empty = [name for name, columns in rois.columns.items() if not len(columns)]
    print(f"{len(rois.columns)} ROIs ({len(rois.glasser)} HCP-MMP1 areas) over {int(rois.thick.sum())} thick-mask "
          f"voxels -> {args.out}" + (f"; empty: {', '.join(empty)}" if empty else ""))
    return 0

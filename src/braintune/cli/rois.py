"""`braintune rois`: ROI files from the pycortex subjects a dataset ships (as pycortex computes them).

    braintune rois DATA --atlas DIR                    every participant of an fMRI folder (ds003020:
                                                       derivative/rois/<UTSxx>.json, .overlays.json, .vertices.json)
    braintune rois --pycortex-subject DIR --transform NAME --out OUT [--atlas DIR] [--freesurfer-subject DIR]
                                                       any pycortex subject: OUT/mask_thick.nii.gz, rois.json,
                                                       roi_vertices.json
"""

NAME = "rois"
HELP = ("build ROI files from pycortex subjects (as pycortex computes them): a dataset's participants, or any "
        "subject (OUT/mask_thick.nii.gz, OUT/rois.json, OUT/roi_vertices.json)")


def add_arguments(parser):
    from braintune.data.fmri import DEFAULT_LAYOUT, LAYOUTS

    parser.add_argument("data", nargs="?", help="fMRI dataset folder whose participants' ROI files to write")
    parser.add_argument("--layout", default=DEFAULT_LAYOUT, choices=sorted(LAYOUTS),
                        help=f"on-disk layout of DATA (default: {DEFAULT_LAYOUT})")
    parser.add_argument("--participants", nargs="+", help="participants of DATA (default: all)")
    parser.add_argument("--atlas", metavar="DIR",
                        help="add the HCP-MMP1 areas: folder holding fsaverage/label/?h.HCPMMP1.annot and "
                             "fsaverage/surf/?h.sphere (MNE's fetch_hcp_mmp_parcellation layout)")
    parser.add_argument("--pycortex-subject", metavar="DIR",
                        help="instead of DATA: one pycortex subject folder (surfaces/, overlays.svg, transforms/)")
    parser.add_argument("--transform", metavar="NAME", help="with --pycortex-subject: transform under DIR/transforms/")
    parser.add_argument("--out", metavar="OUT", help="with --pycortex-subject: folder to write the three files into")
    parser.add_argument("--freesurfer-subject", metavar="DIR",
                        help="with --pycortex-subject and --atlas: the subject's FreeSurfer folder (surf/?h.sphere.reg)")


def run(args):
    from braintune.errors import ConfigError

    if args.pycortex_subject:
        if args.data or not (args.transform and args.out):
            raise ConfigError("--pycortex-subject takes --transform and --out, and no DATA folder")
        from braintune.data.pycortex import write_subject_rois

        rois = write_subject_rois(args.pycortex_subject, args.transform, args.out, atlas=args.atlas,
                                  freesurfer_subject=args.freesurfer_subject)
        empty = [name for name, columns in rois.columns.items() if not len(columns)]
        print(f"{len(rois.columns)} ROIs ({len(rois.glasser)} HCP-MMP1 areas) over {int(rois.thick.sum())} thick-mask "
              f"voxels -> {args.out}" + (f"; empty: {', '.join(empty)}" if empty else ""))
        return 0
    if not args.data:
        raise ConfigError("name a dataset folder (DATA) or one subject (--pycortex-subject DIR --transform NAME --out OUT)")
    from braintune.data.fmri import open_dataset
    from braintune.data.fmri.rois import write_dataset_rois

    dataset = open_dataset(args.layout, args.data)
    summary = write_dataset_rois(dataset, args.participants or dataset.participants, args.atlas)
    for participant, counts in summary.items():
        print(f"{participant}: {counts['areas']} HCP-MMP1 areas with voxels, {counts['functional']} functional ROIs, "
              f"{counts['voxels']} voxels -> {dataset.roi_path(participant).parent}")
    return 0

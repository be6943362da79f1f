"""`braintune flatmap`: draw per-voxel values on a pycortex subject's flat map (no pycortex needed).

    braintune flatmap --pycortex-subject DIR --transform NAME --values FILE.npy --height H --out OUT.png
                      [--pdf] [--cmap viridis] [--vmin V] [--vmax V] [--label TEXT] [--no-outlines]

FILE.npy holds one value per voxel of the transform's (z, y, x) volume (that shape, or flat in C
order), or one per column of the thick mask (the response files' columns); the shape decides.
Writes OUT.png, OUT.npy (the image, (H, W) float64, row 0 at the top, NaN off the cortex: equal to
braintune.data.pycortex's Flatmap.volume_image / columns_image) and, with --pdf, OUT.pdf.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "flatmap"
HELP = "draw per-voxel values (.npy) on a pycortex subject's flat map: OUT.png, OUT.npy (the image), OUT.pdf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pycortex-subject", metavar="DIR", required=True,
                        help="pycortex subject folder (surfaces/, overlays.svg, transforms/)")
    parser.add_argument("--transform", metavar="NAME", required=True, help="transform under DIR/transforms/")
    parser.add_argument("--values", metavar="FILE.npy", required=True,
                        help="one value per voxel of the (z, y, x) volume, or one per thick-mask column")
    parser.add_argument("--out", metavar="OUT.png", required=True,
                        help="image to write (OUT.npy and OUT.pdf beside it)")
    parser.add_argument("--height", type=int, default=1024,
                        help="flat-map height in pixels (default: 1024, pycortex's)")
    parser.add_argument("--pdf", action="store_true", help="also write OUT.pdf")
    parser.add_argument("--cmap", default="viridis", help="matplotlib colour map (default: viridis)")
    parser.add_argument("--vmin", type=float, help="lower colour limit (default: 1st percentile of the image)")
    parser.add_argument("--vmax", type=float, help="upper colour limit (default: 99th percentile of the image)")
    parser.add_argument("--label", default="value", help="colour bar label, with units (default: value)")
    parser.add_argument("--no-outlines", dest="outlines", action="store_false",
                        help="do not draw the overlays.svg ROI outlines and names")


def run(args: argparse.Namespace) -> int:
    from braintune.report.maps import write_flatmap

    image = write_flatmap(args.pycortex_subject, args.transform, args.values, args.out, height=args.height,
                          cmap=args.cmap, vmin=args.vmin, vmax=args.vmax, label=args.label, outlines=args.outlines,
                          pdf=args.pdf)
    print(f"{args.out} ({image.shape[0]} x {image.shape[1]} pixels); the image as an array: "
          f"{Path(args.out).with_suffix('.npy')}")
    return 0

"""Figures 1 and 2, the hierarchy statistics, participant-level paired differences, the brain maps and
report.html from the tables and voxel arrays a study run wrote.

Reads files only (pandas, numpy, scipy, matplotlib); of the other stages it imports only the data
readers (the participants' cortex files, for the brain maps) and encoding's fdr_bh.
"""

from braintune.report.build import build_report
from braintune.report.figures import figure1, figure2
from braintune.report.hierarchy import alignment_hierarchy, probing_hierarchy, profile_statistics
from braintune.report.statistics import alignment_differences, hierarchy_differences, paired_difference
from braintune.report.tables import read_alignment, read_probing, summarise_alignment, summarise_probing

__all__ = [
    "alignment_differences",
    "alignment_hierarchy",
    "build_report",
    "figure1",
    "figure2",
    "hierarchy_differences",
    "paired_difference",
    "probing_hierarchy",
    "profile_statistics",
    "read_alignment",
    "read_probing",
    "summarise_alignment",
    "summarise_probing",
]

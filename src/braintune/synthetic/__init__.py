"""Generators of stand-in data, each writing the exact on-disk layout of a real corpus.

fmri: simulated participants in the ds003020 layout, with their ground truth; cortex: the
canonical cortex map they share, each participant's voxel grid and surfaces, and the shared
language read-out; cortex_files: their pycortex subjects, sphere.reg files, common-space affines
and the HCP-MMP1 atlas; stimulus: the stimulus features voxels read; corpora: TIMIT and Speech
Commands stand-ins spoken by espeak-ng; speech: the espeak-ng binding; textgrid: the Praat
TextGrid writer. The readers in braintune.data cannot tell these files from the real ones.
"""

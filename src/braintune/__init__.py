"""braintune: brain-tune self-supervised speech models on fMRI and compare them layer by layer."""

__version__ = "0.1.0"

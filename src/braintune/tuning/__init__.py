"""Brain-tuning: fine-tune a speech encoder so its mean-pooled last layer predicts one
participant's fMRI responses (Moussa, Klakow & Toneva, ICLR 2025). The steps are listed in
braintune.tuning.recipe; `python -m braintune.tuning SPEC.json` runs one under torch.distributed.run."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "TuneSettings": "braintune.tuning.settings",
    "BrainTuner": "braintune.tuning.model",
    **dict.fromkeys(("Pairs", "TuneData", "audio_window", "load_data", "select_voxels", "story_pairs"),
                    "braintune.tuning.data"),
    "RunFolder": "braintune.tuning.checkpoint",
    "tune": "braintune.tuning.recipe",
    **dict.fromkeys(("launch", "read_spec", "write_spec"), "braintune.tuning.ddp"),
})

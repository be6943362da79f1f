"""The data doctor's checks of a TIMIT folder (beside its reader, braintune.data.timit)."""

from __future__ import annotations

from pathlib import Path

from braintune.data import timit
from braintune.data.findings import ERROR, WARNING, Findings, Problem
from braintune.progress import tqdm


def check(found: Findings, root: Path, full: bool, progress: bool, test_set: str = "test") -> None:
    """Layout, then per utterance the .WAV (16 kHz, whole) and the .PHN (parses, known phones, within
    the audio); if `full` also the .WRD and .TXT (the probes do not read them: missing is a warning)
    and the decoded audio."""
    splits, unlabelled = {}, set()
    for split in ("train", test_set):
        listing = found.attempt(root, timit.find_utterances, root, split)
        if listing is None:
            continue
        utterances, missing_phn = listing
        for wav in missing_phn:  # the reader refuses the split (list_utterances): each one is an error
            found._record(Problem(ERROR, str(wav), timit.missing_phn_message([wav])))
        unlabelled.update(missing_phn)
        for utt in tqdm(utterances, desc=f"checking TIMIT {split}", unit="utterance", disable=not progress):
            _check_utterance(found, utt, full)
        splits[split] = {"utterances": len(utterances), "speakers": len({u.speaker for u in utterances}),
                          "core_test_speakers": len({u.speaker for u in utterances} & timit.CORE_TEST_SET)}
        types = sorted({u.sentence_type for u in utterances})
        if len(types) == 1:  # the sentence-type probe's classifier needs two classes at least
            found.add(ERROR, root, f"TIMIT {split} split: every utterance is of sentence type {types[0]}; the "
                      f"sentence-type probe needs at least two of {', '.join(timit.SENTENCE_TYPES)}")
    folders = [f for f in root.iterdir() if f.is_dir() and f.name.upper() in ("TRAIN", "TEST")] if root.is_dir() else []
    for folder in folders:  # other files the reader leaves out (a .PHN without .WAV, speakers it skips): say so
        for path in sorted(folder.rglob("*")):
            partner = {".WAV": "PHN", ".PHN": "WAV"}.get(path.suffix.upper())
            if "." in path.stem or partner is None or path in unlabelled:  # SA1.WAV.wav: a converted copy
                continue
            if not any(path.with_suffix(s).is_file() for s in ("." + partner, "." + partner.lower())):
                found.add(WARNING, path, f"no .{partner} beside it: the utterance is left out")
    found.corpora["timit"] = {"root": str(root), "splits": splits}


def _check_utterance(found: Findings, utt: timit.Utterance, full: bool) -> None:
    wav = utt.path("WAV")
    if found.attempt(wav, timit.num_samples, utt) is None:  # the audio first: labels are measured against it
        return
    found.attempt(utt.path("PHN"), timit.read_phones, utt)
    if not full:
        return
    for kind, read in (("WRD", timit.read_words), ("TXT", timit.read_text)):
        path = found.attempt(utt.stem, utt.path, kind, level=WARNING)
        if path is not None:
            found.attempt(path, read, utt)
    found.attempt(wav, timit.read_audio, utt)


def summary_lines(info: dict) -> list[str]:
    """The TIMIT line of `braintune check`."""
    parts = [f"{split} {s['utterances']} utterances of {s['speakers']} speakers"
             + (f" ({s['core_test_speakers']} of the 24 core-test speakers)" if split != "train" else "")
             for split, s in info["splits"].items()]
    return [f"TIMIT {info['root']}: {', '.join(parts) or 'not readable'}"]

"""A stand-in unlabelled speech corpus for self-supervised pretraining, spoken by espeak-ng.

Its text comes from its own grammar and vocabulary, disjoint from every probe set's text:
no content word of the TIMIT stand-in's SA sentences or SX/SI grammars, of the simulated
fMRI stories' generator (braintune.synthetic.fmri), and none of the 35 Speech Commands
words anywhere (so none as an isolated utterance). Only the function words in
FUNCTION_WORDS are shared. tests/test_pretrain.py checks the exclusion.

Speakers are espeak-ng voices: an English accent, a voice variant (male, female and named
variants), a rate, pitch and pitch range drawn from the seed. Each speaker reads one
recording of about `speaker_seconds`: utterances (sentences, questions, short phrases and
word lists) at a pace that varies from utterance to utterance, separated by pauses, over a
faint background noise of the speaker's own level.

Layout (a plain folder of recordings, as a real unlabelled corpus would be):
```
OUT/<speaker>.wav      16 kHz mono 16-bit PCM, one speaker's recording
OUT/<speaker>.txt      its utterances, one per line: "start_sample end_sample text"
OUT/speakers.tsv       speaker, voice, rate, pitch, pitch_range, noise, seconds
OUT/.complete          the generator's arguments (JSON), written last
```
Deterministic: speakers are spoken in shards of SHARD_SPEAKERS, each in a fresh process
(espeak-ng carries state between calls, see braintune.synthetic.speech) with a seed per
utterance, so the same arguments write byte-identical files; an interrupted run redoes
only the shards with a missing file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from braintune.data.audio import SAMPLE_RATE
from braintune.errors import ConfigError
from braintune.io import write_atomic, write_atomic_with
from braintune.progress import tqdm
from braintune.synthetic.speech import Voice, in_fresh_process, synthesize

COMPLETE = ".complete"
SHARD_SPEAKERS = 16
ACCENTS = ("en-us", "en-us-nyc", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029")
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "Andy", "Annie", "Alicia", "aunty", "benjamin", "david", "edward", "grandma", "grandpa", "ian", "john",
    "linda", "max", "michael", "paul", "rob", "robert", "steph", "travis", "zac",
)
RATE_RANGE = (130, 220)  # words per minute of a speaker
PACE_RANGE = (0.85, 1.2)  # each utterance at its speaker's rate times a factor drawn here
PAUSE_RANGE = (0.15, 0.8)  # s of silence between utterances
NOISE_RANGE = (1e-4, 2e-3)  # std of a speaker's background noise (about -80 to -54 dBFS)

# ---- text --------------------------------------------------------------------------------
FUNCTION_WORDS = frozenset(
    "a the and of in at near under behind inside before while because if that there was were did will be "
    "not all you we they me my her how which why by every".split()
)  # the closed-class words of the templates below: the only words shared with probe texts
_WORDS = {
    "noun": (
        "engine violin carpet pencil wallet ticket rabbit turtle pigeon monkey tiger lion goat donkey "
        "spider beetle ladder mirror candle blanket pillow bucket hammer shovel rope needle button "
        "pocket sleeve collar jewel diamond crystal treasure puzzle riddle rumour voice noise signal whistle "
        "drum trumpet guitar piano poem novel journal diary magazine camera lantern compass anchor rocket "
        "planet comet cloud thunder meadow valley canyon desert jungle swamp cliff cave volcano glacier pebble "
        "feather leather cotton velvet marble copper iron glass paper butter cheese honey sugar pepper onion "
        "potato carrot lemon cherry melon peach grape salad soup pizza sandwich cookie noodle juice garlic "
        "toy oyster umbrella envelope helmet scarf glove sock necklace statue fountain chimney balcony "
        "elevator kettle oven spoon plate napkin vase sofa curtain"
    ),
    "place": (
        "theatre stadium airport factory pharmacy castle palace temple cottage barn warehouse studio gallery "
        "laboratory clinic lighthouse tunnel marina campsite aquarium bookshop cathedral pavilion greenhouse "
        "courtyard orchard vineyard workshop bathroom corridor basement playground"
    ),
    "adj": (
        "purple yellow pink grey black white crimson shiny smooth rough soft hard bitter sweet sour salty "
        "spicy fresh rotten ancient modern enormous thick fragile sturdy noisy silent busy lazy brave shy "
        "polite rude curious jealous anxious calm eager fierce friendly lonely clumsy graceful foolish wise "
        "cheerful gloomy generous greedy humble mysterious ordinary peculiar precious sleepy smelly sticky "
        "thirsty tidy usual casual royal"
    ),
    "vpast": (
        "borrowed delivered dropped lifted hid cleaned polished repaired packed wrapped tasted cooked ordered "
        "noticed admired ignored examined explored visited described imagined invented discovered collected "
        "counted weighed stole hugged blamed thanked warned invited rescued protected replaced decorated "
        "squeezed scratched buried juggled chewed shared"
    ),
    "vbase": (
        "borrow deliver drop lift hide clean polish repair pack wrap taste cook order notice admire ignore "
        "examine explore visit describe imagine invent discover collect count weigh steal hug blame thank "
        "warn invite rescue protect replace decorate squeeze scratch bury juggle chew share"
    ),
    "vintrans": (
        "giggled sneezed coughed yawned shivered wandered hurried paused rested vanished escaped complained "
        "agreed argued hesitated trembled nodded blinked whistled winked frowned panicked relaxed"
    ),
    "adv": (
        "gently softly loudly eagerly rarely seldom perhaps certainly honestly briefly bravely calmly "
        "politely clumsily patiently secretly proudly nervously"
    ),
    "when": (
        "this afternoon|last week|at midnight|at noon|at dawn|by midnight|next Tuesday|last Monday|"
        "during the holidays|every Thursday|the other day|a while ago"
    ),
    "name": (
        "Olivia Lucas Sophia Noah Mia Ethan Zoe Jacob Lily Owen Chloe Isaac Ruby Hugo Julia Felix Nadia "
        "Victor Yusuf Priya Marco Elena George Hannah"
    ),
    "number": "eleven twelve thirteen fourteen fifteen sixteen twenty thirty forty fifty sixty seventy ninety hundred",
    "greeting": "hello|thank you|good afternoon|excuse me|of course|not at all|take care|well done|maybe tomorrow",
}
_W = {k: tuple(v.split("|") if "|" in v else v.split()) for k, v in _WORDS.items()}
_TEMPLATES = (
    "the {adj} {noun} {vpast} a {noun} {when} .",
    "{name} {vpast} the {adj} {noun} near the {place} .",
    "did {name} really {vbase} the {noun} ?",
    "why did the {adj} {noun} {vbase} my {noun} ?",
    "we {vintrans} {adv} in the {place} {when} .",
    "{name} thinks that the {noun} was {adj} .",
    "please {vbase} the {noun} before {name} {vintrans} .",
    "there were {number} {adj} {noun}s inside the {place} .",
    "if you {vbase} the {noun} , {name} will be {adj} .",
    "the {noun} under the {noun} was {adj} and {adj} .",
    "{name} and {name} {vpast} {number} {noun}s .",
    "which {noun} did they {vbase} at the {place} ?",
    "her {adj} {noun} {vintrans} while we {vpast} the {noun} .",
    "how {adj} was the {noun} behind the {place} ?",
    "{when} , {name} {adv} {vpast} a {adj} {noun} .",
    "they {vintrans} because the {place} was {adj} .",
    "{greeting} , {name} .",
    "{greeting} .",
    "{adj} {noun} .",
    "{noun} , {noun} , {noun} .",
    "{name} ?",
)


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("s", "sh", "ch", "x", "z", "o")) else "s")


_LITERALS = {t for tpl in _TEMPLATES for t in tpl.split() if t[0].isalpha() and "{" not in t}
VOCABULARY: tuple[str, ...] = tuple(sorted(
    {p for ws in _W.values() for w in ws for p in w.lower().split()} | {_plural(w) for w in _W["noun"]} | _LITERALS
))


def generate_utterance(rng: np.random.Generator) -> str:
    """One utterance of the pretraining corpus (a sentence, a question, a short phrase or a list)."""
    template = _TEMPLATES[rng.integers(len(_TEMPLATES))]
    words = []
    for token in template.split():
        if "{" in token:
            slot, plural = token[1:].split("}")
            word = _W[slot][rng.integers(len(_W[slot]))]
            words.append(_plural(word) if plural else word)
        else:
            words.append(token)
    text = " ".join(words).replace(" .", ".").replace(" ,", ",").replace(" ?", "?")
    return text[0].upper() + text[1:]


# ---- speakers and recordings ---------------------------------------------------------------
@dataclass(frozen=True)
class Speaker:
    """One stand-in speaker: a name, an espeak-ng voice, a noise level and a seed for its recording."""

    name: str
    voice: Voice
    noise: float
    seed: int


def plan_speakers(seconds: float, speaker_seconds: float, seed: int) -> list[Speaker]:
    """ceil(seconds / speaker_seconds) speakers, everything about them drawn from `seed`."""
    rng = np.random.default_rng([seed, 0x5BEEC])
    speakers = []
    for k in range(int(np.ceil(seconds / speaker_seconds))):
        voice = Voice(
            f"{ACCENTS[rng.integers(len(ACCENTS))]}+{VARIANTS[rng.integers(len(VARIANTS))]}",
            rate=int(rng.integers(*RATE_RANGE, endpoint=True)),
            pitch=int(rng.integers(25, 76)),
            pitch_range=int(rng.integers(20, 91)),
        )
        noise = float(np.exp(rng.uniform(*np.log(NOISE_RANGE))))
        speakers.append(Speaker(f"spk{k:04d}", voice, noise, int(rng.integers(1 << 31))))
    return speakers


def speak_recording(speaker: Speaker, seconds: float) -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """The speaker reads utterances until `seconds` of audio are filled (the last one may run over).

    -> (samples,) float32 at 16 kHz, [(start sample, end sample, text)] per utterance.
    """
    rng = np.random.default_rng(speaker.seed)
    pieces, lines, total = [], [], 0
    while total < seconds * SAMPLE_RATE:
        pause = np.zeros(int(rng.uniform(*PAUSE_RANGE) * SAMPLE_RATE), np.float32)
        text = generate_utterance(rng)
        v = speaker.voice
        paced = Voice(v.name, int(round(v.rate * rng.uniform(*PACE_RANGE))), v.pitch, v.pitch_range)
        audio = synthesize(text, paced, SAMPLE_RATE, seed=int(rng.integers(1 << 31))).audio
        pieces += [pause, audio]
        lines.append((total + pause.size, total + pause.size + audio.size, text))
        total += pause.size + audio.size
    pieces.append(np.zeros(int(PAUSE_RANGE[1] * SAMPLE_RATE), np.float32))
    audio = np.concatenate(pieces)
    audio += speaker.noise * rng.standard_normal(audio.size).astype(np.float32)
    return np.clip(audio, -1.0, 1.0), lines


def _speak_shard(out: Path, speakers: list[Speaker], speaker_seconds: float) -> None:
    """Write the recording and transcript of each of `speakers` (run in a fresh process)."""
    for speaker in speakers:
        audio, lines = speak_recording(speaker, speaker_seconds)
        write_atomic(out / f"{speaker.name}.txt", "".join(f"{a} {b} {t}\n" for a, b, t in lines))
        write_atomic_with(out / f"{speaker.name}.wav",
                          lambda tmp, audio=audio: sf.write(str(tmp), audio, SAMPLE_RATE, subtype="PCM_16", format="WAV"))


def simulate_speech_corpus(out: str | Path, seconds: float = 3600.0, speaker_seconds: float = 40.0, seed: int = 0,
                           progress: bool = True) -> Path:
    """Write (or complete) the stand-in pretraining corpus under `out` (layout: module docstring); returns `out`.

    seconds: total audio, about (ceil(seconds / speaker_seconds) speakers of about
    speaker_seconds each). A folder whose .complete marker holds these arguments is reused.
    """
    if seconds <= 0 or speaker_seconds < 5:
        raise ConfigError(f"speech corpus: need seconds > 0 and speaker_seconds >= 5, got {seconds}, {speaker_seconds}")
    out = Path(out)
    stamp = json.dumps({"generator": "braintune.synthetic.speech_corpus", "version": 1, "seconds": seconds,
                        "speaker_seconds": speaker_seconds, "seed": seed}, sort_keys=True)
    if (out / COMPLETE).is_file() and (out / COMPLETE).read_text() == stamp:
        return out
    speakers = plan_speakers(seconds, speaker_seconds, seed)
    shards = [speakers[i: i + SHARD_SPEAKERS] for i in range(0, len(speakers), SHARD_SPEAKERS)]
    with tqdm(total=len(speakers), desc="speech corpus", unit="speaker", disable=not progress) as bar:
        for shard in shards:
            if not all((out / f"{s.name}{x}").is_file() for s in shard for x in (".wav", ".txt")):
                in_fresh_process(_speak_shard, out, shard, speaker_seconds)
            bar.update(len(shard))
    rows = ["speaker\tvoice\trate\tpitch\tpitch_range\tnoise\tseconds\n"]
    for s in speakers:
        n = sf.info(str(out / f"{s.name}.wav")).frames
        rows.append(f"{s.name}\t{s.voice.name}\t{s.voice.rate}\t{s.voice.pitch}\t{s.voice.pitch_range}\t"
                    f"{s.noise:.6f}\t{n / SAMPLE_RATE:.3f}\n")
    write_atomic(out / "speakers.tsv", "".join(rows))
    write_atomic(out / COMPLETE, stamp)
    return out

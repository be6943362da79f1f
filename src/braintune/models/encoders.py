"""Loading speech encoders and reading their hidden states layer by layer.

Layer convention (all families): ``layer_0`` is the input to the first transformer block
(CNN features projected, plus the convolutional position embedding, and — in the "group
norm" base variants — the encoder's layer norm); ``layer_l`` is the output of block l;
``layer_L`` is the model's ``last_hidden_state`` (for the "stable layer norm" variants, e.g.
wav2vec2-large-lv60, that is block L's output after the encoder's final layer norm, as in
transformers 4; transformers 5 alone would return it before that norm).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from importlib import resources
from pathlib import Path

import torch
import transformers

from braintune.data.audio import HOP, RECEPTIVE_FIELD, SAMPLE_RATE, num_frames  # noqa: F401 (re-exported)
from braintune.errors import ConfigError, ModelNotAvailable

log = logging.getLogger(__name__)


FAMILIES = {
    "wav2vec2": transformers.Wav2Vec2Config,
    "hubert": transformers.HubertConfig,
    "wavlm": transformers.WavLMConfig,
    "data2vec-audio": transformers.Data2VecAudioConfig,
}
PRETRAINED_PREFIX = "tiny-pretrained:"  # + family: a small model pretrained by `braintune pretrain`, shipped
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: `device` if given (a ConfigError if this machine lacks it), else CUDA
    when present, else CPU."""
    if device is not None:
        from braintune.models.devices import check_device

        return device if isinstance(device, torch.device) else torch.device(check_device(device))
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def tiny_config(family: str = "wav2vec2") -> transformers.PretrainedConfig:
    """A few-hundred-thousand-parameter config of `family`: hidden 64, 2 layers, 4 heads, CNN with
    64 channels but the real kernels and strides (receptive field 400 samples, hop 320), no dropout,
    a 32-frame convolutional position embedding."""
    if family not in FAMILIES:
        raise ConfigError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}")
    config = FAMILIES[family](
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        conv_dim=(64,) * 7,
        conv_kernel=(10, 3, 3, 3, 3, 2, 2),
        conv_stride=(5, 2, 2, 2, 2, 2, 2),
        # no dropout or layer drop: brain-tuning a 2-layer model on a few hundred windows needs
        # no such regularisation, and on CPU the dropout masks cost a quarter of a training step
        hidden_dropout=0.0,
        activation_dropout=0.0,
        attention_dropout=0.0,
        layerdrop=0.0,
        num_conv_pos_embeddings=32,  # 0.64 s instead of 2.56 s: its backward dominated a training step
    )
    config.do_normalize = True
    return config


def _build_tiny(family: str, seed: int = 0) -> transformers.PreTrainedModel:
    config = tiny_config(family)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(config)
    model.config._name_or_path = f"tiny:{family}"
    return model


def save_tiny_model(path: str | os.PathLike, family: str = "wav2vec2", seed: int = 0) -> Path:
    """Write a tiny model of `family` (weights drawn with `seed`) as a save_pretrained folder
    (config.json + model.safetensors + preprocessor_config.json); returns the folder."""
    path = Path(path)
    model = _build_tiny(family, seed)
    model.save_pretrained(path)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(path)
    return path


def pretrained_folder(id_: str) -> Path:
    """The shipped folder of "tiny-pretrained:<name>" (braintune/models/checkpoints/tiny-pretrained-<name>;
    <name> is a family, or a family and an iteration such as "hubert-iter1")."""
    checkpoints = Path(str(resources.files("braintune.models") / "checkpoints"))
    name = id_.removeprefix(PRETRAINED_PREFIX)
    folder = checkpoints / f"tiny-pretrained-{name}"
    if re.fullmatch(r"[a-z0-9-]+", name) is None or not (folder / "config.json").is_file():
        shipped = sorted(PRETRAINED_PREFIX + p.name.removeprefix("tiny-pretrained-")
                         for p in checkpoints.glob("tiny-pretrained-*") if (p / "config.json").is_file())
        raise ModelNotAvailable(f"model {id_!r} is not shipped with braintune (shipped: {', '.join(shipped) or 'none'}); "
                                "build one with `braintune pretrain` and name its model folder instead")
    return folder


def _read_do_normalize(id_or_path: str) -> bool | None:
    """The feature extractor's `do_normalize` from preprocessor_config.json, if one is at hand."""
    if os.path.isdir(id_or_path):
        file = Path(id_or_path) / "preprocessor_config.json"
        file = file if file.is_file() else None
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(id_or_path, "preprocessor_config.json")
        file = Path(found) if isinstance(found, str) else None
    if file is None:
        return None
    try:
        return bool(json.loads(file.read_text()).get("do_normalize", True))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotAvailable(f"{file}: unreadable feature-extractor settings ({exc})") from exc


def _not_available(id_or_path: str, reason: str) -> ModelNotAvailable:
    from huggingface_hub.constants import HF_HUB_CACHE

    return ModelNotAvailable(
        f"model {id_or_path!r} {reason}. braintune never downloads at run time: either pass a local folder "
        f"written by save_pretrained(), or, on a machine with internet, run "
        f"`huggingface-cli download {id_or_path}` and make that cache available here "
        f"(this machine looks in {HF_HUB_CACHE}; set HF_HOME or HF_HUB_CACHE to point elsewhere)"
    )


def _is_path(name: str) -> bool:
    """Whether `name` names a filesystem path rather than a hub id ("org/model")."""
    parent = Path(name).expanduser().parent
    return (os.path.isabs(name) or name.startswith((".", "~")) or not _HUB_ID.match(name)
            or (parent != Path(".") and parent.is_dir()))


def model_source(id_or_path: str) -> tuple[str, str | None]:
    """Where a model's weights come from, without loading them: ("preset", its config as JSON)
    for "tiny:<family>", ("folder", path) for a local folder or a shipped "tiny-pretrained:<family>",
    ("hub", cached snapshot folder or None) for a hub id."""
    name = str(id_or_path)
    if name.startswith("tiny:"):
        return "preset", tiny_config(name.removeprefix("tiny:")).to_json_string()
    if name.startswith(PRETRAINED_PREFIX):
        return "folder", str(pretrained_folder(name))
    if os.path.isdir(name):
        return "folder", str(Path(name).resolve())
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(name, "config.json") if _HUB_ID.match(name) else None
    return "hub", str(Path(found).parent) if isinstance(found, str) else None


def model_fingerprint(id_or_path: str | os.PathLike) -> str:
    """What identifies a model's weights without loading them (a cache key's part): a preset's
    config, a local folder's files, or a hub id's cached snapshot files (the id if not cached)."""
    from braintune.fingerprint import folder_fingerprint

    kind, where = model_source(str(id_or_path))
    if kind == "preset":
        return hashlib.sha256(where.encode()).hexdigest()
    return folder_fingerprint(where) if where else str(id_or_path)


def model_config_json(id_or_path: str | os.PathLike) -> dict:
    """A model's config.json (a preset's config), read without loading weights; ModelNotAvailable
    naming the model if it is neither a local folder nor in the local cache."""
    kind, where = model_source(str(id_or_path))
    if kind == "preset":
        return json.loads(where)
    if where is None and _is_path(str(id_or_path)):
        raise ModelNotAvailable(f"{id_or_path}: model folder does not exist (expected a folder written by save_pretrained())")
    if where is None:
        raise _not_available(str(id_or_path), "is neither a local folder nor in the local Hugging Face cache")
    path = Path(where) / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelNotAvailable(f"{where}: folder has no config.json (save models with save_pretrained())") from None
    except (OSError, ValueError) as exc:
        raise ModelNotAvailable(f"{path}: not a speech-encoder config ({exc})") from None
    if not isinstance(config, dict):
        raise ModelNotAvailable(f"{path}: not a speech-encoder config (not a JSON object)")
    return config


def num_layers(id_or_path: str | os.PathLike) -> int:
    """Hidden states a model gives (transformer blocks + 1), read from its config without loading weights."""
    config = model_config_json(id_or_path)
    try:
        return int(config["num_hidden_layers"]) + 1
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelNotAvailable(f"model {id_or_path}: not a speech-encoder config ({exc!r})") from None


# A weight that may be absent from a checkpoint that otherwise fits its config: the mask embedding replaces
# time-masked frames only while training (SpecAugment while brain-tuning, mask_time_indices while pretraining),
# never when features are extracted. Checkpoints converted from fairseq fine-tuned models lack it
# (facebook/wav2vec2-base-960h: "newly initialized: ['masked_spec_embed']"); transformers draws it at random.
OPTIONAL_WEIGHTS = frozenset({"masked_spec_embed"})


def _some(keys: list[str], shown: int = 3) -> str:
    """"a, b, c, ..." (the first `shown` keys)."""
    return ", ".join(keys[:shown]) + (", ..." if len(keys) > shown else "")


def _check_weights(model: transformers.PreTrainedModel, loading_info: dict, where: str) -> None:
    """Raise ModelNotAvailable unless the checkpoint held every weight of `model` and no other
    weight of its modules (from_pretrained's `output_loading_info`; `where` names the model).

    Tolerated: a missing OPTIONAL_WEIGHTS (logged), and unexpected weights outside the encoder's
    own modules: the heads of the task the checkpoint was trained for, which the base model drops
    (wav2vec2-base's quantizer, project_q and project_hid; a CTC model's lm_head; a classifier).
    """
    own = {n for n, _ in model.named_children()} | {n for n, _ in model.named_parameters(recurse=False)}
    unexpected = sorted(k for k in loading_info["unexpected_keys"] if k.split(".", 1)[0] in own)
    heads = sorted(set(loading_info["unexpected_keys"]) - set(unexpected))
    missing = sorted(set(loading_info["missing_keys"]) - OPTIONAL_WEIGHTS)
    mismatched = sorted(k[0] if isinstance(k, tuple) else str(k) for k in loading_info.get("mismatched_keys", ()))
    problems = [f"{len(keys)} {what}: {_some(keys)}" for what, keys in
                (("missing", missing), ("unexpected", unexpected), ("of another shape", mismatched)) if keys]
    if problems:
        raise ModelNotAvailable(f"{where}: cannot load the model: its weights do not fit its config.json "
                                f"({'; '.join(problems)})")
    if heads:
        log.info("%s: ignored %d weights outside the encoder (%s)", where, len(heads), _some(heads))
    for key in sorted(set(loading_info["missing_keys"]) & OPTIONAL_WEIGHTS):
        log.warning("%s: no %s in the checkpoint; drawn at random (used only to mask frames while training)",
                    where, key)


@contextlib.contextmanager
def _quiet_load_report():
    """Drop transformers' load report (a table on stderr) while loading: _check_weights judges the same keys."""
    logger = logging.getLogger("transformers.modeling_utils")

    def drop(record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def load_encoder(
    id_or_path: str | os.PathLike, dtype: str = "float32", device: str | torch.device | None = None
) -> transformers.PreTrainedModel:
    """A speech encoder in eval mode, on `device` (default: resolve_device()), weights in `dtype`.

    id_or_path: "tiny:<family>" (a tiny preset, seed 0), "tiny-pretrained:<family>" (a small
    model pretrained by `braintune pretrain`, shipped with braintune; its card.md says how it
    was made), a folder written by save_pretrained(), or a Hugging Face hub id already in the
    local cache (nothing is downloaded).
    Whether the waveform is normalised is stored in `model.config.do_normalize`.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    name = str(id_or_path)
    if name.startswith(PRETRAINED_PREFIX):
        model = load_encoder(pretrained_folder(name), dtype, device)
        model.config._name_or_path = name
        return model
    if name.startswith("tiny:"):
        model = _build_tiny(name.removeprefix("tiny:"))
    else:
        is_dir = os.path.isdir(name)
        if not is_dir and _is_path(name):
            raise ModelNotAvailable(f"{name}: model folder does not exist (expected a folder written by save_pretrained())")
        if is_dir and not (Path(name) / "config.json").is_file():
            raise ModelNotAvailable(f"{name}: folder has no config.json (save models with save_pretrained())")
        try:
            with _quiet_load_report():
                model, loading_info = transformers.AutoModel.from_pretrained(
                    name, local_files_only=True, trust_remote_code=False, output_loading_info=True,
                    ignore_mismatched_sizes=True)  # reported by _check_weights
        except Exception as exc:  # a corrupt or truncated safetensors file, weights that do not fit the config, ...
            if is_dir:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ModelNotAvailable(f"{name}: cannot load the model ({reason})") from exc
            if not isinstance(exc, OSError):
                raise ModelNotAvailable(f"model {name!r}: cannot load it from the Hugging Face cache ({exc})") from exc
            raise _not_available(name, "is neither a local folder nor in the local Hugging Face cache") from exc
        _check_weights(model, loading_info, name if is_dir else f"model {name!r}")
        if getattr(model.config, "do_normalize", None) is None:
            flag = _read_do_normalize(name)
            if flag is None:
                log.warning("%s: no preprocessor_config.json; normalising waveforms (do_normalize=True)", name)
                flag = True
            model.config.do_normalize = flag
    if getattr(model, "main_input_name", None) != "input_values":
        raise ConfigError(
            f"model {name!r} ({type(model).__name__}) does not take raw waveforms; braintune supports "
            f"wav2vec2-style encoders ({', '.join(FAMILIES)})"
        )
    return model.to(device=resolve_device(device), dtype=DTYPES[dtype]).eval()


def normalizes_input(model: transformers.PreTrainedModel) -> bool:
    """Whether `hidden_states` normalises each waveform to zero mean, unit variance first."""
    return bool(getattr(model.config, "do_normalize", True))


def model_input(model: transformers.PreTrainedModel, waveforms: torch.Tensor) -> torch.Tensor:
    """(batch, samples) waveforms as the model expects them: each row normalised to zero
    mean and unit variance (eps 1e-7, as the feature extractors do) if `normalizes_input(model)`."""
    if not normalizes_input(model):
        return waveforms
    centred = waveforms - waveforms.mean(dim=1, keepdim=True)
    return centred / torch.sqrt(waveforms.var(dim=1, unbiased=False, keepdim=True) + 1e-7)


def hidden_states(model: transformers.PreTrainedModel, waveforms: torch.Tensor) -> list[torch.Tensor]:
    """Hidden states of every layer: L+1 tensors (batch, frames, hidden), layer_0 first.

    waveforms: (batch, samples) 16 kHz, equal lengths, no padding (no attention mask is
    passed: base models' group norm over time would see the padding). Each row is normalised
    to zero mean and unit variance first if `normalizes_input(model)`. Gradients flow if enabled.
    """
    if waveforms.ndim != 2:
        raise ValueError(f"waveforms must be (batch, samples), got shape {tuple(waveforms.shape)}")
    param = next(model.parameters())
    x = model_input(model, waveforms.to(device=param.device, dtype=torch.float32))
    out = model(input_values=x.to(param.dtype), output_hidden_states=True)
    return [*out.hidden_states[:-1], out.last_hidden_state]


def select_layers(layers, n_layers: int) -> list[int]:
    """Layer indices from a layer setting: "all", ["all"] or None -> 0..n_layers-1; a list of
    indices or "layer_k" names -> those indices. Anything else, or an index outside
    0..n_layers-1, is a ConfigError."""
    if layers is None or layers == "all" or list(layers) == ["all"]:
        return list(range(n_layers))
    if isinstance(layers, (str, int)) or not all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in layers):
        raise ConfigError(f"layers: 'all' or a list of layer indices, got {layers!r}")
    try:
        indices = [int(str(k).removeprefix("layer_")) for k in layers]
    except ValueError:
        raise ConfigError(f"layers: 'all' or a list of layer indices, got {layers!r}") from None
    bad = [k for k in indices if not 0 <= k < n_layers]
    if bad:
        raise ConfigError(f"layers {bad} out of range: the model has layers 0..{n_layers - 1}")
    return indices


def layer_names(model: transformers.PreTrainedModel) -> list[str]:
    """["layer_0", ..., "layer_L"]: the input to the first block, then each block's output."""
    return [f"layer_{i}" for i in range(model.config.num_hidden_layers + 1)]


def freeze_feature_encoder(model: transformers.PreTrainedModel) -> None:
    """Freeze the CNN feature encoder (all families; HubertModel lacks the method)."""
    encoder = model.feature_extractor
    for p in encoder.parameters():
        p.requires_grad = False
    encoder._requires_grad = False


def model_tag(id_or_path: str | os.PathLike | transformers.PreTrainedModel) -> str:
    """A filesystem-safe name for tables and caches: "tiny:hubert" -> "tiny-hubert",
    "tiny-pretrained:hubert" -> "tiny-pretrained-hubert",
    "facebook/wav2vec2-base" -> "facebook--wav2vec2-base", a folder -> its name.
    A loaded model is named by `config._name_or_path` (or its class if that is empty)."""
    if isinstance(id_or_path, transformers.PreTrainedModel):
        name = id_or_path.config._name_or_path or type(id_or_path).__name__
    else:
        name = str(id_or_path)
    if name.startswith(("tiny:", PRETRAINED_PREFIX)):
        name = name.replace(":", "-", 1)
    elif os.path.isdir(name):
        name = Path(name).resolve().name
    else:
        name = name.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def model_identity(model: transformers.PreTrainedModel) -> str:
    """SHA-256 (hex) of the config (minus name and version) and every weight's bytes: equal iff
    the model computes the same function, however it was loaded."""
    config = model.config.to_dict()
    for key in ("_name_or_path", "transformers_version", "dtype", "torch_dtype", "architectures"):
        config.pop(key, None)
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

import json

import numpy as np

import pytest
import safetensors.torch
import torch
import transformers

from braintune.errors import ConfigError, ModelNotAvailable
from braintune.models import (
    FAMILIES,
    freeze_feature_encoder,
    hidden_states,
    layer_names,
    load_encoder,
    model_identity,
    model_tag,
    num_frames,
    resolve_device,
    save_tiny_model,
    tiny_config,
)


def _wave(n, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((1, n)).astype(np.float32))


def _block_inputs_and_outputs(model, x):
    """Hidden states captured by hooks on the transformer blocks (independent of output_hidden_states)."""
    seen = []
    first = model.encoder.layers[0].register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(args[0] if args else kwargs["hidden_states"]), with_kwargs=True
    )
    outs = [
        layer.register_forward_hook(lambda mod, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
        for layer in model.encoder.layers
    ]
    with torch.no_grad():
        model(input_values=x)
    for h in [first, *outs]:
        h.remove()
    return seen


@pytest.mark.parametrize("n, frames", [(399, 0), (400, 1), (719, 1), (720, 2), (16000, 49), (256000, 799)])
def test_num_frames(n, frames):
    assert num_frames(n) == frames


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tiny_preset_layers_are_block_inputs_and_outputs(family):
    model = load_encoder(f"tiny:{family}")
    assert not model.training
    n_params = sum(p.numel() for p in model.parameters())
    assert 100_000 < n_params < 1_000_000
    assert model.config.hidden_size == 64 and model.config.num_hidden_layers == 2
    x = _wave(16000)
    with torch.no_grad():
        states = hidden_states(model, x)
    assert layer_names(model) == ["layer_0", "layer_1", "layer_2"]
    assert [tuple(s.shape) for s in states] == [(1, num_frames(16000), 64)] * 3
    xn = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    hooked = _block_inputs_and_outputs(model, xn)
    for got, want in zip(states, hooked, strict=True):
        torch.testing.assert_close(got, want)
    # deterministic with seed 0
    assert model_identity(load_encoder(f"tiny:{family}")) == model_identity(model)


def test_stable_layer_norm_variant_last_layer_is_last_hidden_state():
    config = tiny_config("wav2vec2")
    config.do_stable_layer_norm, config.feat_extract_norm = True, "layer"
    torch.manual_seed(0)
    model = transformers.Wav2Vec2Model(config).eval()
    x = _wave(8000)
    with torch.no_grad():
        states = hidden_states(model, x)
        last = model(input_values=(x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)).last_hidden_state
    hooked = _block_inputs_and_outputs(model, (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7))
    torch.testing.assert_close(states[0], hooked[0])
    torch.testing.assert_close(states[1], hooked[1])
    torch.testing.assert_close(states[2], last)
    assert not torch.allclose(states[2], hooked[2])  # the final layer norm is applied


def test_saved_tiny_model_loads_by_path_with_identical_states(tmp_path):
    folder = save_tiny_model(tmp_path / "tiny-hubert", "hubert")
    assert (folder / "model.safetensors").is_file()
    loaded, preset = load_encoder(folder), load_encoder("tiny:hubert")
    assert type(loaded) is transformers.HubertModel and loaded.config.do_normalize is True
    x = _wave(12000, seed=3)
    with torch.no_grad():
        for a, b in zip(hidden_states(loaded, x), hidden_states(preset, x), strict=True):
            assert torch.equal(a, b)
    assert model_identity(loaded) == model_identity(preset)
    assert model_identity(load_encoder("tiny:wavlm")) != model_identity(preset)
    assert model_tag(folder) == "tiny-hubert" and model_tag(preset) == "tiny-hubert"


def test_normalisation_follows_do_normalize():
    model = load_encoder("tiny:wav2vec2")
    x = 0.1 * _wave(8000) + 0.05
    xn = (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + 1e-7)
    with torch.no_grad():
        assert torch.equal(hidden_states(model, x)[-1], model(input_values=xn).last_hidden_state)
        model.config.do_normalize = False
        assert torch.equal(hidden_states(model, x)[-1], model(input_values=x).last_hidden_state)


def test_unknown_models_raise_model_not_available(tmp_path):
    with pytest.raises(ModelNotAvailable, match="huggingface-cli download nobody/no-such-model"):
        load_encoder("nobody/no-such-model")
    with pytest.raises(ModelNotAvailable, match="model dir: model folder does not exist"):
        load_encoder(str(tmp_path / "missing" / "model dir"))
    # a missing local folder is not told to download a filesystem path from the hub
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelNotAvailable, match="model folder does not exist") as err:
        load_encoder(str(tmp_path / "runs" / "backbone"))
    assert "huggingface-cli" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailable, match="no config.json"):
        load_encoder(tmp_path / "empty")
    with pytest.raises(ConfigError):
        load_encoder("tiny:whisper")
    with pytest.raises(ConfigError):
        load_encoder("tiny:hubert", dtype="float16")


def test_broken_model_folders_are_one_line_naming_the_folder(tmp_path):
    """A truncated model.safetensors or a config.json that does not fit the weights: ModelNotAvailable, no traceback."""
    folder = save_tiny_model(tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelNotAvailable, match=r"m: cannot load the model"):
        load_encoder(folder)
    weights.write_bytes(data)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 32, "intermediate_size": 64}))
    with pytest.raises(ModelNotAvailable, match=r"m: cannot load the model"):
        load_encoder(folder)


def _save_with_layers(model, folder, num_hidden_layers):
    """Save `model` to `folder` with a config.json that claims `num_hidden_layers` blocks."""
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": num_hidden_layers}))
    return folder


def test_weights_that_do_not_fit_the_config_are_an_error_naming_the_folder_and_the_keys(tmp_path, caplog):
    """Guards against a model folder loading as a partly random model: a weight missing from the
    checkpoint or an unexpected one of the encoder's modules is ModelNotAvailable; the heads of a
    pretraining or CTC checkpoint and a missing mask embedding (used only while training) are not."""
    tiny = load_encoder("tiny:hubert")
    with pytest.raises(ModelNotAvailable) as err:
        load_encoder(_save_with_layers(tiny, tmp_path / "deeper", 3))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'deeper'}: cannot load the model") and "\n" not in message
    assert "16 missing: encoder.layers.2.attention.k_proj.bias, encoder.layers.2.attention.k_proj.weight, " in message
    with pytest.raises(ModelNotAvailable, match=r"shallower: .*16 unexpected: encoder\.layers\.1\.attention"):
        load_encoder(_save_with_layers(tiny, tmp_path / "shallower", 1))

    torch.manual_seed(0)
    for head_model in (transformers.Wav2Vec2ForPreTraining(tiny_config("wav2vec2")),
                       transformers.Wav2Vec2ForCTC(tiny_config("wav2vec2"))):
        folder = tmp_path / type(head_model).__name__
        head_model.save_pretrained(folder)
        assert model_identity(load_encoder(folder)) == model_identity(head_model.wav2vec2.eval())

    folder = save_tiny_model(tmp_path / "no-mask-embedding", "hubert")
    weights = safetensors.torch.load_file(folder / "model.safetensors")
    del weights["masked_spec_embed"]
    safetensors.torch.save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    with caplog.at_level("WARNING", logger="braintune.models.encoders"):
        loaded = load_encoder(folder)
    assert "no masked_spec_embed" in caplog.text
    x = _wave(8000)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(hidden_states(loaded, x), hidden_states(tiny, x), strict=True))


def test_bfloat16_and_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_encoder("tiny:data2vec-audio", dtype="bfloat16", device="cpu")
    assert next(model.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        assert hidden_states(model, _wave(4000))[-1].dtype == torch.bfloat16


@pytest.mark.parametrize("family", list(FAMILIES))
def test_freeze_feature_encoder_leaves_transformer_trainable(family):
    model = load_encoder(f"tiny:{family}").train()
    freeze_feature_encoder(model)
    hidden_states(model, _wave(4000))[-1].pow(2).mean().backward()
    assert all(p.grad is None and not p.requires_grad for p in model.feature_extractor.parameters())
    assert all(p.grad is not None for p in model.encoder.layers.parameters())


def test_model_tag():
    assert model_tag("tiny:data2vec-audio") == "tiny-data2vec-audio"
    assert model_tag("facebook/wav2vec2-base") == "facebook--wav2vec2-base"

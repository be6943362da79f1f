"""braintune.tuning.lora: LoRA through peft, its merged export and its state, on tiny encoders."""

import io
import json
import os
import subprocess
import sys

import pytest
import safetensors
import torch

from braintune.errors import ConfigError, ModelNotAvailable
from braintune.models import freeze_feature_encoder, hidden_states, load_encoder, pretrained_folder
from braintune.settings import from_mapping, to_dict
from braintune.tuning.lora import (
    ADAPTER_FOLDER,
    LoraSettings,
    adapted_layers,
    adapter_state,
    add_lora,
    export_lora,
    load_adapter_state,
    merged_backbone,
)
from braintune.tuning.model import BrainTuner

ATTENTION = [f"encoder.layers.{i}.attention.{p}" for i in range(2) for p in ("k_proj", "out_proj", "q_proj", "v_proj")]
TIGHT = dict(rtol=1e-12, atol=1e-12)  # float64: merged and unmerged differ only by rounding


def _base(family: str = "hubert", dtype=torch.float64):
    """The tiny encoder of `family` (seed 0), CNN frozen, in `dtype`, eval mode."""
    model = load_encoder(f"tiny:{family}").to(dtype)
    freeze_feature_encoder(model)
    return model


def _lora(seed: int = 0, family: str = "hubert", dtype=torch.float64, settings: LoraSettings = LoraSettings()):
    """add_lora on _base with lora_A drawn from `seed`, and lora_B drawn too (it starts at zero:
    an untrained adapter changes nothing), so that the adapters change the outputs; eval mode."""
    torch.manual_seed(seed)
    model = add_lora(_base(family, dtype), settings)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.2)
    return model.eval()


def _waves(n: int = 2, samples: int = 8000, dtype=torch.float64) -> torch.Tensor:
    """(n, samples) seeded noise."""
    return torch.randn(n, samples, generator=torch.Generator().manual_seed(1), dtype=dtype)


def _last(model, waves) -> torch.Tensor:
    with torch.no_grad():
        return hidden_states(model, waves)[-1]


def test_untrained_adapters_change_nothing_and_are_seeded():
    """Guards against an adapter that alters the pretrained model before training, or an
    initialisation that does not follow torch's seed."""
    torch.manual_seed(3)
    first = add_lora(_base())
    torch.manual_seed(3)
    second = add_lora(_base())
    states = adapter_state(first), adapter_state(second)
    assert states[0].keys() == states[1].keys() and len(states[0]) == 2 * len(ATTENTION)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    waves = _waves()
    assert torch.equal(_last(first, waves), _last(_base(), waves))


@pytest.mark.parametrize("family", ["wav2vec2", "hubert", "data2vec-audio"])
def test_targets_are_the_attention_projections_and_only_adapters_train(family):
    """Guards against LoRA on the CNN or the feature projection, a frozen weight that trains,
    or an adapter without gradient, through BrainTuner as brain-tuning runs it (train mode)."""
    base = _base(family, torch.float32)
    assert adapted_layers(base, LoraSettings().targets) == ATTENTION  # not feature_projection.projection
    torch.manual_seed(0)
    net = BrainTuner(add_lora(base), n_voxels=5).train()
    adapters = [n for n, _ in net.named_parameters() if ".lora_A." in n or ".lora_B." in n]
    assert len(adapters) == 2 * len(ATTENTION)
    assert {n for n, p in net.named_parameters() if p.requires_grad} == {*adapters, "head.weight", "head.bias"}
    assert not any(p.requires_grad for p in net.backbone.feature_extractor.parameters())
    loss = net(net.cnn(_waves(dtype=torch.float32))).square().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    assert all(net.get_parameter(n).grad.abs().sum() > 0 for n in adapters if ".lora_B." in n)


def test_merged_model_equals_the_adapter_model():
    """Guards against a merge that drops or mis-scales the adapters (alpha / r), merges into the
    model in training, or returns anything but a plain model of the input's class."""
    model = _lora()
    waves = _waves()
    with torch.no_grad():
        adapted = [h.clone() for h in hidden_states(model, waves)]
    assert (adapted[-1] - _last(_base(), waves)).abs().max() > 1e-2  # the adapters matter
    merged = merged_backbone(model).eval()
    assert type(merged) is type(_base()) and type(merged.config) is type(_base().config)
    assert not any("lora" in name or "base_layer" in name for name in merged.state_dict())
    for a, m in zip(adapted, hidden_states(merged, waves), strict=True):
        torch.testing.assert_close(m, a, **TIGHT)
    assert torch.equal(_last(model, waves), adapted[-1])  # the LoRA model is unchanged


NO_PEFT = """
import json, sys
sys.modules["peft"] = None  # `import peft` raises ImportError
import torch, transformers
try:
    import peft
    sys.exit("peft was importable")
except ImportError:
    pass
folder, waves, out = sys.argv[1:]
model = transformers.AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float64).eval()
with torch.no_grad():
    hidden = model(input_values=torch.load(waves, weights_only=True)).last_hidden_state
torch.save(hidden, out)
print(json.dumps({"class": type(model).__name__, "config": type(model.config).__name__}))
"""


def test_export_loads_without_peft(tmp_path):
    """Guards against an export that needs peft (adapter keys, base_model.model. prefixes, an
    adapter_config.json at the top) or differs from the LoRA model it came from."""
    model = _lora()
    folder = export_lora(model, tmp_path / "backbone")
    assert sorted(p.name for p in folder.iterdir()) == [ADAPTER_FOLDER, "config.json", "model.safetensors",
                                                         "preprocessor_config.json"]
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    merged = merged_backbone(model).state_dict()
    assert sorted(keys) == sorted(merged)
    waves = _waves()
    torch.save(waves, tmp_path / "waves.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", NO_PEFT, str(folder), str(tmp_path / "waves.pt"),
                             str(tmp_path / "hidden.pt")], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"class": "HubertModel", "config": "HubertConfig"}
    with torch.no_grad():  # raw waves, as the subprocess gives them
        expected = model(input_values=waves).last_hidden_state
    torch.testing.assert_close(torch.load(tmp_path / "hidden.pt", weights_only=True), expected, **TIGHT)
    reloaded = load_encoder(folder, dtype="float32")  # braintune's strict loader takes it as a tuned backbone
    assert type(reloaded).__name__ == "HubertModel" and reloaded.config.do_normalize


@pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing:FutureWarning")  # peft reads it
def test_adapter_folder_reloads_onto_a_fresh_base(tmp_path):
    """Guards against an adapter folder that peft cannot put back on the pretrained model."""
    import peft

    model = _lora()
    folder = export_lora(model, tmp_path / "backbone") / ADAPTER_FOLDER
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in folder.iterdir()}
    config = json.loads((folder / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 32.0, 0.1)
    reloaded = peft.PeftModel.from_pretrained(_base(), folder).eval()
    waves = _waves()
    assert torch.equal(_last(reloaded, waves), _last(model, waves))


def test_state_round_trips_exactly():
    """Guards against a resume that changes the LoRA model: its adapter state, saved and loaded
    into a model whose adapters were drawn differently, restores every tensor bit for bit."""
    trained = _lora(seed=0)
    buffer = io.BytesIO()
    torch.save(adapter_state(trained), buffer)
    restored = _lora(seed=1)
    assert not torch.equal(adapter_state(restored)[next(iter(adapter_state(restored)))],
                           adapter_state(trained)[next(iter(adapter_state(trained)))])
    buffer.seek(0)
    load_adapter_state(restored, torch.load(buffer, weights_only=True))
    expected, got = trained.state_dict(), restored.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        assert expected[key].dtype == got[key].dtype and torch.equal(expected[key], got[key]), key
    # the whole model's state_dict (what tuning's checkpoint.pt holds today) round-trips too
    again = _lora(seed=2)
    again.load_state_dict(trained.state_dict())
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in expected.items())
    state = adapter_state(trained)
    state.pop(next(iter(state)))
    with pytest.raises(ValueError, match="1 missing"):
        load_adapter_state(_lora(seed=1), state)


@pytest.mark.parametrize("values, key", [
    ({"r": 0}, "r"), ({"r": 2.5}, "r"), ({"alpha": 0}, "alpha"), ({"dropout": 1.0}, "dropout"),
    ({"dropout": -0.1}, "dropout"), ({"targets": []}, "targets"), ({"targets": [""]}, "targets"),
])
def test_settings_validation_names_the_field(values, key):
    """Guards against a bad LoRA setting that passes, or an error that does not name its key."""
    with pytest.raises(ConfigError, match=rf"^tune\.lora\.{key}:"):
        from_mapping(LoraSettings, values, "tune.lora.")


def test_settings_defaults_and_mapping():
    """Guards against defaults that drift from the paper's LoRA (r 8, alpha 32, dropout 0.1, q/k/v/out)."""
    assert to_dict(LoraSettings()) == {"r": 8, "alpha": 32.0, "dropout": 0.1,
                                       "targets": ["q_proj", "k_proj", "v_proj", "out_proj"]}
    assert from_mapping(LoraSettings, {"r": 4, "targets": ["attention.q_proj"]}).targets == ["attention.q_proj"]


@pytest.mark.parametrize("target, says", [("qproj", "matches no layer"), ("layer_norm", "nn.Linear only"),
                                          ("projection", "matches no layer")])
def test_targets_that_fit_no_linear_layer_are_one_line(target, says):
    """Guards against a typo in targets training nothing, or a traceback from deep in peft; the
    feature projection (outside the blocks) is never a target."""
    model = _base()
    with pytest.raises(ConfigError) as error:
        add_lora(model, LoraSettings(targets=["q_proj", target]))
    message = str(error.value)
    assert message.startswith(f"targets: {target!r}") and says in message and "\n" not in message
    assert not any("lora" in name for name in model.state_dict())


def test_wavlm_is_refused_because_its_attention_bypasses_the_adapters():
    """Guards against silent no-op LoRA: transformers' WavLM attention reads q/k/v/out_proj's
    weights (F.multi_head_attention_forward), so peft's adapters would get no gradient."""
    model = _base("wavlm", torch.float32)
    with pytest.raises(ModelNotAvailable, match="WavLMModel: LoRA adapters would never run"):
        add_lora(model)
    assert not any("lora" in name for name in model.state_dict())


def test_benchmark_measures_both_ways(monkeypatch):
    """Guards against benchmarks/lora.py rotting unseen: one tiny step each way, in this process."""
    import importlib.util
    from pathlib import Path

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))  # it imports its sibling tune.py
    spec = importlib.util.spec_from_file_location("lora_benchmark", benchmarks / "lora.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    full, lora = (bench.measure("tiny", way, 0.5, 1, 1, torch.device("cpu")) for way in ("full", "lora"))
    config = json.loads((pretrained_folder(bench.MODELS["tiny"]) / "config.json").read_text())
    per_layer = 8 * 2 * config["hidden_size"]  # r x (in + out) of each adapted (hidden x hidden) projection
    assert lora["trainable_backbone"] == 4 * config["num_hidden_layers"] * per_layer
    assert lora["trainable"] < full["trainable"] < full["total"]
    assert all(r["step_s"] > 0 and r["state_mb"] > 0 for r in (full, lora))

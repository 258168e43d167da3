"""trt_dyn.settings: one place for every switch; precedence compilation settings > code > environment > default."""

import pytest

import trt_dyn
from trt_dyn import settings
from trt_dyn.converters import nms
from trt_dyn.lowering import data_dependent


class Compilation:
    """Stands for torch_tensorrt's CompilationSettings (only the attribute the switches read)."""

    def __init__(self, require_full_compilation):
        self.require_full_compilation = require_full_compilation


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for switch in settings.SWITCHES.values():
        monkeypatch.delenv(switch.env, raising=False)
    saved = {name: settings._set_in_code.get(name) for name in settings.SWITCHES}
    for name in settings.SWITCHES:
        settings.set(name, None)
    yield
    for name, value in saved.items():
        settings.set(name, value)


def test_on_missing_precedence(monkeypatch):
    assert settings.explain("on_missing") == ("raise", "default")
    monkeypatch.setenv("TRT_DYN_ON_MISSING", "warn")
    assert settings.explain("on_missing") == ("warn", "$TRT_DYN_ON_MISSING")
    settings.set("on_missing", "raise")
    assert settings.explain("on_missing") == ("raise", "code")  # code beats the environment
    settings.set("on_missing", "warn")
    # a full compilation cannot leave nodes to PyTorch: torch_tensorrt's settings come first
    assert settings.explain("on_missing", Compilation(True)) == ("raise", "compilation settings")
    assert settings.explain("on_missing", Compilation(False)) == ("warn", "code")
    settings.set("on_missing", None)
    assert settings.explain("on_missing", Compilation(False)) == ("warn", "$TRT_DYN_ON_MISSING")


def test_real_compilation_settings_decide_on_missing():
    from torch_tensorrt.dynamo._settings import CompilationSettings

    settings.set("on_missing", "warn")
    assert settings.get("on_missing", CompilationSettings(require_full_compilation=True)) == "raise"
    assert settings.get("on_missing", CompilationSettings(require_full_compilation=False)) == "warn"


def test_old_setters_are_aliases(monkeypatch):
    trt_dyn.lowering.set_on_missing("warn")
    assert settings.get("on_missing") == trt_dyn.lowering.get_on_missing() == "warn"
    trt_dyn.lowering.set_enabled(False)
    assert settings.get("lowering") is False and not trt_dyn.lowering.is_enabled()
    trt_dyn.lowering.set_enabled(None)
    monkeypatch.setenv("TRT_DYN_LOWERING", "off")
    assert not trt_dyn.lowering.is_enabled()
    data_dependent.set_mode("native")
    assert settings.get("data_dependent") == data_dependent.requested_mode() == "native"
    assert nms.set_formulation("sequential") == "fixed_point"
    assert settings.get("nms_formulation") == "sequential"
    assert nms.set_formulation("fixed_point") == "sequential"


def test_overrides_restore_code_values_and_environment(monkeypatch):
    monkeypatch.setenv("TRT_DYN_DATA_DEPENDENT", "dense")
    settings.set("on_missing", "warn")
    with settings.overrides(on_missing="raise", data_dependent="native"):
        assert settings.get("on_missing") == "raise" and settings.get("data_dependent") == "native"
    assert settings.explain("on_missing") == ("warn", "code")
    assert settings.explain("data_dependent") == ("dense", "$TRT_DYN_DATA_DEPENDENT")
    with data_dependent.data_dependent_mode("native"):
        assert data_dependent.requested_mode() == "native"
    assert data_dependent.requested_mode() == "dense"


def test_bad_values_name_the_switch_or_variable(monkeypatch):
    with pytest.raises(ValueError, match="on_missing must be one of"):
        settings.set("on_missing", "ignore")
    with pytest.raises(ValueError, match="nms_formulation"):
        nms.set_formulation("greedy")
    monkeypatch.setenv("TRT_DYN_TARGET_SM", "nine")
    with pytest.raises(ValueError, match="TRT_DYN_TARGET_SM: must look like '8.9'"):
        settings.get("target_sm")
    with pytest.raises(KeyError, match="no trt_dyn switch 'colour'"):
        settings.get("colour")


def test_env_only_switches_parse(monkeypatch):
    assert settings.get("target_sm") == (8, 9)
    monkeypatch.setenv("TRT_DYN_TARGET_SM", "12.0")
    assert trt_dyn.no_gpu.target_capability() == (12, 0)
    assert settings.get("no_gpu_shim") is True
    monkeypatch.setenv("TRT_DYN_NO_GPU_SHIM", "0")
    assert settings.get("no_gpu_shim") is False
    monkeypatch.setenv("TRT_DYN_CPP_BUILD_DIR", "/somewhere")
    assert str(trt_dyn.cpp_ops.default_build_dir()) == "/somewhere"


def test_formulation_choices_match_the_converters():
    assert set(settings.SWITCHES["nms_formulation"].choices) == set(nms.FORMULATIONS)


def test_pass_reads_require_full_compilation_from_torch_tensorrt():
    """warn mode cannot give one engine: with require_full_compilation=True the pass raises the report itself
    (before: torch_tensorrt's generic "model is not fully supported" after partitioning)."""
    import warnings

    import torch
    from torch.export import Dim

    from trt_dyn.testing.compile_cpu import compile_cpu

    class Roll(torch.nn.Module):
        def forward(self, x):
            return torch.roll(x, x.shape[0] // 2, 0) * 2.0

    program = torch.export.export(Roll(), (torch.randn(6, 3),), dynamic_shapes=({0: Dim("n", min=2, max=16)},))
    settings.set("on_missing", "warn")
    with pytest.raises(trt_dyn.MissingDynVariantError, match="aten.roll"):
        compile_cpu(program, require_full_compilation=True, min_block_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_cpu(program, require_full_compilation=False, min_block_size=1)
    assert any("roll" in node.target for node in compiled.pytorch_nodes)
    for n in (2, 7, 16):
        x = torch.randn(n, 3)
        torch.testing.assert_close(compiled(x), Roll()(x))

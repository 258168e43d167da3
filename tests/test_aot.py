"""compile_to_file: a dynamic program compiled without a GPU into torch_tensorrt's saved-program format.

Here (no GPU) the file is written by the host path and read back as far as a machine without a GPU can:
program structure, engine bytes, binding names, profile ranges, packed engine info. Running the loaded
program needs a GPU (tests marked ``gpu``).
"""

import hashlib
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn import aot, cpp_ops, no_gpu
from trt_dyn.build import build_engine

EXECUTE_ENGINE = "tensorrt.execute_engine.default"


class Pyramid(torch.nn.Module):
    """Conv features resized to a size computed from the input's (dyn interpolate), flattened per image."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        features = torch.relu(self.conv(x))
        coarse = torch.nn.functional.interpolate(features, size=(x.shape[2] // 2, x.shape[3] // 2), mode="nearest")
        return coarse.reshape(x.shape[0], -1).softmax(-1), features.mean(dim=(2, 3))


def pyramid_program():
    torch.manual_seed(0)
    model = Pyramid().eval()
    dims = {0: Dim("batch", min=1, max=4), 2: Dim("h", min=8, max=64), 3: Dim("w", min=8, max=48)}
    return model, torch.export.export(model, (torch.randn(2, 3, 20, 18),), dynamic_shapes=(dims,))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model, program = pyramid_program()
    path = str(tmp_path_factory.mktemp("aot") / "pyramid.pt2")
    compiled = aot.compile_to_file(program, path, require_full_compilation=True)
    return model, program, compiled, aot.read_file(path)


def test_path_taken(saved):
    """Without a CUDA device (here) the host path; with one, torch_tensorrt's normal path."""
    _, _, compiled, _ = saved
    without_gpu = no_gpu.is_active()
    assert compiled.built_on_gpu is not without_gpu
    assert compiled.manifest["target_capability"] == ("%d.%d" % no_gpu.target_capability() if without_gpu else None)
    assert len(compiled.engines) == 1 and compiled.pytorch_nodes == []


def test_program_structure(saved):
    _, program, _, loaded = saved
    graph = loaded.program.graph
    calls = [node for node in graph.nodes if node.op == "call_function"]
    engines = [node for node in calls if str(node.target) == EXECUTE_ENGINE]
    assert len(engines) == 1
    # one engine computing everything: the rest is only taking its two outputs apart
    assert all(node is engines[0] or node.target.__name__ == "getitem" for node in calls)
    signature = loaded.program.graph_signature
    assert list(signature.user_inputs) == list(program.graph_signature.user_inputs) == ["x"]
    assert len(signature.user_outputs) == 2
    custom = [spec for spec in signature.input_specs if spec.kind.name == "CUSTOM_OBJ"]
    assert [spec.target for spec in custom] == ["_run_on_acc_0_engine"]
    assert list(loaded.engines) == ["_run_on_acc_0_engine"]
    # the same dynamic dims as the export (torch records a Dim(min=1) as min 2)
    placeholder = next(node for node in graph.nodes if node.name == "x")
    assert [isinstance(d, torch.SymInt) for d in placeholder.meta["val"].shape] == [True, False, True, True]
    ranges = sorted((int(r.lower), int(r.upper)) for r in loaded.program.range_constraints.values())
    assert ranges == [(1, 4), (8, 48), (8, 64)]  # the export's Dim ranges, batch 1 included


def test_input_check_accepts_the_whole_profile(saved):
    """The loaded program's input check (run before the engine) accepts min, max and odd shapes, refuses others."""
    _, _, _, loaded = saved
    def check(shape):
        flat_with_paths, _ = torch.utils._pytree.tree_flatten_with_path(((torch.randn(shape),), {}))
        loaded.program._check_input_constraints(flat_with_paths)

    for shape in ((1, 3, 8, 8), (4, 3, 64, 48), (3, 3, 37, 11)):
        check(shape)
    for shape in ((5, 3, 8, 8), (1, 3, 65, 8), (1, 3, 8, 7)):
        with pytest.raises(RuntimeError, match="to be <=|to be >="):
            check(shape)


def test_engine_bytes_names_and_profiles(saved):
    _, program, compiled, loaded = saved
    built = compiled.engines[0]
    engine = loaded.engines["_run_on_acc_0_engine"]
    assert engine.serialized_engine == built.serialized_engine
    assert engine.serialized_engine[1:4] == b"trt"  # a TensorRT plan ("vtrt" from TensorRT-RTX), not base64 text
    assert engine.input_names == built.input_names == ["x"]
    assert engine.output_names == built.output_names == ["output0", "output1"]
    assert built.profiles == [{"x": ((1, 3, 8, 8), (2, 3, 20, 18), (4, 3, 64, 48))}]
    # the manifest in the file describes the embedded bytes
    (entry,) = loaded.manifest["engines"]
    assert entry["sha256"] == hashlib.sha256(engine.serialized_engine).hexdigest()
    assert entry["profiles"] == [{"x": {"min": [1, 3, 8, 8], "opt": [2, 3, 20, 18], "max": [4, 3, 64, 48]}}]
    # build_engine builds the same network (TensorRT builds are not byte-reproducible: compared by network)
    reference = build_engine(program)
    assert reference.profiles == built.profiles
    assert (reference.input_names, reference.output_names) == (built.input_names, built.output_names)
    assert reference.num_layers == built.num_layers


def test_packed_engine_info(saved):
    from torch_tensorrt.dynamo.runtime._serialized_engine_layout import ABI_VERSION

    _, _, _, loaded = saved
    engine = loaded.engines["_run_on_acc_0_engine"]
    assert engine.name == "_run_on_acc_0_engine"
    assert engine.abi_version == ABI_VERSION == str(torch.ops.tensorrt.ABI_VERSION())
    gpu_id, major, minor, device_type, _ = engine.target_device.split("%")
    # the build target (TRT_DYN_TARGET_SM) without a GPU: what the shim reports as the device's capability
    assert (int(gpu_id), int(major), int(minor), int(device_type)) == (0, *torch.cuda.get_device_capability(), 0)
    assert engine.target_platform == "linux_x86_64"
    assert engine.hardware_compatible is False
    settings = engine.metadata["settings"]
    assert settings.require_full_compilation is True and settings.lazy_engine_init is False
    symbolic = engine.metadata["inout_symexprs"]
    assert [spec["name"] for spec in symbolic["inputs"]] == ["x"]
    # compile marks an engine's outputs unowned only when the graph returns the engine call itself; two outputs
    # go through getitem, as they do on a GPU
    assert engine.metadata["output_tensors_are_unowned"] is False


@pytest.mark.skipif(not no_gpu.is_active(), reason="only without a CUDA device")
def test_plain_load_stops_only_at_engine_construction(saved):
    """torch.export.load gets as far as building the runtime engine, which needs a CUDA device."""
    _, _, compiled, _ = saved
    with pytest.raises(RuntimeError, match="deserializing"):
        torch.export.load(compiled.path)


def test_bad_inputs_fail_before_building(tmp_path):
    _, program = pyramid_program()
    with pytest.raises(trt_dyn.inputs.InputSpecError, match="input 'x'"):
        aot.compile_to_file(program, str(tmp_path / "bad.pt2"), arg_inputs=[{"min": (1, 3, 8, 8)}])
    assert not (tmp_path / "bad.pt2").exists()


class PartlyUnsupported(torch.nn.Module):
    """roll by a symbolic shift has no dyn variant: warn mode leaves it (and its shift) to PyTorch."""

    def forward(self, x):
        y = torch.relu(x * 2)
        rolled = torch.roll(y, shifts=x.shape[2] // 2, dims=2)
        return rolled.reshape(x.shape[0], -1) + 1


def test_warn_mode_file_keeps_pytorch_nodes_as_operators(tmp_path):
    program = torch.export.export(PartlyUnsupported(), (torch.randn(2, 3, 10),),
                                  dynamic_shapes=({2: Dim("n", min=2, max=32)},))
    trt_dyn.lowering.set_on_missing("warn")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = aot.compile_to_file(program, str(tmp_path / "warn.pt2"), min_block_size=1)
    finally:
        trt_dyn.lowering.set_on_missing(None)
    assert any("roll" in node.target for node in compiled.pytorch_nodes)
    loaded = aot.read_file(compiled.path)
    targets = [node.target for node in loaded.program.graph.nodes if node.op == "call_function"]
    assert torch.ops.aten.roll.default in targets
    assert sum(str(t) == EXECUTE_ENGINE for t in targets) == len(compiled.engines) >= 1
    # every node is an operator torch.export can serialize: warn mode's stand-in functions were undone
    assert not any(getattr(t, "__module__", "").startswith("trt_dyn") for t in targets)
    for name, engine in loaded.engines.items():
        built = next(e for e in compiled.engines if f"{e.name}_engine" == name)
        assert engine.serialized_engine == built.serialized_engine


@pytest.mark.gpu
def test_file_runs_on_gpu_with_torch_tensorrt_only(saved, tmp_path):
    """On a GPU: a process without trt_dyn loads the file with torch_tensorrt and matches eager PyTorch."""
    model, _, compiled, _ = saved
    inputs = [torch.randn(b, 3, h, w) for b, h, w in ((1, 8, 8), (4, 64, 48), (2, 20, 18), (3, 37, 11))]
    torch.save(inputs, tmp_path / "inputs.pt")
    code = """
    import sys, torch, torch_tensorrt
    module = torch_tensorrt.load(sys.argv[1]).module()
    outputs = [[o.cpu() for o in module(x.cuda())] for x in torch.load(sys.argv[2])]
    torch.save(outputs, sys.argv[3])
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), compiled.path, str(tmp_path / "inputs.pt"),
                             str(tmp_path / "outputs.pt")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    for x, got in zip(inputs, torch.load(tmp_path / "outputs.pt")):
        for have, want in zip(got, model(x)):
            torch.testing.assert_close(have, want, rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
def test_warn_mode_file_runs_on_gpu_with_cpp_ops(tmp_path):
    """On a GPU: the warn-mode file runs in a process with torch_tensorrt and the C++ ops, without trt_dyn."""
    model = PartlyUnsupported()
    program = torch.export.export(model, (torch.randn(2, 3, 10),), dynamic_shapes=({2: Dim("n", min=2, max=32)},))
    trt_dyn.lowering.set_on_missing("warn")
    try:
        compiled = aot.compile_to_file(program, str(tmp_path / "warn.pt2"), min_block_size=1)
    finally:
        trt_dyn.lowering.set_on_missing(None)
    inputs = [torch.randn(2, 3, n) for n in (2, 32, 7, 19)]
    torch.save(inputs, tmp_path / "inputs.pt")
    code = """
    import sys, torch, torch_tensorrt
    torch.ops.load_library(sys.argv[4])
    module = torch_tensorrt.load(sys.argv[1]).module()
    torch.save([module(x.cuda()).cpu() for x in torch.load(sys.argv[2])], sys.argv[3])
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), compiled.path, str(tmp_path / "inputs.pt"),
                             str(tmp_path / "outputs.pt"), str(cpp_ops.library_path("ops", cpp_ops.build()))],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    for x, got in zip(inputs, torch.load(tmp_path / "outputs.pt")):
        torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-5)


class ReshapeBySize(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x).reshape(x.shape[0] * x.shape[1], -1) + 1


def test_file_keeping_a_python_only_op_warns(tmp_path, monkeypatch):
    """An op without a C++ kernel (define(..., cpp_kernel=False)) left in PyTorch: the file needs trt_dyn."""
    from trt_dyn.ops import PYTHON_ONLY_OPS

    program = torch.export.export(ReshapeBySize(), (torch.randn(2, 3, 4),),
                                  dynamic_shapes=({0: Dim("n", min=1, max=8)},))
    kept_in_pytorch = {"torch_executed_ops": {"torch.ops.trt_dyn.reshape_dyn.default"}, "min_block_size": 1}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compiled = aot.compile_to_file(program, str(tmp_path / "cpp.pt2"), **kept_in_pytorch)
    assert any("reshape_dyn" in node.target for node in compiled.pytorch_nodes)
    assert not [w for w in caught if issubclass(w.category, aot.PythonOnlyOpWarning)]  # it has a C++ kernel

    monkeypatch.setattr("trt_dyn.ops._registry.PYTHON_ONLY_OPS", PYTHON_ONLY_OPS | {"reshape_dyn"})
    monkeypatch.setattr("trt_dyn.ops.PYTHON_ONLY_OPS", PYTHON_ONLY_OPS | {"reshape_dyn"})
    with pytest.warns(aot.PythonOnlyOpWarning, match=r"trt_dyn::reshape_dyn \(nodes .*libtrt_dyn_ops.so cannot"):
        aot.compile_to_file(program, str(tmp_path / "python_only.pt2"), **kept_in_pytorch)

"""Compile a dynamic-shape program into a file that torch_tensorrt loads on a GPU machine.

:func:`compile_to_file` writes the format ``torch_tensorrt.save(module, path, retrace=False)`` writes
(``output_format="exported_program"``, its legacy exporter): an ExportedProgram whose TensorRT segments are
``tensorrt::execute_engine(inputs, engine)`` nodes, each engine a lifted custom object pickled as
torch_tensorrt's ``EngineSerializer`` (the engine-info list of ``TorchTensorRTModule._pack_engine_info``:
ABI version, name, target device, serialized engine, binding names, metadata, platform, ...). On a GPU
machine ``torch_tensorrt.load(path)`` / ``torch.export.load(path)`` rebuild the engines and the program runs.

* With a CUDA device the call is torch_tensorrt's own: ``torch_tensorrt.dynamo.compile``, then the steps of
  ``torch_tensorrt.save(module, retrace=False)`` (its exporter and engine serialization).
* Without one (:mod:`trt_dyn.no_gpu` active) the same ``torch_tensorrt.dynamo.compile`` runs (same lowering,
  partitioning, converters, TensorRT-RTX builder on the CPU) with two changes, both undone afterwards:
  each ``TorchTensorRTModule`` is created with its engine *not* deserialized (a :class:`HostEngineHandle`
  stands where the runtime engine would be), and the PyTorch segments of a partitioned graph stay on the
  CPU (torch_tensorrt would move them to ``settings.device``, a CUDA device that does not exist here).
  The program is then exported by torch_tensorrt's exporter and the engines are packed by
  ``TorchTensorRTModule._pack_engine_info``; the target device recorded in the file is GPU 0 with
  compute capability ``TRT_DYN_TARGET_SM`` (:func:`trt_dyn.no_gpu.target_capability`).

On both paths the saved program's input ranges are those of the user's export (torch_tensorrt's exporter
would record a ``Dim(min=1)`` as min 2), and nodes that warn mode left to PyTorch get their original op back.

Both paths also store ``trt_dyn/engines.json`` in the archive (``extra_files``; torch_tensorrt ignores it):
per engine the name, SHA-256 and size of the serialized engine, binding names and optimization profiles, so
a file can be checked without a GPU (:func:`read_file`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

from . import no_gpu
from ._hooks import (decode_packed_engine, export_with_live_engines, export_with_packed_engines, is_packed_engine,
                     loading_engines_packed, segments_converted_by, target_device_properties)
from ._trt import FLAVOR, torch_tensorrt, trt
from .build import BuiltEngine, capture_builds, default_settings
from .inputs import resolve_inputs
from .testing.compile_cpu import PyTorchNode, pytorch_nodes

__all__ = ["compile_to_file", "CompiledFile", "PythonOnlyOpWarning", "read_file", "SavedFile", "SavedEngine", "HostEngineHandle", "MANIFEST",
           "restore_pytorch_targets"]

#: name of the trt_dyn manifest inside the saved archive (an ``extra_files`` entry)
MANIFEST = "trt_dyn/engines.json"


@dataclass
class CompiledFile:
    """What :func:`compile_to_file` wrote."""

    path: str
    #: the engines built (bytes, network, binding names, profiles), in graph order
    engines: List[BuiltEngine]
    #: nodes the saved program runs in PyTorch (needs trt_dyn's ops where they are ``trt_dyn::*``)
    pytorch_nodes: List[PyTorchNode]
    #: True when built through torch_tensorrt's normal path on a CUDA device
    built_on_gpu: bool
    manifest: Dict[str, Any]


class HostEngineHandle:
    """Stands where ``torch.classes.tensorrt.Engine`` would be on a machine without a GPU.

    torch_tensorrt's compile and exporter ask a built module's engine only for the output-ownership flag
    (set on the last engine, packed into the engine metadata) and the multi-device flag; this records the
    first and answers False to the second. Anything else (running it) raises with the reason.
    """

    requires_native_multidevice = False

    def __init__(self, name: str) -> None:
        self.name = name
        self._outputs_unowned = False

    def set_output_tensors_as_unowned(self, enabled: bool) -> None:
        self._outputs_unowned = bool(enabled)

    def are_output_tensors_unowned(self) -> bool:
        return self._outputs_unowned

    def __getattr__(self, attribute: str) -> Any:
        raise RuntimeError(
            f"{self.name}: engine.{attribute} needs a CUDA device; this engine was built without one and can only "
            "be saved (trt_dyn.aot.compile_to_file), then loaded with torch_tensorrt.load on a GPU machine"
        )


def _gpu_present() -> bool:
    return torch.cuda.is_available() and not no_gpu.is_active()


@contextlib.contextmanager
def _host_conversion() -> Iterator[None]:
    """torch_tensorrt's convert_module, leaving the engine undeserialized; PyTorch segments stay on the CPU."""

    def on_host(original_convert: Callable) -> Callable:
        def convert_module_on_host(module: Any, inputs: Sequence[Any], settings: Any = None, name: str = "",
                                   engine_cache: Any = None) -> Any:
            # lazy_engine_init keeps TorchTensorRTModule.__init__ from deserializing the engine (needs a GPU);
            # the module keeps the user's value, which is what gets packed into the file's metadata.
            deferred = dataclasses.replace(settings, lazy_engine_init=True)
            trt_module = original_convert(module, inputs, settings=deferred, name=name, engine_cache=engine_cache)
            trt_module.settings.lazy_engine_init = settings.lazy_engine_init
            if trt_module.aliased_io:
                raise NotImplementedError(
                    f"compile_to_file: segment {name!r} has aliased input/output bindings "
                    f"{dict(trt_module.aliased_io)}; saving them without a GPU is not supported"
                )
            trt_module.engine = HostEngineHandle(name)  # setup_engine() returns early once an engine is set
            return trt_module

        return convert_module_on_host

    with segments_converted_by(on_host, segments_on_cpu=True):
        yield


class _TargetDeviceProperties:
    """What ``torch.cuda.get_device_properties`` reports for the build target while packing engine info."""

    def __init__(self) -> None:
        self.major, self.minor = no_gpu.target_capability()
        self.name = f"trt_dyn build target sm_{self.major}{self.minor}"


def _engine_modules(module: torch.fx.GraphModule) -> Dict[str, Any]:
    return {name: child for name, child in module.named_children() if "_run_on_acc" in name}


def _manifest(engines: List[BuiltEngine], built_on_gpu: bool) -> Dict[str, Any]:
    return {
        "format": "torch_tensorrt exported_program (retrace=False)",
        "tensorrt": {"flavor": FLAVOR, "version": trt.__version__},
        "torch_tensorrt": torch_tensorrt.__version__,
        "built_on_gpu": built_on_gpu,
        "target_capability": None if built_on_gpu else "%d.%d" % no_gpu.target_capability(),
        "engines": [
            {
                "name": engine.name,
                "sha256": hashlib.sha256(engine.serialized_engine).hexdigest(),
                "bytes": len(engine.serialized_engine),
                "input_names": engine.input_names,
                "output_names": engine.output_names,
                "profiles": [
                    {name: {"min": list(lo), "opt": list(opt), "max": list(hi)} for name, (lo, opt, hi) in p.items()}
                    for p in engine.profiles
                ],
            }
            for engine in engines
        ],
    }


def _name_records(records: List[BuiltEngine], module: torch.fx.GraphModule) -> None:
    # records are in build order, which is the order of the engine submodules
    names = list(_engine_modules(module))
    if len(names) != len(records):
        raise RuntimeError(f"compile_to_file: {len(records)} engines built but {len(names)} engine modules in the graph")
    for record, name in zip(records, names):
        record.name = name


def _export(module: torch.fx.GraphModule, original: torch.export.ExportedProgram,
            on_gpu: bool) -> torch.export.ExportedProgram:
    """The steps of ``torch_tensorrt.save(module, retrace=False)``: torch_tensorrt's legacy exporter, then each
    engine constant replaced by the ``EngineSerializer`` of its packed engine info.

    With a GPU the live engines are converted by torch_tensorrt's own functions; without one the packed info
    comes from each ``TorchTensorRTModule._pack_engine_info`` directly (the engine was never deserialized).
    """
    if on_gpu:
        program = export_with_live_engines(module)
    else:
        trt_modules = _engine_modules(module)
        with target_device_properties(_TargetDeviceProperties()):
            # torch_tensorrt records the target GPU (id, capability, name) in every packed engine; here there is
            # none, so the build target stands in.
            program = export_with_packed_engines(
                module, lambda constant: trt_modules[constant.name] if isinstance(constant, HostEngineHandle)
                else None)
    _restore_input_ranges(program, original)
    return program


def _restore_input_ranges(saved: torch.export.ExportedProgram, original: torch.export.ExportedProgram) -> None:
    """Give each dynamic input dim of ``saved`` the range it had in the user's export.

    The exporter takes ranges from the shape environment torch_tensorrt compiled in, where a dim exported with
    ``min=1`` became ``min=2`` (0/1 specialization): the saved program would refuse batch 1 although the
    engine's profile starts at 1.
    """
    from .inputs import user_input_nodes

    for before, after in zip(user_input_nodes(original), user_input_nodes(saved)):
        for old, new in zip(before.meta["val"].shape, after.meta["val"].shape):
            if not (isinstance(old, torch.SymInt) and isinstance(new, torch.SymInt)):
                continue
            old_symbol, new_symbol = old.node.expr, new.node.expr
            if old_symbol in original.range_constraints and new_symbol in saved.range_constraints:
                saved.range_constraints[new_symbol] = original.range_constraints[old_symbol]


def restore_pytorch_targets(graph_module: torch.fx.GraphModule) -> int:
    """Give nodes that warn mode left to PyTorch their original op back; returns how many changed.

    The lowering marks them with stand-in functions (so no converter claims them); an ExportedProgram may
    only hold operators, and the original op is what runs in PyTorch anyway.
    """
    from .lowering.pytorch_fallback import original_target

    changed = 0
    for module in graph_module.modules():
        if not isinstance(module, torch.fx.GraphModule):
            continue
        for node in module.graph.nodes:
            original = original_target(node.target) if node.op == "call_function" else node.target
            if original is not node.target:
                node.target = original
                changed += 1
        module.recompile()
    return changed


class PythonOnlyOpWarning(UserWarning):
    """A saved program runs a ``trt_dyn::*`` op in PyTorch that the C++ op library does not define."""


def _warn_python_only_ops(graph_module: torch.fx.GraphModule) -> None:
    """Warn when a PyTorch segment keeps an op declared ``define(..., cpp_kernel=False)``.

    Such a file loads only in a process that imported trt_dyn: ``libtrt_dyn_ops.so`` cannot run it.
    """
    from .ops import PYTHON_ONLY_OPS

    kept = {}
    for module in graph_module.modules():
        if not isinstance(module, torch.fx.GraphModule):
            continue
        for node in module.graph.nodes:
            target = node.target
            if node.op == "call_function" and isinstance(target, torch._ops.OpOverload) \
                    and target.namespace == "trt_dyn" and target._opname in PYTHON_ONLY_OPS:
                kept.setdefault(f"trt_dyn::{target._opname}", []).append(node.name)
    if kept:
        listed = "; ".join(f"{op} (nodes {', '.join(nodes)})" for op, nodes in sorted(kept.items()))
        warnings.warn(
            f"the saved program runs {listed} in PyTorch, and the C++ op library has no kernel for it "
            "(declared cpp_kernel=False in trt_dyn/ops/): libtrt_dyn_ops.so cannot run this file, load it in a "
            "process that imports trt_dyn, or write the C++ kernel (docs/adding_an_op.md)",
            PythonOnlyOpWarning, stacklevel=3)


def compile_to_file(
    program: torch.export.ExportedProgram,
    path: str,
    arg_inputs: Optional[Sequence[Any]] = None,
    **settings: Any,
) -> CompiledFile:
    """Compile ``program`` with torch_tensorrt and save it to ``path`` for ``torch_tensorrt.load`` on a GPU.

    ``arg_inputs``: ``torch_tensorrt.Input`` specs, example tensors or min/opt/max dicts, one per user input;
    None takes the ranges from the export (:func:`trt_dyn.inputs.resolve_inputs`). ``settings`` go to
    ``torch_tensorrt.dynamo.compile`` unchanged (engine caching is off unless asked for). Works with a GPU
    (torch_tensorrt's normal path) and without one (engines built by TensorRT-RTX on the CPU, not run).
    """
    inputs = resolve_inputs(program, arg_inputs)
    options = {**default_settings(), **settings}
    on_gpu = _gpu_present()
    conversion = contextlib.nullcontext() if on_gpu else _host_conversion()
    with capture_builds() as records, conversion:
        module = torch_tensorrt.dynamo.compile(program, arg_inputs=inputs, **options)
    engines = list(records)
    _name_records(engines, module)
    restore_pytorch_targets(module)
    _warn_python_only_ops(module)
    manifest = _manifest(engines, on_gpu)
    extra_files = {MANIFEST: json.dumps(manifest, indent=1)}
    torch.export.save(_export(module, program, on_gpu), path, extra_files=extra_files)
    return CompiledFile(path, engines, pytorch_nodes(module), on_gpu, manifest)


# ---- reading a saved file without a GPU ----


@dataclass
class SavedEngine:
    """One engine as stored in a saved file (its packed engine info, decoded)."""

    constant: str
    name: str
    abi_version: str
    target_device: str
    serialized_engine: bytes
    input_names: List[str]
    output_names: List[str]
    hardware_compatible: bool
    target_platform: str
    metadata: Dict[str, Any]


@dataclass
class SavedFile:
    """A saved program loaded without deserializing its engines (:func:`read_file`)."""

    program: torch.export.ExportedProgram
    engines: Dict[str, SavedEngine]
    manifest: Optional[Dict[str, Any]]


def read_file(path: str) -> SavedFile:
    """Load a file written by :func:`compile_to_file` (or ``torch_tensorrt.save``) without a GPU.

    Everything ``torch.export.load`` does except constructing the runtime engines: engine constants are
    left as their packed engine info (torch_tensorrt's ``EngineSerializer``), decoded into
    :class:`SavedEngine` records. The program cannot run (its engines are not deserialized).
    """
    extra_files = {MANIFEST: ""}
    with loading_engines_packed():
        program = torch.export.load(path, extra_files=extra_files)
    engines = {fqn: SavedEngine(constant=fqn, **decode_packed_engine(constant))
               for fqn, constant in program.constants.items() if is_packed_engine(constant)}
    manifest = json.loads(extra_files[MANIFEST]) if extra_files.get(MANIFEST) else None
    return SavedFile(program, engines, manifest)


"""Every place trt_dyn touches torch_tensorrt, ``torch.cuda`` or TensorRT beyond their public API.

An upgrade of torch_tensorrt that moves one of these names used to surface far away ("expected one TensorRT engine,
built 0"). Here each touch is one named function, and :data:`ASSUMPTIONS` lists what each relies on (a name exists,
a signature has the parameters passed, a module-global lookup is the one replaced); ``tests/test_hooks.py`` checks
every entry and its failure message names the assumption and the torch_tensorrt location. No other trt_dyn module
imports a private torch_tensorrt name (``tests/test_hooks.py::test_no_private_access_outside_hooks``).

========================================  ===================================================  =====================
hook                                       what it touches                                      used by
========================================  ===================================================  =====================
:func:`enabled_features`                   ``torch_tensorrt._features.ENABLED_FEATURES``        ``_trt`` (flavour)
:func:`torch_dtype_of`                     ``torch_tensorrt._enums.dtype._from``                ``testing.compile_cpu``
:func:`is_static_input`                    ``torch_tensorrt.Input._ShapeMode``                  ``inputs``
``converter_decorator``,                   ``dynamo.conversion._ConverterRegistry``             ``converters/*``
``ConverterPriority``
``get_trt_tensor``, ``create_constant``    ``dynamo.conversion.converter_utils``                ``converters/*``
:func:`upstream_gather`                    ``conversion.impl.select.gather``, ``_SourceIR``      ``converters.selection``
:func:`upstream_converter`                 ``DYNAMO_ATEN_CONVERTERS`` candidates and their       ``converters.fixed_channels``
                                           validators (torch_tensorrt's own choice)
:func:`without_converters`                 ``DYNAMO_ATEN_CONVERTERS`` (entries removed, then    ``testing.harness``
                                           put back)
:func:`install_post_lowering_passes`       ``_aten_lowering_pass`` (the registration            ``lowering.pipeline``
                                           decorator) and its pass list
:func:`decompositions`,                    ``dynamo.lowering.get_decompositions`` (with the     ``lowering.pipeline``
:func:`compilation_settings`,              settings ``dynamo.compile`` hands it),
:func:`passes_before`                      ``CompilationSettings``, the live pass list
:func:`lower_before_decomposing`,          ``pre_export_lowering`` (compile runs it before      ``lowering.pipeline``
:func:`pre_export_passes`                  decomposing) and its live pass list
:func:`narrow_item_folding`                ``fold_get_attr_item_calls._remove_identity_ops``    ``lowering.torch_compile``
:func:`after_placeholder`                  ``TRTInterpreter.placeholder`` (wrapped),            ``converters.selection``
                                           ``_cur_node``
:func:`converting_node`                    ``ConversionContext.current_node``                   ``converters/*``
:func:`interpreter_replaced`               ``_conversion.TRTInterpreter`` (subclassed, swapped  ``build``
                                           for the block)
:func:`segments_converted_by`              ``_compiler.convert_module`` / ``to_torch_device``   ``testing.compile_cpu``,
                                           (swapped for the block)                              ``aot``
:func:`interpret_module`                   ``_conversion.interpret_module_to_result``           ``testing.compile_cpu``
:func:`torch_compile_backend`              ``dynamo.backend.backends.torch_tensorrt_backend``   ``testing.cpu_backend``
:func:`export_with_live_engines`,          ``dynamo._exporter``, ``_compile._normalize_engine_  ``aot``
:func:`export_with_packed_engines`         constants_to_python``, ``_pack_engine_info``,
                                           ``EngineSerializer``
:func:`target_device_properties`           ``torch.cuda.get_device_properties`` (block)         ``aot``
:func:`loading_engines_packed`,            ``_TRTEngine._reconstruct_trt_engine`` (block),      ``aot``
:func:`decode_packed_engine`               ``_serialized_engine_layout``, ``decode_metadata``
:func:`replace_attribute`,                 ``torch.cuda.get_device_capability`` /               ``no_gpu``
:func:`restore_attributes`                 ``current_device`` / ``mem_get_info``,
                                           ``Runtime.deserialize_cuda_engine``
:func:`recording_unsupported_nodes`        the partitioners' ``is_node_supported``              ``testing.upstream``
:func:`naming_refused_nodes`               ``TRTPartitioner.partition_graph`` / ``propose_partitions`` ``lowering.pipeline``
                                           (wrapped: their require_full_compilation refusal)
========================================  ===================================================  =====================

This module imports only the standard library and torch at module level (torch_tensorrt inside each function, or
lazily through module ``__getattr__``): the no-GPU shim uses it before torch_tensorrt may be imported, and worker
processes that must not register trt_dyn load it by file path.

Exception: tests may read torch_tensorrt's registries directly to check what trt_dyn registered there.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

_REGISTRY = "torch_tensorrt.dynamo.conversion._ConverterRegistry"
_CONVERTER_UTILS = "torch_tensorrt.dynamo.conversion.converter_utils"
_ATEN_CONVERTERS = "torch_tensorrt.dynamo.conversion.aten_ops_converters"
_CONVERSION = "torch_tensorrt.dynamo.conversion._conversion"
_INTERPRETER = "torch_tensorrt.dynamo.conversion._TRTInterpreter"
_COMPILER = "torch_tensorrt.dynamo._compiler"
_LOWERING_PASSES = "torch_tensorrt.dynamo.lowering.passes._aten_lowering_pass"
_ITEM_FOLDING = "torch_tensorrt.dynamo.lowering.passes.fold_get_attr_item_calls"
_TRT_ENGINE = "torch_tensorrt.dynamo.runtime._TRTEngine"
_ENGINE_LAYOUT = "torch_tensorrt.dynamo.runtime._serialized_engine_layout"
_TRT_MODULE = "torch_tensorrt.dynamo.runtime._TorchTensorRTModule"
_EXPORTER = "torch_tensorrt.dynamo._exporter"
_SAVE = "torch_tensorrt._compile"
_BACKENDS = "torch_tensorrt.dynamo.backend.backends"
_PARTITIONERS = ("torch_tensorrt.dynamo.partitioning._adjacency_partitioner",
                 "torch_tensorrt.dynamo.partitioning._global_partitioner")

#: logger torch_tensorrt's torch.compile backend reports a failed conversion on
BACKEND_LOGGER = _BACKENDS


def _module(path: str) -> Any:
    return importlib.import_module(path)


# Names re-exported lazily (resolving them imports torch_tensorrt): name -> (module, attribute).
_LAZY = {
    "converter_decorator": (_REGISTRY, "dynamo_tensorrt_converter"),
    "ConverterPriority": (_REGISTRY, "ConverterPriority"),
    "get_trt_tensor": (_CONVERTER_UTILS, "get_trt_tensor"),
    "create_constant": (_CONVERTER_UTILS, "create_constant"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        return getattr(_module(module), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---- flavour and dtypes ----


def enabled_features() -> Any:
    """torch_tensorrt's feature flags (``tensorrt_rtx`` tells the flavour)."""
    return _module("torch_tensorrt._features").ENABLED_FEATURES


def torch_dtype_of(trt_data_type: Any) -> torch.dtype:
    """The torch dtype of a TensorRT ``DataType``, by torch_tensorrt's own mapping."""
    return _module("torch_tensorrt._enums").dtype._from(trt_data_type).to(torch.dtype)


def is_static_input(spec: Any) -> bool:
    """Whether a ``torch_tensorrt.Input`` has one static shape (no min/opt/max)."""
    return spec.shape_mode == type(spec)._ShapeMode.STATIC


# ---- converter registry and upstream converters ----


def upstream_converter(node: torch.fx.Node, settings: Any = None) -> Optional[Callable]:
    """The converter torch_tensorrt itself would pick for ``node``: its first registered candidate (highest priority
    first) for the node's target whose capability validator accepts the node and that supports dynamic shapes; the
    converters of trt_dyn are passed over. None when no candidate accepts it."""
    for candidate in _module(_REGISTRY).DYNAMO_ATEN_CONVERTERS.get(node.target) or []:
        implementation = candidate.converter_implementation
        if getattr(implementation, "__module__", "").startswith("trt_dyn."):
            continue
        if candidate.supports_dynamic_shapes and candidate.capability_validator(node, settings):
            return implementation
    return None


def upstream_gather(ctx: Any, target: Any, name: str, source: Any, dim: int, index: Any) -> Any:
    """torch_tensorrt's own ``aten.gather`` conversion (an ELEMENT-mode gather layer) of ITensors."""
    source_ir = _module("torch_tensorrt.dynamo._SourceIR").SourceIR
    impl = _module("torch_tensorrt.dynamo.conversion.impl")
    return impl.select.gather(ctx, target, source_ir.ATEN, name, source, dim, index)


@contextlib.contextmanager
def without_converters(is_removed: Callable[[Callable], bool]) -> Iterator[None]:
    """Inside the block, converters whose implementation ``is_removed`` are out of torch_tensorrt's registry."""
    registry = _module(_REGISTRY).DYNAMO_ATEN_CONVERTERS
    removed: Dict[Any, Any] = {}
    for target, candidates in list(registry.items()):
        kept = [c for c in candidates if not is_removed(c.converter_implementation)]
        if len(kept) != len(candidates):
            removed[target] = candidates
            if kept:
                registry[target] = kept
            else:
                del registry[target]
    try:
        yield
    finally:
        registry.update(removed)


def registered_converters(target: Any) -> List[Callable]:
    """Converter implementations torch_tensorrt holds for ``target`` (highest priority first)."""
    return [c.converter_implementation for c in _module(_REGISTRY).DYNAMO_ATEN_CONVERTERS.get(target) or []]


# ---- lowering passes ----


def _pass_key(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"


def post_lowering_passes() -> list:
    """torch_tensorrt's post-lowering pass list (live: the passes run in this order)."""
    return _module(_LOWERING_PASSES).ATEN_POST_LOWERING_PASSES.passes


def install_post_lowering_passes(passes: Sequence[Callable],
                                 guards: Optional[Dict[str, Callable[[Callable], Callable]]] = None) -> None:
    """Register ``passes`` at the end of torch_tensorrt's post-lowering list, once (idempotent).

    Passes already present (same module + qualified name, so a module reload does not duplicate them) are removed
    first; then each upstream pass named in ``guards`` is replaced by ``guards[name](pass)``; then ``passes`` are
    added in order through torch_tensorrt's own registration decorator.
    """
    lowering = _module(_LOWERING_PASSES)
    current = lowering.ATEN_POST_LOWERING_PASSES.passes
    ours = {_pass_key(fn) for fn in passes}
    current[:] = [fn for fn in current if _pass_key(fn) not in ours]
    for index, upstream_pass in enumerate(current):
        guard = (guards or {}).get(getattr(upstream_pass, "__name__", ""))
        if guard is not None:
            current[index] = guard(upstream_pass)
    for fn in passes:
        lowering._aten_lowering_pass(fn)


def installed_passes(passes: Sequence[Callable]) -> List[str]:
    """Keys (module.qualname) of those of ``passes`` present in torch_tensorrt's list, in its order."""
    ours = {_pass_key(fn) for fn in passes}
    return [_pass_key(fn) for fn in post_lowering_passes() if _pass_key(fn) in ours]


#: the CompilationSettings fields ``dynamo.compile`` hands ``get_decompositions`` (same names as its parameters)
DECOMPOSITION_SETTINGS = ("enable_experimental_decompositions", "decompose_attention", "use_distributed_mode_trace",
                          "use_fp32_acc")


def decompositions(compilation: Any = None) -> Dict[Any, Callable]:
    """torch_tensorrt's decomposition table (what ``dynamo.compile`` runs before the post-lowering passes), chosen
    by the :data:`DECOMPOSITION_SETTINGS` of ``compilation`` (a ``CompilationSettings``; None: its defaults)."""
    compilation = compilation if compilation is not None else compilation_settings()
    return _module("torch_tensorrt.dynamo.lowering").get_decompositions(
        **{name: getattr(compilation, name) for name in DECOMPOSITION_SETTINGS})


def compilation_settings(**options: Any) -> Any:
    """The ``CompilationSettings`` a compile hands its lowering passes: torch_tensorrt's defaults, with ``options``."""
    return _module("torch_tensorrt.dynamo").CompilationSettings(**options)


def pre_export_passes() -> list:
    """torch_tensorrt's pre-export pass list (live: what :func:`lower_before_decomposing` runs, in this order)."""
    return _module(_LOWERING_PASSES).ATEN_PRE_LOWERING_PASSES.passes


def lower_before_decomposing(program: torch.export.ExportedProgram, compilation: Any) -> torch.export.ExportedProgram:
    """What ``dynamo.compile`` does to an exported program before decomposing it: torch_tensorrt's
    ``pre_export_lowering``, which runs :func:`pre_export_passes` as registered now (detach and assertion removal,
    rule-based autocast with its calibration run). It changes ``program``'s graph module in place and writes to
    ``compilation`` (a ``CompilationSettings``): callers that must not change theirs hand copies."""
    return _module(_LOWERING_PASSES).pre_export_lowering(program, compilation)


def passes_before(stop: Callable) -> List[Callable]:
    """The registered post-lowering passes a compile runs before ``stop`` (matched by module and qualified name, as
    registration does), in order. ``stop`` must be registered: a report that ran the whole list would be wrong."""
    registered = list(post_lowering_passes())
    keys = [_pass_key(fn) for fn in registered]
    if _pass_key(stop) not in keys:
        raise LookupError(f"{_pass_key(stop)} is not in torch_tensorrt's post-lowering passes {keys}")
    return registered[: keys.index(_pass_key(stop))]


def narrow_item_folding(make_replacement: Callable[[Any, Any], Callable]) -> bool:
    """Replace the identity stripping of the torch.compile backend's ``.item()`` folding (idempotent).

    ``make_replacement(methods, functions)`` gets torch_tensorrt's identity method names and functions and returns
    the ``(gm) -> modified`` function to use instead. False when this torch_tensorrt has no such step.
    """
    try:
        folding = _module(_ITEM_FOLDING)
    except ImportError:  # a torch_tensorrt without the pass has nothing to fix
        return False
    if getattr(folding._remove_identity_ops, "trt_dyn", False):
        return True
    if not hasattr(folding, "_IDENTITY_METHODS"):
        return False
    replacement = make_replacement(folding._IDENTITY_METHODS, folding._IDENTITY_FUNCTIONS)
    replacement.trt_dyn = True  # type: ignore[attr-defined]
    folding._remove_identity_ops = replacement
    return True


# ---- the interpreter ----


def after_placeholder(callback: Callable[[Any, Optional[torch.fx.Node], Any], None]) -> None:
    """Call ``callback(interpreter, node, itensor)`` after the interpreter declares each graph input (once)."""
    interpreter = _module(_INTERPRETER).TRTInterpreter
    original = interpreter.placeholder
    installed = getattr(original, "_trt_dyn_callbacks", None)
    if installed is not None:  # replace a callback of the same name (a module reload), else add it
        installed[:] = [run for run in installed if _pass_key(run) != _pass_key(callback)] + [callback]
        return
    callbacks = [callback]

    @functools.wraps(original)
    def placeholder(self: Any, target: str, args: Any, kwargs: Any) -> Any:
        tensor = original(self, target, args, kwargs)
        for run in callbacks:
            run(self, self._cur_node, tensor)
        return tensor

    placeholder._trt_dyn_callbacks = callbacks  # type: ignore[attr-defined]
    interpreter.placeholder = placeholder


def converting_node(ctx: Any) -> Optional[torch.fx.Node]:
    """The FX node whose converter is running: ``ConversionContext.current_node``, which ``TRTInterpreter.call_function``
    sets before each call; None on a context built by hand (the shape-tensor unit tests build networks directly)."""
    return getattr(ctx, "current_node", None)


def optimization_profiles(interpreter: Any) -> list:
    """The interpreter's optimization profiles, one created when it has none yet."""
    if interpreter.optimization_profiles is None:
        interpreter.optimization_profiles = [interpreter.builder.create_optimization_profile()]
    return interpreter.optimization_profiles


@dataclass
class InterpreterEvents:
    """Callbacks of :func:`interpreter_replaced`; each may be None."""

    #: ``(interpreter, converted_nodes, total_nodes)`` after each FX node is converted
    node_converted: Optional[Callable[[Any, int, int], None]] = None
    #: ``(builder_config)`` -> None, right after torch_tensorrt filled the builder config
    builder_config: Optional[Callable[[Any], None]] = None
    #: ``(interpreter, result, build_seconds, convert_seconds)`` after each engine is built
    engine_built: Optional[Callable[[Any, Any, float, float], None]] = None


@contextlib.contextmanager
def interpreter_replaced(events: InterpreterEvents) -> Iterator[None]:
    """Inside the block torch_tensorrt converts with a subclass of its interpreter reporting ``events``.

    The network and the host copies of the weights it points at stay alive after the build (torch_tensorrt frees
    the weights once built), so the layers can be read back.
    """
    import time

    conversion = _module(_CONVERSION)
    base = conversion.TRTInterpreter

    class ReportingInterpreter(base):  # type: ignore[misc, valid-type]
        _converted_nodes = 0
        _convert_seconds = 0.0

        def run_node(self, node: torch.fx.Node) -> Any:
            result = super().run_node(node)
            self._converted_nodes += 1
            if events.node_converted is not None:
                events.node_converted(self, self._converted_nodes, len(self.module.graph.nodes))
            return result

        def _construct_trt_network_def(self) -> None:
            start = time.perf_counter()
            super()._construct_trt_network_def()
            self._convert_seconds = time.perf_counter() - start

        def _populate_trt_builder_config(self, *args: Any, **kwargs: Any) -> Any:
            config = super()._populate_trt_builder_config(*args, **kwargs)
            if events.builder_config is not None:
                events.builder_config(config)
            return config

        def run(self, *args: Any, **kwargs: Any) -> Any:
            self.ctx.clear_cpu_weights_reference_holder = lambda: None
            start = time.perf_counter()
            result = super().run(*args, **kwargs)
            if events.engine_built is not None:
                events.engine_built(self, result, time.perf_counter() - start, self._convert_seconds)
            return result

    conversion.TRTInterpreter = ReportingInterpreter
    try:
        yield
    finally:
        conversion.TRTInterpreter = base


def original_interpreter() -> type:
    """The interpreter class ``interpret_module_to_result`` instantiates (for tests: restored after blocks)."""
    return _module(_CONVERSION).TRTInterpreter


# ---- dynamo.compile's per-segment conversion ----


@contextlib.contextmanager
def segments_converted_by(make_convert: Callable[[Callable], Callable], segments_on_cpu: bool) -> Iterator[None]:
    """Inside the block ``dynamo.compile`` converts each TensorRT segment with ``make_convert(original)``.

    ``original`` is torch_tensorrt's ``convert_module(module, inputs, settings=, name=, engine_cache=)``. With
    ``segments_on_cpu`` the PyTorch segments of a partitioned graph stay on the CPU (compile moves them to
    ``settings.device``, always a CUDA device). Module-level names: callers serialise concurrent compiles.
    """
    compiler = _module(_COMPILER)
    saved = {name: getattr(compiler, name) for name in ("convert_module", "to_torch_device")}
    compiler.convert_module = make_convert(saved["convert_module"])
    if segments_on_cpu:
        compiler.to_torch_device = lambda device=None: torch.device("cpu")
    try:
        yield
    finally:
        for name, original in saved.items():
            setattr(compiler, name, original)


def interpret_module(module: torch.fx.GraphModule, inputs: Sequence[Any], settings: Any,
                     engine_cache: Any = None) -> Any:
    """torch_tensorrt's ``interpret_module_to_result`` (looked up at call time): convert and build one segment."""
    return _module(_CONVERSION).interpret_module_to_result(module, inputs, settings, engine_cache=engine_cache)


def compile_functions() -> Tuple[Callable, Callable]:
    """``(convert_module, to_torch_device)`` as ``dynamo.compile`` sees them now (tests: restored after blocks)."""
    compiler = _module(_COMPILER)
    return compiler.convert_module, compiler.to_torch_device


# ---- torch.compile ----


def torch_compile_backend() -> Callable:
    """torch_tensorrt's ``torch.compile`` backend function ``(graph_module, example_inputs, options=)``."""
    return _module(_BACKENDS).torch_tensorrt_backend


# ---- saving and loading compiled programs ----


def export_with_live_engines(module: torch.fx.GraphModule) -> torch.export.ExportedProgram:
    """The steps of ``torch_tensorrt.save(module, retrace=False)`` on a machine whose engines are deserialized."""
    exporter = _module(_EXPORTER)
    program = exporter.export(module, use_legacy_exporter=True)
    program = exporter._declare_aliased_kv_mutations_on_ep(program)
    _module(_SAVE)._normalize_engine_constants_to_python(program)
    return program


def export_with_packed_engines(module: torch.fx.GraphModule,
                               engine_module_of: Callable[[Any], Optional[Any]]) -> torch.export.ExportedProgram:
    """torch_tensorrt's legacy exporter, then each engine constant for which ``engine_module_of(constant)`` gives
    a ``TorchTensorRTModule`` replaced by the serializer of that module's packed engine info (no GPU needed)."""
    program = _module(_EXPORTER).export(module, use_legacy_exporter=True)
    serializer = _module(_TRT_ENGINE).EngineSerializer
    for fqn, constant in list(program.constants.items()):
        owner = engine_module_of(constant)
        if owner is not None:
            program.constants[fqn] = serializer(owner._pack_engine_info())
    return program


@contextlib.contextmanager
def target_device_properties(properties: Any) -> Iterator[None]:
    """Inside the block ``torch.cuda.get_device_properties`` answers ``properties`` (packing engine info)."""
    original = torch.cuda.get_device_properties
    torch.cuda.get_device_properties = lambda device=None: properties
    try:
        yield
    finally:
        torch.cuda.get_device_properties = original


def _packed_engine(serialized_info: List[Any]) -> Any:
    import base64

    layout = _module(_ENGINE_LAYOUT)
    info = list(serialized_info)
    info[layout.ENGINE_IDX] = base64.b64decode(info[layout.ENGINE_IDX])
    # EngineSerializer is a registered opaque type, so the program deserializes around it
    return _module(_TRT_ENGINE).EngineSerializer(info)


@contextlib.contextmanager
def loading_engines_packed() -> Iterator[None]:
    """Inside the block ``torch.export.load`` leaves engine constants as their packed info (no GPU needed)."""
    engine = _module(_TRT_ENGINE)
    original = engine._reconstruct_trt_engine
    engine._reconstruct_trt_engine = _packed_engine  # pickle looks the reconstructor up by name
    try:
        yield
    finally:
        engine._reconstruct_trt_engine = original


def is_packed_engine(constant: Any) -> bool:
    return type(constant).__name__ == "EngineSerializer"


def decode_packed_engine(constant: Any) -> Dict[str, Any]:
    """The fields of a packed engine constant (name, ABI, device, engine bytes, bindings, metadata, ...)."""
    layout = _module(_ENGINE_LAYOUT)
    info = constant.serialized_info
    return {
        "name": str(info[layout.NAME_IDX]),
        "abi_version": str(info[layout.ABI_TARGET_IDX]),
        "target_device": str(info[layout.DEVICE_IDX]),
        "serialized_engine": bytes(info[layout.ENGINE_IDX]),
        "input_names": layout.deserialize_binding_names(str(info[layout.INPUT_BINDING_NAMES_IDX])),
        "output_names": layout.deserialize_binding_names(str(info[layout.OUTPUT_BINDING_NAMES_IDX])),
        "hardware_compatible": bool(int(info[layout.HW_COMPATIBLE_IDX])),
        "target_platform": str(info[layout.TARGET_PLATFORM_IDX]),
        "metadata": _module(_TRT_MODULE).TorchTensorRTModule.decode_metadata(
            str(info[layout.SERIALIZED_METADATA_IDX])),
    }


# ---- attributes replaced for the life of the process (the no-GPU shim) ----

#: (owner, name) -> original value, for every attribute :func:`replace_attribute` replaced
REPLACED: Dict[Tuple[Any, str], Any] = {}


def replace_attribute(owner: Any, name: str, replacement: Any) -> None:
    """``owner.name = replacement``, remembering the first original for :func:`restore_attributes`."""
    key = (owner, name)
    if key not in REPLACED:
        REPLACED[key] = getattr(owner, name)
    setattr(owner, name, replacement)


def restore_attributes() -> List[str]:
    """Put back every replaced attribute; returns ``owner.name`` of each."""
    restored = []
    for (owner, name), original in list(REPLACED.items()):
        setattr(owner, name, original)
        restored.append(f"{getattr(owner, '__name__', owner)}.{name}")
    REPLACED.clear()
    return restored


#: what a build asks CUDA without a device (``torch.cuda`` function names; see trt_dyn.no_gpu)
CUDA_QUERIES = ("get_device_capability", "current_device", "mem_get_info")


def answer_cuda_queries(answers: Dict[str, Callable[..., Any]]) -> None:
    """Replace each ``torch.cuda`` query of :data:`CUDA_QUERIES` by its answer function."""
    for name in CUDA_QUERIES:
        replace_attribute(torch.cuda, name, answers[name])


def deserialize_engines_with(trt_module: Any, deserialize: Callable[[Any, Any], Any]) -> bool:
    """``trt_module.Runtime.deserialize_cuda_engine`` becomes ``deserialize`` (once; False if already done)."""
    if (trt_module.Runtime, "deserialize_cuda_engine") in REPLACED:
        return False
    replace_attribute(trt_module.Runtime, "deserialize_cuda_engine", deserialize)
    return True


# ---- measurement: what the partitioners refuse ----


def recording_unsupported_nodes(record: Callable[[torch.fx.Node], None]) -> None:
    """From now on, both partitioners call ``record(node)`` for each node they find no converter for."""
    for path, owner in zip(_PARTITIONERS, ("OpSupportTester", "TorchTensorRTOperatorSupport")):
        support = getattr(_module(path), owner)
        original = support.is_node_supported

        def is_node_supported(self: Any, submodules: Any, node: Any, _original: Any = original) -> bool:
            supported = _original(self, submodules, node)
            if not supported:
                record(node)
            return supported

        support.is_node_supported = is_node_supported


def naming_refused_nodes(describe: Callable[[List[torch.fx.Node]], str]) -> None:
    """From now on (once), when a partitioner refuses ``require_full_compilation`` ("model is not fully supported"),
    its AssertionError says ``describe(nodes)`` too: the call_function nodes its own operator support refuses."""
    for path, method, graph_attribute in ((_PARTITIONERS[0], "partition_graph", "module"),
                                          (_PARTITIONERS[1], "propose_partitions", "graph_module")):
        partitioner = _module(path).TRTPartitioner
        original = getattr(partitioner, method)
        if hasattr(original, "__wrapped__"):  # installed already
            continue

        @functools.wraps(original)
        def refusing_with_nodes(self: Any, *args: Any, _original: Any = original, _graph: str = graph_attribute,
                                **kwargs: Any) -> Any:
            try:
                return _original(self, *args, **kwargs)
            except AssertionError as error:
                if "require_full_compilation" not in str(error):
                    raise
                module = getattr(self, _graph)
                submodules = dict(module.named_modules())
                refused = [node for node in module.graph.nodes if node.op == "call_function"
                           and not self.operator_support.is_node_supported(submodules, node)]
                raise AssertionError(f"{error}: {describe(refused)}") from error

        # not replace_attribute: no_gpu.uninstall() restores the no-GPU shim only
        setattr(partitioner, method, refusing_with_nodes)


# ---- assumptions (checked by tests/test_hooks.py) ----


@dataclass(frozen=True)
class Assumption:
    """One thing a hook relies on. ``check()`` returns None when it holds, else what is wrong."""

    name: str
    where: str
    check: Callable[[], Optional[str]]


def has_attribute(path: str, attribute: str) -> Optional[str]:
    try:
        owner: Any = _module(path)
    except ImportError as err:
        return f"module {path} cannot be imported ({err})"
    for part in attribute.split("."):
        if not hasattr(owner, part):
            return f"{path} has no attribute {attribute!r} (missing {part!r})"
        owner = getattr(owner, part)
    return None


def accepts(path: str, attribute: str, parameters: Sequence[str]) -> Optional[str]:
    missing = has_attribute(path, attribute)
    if missing:
        return missing
    function: Any = _module(path)
    for part in attribute.split("."):
        function = getattr(function, part)
    signature = inspect.signature(function)
    absent = [p for p in parameters if p not in signature.parameters]
    if absent:
        return f"{path}.{attribute}{signature} has no parameter(s) {absent}"
    return None


def looks_up_global(path: str, function_name: str, global_name: str) -> Optional[str]:
    """``function_name`` of ``path`` reads ``global_name`` from its module globals at call time (so replacing that
    module attribute changes what it calls)."""
    missing = has_attribute(path, function_name)
    if missing:
        return missing
    function = inspect.unwrap(getattr(_module(path), function_name))
    code = function.__code__
    names = set(code.co_names)
    for constant in code.co_consts:  # nested functions and comprehensions
        if inspect.iscode(constant):
            names |= set(constant.co_names)
    if global_name not in names:
        return f"{path}.{function_name} no longer reads the module-global {global_name!r}"
    if function.__globals__ is not vars(_module(path)):
        return f"{path}.{function_name} is defined in another module ({function.__module__})"
    return None


def _enum_has(path: str, enum: str, member: str) -> Optional[str]:
    return has_attribute(path, f"{enum}.{member}")


ASSUMPTIONS: List[Assumption] = [
    Assumption("feature flags tell the flavour", "torch_tensorrt._features",
               lambda: has_attribute("torch_tensorrt._features", "ENABLED_FEATURES.tensorrt_rtx")),
    Assumption("torch_tensorrt maps TensorRT dtypes to torch", "torch_tensorrt._enums",
               lambda: has_attribute("torch_tensorrt._enums", "dtype._from")),
    Assumption("torch_tensorrt.Input tells static from ranged shapes", "torch_tensorrt.Input",
               lambda: has_attribute("torch_tensorrt", "Input._ShapeMode.STATIC")),
    Assumption("converter registration decorator takes our options", _REGISTRY,
               lambda: accepts(_REGISTRY, "dynamo_tensorrt_converter",
                               ["capability_validator", "priority", "supports_dynamic_shapes",
                                "requires_output_allocator"])),
    Assumption("converter priority HIGH exists", _REGISTRY, lambda: _enum_has(_REGISTRY, "ConverterPriority", "HIGH")),
    Assumption("the converter registry is a dict of candidates with converter_implementation", _REGISTRY,
               lambda: _registry_shape()),
    Assumption("get_trt_tensor(ctx, value, name, min_rank)", _CONVERTER_UTILS,
               lambda: accepts(_CONVERTER_UTILS, "get_trt_tensor", ["ctx", "input_val", "name", "min_rank"])),
    Assumption("upstream's gather conversion impl.select.gather(ctx, target, source_ir, name, input, dim, index)",
               "torch_tensorrt.dynamo.conversion.impl.select",
               lambda: has_attribute("torch_tensorrt.dynamo._SourceIR", "SourceIR.ATEN") or
               accepts("torch_tensorrt.dynamo.conversion.impl.select", "gather",
                       ["ctx", "target", "source_ir", "name", "input", "dim", "index"])),
    Assumption("registry candidates carry capability_validator(node, settings) and supports_dynamic_shapes",
               _REGISTRY, lambda: _candidates_validate()),
    Assumption("create_constant exists", _CONVERTER_UTILS, lambda: has_attribute(_CONVERTER_UTILS, "create_constant")),
    Assumption("post-lowering passes are registered by _aten_lowering_pass", _LOWERING_PASSES,
               lambda: accepts(_LOWERING_PASSES, "_aten_lowering_pass", ["index"])),
    Assumption("the post-lowering pass list is ATEN_POST_LOWERING_PASSES.passes", _LOWERING_PASSES,
               lambda: has_attribute(_LOWERING_PASSES, "ATEN_POST_LOWERING_PASSES.passes")),
    Assumption("post_lowering runs ATEN_POST_LOWERING_PASSES", _LOWERING_PASSES,
               lambda: looks_up_global(_LOWERING_PASSES, "post_lowering", "ATEN_POST_LOWERING_PASSES")),
    Assumption("fuse_pad_into_convolution is a post-lowering pass (guarded)", _LOWERING_PASSES,
               lambda: None if "fuse_pad_into_convolution" in
               [getattr(p, "__name__", "") for p in post_lowering_passes()]
               else "fuse_pad_into_convolution is no longer in ATEN_POST_LOWERING_PASSES (drop its guard?)"),
    Assumption("get_decompositions exists", "torch_tensorrt.dynamo.lowering",
               lambda: has_attribute("torch_tensorrt.dynamo.lowering", "get_decompositions")),
    Assumption("get_decompositions takes the CompilationSettings fields of the same names", "torch_tensorrt.dynamo",
               lambda: accepts("torch_tensorrt.dynamo.lowering", "get_decompositions", DECOMPOSITION_SETTINGS) or
               next((f"CompilationSettings has no field {name!r}" for name in DECOMPOSITION_SETTINGS
                     if not hasattr(compilation_settings(), name)), None)),
    Assumption("dynamo.compile decomposes with get_decompositions, then runs post_lowering", _COMPILER,
               lambda: looks_up_global(_COMPILER, "compile", "get_decompositions") or
               looks_up_global(_COMPILER, "compile", "post_lowering")),
    Assumption("dynamo.compile runs pre_export_lowering(ep, settings) before decomposing, the function trt_dyn "
               "calls", _COMPILER,
               lambda: looks_up_global(_COMPILER, "compile", "pre_export_lowering") or
               accepts(_LOWERING_PASSES, "pre_export_lowering", ["ep", "settings"]) or
               (None if _module(_COMPILER).pre_export_lowering is _module(_LOWERING_PASSES).pre_export_lowering
                else f"{_COMPILER}.pre_export_lowering is not {_LOWERING_PASSES}.pre_export_lowering")),
    Assumption("pre_export_lowering runs the live list ATEN_PRE_LOWERING_PASSES.passes", _LOWERING_PASSES,
               lambda: has_attribute(_LOWERING_PASSES, "ATEN_PRE_LOWERING_PASSES.passes") or
               looks_up_global(_LOWERING_PASSES, "pre_export_lowering", "ATEN_PRE_LOWERING_PASSES")),
    Assumption("the post-lowering manager calls each of its passes as pass(gm, settings), in list order",
               _LOWERING_PASSES, lambda: _pass_manager_order()),
    Assumption(".item() folding strips identities through _remove_identity_ops", _ITEM_FOLDING,
               lambda: has_attribute(_ITEM_FOLDING, "_IDENTITY_METHODS") or
               has_attribute(_ITEM_FOLDING, "_IDENTITY_FUNCTIONS") or
               looks_up_global(_ITEM_FOLDING, "fold_get_attr_item_calls", "_remove_identity_ops")),
    Assumption("TRTInterpreter.placeholder(self, target, args, kwargs)", _INTERPRETER,
               lambda: accepts(_INTERPRETER, "TRTInterpreter.placeholder", ["self", "target", "args", "kwargs"])),
    Assumption("the interpreter sets _cur_node before converting a node", _INTERPRETER,
               lambda: None if "_cur_node" in inspect.getsource(_module(_INTERPRETER).TRTInterpreter.run_node)
               else "TRTInterpreter.run_node no longer sets self._cur_node"),
    Assumption("converters see their node as ctx.current_node", _INTERPRETER, lambda: _current_node_is_set()),
    Assumption("the interpreter has the methods the recording subclass overrides", _INTERPRETER,
               lambda: _interpreter_methods()),
    Assumption("interpret_module_to_result instantiates the module-global TRTInterpreter", _CONVERSION,
               lambda: looks_up_global(_CONVERSION, "interpret_module_to_result", "TRTInterpreter")),
    Assumption("interpret_module_to_result(module, inputs, settings, engine_cache=)", _CONVERSION,
               lambda: accepts(_CONVERSION, "interpret_module_to_result",
                               ["module", "inputs", "settings", "engine_cache"])),
    Assumption("convert_module(module, inputs, settings, name, engine_cache)", _COMPILER,
               lambda: accepts(_COMPILER, "convert_module", ["module", "inputs", "settings", "name", "engine_cache"])),
    Assumption("compile_module calls the module-global convert_module", _COMPILER,
               lambda: looks_up_global(_COMPILER, "compile_module", "convert_module")),
    Assumption("compile_module moves PyTorch segments with the module-global to_torch_device", _COMPILER,
               lambda: looks_up_global(_COMPILER, "compile_module", "to_torch_device")),
    Assumption("the torch.compile backend function exists", _BACKENDS,
               lambda: accepts(_BACKENDS, "torch_tensorrt_backend", ["gm", "sample_inputs"])),
    Assumption("the legacy exporter and its helpers exist", _EXPORTER,
               lambda: accepts(_EXPORTER, "export", ["gm", "use_legacy_exporter"]) or
               has_attribute(_EXPORTER, "_declare_aliased_kv_mutations_on_ep") or
               has_attribute(_SAVE, "_normalize_engine_constants_to_python")),
    Assumption("TorchTensorRTModule packs and decodes engine info", _TRT_MODULE,
               lambda: has_attribute(_TRT_MODULE, "TorchTensorRTModule._pack_engine_info") or
               has_attribute(_TRT_MODULE, "TorchTensorRTModule.decode_metadata")),
    Assumption("saved engines reconstruct through the module-global _reconstruct_trt_engine", _TRT_ENGINE,
               lambda: has_attribute(_TRT_ENGINE, "EngineSerializer") or
               has_attribute(_TRT_ENGINE, "_reconstruct_trt_engine") or
               (None if "_reconstruct_trt_engine" in inspect.getsource(_module(_TRT_ENGINE).EngineSerializer.__reduce__)
                else "EngineSerializer.__reduce__ no longer returns _reconstruct_trt_engine")),
    Assumption("the packed engine layout indices exist", _ENGINE_LAYOUT,
               lambda: next(filter(None, (has_attribute(_ENGINE_LAYOUT, name) for name in (
                   "ENGINE_IDX", "NAME_IDX", "ABI_TARGET_IDX", "DEVICE_IDX", "INPUT_BINDING_NAMES_IDX",
                   "OUTPUT_BINDING_NAMES_IDX", "HW_COMPATIBLE_IDX", "TARGET_PLATFORM_IDX",
                   "SERIALIZED_METADATA_IDX", "deserialize_binding_names"))), None)),
    Assumption("the partitioners refuse require_full_compilation in TRTPartitioner.partition_graph (adjacency) / "
               ".propose_partitions (global), holding module / graph_module and operator_support",
               "torch_tensorrt.dynamo.partitioning", lambda: _partitioners_refuse_where_named()),
    Assumption("both partitioners ask is_node_supported(self, submodules, node)", "torch_tensorrt.dynamo.partitioning",
               lambda: accepts(_PARTITIONERS[0], "OpSupportTester.is_node_supported", ["submodules", "node"]) or
               accepts(_PARTITIONERS[1], "TorchTensorRTOperatorSupport.is_node_supported", ["submodules", "node"])),
    Assumption("torch.cuda has the queries the no-GPU shim answers", "torch.cuda",
               lambda: next((f"torch.cuda.{name} is gone" for name in CUDA_QUERIES + ("get_device_properties",)
                             if not hasattr(torch.cuda, name)), None)),
]


def _registry_shape() -> Optional[str]:
    registry = _module(_REGISTRY).DYNAMO_ATEN_CONVERTERS
    for target in (torch.ops.aten.add.Tensor, torch.ops.aten.relu.default):
        candidates = registry.get(target)
        if not candidates:
            return f"DYNAMO_ATEN_CONVERTERS has no entry for {target}"
        if not all(hasattr(c, "converter_implementation") for c in candidates):
            return "DYNAMO_ATEN_CONVERTERS entries have no converter_implementation"
    return None


def _partitioners_refuse_where_named() -> Optional[str]:
    for path, method, graph_attribute in ((_PARTITIONERS[0], "partition_graph", "self.module ="),
                                          (_PARTITIONERS[1], "propose_partitions", "graph_module")):
        partitioner = _module(path).TRTPartitioner
        source = inspect.getsource(inspect.unwrap(getattr(partitioner, method)))
        if "require_full_compilation" not in source:
            return f"{path}.TRTPartitioner.{method} does not check require_full_compilation"
        if graph_attribute not in inspect.getsource(partitioner.__init__) + inspect.getsource(
                inspect.getmro(partitioner)[1].__init__):
            return f"{path}.TRTPartitioner keeps no {graph_attribute.split()[0]}"
    return None


def _candidates_validate() -> Optional[str]:
    for candidate in _module(_REGISTRY).DYNAMO_ATEN_CONVERTERS.get(torch.ops.aten.convolution.default) or []:
        if not hasattr(candidate, "supports_dynamic_shapes"):
            return "a converter candidate has no supports_dynamic_shapes"
        parameters = list(inspect.signature(candidate.capability_validator).parameters)
        if len(parameters) < 2:
            return f"capability_validator takes {parameters}, not (node, settings)"
    return None


def _pass_manager_order() -> Optional[str]:
    manager_type = type(_module(_LOWERING_PASSES).ATEN_POST_LOWERING_PASSES)
    calls: List[Tuple[str, Any]] = []

    def recording(name: str) -> Callable:
        def lowering_pass(gm: Any, settings: Any) -> Any:
            calls.append((name, settings))
            return gm

        return lowering_pass

    settings = object()
    manager = manager_type([recording("first"), recording("second")])
    manager(torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph()), settings)
    if calls != [("first", settings), ("second", settings)]:
        return f"{manager_type.__name__}([first, second])(gm, settings) made the calls {calls}"
    return None


def _interpreter_methods() -> Optional[str]:
    interpreter = _module(_INTERPRETER).TRTInterpreter
    missing = [name for name in ("run_node", "run", "_construct_trt_network_def", "_populate_trt_builder_config")
               if not hasattr(interpreter, name)]
    if missing:
        return f"TRTInterpreter has no {missing}"
    if "clear_cpu_weights_reference_holder" not in inspect.getsource(interpreter):
        return "TRTInterpreter no longer calls ctx.clear_cpu_weights_reference_holder (weights kept alive for reading)"
    return None


def _current_node_is_set() -> Optional[str]:
    import dataclasses

    context = _module("torch_tensorrt.dynamo.conversion._ConversionContext").ConversionContext
    if "current_node" not in {field.name for field in dataclasses.fields(context)}:
        return "ConversionContext has no field current_node"
    if "ctx.current_node" not in inspect.getsource(_module(_INTERPRETER).TRTInterpreter.call_function):
        return "TRTInterpreter.call_function no longer sets ctx.current_node before calling the converter"
    return None


def broken_assumptions() -> List[str]:
    """Messages of the assumptions that do not hold in this environment (empty when all hold)."""
    return [f"{a.name} ({a.where}): {problem}" for a in ASSUMPTIONS if (problem := a.check()) is not None]

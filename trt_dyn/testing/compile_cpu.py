"""``torch_tensorrt.dynamo.compile`` with every TensorRT engine run by the CPU reference executor.

:func:`compile_cpu` calls torch_tensorrt's own ``torch_tensorrt.dynamo.compile``: the same lowering,
partitioning (``require_full_compilation``, ``min_block_size``, ``torch_executed_ops``, ...),
interpreter, converters and TensorRT builder run. Only the last step differs: where torch_tensorrt
wraps each serialized engine in a ``TorchTensorRTModule`` (which needs a GPU to run), compile_cpu
keeps the ``INetworkDefinition`` the engine was built from and puts an :class:`ExecutorEngineModule`
in its place, which evaluates that network with :func:`trt_dyn.testing.executor.execute_network`.
The PyTorch segments of a partitioned graph stay as torch_tensorrt left them and run on the CPU.

How it hooks in (through :mod:`trt_dyn._hooks`), all undone when compile returns or raises:

* ``convert_module`` (the name torch_tensorrt's ``compile_module`` calls per TensorRT segment) is
  replaced by a function calling torch_tensorrt's own ``interpret_module_to_result``
  inside :func:`trt_dyn.build.capture_builds`, which records the network;
* ``to_torch_device`` (same module) is made to return the CPU device: compile
  moves the PyTorch segments of a partitioned graph to ``settings.device`` (always a CUDA device in
  torch_tensorrt, it accepts no other), which cannot exist here. Nothing else in compile uses it.

These are module-level names, so compiles from several threads take turns (a module lock): each
one sees only its own hooks and records only its own engines.

With ``run_engines=True`` the real ``torch_tensorrt.dynamo.compile`` runs unchanged (real engines on
the GPU); it needs a usable GPU (:func:`trt_dyn.testing.gpu.gpu_skip_reason`) and raises otherwise.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from .._hooks import interpret_module, segments_converted_by, torch_dtype_of
from .._trt import torch_tensorrt
from ..build import BuiltEngine, capture_builds, default_settings
from ..inputs import resolve_inputs
from .gpu import gpu_skip_reason

__all__ = [
    "compile_cpu",
    "CompiledModule",
    "ExecutorEngineModule",
    "PyTorchNode",
    "pytorch_nodes",
    "GpuUnavailableError",
    "engines_on_executor",
]

_ENGINE_PREFIXES = ("_run_on_acc",)
# compile_cpu swaps module-level names of torch_tensorrt (and trt_dyn.build.capture_builds swaps its
# interpreter class): two compiles at once would record each other's engines and restore each other's
# replacements. One compile at a time; re-entrant so a compile inside a hooked block still works.
_TORCH_TENSORRT_PATCH_LOCK = threading.RLock()
# Pure plumbing between partitions and shape assertions: not computation left to PyTorch.
_PLUMBING = {"getitem", "_assert_scalar", "sym_constrain_range_for_size", "_assert_tensor_metadata"}


class GpuUnavailableError(RuntimeError):
    """``run_engines=True`` was asked for on a machine where TensorRT engines cannot run."""


@dataclass(frozen=True)
class PyTorchNode:
    """A node of the compiled graph that runs in PyTorch instead of TensorRT."""

    name: str
    target: str

    def __str__(self) -> str:
        return f"{self.name} ({self.target})"


def _target_name(target: Any) -> str:
    if isinstance(target, str):
        return target
    if isinstance(target, torch._ops.OpOverload):
        return str(target)  # e.g. "torchvision.roi_align.default"
    return getattr(target, "__name__", None) or str(target)


def _is_engine(name: str) -> bool:
    return any(str(name).startswith(prefix) for prefix in _ENGINE_PREFIXES)


def _is_plumbing(target: Any) -> bool:
    if isinstance(target, torch._ops.OpOverload):
        return target._schema.name.split("::")[-1] in _PLUMBING
    return getattr(target, "__name__", None) in _PLUMBING


def _computation_nodes(graph: torch.fx.Graph) -> List[torch.fx.Node]:
    return [
        node
        for node in graph.nodes
        if node.op in ("call_function", "call_method") and not _is_plumbing(node.target)
    ]


def pytorch_nodes(partitioned: torch.fx.GraphModule) -> List[PyTorchNode]:
    """Nodes left to PyTorch by torch_tensorrt's partitioner.

    The fast partitioner puts them in ``_run_on_gpu_*`` submodules, the global one leaves them in the
    top graph; both are covered. Placeholders, outputs, ``getitem`` and shape assertions are plumbing
    and not listed.
    """
    found: List[PyTorchNode] = []
    top_level = set(_computation_nodes(partitioned.graph))
    for node in partitioned.graph.nodes:
        if node.op == "call_module":
            if _is_engine(node.target):
                continue
            submodule = partitioned.get_submodule(node.target)
            graph = getattr(submodule, "graph", None)
            if graph is None:
                found.append(PyTorchNode(node.name, _target_name(type(submodule).__name__)))
                continue
            found.extend(PyTorchNode(inner.name, _target_name(inner.target)) for inner in _computation_nodes(graph))
        elif node in top_level:
            found.append(PyTorchNode(node.name, _target_name(node.target)))
    return found


def _as_input_tensor(value: Any, dtype: torch.dtype, declared_shape: Tuple[int, ...]) -> torch.Tensor:
    # torch_tensorrt feeds a Python int (a size computed by a preceding PyTorch segment) to the
    # engine as a tensor (TorchTensorRTModule.forward: torch.tensor(value)); the interpreter declared
    # that input as a shape tensor of shape (1,), so the scalar takes the declared one-element shape.
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, torch.SymInt):
        value = int(value)
    if not isinstance(value, (int, float, bool)):
        raise TypeError(f"engine input of unsupported type {type(value).__name__}")
    tensor = torch.tensor(value, dtype=dtype)
    if all(size == 1 for size in declared_shape):
        tensor = tensor.reshape(declared_shape)
    return tensor


def _torch_dtype(network_input: Any) -> torch.dtype:
    return torch_dtype_of(network_input.dtype)


class ExecutorEngineModule(torch.nn.Module):
    """Stands where torch_tensorrt puts a ``TorchTensorRTModule``; runs the engine's network on the CPU.

    ``forward(*inputs)`` takes the inputs in the order of the FX submodule's placeholders (the
    engine's ``input_binding_names``) and returns what ``TorchTensorRTModule`` returns: one tensor
    for a single output, else a tuple in ``output_binding_names`` order.
    """

    def __init__(
        self,
        engine: BuiltEngine,
        input_binding_names: Sequence[str],
        output_binding_names: Sequence[str],
        name: str = "",
        node_sources: Optional[Dict[str, Optional[str]]] = None,
    ):
        super().__init__()
        self.engine = engine
        #: FX node name -> its stack trace, to point executor errors at the user's source line
        self.node_sources = dict(node_sources or {})
        self.name = name or engine.name
        self.input_binding_names = list(input_binding_names)
        self.output_binding_names = list(output_binding_names)
        network = engine.network
        by_name = {network.get_input(i).name: network.get_input(i) for i in range(network.num_inputs)}
        missing = [n for n in self.input_binding_names if n not in by_name]
        if missing:
            raise RuntimeError(f"{self.name}: input bindings {missing} are not inputs of the network")
        self._input_dtypes = [_torch_dtype(by_name[n]) for n in self.input_binding_names]
        self._input_shapes = [tuple(by_name[n].shape) for n in self.input_binding_names]

    @property
    def network(self) -> Any:
        return self.engine.network

    @property
    def serialized_engine(self) -> bytes:
        return self.engine.serialized_engine

    def setup_engine(self) -> None:
        """Nothing to set up (compile calls this with ``lazy_engine_init``)."""

    def set_output_tensors_as_unowned(self, enabled: bool) -> None:
        """Executor outputs are fresh tensors; ownership is irrelevant here."""

    def forward(self, *inputs: Any) -> Any:
        from .executor import ExecutorError, execute_network

        if len(inputs) != len(self.input_binding_names):
            raise AssertionError(
                f"{self.name}: wrong number of inputs, expected {len(self.input_binding_names)} "
                f"({self.input_binding_names}) got {len(inputs)}"
            )
        feeds = {
            binding: _as_input_tensor(value, dtype, shape).cpu()
            for binding, value, dtype, shape in zip(
                self.input_binding_names, inputs, self._input_dtypes, self._input_shapes
            )
        }
        # the engine runs with its first optimization profile (as TorchTensorRTModule's context does)
        profile = self.engine.profiles[0] if self.engine.profiles else None
        try:
            results = execute_network(self.engine.network, feeds, profile=profile)
        except ExecutorError as error:
            where = self._user_source(getattr(error, "layer_name", None))
            if where:
                error.add_note(where)
            raise
        outputs = tuple(results[name] for name in self.output_binding_names)
        if len(outputs) == 1:
            return outputs[0]
        return outputs

    def _user_source(self, layer_name: Optional[str]) -> Optional[str]:
        """'FX node ..., from file:line: code' for a layer torch_tensorrt named after a node
        ("[TYPE]-[target]-[module path/node name + suffix]")."""
        from ..lowering.report import source_location

        match = re.search(r"\]-\[([^\]]*)\]$", layer_name or "")
        if not match:
            return None
        named = match.group(1).rsplit("/", 1)[-1]  # torch_tensorrt prefixes the module path: "model.head/conv"
        for node in sorted(self.node_sources, key=len, reverse=True):
            if named.startswith(node):
                location, code = source_location(self.node_sources[node])
                return f"in {self.name}: FX node '{node}', from {location}: {code}".rstrip(": ")
        return None

    def extra_repr(self) -> str:
        return f"name={self.name!r}, inputs={self.input_binding_names}, outputs={self.output_binding_names}"


class CompiledModule(torch.nn.Module):
    """What :func:`compile_cpu` returns: torch_tensorrt's compiled graph plus what was built."""

    def __init__(
        self,
        graph_module: torch.fx.GraphModule,
        engines: List[BuiltEngine],
        segment_ops: Dict[str, List[str]],
        *,
        on_gpu: bool,
    ):
        super().__init__()
        self.graph_module = graph_module
        self.engines = engines
        #: TensorRT segment name -> the FX ops (targets) torch_tensorrt converted into it
        self.segment_ops = segment_ops
        self.on_gpu = on_gpu
        self.pytorch_nodes = pytorch_nodes(graph_module)

    @property
    def num_trt_engines(self) -> int:
        return len(self.engines)

    @property
    def serialized_engines(self) -> Dict[str, bytes]:
        return {engine.name: engine.serialized_engine for engine in self.engines}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.on_gpu:
            args, kwargs = _to_device((args, kwargs), torch.device("cuda"))
            return _to_device(self.graph_module(*args, **kwargs), torch.device("cpu"))
        return self.graph_module(*args, **kwargs)


def _to_device(value: Any, device: torch.device) -> Any:
    return torch.utils._pytree.tree_map(
        lambda leaf: leaf.to(device) if isinstance(leaf, torch.Tensor) else leaf, value
    )


def _segment_ops(module: torch.fx.GraphModule) -> List[str]:
    return [_target_name(node.target) for node in _computation_nodes(module.graph)]


@contextlib.contextmanager
def _hooked_conversion(
    records: List[BuiltEngine], segment_ops: Dict[str, List[str]], use_executor: bool
) -> Iterator[None]:
    """Record each TensorRT segment's ops; with ``use_executor`` return executor modules for them."""

    def convert_module_for_executor(
        module: torch.fx.GraphModule,
        inputs: Sequence[Any],
        settings: Any = None,
        name: str = "",
        engine_cache: Any = None,
    ) -> ExecutorEngineModule:
        segment_ops[name] = _segment_ops(module)
        before = len(records)
        result = interpret_module(module, inputs, settings, engine_cache=engine_cache)
        if len(records) != before + 1:
            raise RuntimeError(
                f"compile_cpu: segment {name!r} produced no TensorRT network (engine cache hit?); "
                "engine caching must stay off for compile_cpu"
            )
        if result.aliased_io:
            raise NotImplementedError(
                f"compile_cpu: segment {name!r} has aliased input/output bindings "
                f"{dict(result.aliased_io)} (in-place updates); the executor does not model them"
            )
        record = records[-1]
        record.name = name or record.name
        sources = {node.name: node.meta.get("stack_trace") for node in module.graph.nodes}
        return ExecutorEngineModule(
            record, result.input_names, result.output_names, name=record.name, node_sources=sources
        )

    def recording(original_convert: Any) -> Any:
        def convert_module_recording(module: torch.fx.GraphModule, *args: Any, **kwargs: Any) -> Any:
            name = kwargs.get("name", args[2] if len(args) > 2 else "")
            segment_ops[name] = _segment_ops(module)
            return original_convert(module, *args, **kwargs)

        return convert_module_recording

    if use_executor:
        conversion = segments_converted_by(lambda original: convert_module_for_executor, segments_on_cpu=True)
    else:
        conversion = segments_converted_by(recording, segments_on_cpu=False)
    with conversion:
        yield


def _rename_engines(records: List[BuiltEngine], graph_module: torch.fx.GraphModule) -> None:
    # On the GPU path records are named by build order; name them after the submodules instead.
    names = [name for name, _ in graph_module.named_children() if _is_engine(name)]
    if len(names) == len(records):
        for record, name in zip(records, names):
            record.name = name


def compile_cpu(
    exported_program: torch.export.ExportedProgram,
    arg_inputs: Optional[Sequence[Any]] = None,
    *,
    run_engines: bool = False,
    **torch_tensorrt_settings: Any,
) -> CompiledModule:
    """Compile like ``torch_tensorrt.dynamo.compile``; run the engines with the CPU executor.

    ``arg_inputs``: ``torch_tensorrt.Input`` specs, example tensors or min/opt/max dicts, one per
    user input; None takes the ranges from the export (:func:`trt_dyn.inputs.resolve_inputs`).
    ``torch_tensorrt_settings`` go to ``torch_tensorrt.dynamo.compile`` unchanged (engine caching is
    off unless asked for). With ``run_engines=True`` the real engines run on the GPU, or
    :class:`GpuUnavailableError` is raised with the reason there is none.
    """
    if run_engines:
        reason = gpu_skip_reason()
        if reason is not None:
            raise GpuUnavailableError(f"compile_cpu(run_engines=True): {reason}")
    inputs = resolve_inputs(exported_program, arg_inputs)
    settings = {**default_settings(), **torch_tensorrt_settings}
    segment_ops: Dict[str, List[str]] = {}
    with _TORCH_TENSORRT_PATCH_LOCK, capture_builds() as records, _hooked_conversion(
        records, segment_ops, not run_engines
    ):
        graph_module = torch_tensorrt.dynamo.compile(exported_program, arg_inputs=inputs, **settings)
    if run_engines:
        _rename_engines(records, graph_module)
    return CompiledModule(graph_module, list(records), segment_ops, on_gpu=run_engines)


@contextlib.contextmanager
def engines_on_executor() -> Iterator[Tuple[List[BuiltEngine], Dict[str, List[str]]]]:
    """Inside the block every torch_tensorrt compile gets executor modules instead of TensorRT runtime modules.

    Yields ``(engines, segment_ops)``, filled as engines are built: the :class:`BuiltEngine` records and, per
    TensorRT segment name, the FX ops converted into it. Used by :mod:`trt_dyn.testing.cpu_backend`.
    """
    segment_ops: Dict[str, List[str]] = {}
    with _TORCH_TENSORRT_PATCH_LOCK, capture_builds() as records, _hooked_conversion(records, segment_ops, True):
        yield records, segment_ops

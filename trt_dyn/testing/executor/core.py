"""Evaluate an ``INetworkDefinition`` layer by layer on the CPU (see ``docs/executor.md``).

:class:`NetworkExecutor` analyses a network once (layer classes, producers, If-conditional
structure, top-level assertions) and caches weights per layer; :func:`execute_network` keeps one
executor per network object (weakly) and checks it still describes the network before reusing it.

Evaluation is demand driven: the layers the network outputs (and top-level assertion layers) need
are run in dependency order. An If-conditional's output layer evaluates its condition first and
then only the chosen branch, so layers of the branch not taken never run (as in TensorRT).
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import torch

from ..._trt import trt
from .common import _CACHE, layer_type
from .dtypes import TRT_TO_TORCH, to_torch_dtype
from .errors import (
    ExecutorInputError,
    LayerExecutionError,
    UnsupportedLayerError,
)

L = trt.LayerType

#: LayerType -> the Python class whose attributes describe it (``layer.__class__ = ...``)
LAYER_CLASSES: Dict[Any, Any] = {
    L.ACTIVATION: trt.IActivationLayer,
    L.ATTENTION_INPUT: trt.IAttentionInputLayer,
    L.ATTENTION_OUTPUT: trt.IAttentionOutputLayer,
    L.ASSERTION: trt.IAssertionLayer,
    L.CAST: trt.ICastLayer,
    L.CONCATENATION: trt.IConcatenationLayer,
    L.CONDITION: trt.IConditionLayer,
    L.CONDITIONAL_INPUT: trt.IIfConditionalInputLayer,
    L.CONDITIONAL_OUTPUT: trt.IIfConditionalOutputLayer,
    L.CONSTANT: trt.IConstantLayer,
    L.CONVOLUTION: trt.IConvolutionLayer,
    L.CUMULATIVE: trt.ICumulativeLayer,
    L.DECONVOLUTION: trt.IDeconvolutionLayer,
    L.EINSUM: trt.IEinsumLayer,
    L.ELEMENTWISE: trt.IElementWiseLayer,
    L.FILL: trt.IFillLayer,
    L.GATHER: trt.IGatherLayer,
    L.GRID_SAMPLE: trt.IGridSampleLayer,
    L.IDENTITY: trt.IIdentityLayer,
    L.ITERATOR: trt.IIteratorLayer,
    L.LOOP_OUTPUT: trt.ILoopOutputLayer,
    L.LRN: trt.ILRNLayer,
    L.MATRIX_MULTIPLY: trt.IMatrixMultiplyLayer,
    L.NON_ZERO: trt.INonZeroLayer,
    L.NORMALIZATION: trt.INormalizationLayer,
    L.ONE_HOT: trt.IOneHotLayer,
    L.PADDING: trt.IPaddingLayer,
    L.PARAMETRIC_RELU: trt.IParametricReLULayer,
    L.POOLING: trt.IPoolingLayer,
    L.RECURRENCE: trt.IRecurrenceLayer,
    L.REDUCE: trt.IReduceLayer,
    L.RESIZE: trt.IResizeLayer,
    L.REVERSE_SEQUENCE: trt.IReverseSequenceLayer,
    L.SCALE: trt.IScaleLayer,
    L.SCATTER: trt.IScatterLayer,
    L.SELECT: trt.ISelectLayer,
    L.SHAPE: trt.IShapeLayer,
    L.SHUFFLE: trt.IShuffleLayer,
    L.SLICE: trt.ISliceLayer,
    L.SOFTMAX: trt.ISoftMaxLayer,
    L.SQUEEZE: trt.ISqueezeLayer,
    L.TOPK: trt.ITopKLayer,
    L.TRIP_LIMIT: trt.ITripLimitLayer,
    L.UNARY: trt.IUnaryLayer,
    L.UNSQUEEZE: trt.IUnsqueezeLayer,
}

_CONDITIONAL_TYPES = (L.CONDITION, L.CONDITIONAL_INPUT, L.CONDITIONAL_OUTPUT)
_LOOP_TYPES = (L.RECURRENCE, L.ITERATOR, L.TRIP_LIMIT, L.LOOP_OUTPUT)


def cast_layer(layer: Any) -> Any:
    """Give ``layer`` its concrete class so its attributes can be read (idempotent)."""
    cls = LAYER_CLASSES.get(layer_type(layer))
    if cls is not None and layer.__class__ is not cls:
        layer.__class__ = cls
    return layer


class _Conditional:
    """One IIfConditional: its condition layer, input and output layers, and branch membership."""

    def __init__(self, key: int):
        self.key = key
        self.condition_layer: Optional[int] = None
        self.input_layers: List[int] = []
        self.output_layers: List[int] = []
        #: layer indices of the then / else branch (conditional input layers included)
        self.branch: Dict[bool, Set[int]] = {True: set(), False: set()}


class _Loop:
    """One ILoop: its boundary layers, body (interior layers) and the outside tensors it reads."""

    def __init__(self, key: int):
        self.key = key
        self.recurrences: List[int] = []
        self.iterators: List[int] = []
        self.count_limits: List[int] = []
        self.while_limits: List[int] = []
        self.outputs: List[int] = []
        self.body: Set[int] = set()
        self.external: List[str] = []
        self.assertions: List[int] = []
        #: the innermost loop whose body contains this loop (None at top level) and the loops
        #: directly inside this one's body
        self.parent: Optional["_Loop"] = None
        self.children: List["_Loop"] = []

    @property
    def boundary(self) -> Set[int]:
        return set(self.recurrences + self.iterators + self.count_limits + self.while_limits + self.outputs)


#: a WHILE loop that runs this many iterations is taken to be non-terminating
MAX_WHILE_ITERATIONS = 1_000_000


def _fingerprint(network: Any) -> Tuple[Any, ...]:
    return (
        network.num_layers,
        tuple(network.get_input(i).name for i in range(network.num_inputs)),
        tuple(network.get_output(i).name for i in range(network.num_outputs)),
        tuple(network.get_layer(i).name for i in range(network.num_layers)),
    )


class NetworkExecutor:
    """A reusable CPU evaluator of one network (weights read once and cached)."""

    def __init__(self, network: Any):
        from .registry import LAYER_EXECUTORS  # noqa: F401  (fail early if the registry is broken)

        # No strong reference to the network or its layers survives __init__ (layer wrappers keep
        # the network alive, and executors are cached per network in a WeakKeyDictionary).
        self._network = weakref.ref(network)
        self.fingerprint = _fingerprint(network)
        self.layers: List[Any] = [cast_layer(network.get_layer(i)) for i in range(network.num_layers)]
        self.cache: Dict[Any, Any] = {}
        self.input_names = [network.get_input(i).name for i in range(network.num_inputs)]
        self.input_specs = {}
        #: inputs whose values (not only shapes) are bounded by an optimization profile
        self.shape_tensor_inputs: Set[str] = set()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            self.input_specs[tensor.name] = (tuple(int(d) for d in tensor.shape), tensor.dtype)
            if tensor.is_shape_tensor:
                self.shape_tensor_inputs.add(tensor.name)
        self.output_names = [network.get_output(i).name for i in range(network.num_outputs)]
        self.producer: Dict[str, Tuple[int, int]] = {}
        for index, layer in enumerate(self.layers):
            for j in range(layer.num_outputs):
                self.producer[layer.get_output(j).name] = (index, j)
        self._reads_cache: Dict[int, Set[str]] = {}
        self.consumers: Dict[str, List[int]] = {}
        for index, layer in enumerate(self.layers):
            for j in range(layer.num_inputs):
                tensor = layer.get_input(j)
                if tensor is not None:
                    self.consumers.setdefault(tensor.name, []).append(index)
        try:
            self._analyse_conditionals()
            self._analyse_loops()
        finally:
            self.layers = []

    # ------------------------------------------------------------------ structure
    def _analyse_conditionals(self) -> None:
        self.conditionals: List[_Conditional] = []
        self.conditional_of: Dict[int, _Conditional] = {}
        keep_alive = []  # pybind11 returns the same wrapper for the same object while one lives
        by_key: Dict[int, _Conditional] = {}
        for index, layer in enumerate(self.layers):
            if layer_type(layer) not in _CONDITIONAL_TYPES:
                continue
            conditional = layer.conditional
            keep_alive.append(conditional)
            key = id(conditional)
            info = by_key.get(key)
            if info is None:
                info = by_key[key] = _Conditional(key)
                self.conditionals.append(info)
            self.conditional_of[index] = info
            if layer_type(layer) == L.CONDITION:
                info.condition_layer = index
            elif layer_type(layer) == L.CONDITIONAL_INPUT:
                info.input_layers.append(index)
            else:
                info.output_layers.append(index)
        for info in self.conditionals:
            if info.condition_layer is None:
                raise LayerExecutionError(
                    self.layers[info.output_layers[0] if info.output_layers else info.input_layers[0]],
                    "If-conditional without a condition (set_condition was never called)",
                )
            for side, slot in ((True, 0), (False, 1)):
                for out in info.output_layers:
                    tensor = self.layers[out].get_input(slot)
                    if tensor is None:
                        raise LayerExecutionError(self.layers[out], f"conditional output has no input {slot}")
                    self._collect_branch(info, tensor.name, info.branch[side])
        # Assertion layers are checked unconditionally, even when their input is computed inside an
        # If-conditional branch: TensorRT evaluates them as shape checks outside the conditional's
        # control flow (its builder even checks a branch's assertion at the profile's kOPT shapes).
        self.assertions: List[int] = [
            index for index, layer in enumerate(self.layers) if layer_type(layer) == L.ASSERTION
        ]

    def _analyse_loops(self) -> None:
        self.loops: List[_Loop] = []
        self.loop_of: Dict[int, _Loop] = {}
        keep_alive = []
        by_key: Dict[int, _Loop] = {}
        for index, layer in enumerate(self.layers):
            kind = layer_type(layer)
            if kind not in _LOOP_TYPES:
                continue
            loop = layer.loop
            keep_alive.append(loop)
            info = by_key.get(id(loop))
            if info is None:
                info = by_key[id(loop)] = _Loop(id(loop))
                self.loops.append(info)
            self.loop_of[index] = info
            if kind == L.RECURRENCE:
                info.recurrences.append(index)
            elif kind == L.ITERATOR:
                info.iterators.append(index)
            elif kind == L.LOOP_OUTPUT:
                info.outputs.append(index)
            elif layer.kind == trt.TripLimit.COUNT:
                info.count_limits.append(index)
            else:
                info.while_limits.append(index)
        loop_of_layer = self.loop_of
        finished: Set[int] = set()
        in_progress: Set[int] = set()

        def collect_body(info: _Loop) -> None:
            """The body: everything downstream of the loop-varying tensors (recurrence and iterator
            outputs), up to the loop's own boundary layers. A loop reached on the way (one of its
            boundary layers reads a tensor of this body) runs once per iteration of this loop: its
            boundary layers and body join this body, and the walk goes on from its outputs."""
            in_progress.add(info.key)
            boundary = info.boundary
            stack = [self.layers[i].get_output(0).name for i in info.recurrences + info.iterators]
            while stack:
                name = stack.pop()
                for consumer in self.consumers.get(name, []):
                    if consumer in boundary or consumer in info.body:
                        continue
                    other = loop_of_layer.get(consumer)
                    if other is not None:
                        if other.key in in_progress:
                            raise LayerExecutionError(
                                self.layers[consumer], "loops whose bodies contain each other (invalid network)"
                            )
                        if other.key not in finished:
                            collect_body(other)
                        info.body |= other.body | other.boundary
                        for out in other.outputs:
                            stack.append(self.layers[out].get_output(0).name)
                        continue
                    info.body.add(consumer)
                    layer = self.layers[consumer]
                    stack.extend(layer.get_output(j).name for j in range(layer.num_outputs))
            in_progress.discard(info.key)
            finished.add(info.key)

        for info in self.loops:
            if info.key not in finished:
                collect_body(info)
        # the innermost enclosing loop is the one with the smallest body containing this loop
        for info in self.loops:
            enclosing = [other for other in self.loops if other is not info and info.boundary <= other.body]
            if enclosing:
                info.parent = min(enclosing, key=lambda other: len(other.body))
                info.parent.children.append(info)
        for info in self.loops:
            boundary = info.boundary
            external: List[str] = []
            for index in sorted(info.body | boundary):
                layer = self.layers[index]
                for j in range(layer.num_inputs):
                    tensor = layer.get_input(j)
                    if tensor is None:
                        continue
                    source = self.producer.get(tensor.name, (None,))[0]
                    if source in info.body or source in boundary:
                        continue
                    if tensor.name not in external:
                        external.append(tensor.name)
            info.external = external
        # an assertion inside loop bodies is checked by the innermost of them, once per iteration
        for index in self.assertions:
            owners = [info for info in self.loops if index in info.body]
            if owners:
                min(owners, key=lambda info: len(info.body)).assertions.append(index)
        in_loops = {i for info in self.loops for i in info.assertions}
        self.assertions = [i for i in self.assertions if i not in in_loops]
        #: layers that run inside a conditional branch or a loop iteration (not top-level values)
        self._nested_layers: Set[int] = set()
        for info in self.conditionals:
            self._nested_layers |= info.branch[True] | info.branch[False]
        for info in self.loops:
            self._nested_layers |= info.body | (info.boundary - set(info.outputs))

    def _collect_branch(self, info: _Conditional, tensor_name: str, members: Set[int]) -> None:
        """Layers that compute ``tensor_name`` inside ``info``'s branch: walk producers backwards
        and stop at the conditional's own input layers (which belong to the branch)."""
        stack = [tensor_name]
        while stack:
            name = stack.pop()
            found = self.producer.get(name)
            if found is None:
                continue  # a network input used directly
            index = found[0]
            if index in members:
                continue
            members.add(index)
            if index in info.input_layers:
                continue
            stack.extend(self._dependency_tensors(index))

    def _dependency_tensors(self, index: int) -> List[str]:
        """Tensors a layer needs before it can run (a conditional output needs only its condition:
        the branch it picks is evaluated when it runs)."""
        layer = self.layers[index]
        if layer_type(layer) == L.CONDITIONAL_OUTPUT:
            info = self.conditional_of[index]
            return [self.layers[info.condition_layer].get_input(0).name]
        if layer_type(layer) == L.LOOP_OUTPUT:
            # a loop runs as a unit when one of its outputs is needed: it needs what it reads
            # from outside (initial values, iterated tensors, trip count, lengths, invariants)
            # (for a nested loop these include tensors of the enclosing loop's current iteration)
            return list(self.loop_of[index].external)
        names = []
        for j in range(layer.num_inputs):
            tensor = layer.get_input(j)
            if tensor is not None:
                names.append(tensor.name)
        return names

    def _dependency_layers(self, index: int) -> List[int]:
        deps = []
        for name in self._dependency_tensors(index):
            found = self.producer.get(name)
            if found is not None:
                deps.append(found[0])
        if layer_type(self.layers[index]) == L.CONDITIONAL_OUTPUT:
            deps.append(self.conditional_of[index].condition_layer)
        return deps

    # ------------------------------------------------------------------ running
    def _check_inputs(self, feeds: Mapping[str, Any]) -> Dict[str, torch.Tensor]:
        unknown = [name for name in feeds if name not in self.input_specs]
        if unknown:
            raise ExecutorInputError(
                unknown[0], f"not an input of the network (inputs: {self.input_names})"
            )
        values = {}
        for name in self.input_names:
            if name not in feeds:
                raise ExecutorInputError(name, "missing")
            value = feeds[name]
            if not isinstance(value, torch.Tensor):
                raise ExecutorInputError(name, f"expected a torch.Tensor, got {type(value).__name__}")
            declared, trt_dtype = self.input_specs[name]
            want = to_torch_dtype(trt_dtype)
            if value.dtype != want:
                raise ExecutorInputError(name, f"dtype {value.dtype} but the network declares {want}")
            shape = tuple(value.shape)
            if len(shape) != len(declared) or any(d != -1 and d != s for d, s in zip(declared, shape)):
                raise ExecutorInputError(
                    name, f"shape {shape} does not match the declared shape {declared} (-1 = dynamic)"
                )
            values[name] = value.detach().to("cpu")
        return values

    def _check_profile(self, values: Mapping[str, torch.Tensor], profile: Mapping[str, Any]) -> None:
        """Refuse what an engine built with ``profile`` refuses: an input dim outside the profile's
        [min, max] (IExecutionContext.set_input_shape fails), a shape-tensor input value outside its
        profile values."""
        for name in self.input_names:
            if name not in profile:
                continue
            low, _, high = (tuple(int(v) for v in bound) for bound in profile[name])
            value = values[name]
            declared = self.input_specs[name][0]
            # A static input's profile entry holds values unless it is its own shape (TensorRT
            # marks some inputs read as shapes, e.g. trip counts, as shape tensors only at build).
            by_value = name in self.shape_tensor_inputs or (-1 not in declared and low != declared)
            if by_value:
                given = tuple(int(v) for v in value.reshape(-1).tolist())
                what = "value"
            else:
                given = tuple(value.shape)
                what = "shape"
            if len(given) != len(low) or any(not lo <= g <= hi for g, lo, hi in zip(given, low, high)):
                raise ExecutorInputError(
                    name,
                    f"{what} {given} is outside the optimization profile (min {low}, max {high}); "
                    "a TensorRT engine built with this profile refuses it",
                )

    def run(self, feeds: Mapping[str, Any], profile: Optional[Mapping[str, Any]] = None) -> Dict[str, torch.Tensor]:
        """Evaluate the network on ``feeds``. ``profile`` (input name -> (min, opt, max) shapes, or
        values for shape-tensor inputs, as in ``BuiltEngine.profiles``) is the optimization profile
        the engine would run with; inputs outside it are refused as TensorRT refuses them."""
        network = self._network()
        if network is None:
            raise RuntimeError("the network of this NetworkExecutor no longer exists")
        values = self._check_inputs(feeds)
        if profile is not None:
            self._check_profile(values, profile)
        self.values = values
        self.done: Set[int] = set()
        self.layers = [cast_layer(network.get_layer(i)) for i in range(network.num_layers)]
        self.network = network
        index_of = {id(layer): index for index, layer in enumerate(self.layers)}
        token = _CACHE.set((self.cache, index_of))
        try:
            # Assertion inputs are shape tensors, which TensorRT checks when the input shapes are set,
            # before anything runs: a violated size contract must surface as its assertion message.
            # (assertion chains come first in the plan, so they run before anything else)
            self._ensure(
                self.assertions + [self.producer[name][0] for name in self.output_names if name in self.producer],
                free_dead_values=True,
            )
            result = {}
            for name in self.output_names:
                if name not in self.values:
                    raise LayerExecutionError(self.network.get_output(0), f"output '{name}' was not computed")
                result[name] = self.values[name]
            return result
        finally:
            _CACHE.reset(token)
            self.values = {}
            self.layers = []
            self.network = None

    def _ensure(self, targets: Iterable[int], free_dead_values: bool = False) -> None:
        """Run ``targets`` and everything they depend on, dependencies first (iteratively).

        With ``free_dead_values`` (the top-level plan of a run) each value is dropped after the last
        planned layer reading it, so the peak memory is that of the live values, not of all of them;
        network outputs are kept. Nested plans (branches, loop bodies) free nothing: a value they read
        belongs to the enclosing plan, and loops clear their body values every iteration."""
        order: List[int] = []
        seen: Set[int] = set(self.done)
        for target in targets:
            if target in seen:
                continue
            stack: List[Tuple[int, bool]] = [(target, False)]
            while stack:
                index, expanded = stack.pop()
                if expanded:
                    order.append(index)
                    continue
                if index in seen:
                    continue
                seen.add(index)
                stack.append((index, True))
                for dep in reversed(self._dependency_layers(index)):
                    if dep not in seen:
                        stack.append((dep, False))
        remaining: Dict[str, int] = {}
        if free_dead_values:
            for index in order:
                for name in self._reads(index):
                    remaining[name] = remaining.get(name, 0) + 1
        keep = set(self.output_names)
        for index in order:
            if free_dead_values and index in self._nested_layers:
                # a branch or loop-body layer run for a top-level assertion: its values are read
                # again when its conditional or loop runs, outside this plan's accounting
                keep.update(self.layers[index].get_output(j).name for j in range(self.layers[index].num_outputs))
        for index in order:
            if index not in self.done:
                self._run_layer(index)
            if free_dead_values:
                for name in self._reads(index):
                    remaining[name] -= 1
                    if remaining[name] == 0 and name not in keep:
                        self.values.pop(name, None)

    def _reads(self, index: int) -> Set[str]:
        """Every value that running layer ``index`` may read: its inputs; for a conditional output
        also whatever its branches (and conditionals nested in them) read from outside; for a loop
        output what the loop and everything it runs per iteration read from outside."""
        cached = self._reads_cache.get(index)
        if cached is not None:
            return cached
        layer = self.layers[index]
        kind = layer_type(layer)
        if kind == L.CONDITIONAL_OUTPUT:
            info = self.conditional_of[index]
            members = info.branch[True] | info.branch[False]
            reads = {self.layers[info.condition_layer].get_input(0).name}
            for member in members:
                if member != index and member not in info.output_layers:
                    reads |= self._reads(member)
        elif kind == L.LOOP_OUTPUT:
            info = self.loop_of[index]
            members = info.body | info.boundary
            reads = set(info.external)
            for member in members:
                if layer_type(self.layers[member]) == L.CONDITIONAL_OUTPUT:
                    reads |= self._reads(member)
        else:
            members = set()
            reads = {layer.get_input(j).name for j in range(layer.num_inputs) if layer.get_input(j) is not None}
        # values produced inside the compound layer are not reads from outside
        reads = {name for name in reads if self.producer.get(name, (None,))[0] not in members}
        self._reads_cache[index] = reads
        return reads

    def _run_layer(self, index: int) -> None:
        from .registry import LAYER_EXECUTORS

        layer = self.layers[index]
        executor = LAYER_EXECUTORS.get(layer_type(layer))
        if executor is None:
            raise UnsupportedLayerError(layer_type(layer), None, layer.name, "no executor for this layer type")
        if layer_type(layer) == L.LOOP_OUTPUT:
            self._run_loop(self.loop_of[index])
            return
        if layer_type(layer) in (L.RECURRENCE, L.ITERATOR, L.TRIP_LIMIT):
            raise LayerExecutionError(layer, "loop boundary layer reached outside its loop")
        if layer_type(layer) == L.CONDITIONAL_OUTPUT:
            inputs = self._conditional_inputs(index)
        else:
            inputs = []
            for j in range(layer.num_inputs):
                tensor = layer.get_input(j)
                inputs.append(None if tensor is None else self.values[tensor.name])
        self._store(index, executor(layer, inputs))

    def _store(self, index: int, outputs: List[torch.Tensor]) -> None:
        layer = self.layers[index]
        if len(outputs) != layer.num_outputs:
            raise LayerExecutionError(
                layer, f"executor returned {len(outputs)} outputs, the layer has {layer.num_outputs}"
            )
        for j, value in enumerate(outputs):
            tensor = layer.get_output(j)
            self._verify(layer, j, tensor, value)
            self.values[tensor.name] = value
        self.done.add(index)

    def _run_loop(self, info: _Loop) -> None:
        """Run one ILoop to completion and store all of its outputs."""
        from .registry import LAYER_EXECUTORS

        layers = self.layers
        first = layers[(info.outputs or info.recurrences or info.iterators)[0]]
        if len(info.count_limits) > 1 or len(info.while_limits) > 1:
            raise LayerExecutionError(first, "a loop has at most one COUNT and one WHILE trip limit")
        if not info.count_limits and not info.while_limits:
            raise LayerExecutionError(first, "a loop needs a trip limit")
        trip_count: Optional[int] = None
        if info.count_limits:
            limit = layers[info.count_limits[0]]
            value = self.values[limit.get_input(0).name]
            LAYER_EXECUTORS[L.TRIP_LIMIT](limit, [value])
            trip_count = int(value)
        while_limit = layers[info.while_limits[0]] if info.while_limits else None
        state: Dict[int, torch.Tensor] = {}
        for r in info.recurrences:
            layer = layers[r]
            if layer.get_input(1) is None:
                raise LayerExecutionError(layer, "recurrence without a next value (set_input(1, ...))")
            state[r] = self.values[layer.get_input(0).name]
        # what each iteration must compute: loop-output inputs, assertions, inner loops with
        # assertions; and the recurrences' next values
        targets: List[int] = list(info.assertions)
        for o in info.outputs:
            source = self.producer.get(layers[o].get_input(0).name, (None,))[0]
            if source in info.body:
                targets.append(source)
        # an inner loop runs (and checks its assertions) every iteration, even if nothing reads it
        targets.extend(child.outputs[0] for child in info.children if child.assertions and child.outputs)
        next_source: Dict[int, Optional[int]] = {}
        for r in info.recurrences:
            source = self.producer.get(layers[r].get_input(1).name, (None,))[0]
            next_source[r] = source if source in info.body else None
        recurrence_output = {layers[r].get_output(0).name: r for r in info.recurrences}
        # After the final iteration a recurrence's next value is observable only through a
        # LAST_VALUE output, so it is computed only then. (torch_tensorrt's embedding_bag loop
        # gathers offsets[i + 1] as its next value, out of range on the final iteration, unread.)
        read_after_loop = {
            recurrence_output[layers[o].get_input(0).name]
            for o in info.outputs
            if layers[o].kind == trt.LoopOutput.LAST_VALUE and layers[o].get_input(0).name in recurrence_output
        }
        collected: Dict[int, List[torch.Tensor]] = {o: [] for o in info.outputs}
        iteration = 0
        per_iteration = info.body | set(info.recurrences) | set(info.iterators)
        while trip_count is None or iteration < trip_count:
            if trip_count is None and iteration >= MAX_WHILE_ITERATIONS:
                raise LayerExecutionError(first, f"WHILE loop still running after {iteration} iterations")
            for r in info.recurrences:
                self._store(r, LAYER_EXECUTORS[L.RECURRENCE](layers[r], [state[r], None]))
            for it in info.iterators:
                layer = layers[it]
                source = self.values[layer.get_input(0).name]
                count = None if trip_count is None else torch.tensor(trip_count)
                self._store(it, LAYER_EXECUTORS[L.ITERATOR](layer, [source, torch.tensor(iteration), count]))
            if while_limit is not None:
                name = while_limit.get_input(0).name
                source = self.producer.get(name, (None,))[0]
                if source in info.body:
                    self._ensure([source])
                condition = self.values[name]
                LAYER_EXECUTORS[L.TRIP_LIMIT](while_limit, [condition])
                if not bool(condition):
                    self._clear(per_iteration)
                    break
            final = trip_count is not None and iteration + 1 == trip_count
            carried = [r for r in info.recurrences if not final or r in read_after_loop]
            self._ensure(targets + [next_source[r] for r in carried if next_source[r] is not None])
            for o in info.outputs:
                collected[o].append(self.values[layers[o].get_input(0).name])
            state = {r: self.values[layers[r].get_input(1).name] for r in carried}
            self._clear(per_iteration)
            iteration += 1
        for o in info.outputs:
            layer = layers[o]
            name = layer.get_input(0).name
            if layer.kind == trt.LoopOutput.LAST_VALUE:
                if name not in recurrence_output:
                    # TensorRT refuses this network ("must be the output from an IRecurrenceLayer")
                    raise LayerExecutionError(layer, "LAST_VALUE input must be a recurrence output of the same loop")
                # the last value of a recurrence is its value after the final iteration
                value = state[recurrence_output[name]]
            elif collected[o]:
                value = torch.stack(collected[o])
            else:
                shape = tuple(int(d) for d in layer.get_input(0).shape)
                if any(d < 0 for d in shape):
                    raise LayerExecutionError(layer, "zero iterations and a dynamic per-iteration shape")
                value = torch.empty((0, *shape), dtype=TRT_TO_TORCH[layer.get_input(0).dtype])
            length = layer.get_input(1)
            inputs = [value, None if length is None else self.values[length.name]]
            self._store(o, LAYER_EXECUTORS[L.LOOP_OUTPUT](layer, inputs))

    def _clear(self, indices: Set[int]) -> None:
        for index in indices:
            if index in self.done:
                self.done.discard(index)
                layer = self.layers[index]
                for j in range(layer.num_outputs):
                    self.values.pop(layer.get_output(j).name, None)

    def _conditional_inputs(self, index: int) -> List[Optional[torch.Tensor]]:
        layer = self.layers[index]
        info = self.conditional_of[index]
        condition = self.values[self.layers[info.condition_layer].get_input(0).name]
        side = bool(condition.reshape(()).item())
        slot = 0 if side else 1
        chosen = layer.get_input(slot)
        self._ensure([self.producer[chosen.name][0]] if chosen.name in self.producer else [])
        inputs: List[Optional[torch.Tensor]] = [None, None]
        inputs[slot] = self.values[chosen.name]
        return inputs

    @staticmethod
    def _verify(layer: Any, j: int, tensor: Any, value: Any) -> None:
        if not isinstance(value, torch.Tensor):
            raise LayerExecutionError(layer, f"output {j}: executor returned {type(value).__name__}")
        want = TRT_TO_TORCH.get(tensor.dtype)
        if want is None:
            raise UnsupportedLayerError(layer_type(layer), None, layer.name, f"output data type {tensor.dtype}")
        if value.dtype != want:
            raise LayerExecutionError(
                layer, f"output {j} ('{tensor.name}'): computed dtype {value.dtype}, declared {want}"
            )
        declared = tuple(int(d) for d in tensor.shape)
        shape = tuple(value.shape)
        if len(declared) >= 0 and (
            len(declared) != len(shape) or any(d >= 0 and d != s for d, s in zip(declared, shape))
        ):
            raise LayerExecutionError(
                layer, f"output {j} ('{tensor.name}'): computed shape {shape}, declared {declared}"
            )


_EXECUTORS: "weakref.WeakKeyDictionary[Any, NetworkExecutor]" = weakref.WeakKeyDictionary()


def get_executor(network: Any) -> NetworkExecutor:
    """The cached :class:`NetworkExecutor` of ``network`` (rebuilt when the network changed shape)."""
    try:
        executor = _EXECUTORS.get(network)
    except TypeError:
        return NetworkExecutor(network)
    if executor is None or executor.fingerprint != _fingerprint(network):
        executor = NetworkExecutor(network)
        try:
            _EXECUTORS[network] = executor
        except TypeError:
            pass
    return executor


def execute_network(network: Any, inputs: Mapping[str, torch.Tensor], *, cache: bool = True,
                    profile: Optional[Mapping[str, Any]] = None) -> Dict[str, torch.Tensor]:
    """Run ``network`` (a ``trt.INetworkDefinition``) on CPU tensors; outputs keyed by output name,
    in network output order.

    ``cache=False`` re-reads every weight (use it after editing a network's weights in place).
    ``profile``: the optimization profile the engine was built with (``BuiltEngine.profiles[0]``);
    an input outside it raises :class:`ExecutorInputError` (a network alone carries no profile).
    """
    executor = get_executor(network) if cache else NetworkExecutor(network)
    return executor.run(inputs, profile)


__all__ = ["NetworkExecutor", "execute_network", "get_executor", "cast_layer", "LAYER_CLASSES"]

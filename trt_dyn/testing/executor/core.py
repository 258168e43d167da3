"""Evaluate an ``INetworkDefinition`` layer by layer on the CPU (see ``docs/executor.md``).

:class:`NetworkExecutor` analyses a network once (layer classes, producers, If-conditional
structure, top-level assertions) and caches weights per layer; :func:`execute_network` keeps one
executor per network object (weakly) and checks it still describes the network before reusing it.

Evaluation is demand driven: the layers the network outputs (and top-level assertion layers) need
are run in dependency order. An If-conditional's output layer evaluates its condition first and
then only the chosen branch, so layers of the branch not taken never run (as in TensorRT).

This module is the run loop: planning (``_ensure``), liveness (``_reads``: a value is freed after
its last reader), running one layer through :data:`~.registry.LAYER_EXECUTORS` and checking what it
returned against the layer's declared dtype and shape. The other jobs live beside it:
:mod:`.structure` (conditionals, loops, dependencies), :mod:`.loop_run` (one ILoop as a unit),
:mod:`.feeds` (input and profile checks), :mod:`.layer_classes` (``LAYER_CLASSES``, ``cast_layer``),
:mod:`.dtypes`, :mod:`.errors`, and one module per layer family for the layer functions.
"""

from __future__ import annotations

import weakref
from typing import Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import torch

from ..._trt import trt
from .common import _CACHE, layer_type
from .dtypes import TRT_TO_TORCH
from .errors import LayerExecutionError, UnsupportedLayerError
from .feeds import InputChecks
from .layer_classes import LAYER_CLASSES, cast_layer
from .loop_run import MAX_WHILE_ITERATIONS, LoopRunner
from .structure import NetworkStructure

L = trt.LayerType


def _fingerprint(network: Any) -> Tuple[Any, ...]:
    return (
        network.num_layers,
        tuple(network.get_input(i).name for i in range(network.num_inputs)),
        tuple(network.get_output(i).name for i in range(network.num_outputs)),
        tuple(network.get_layer(i).name for i in range(network.num_layers)),
    )


class NetworkExecutor(NetworkStructure, InputChecks, LoopRunner):
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

    # ------------------------------------------------------------------ running
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


__all__ = ["NetworkExecutor", "execute_network", "get_executor", "cast_layer", "LAYER_CLASSES", "MAX_WHILE_ITERATIONS"]

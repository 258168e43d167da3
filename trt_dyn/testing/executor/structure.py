"""The structure of a network, worked out once per :class:`~.core.NetworkExecutor`.

If-conditionals (condition, input and output layers, which layers belong to each branch), loops
(boundary layers, body, nesting, the outside tensors a loop reads, the assertions checked per
iteration) and the tensors and layers each layer depends on. The run loop (``core.py``) plans with
these; the analysis reads ``self.layers``, ``self.producer`` and ``self.consumers`` set up by the
executor's constructor.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from ..._trt import trt
from .common import layer_type
from .errors import LayerExecutionError

L = trt.LayerType

_CONDITIONAL_TYPES = (L.CONDITION, L.CONDITIONAL_INPUT, L.CONDITIONAL_OUTPUT)
_LOOP_TYPES = (L.RECURRENCE, L.ITERATOR, L.TRIP_LIMIT, L.LOOP_OUTPUT)


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


class NetworkStructure:
    """The structure analysis of :class:`~.core.NetworkExecutor` (a mixin: it shares the executor's state)."""

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

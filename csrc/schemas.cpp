// The trt_dyn op schemas, identical to the Python definitions in trt_dyn/ops/ (tests/test_cpp_ops.py compares
// them). Only libtrt_dyn_ops defines them; libtrt_dyn_kernels (kernels only) is for processes where
// `import trt_dyn` has already defined the ops in Python.
#include "common.h"

namespace trt_dyn {
at::Tensor const_values(c10::IntArrayRef values);
at::Tensor const_scalar(const at::Scalar& value);
at::Tensor symint_dyn(int64_t value);
at::Tensor shape_cat_dyn(at::TensorList parts);
}  // namespace trt_dyn

TORCH_LIBRARY(trt_dyn, m) {
  // shape.py
  m.def("size_dyn(Tensor self) -> Tensor");
  m.def("sym_size_dyn(Tensor self, int dim) -> Tensor");
  m.def("sym_sizes_dyn(Tensor self, int[] dims) -> Tensor");
  m.def("symint_dyn(SymInt value) -> Tensor");
  m.def("numel_dyn(Tensor self) -> Tensor");
  m.def("const(int[] values) -> Tensor");
  m.def("const_scalar(Scalar value) -> Tensor");
  m.def("shape_cat_dyn(Tensor[] parts) -> Tensor");
  // arith.py
  m.def("add_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("sub_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("mul_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("floordiv_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("ceildiv_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("mod_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("min_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("max_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("truediv_dyn(Tensor a, Tensor b) -> Tensor");
  m.def("neg_dyn(Tensor a) -> Tensor");
  m.def("float_dyn(Tensor a) -> Tensor");
  m.def("int_dyn(Tensor a) -> Tensor");
  m.def("ceil_dyn(Tensor a) -> Tensor");
  m.def("floor_dyn(Tensor a) -> Tensor");
  // views.py
  m.def("reshape_dyn(Tensor self, Tensor shape) -> Tensor");
  m.def("expand_dyn(Tensor self, Tensor shape) -> Tensor");
  m.def("unflatten_dyn(Tensor self, int dim, Tensor sizes) -> Tensor");
  m.def("repeat_dyn(Tensor self, Tensor repeats) -> Tensor");
  m.def("select_dyn(Tensor self, int dim, Tensor index) -> Tensor");
  // creation.py
  m.def("full_dyn(Tensor shape, Scalar fill_value, ScalarType? dtype=None, Device? device=None) -> Tensor");
  m.def("full_value_dyn(Tensor shape, Tensor fill_value, ScalarType? dtype=None, Device? device=None) -> Tensor");
  m.def("zeros_dyn(Tensor shape, ScalarType? dtype=None, Device? device=None) -> Tensor");
  m.def("ones_dyn(Tensor shape, ScalarType? dtype=None, Device? device=None) -> Tensor");
  m.def("new_full_dyn(Tensor self, Tensor shape, Scalar fill_value, ScalarType? dtype=None) -> Tensor");
  m.def("new_zeros_dyn(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor");
  m.def("new_ones_dyn(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor");
  m.def("arange_dyn(Tensor start, Tensor end, Tensor step, ScalarType? dtype=None, Device? device=None) -> Tensor");
  m.def("linspace_dyn(Tensor start, Tensor end, Tensor steps, ScalarType? dtype=None, Device? device=None) -> Tensor");
  // slicing.py
  m.def("slice_dyn(Tensor self, int dim, Tensor start, Tensor end, int step=1) -> Tensor");
  m.def("narrow_dyn(Tensor self, int dim, Tensor start, Tensor length) -> Tensor");
  m.def("split_dyn(Tensor self, Tensor sizes, int dim=0) -> Tensor[]");
  m.def("pad_dyn(Tensor self, Tensor pad, float value=0.0) -> Tensor");
  // resize.py
  m.def("interpolate_dyn(Tensor self, Tensor size, str mode='nearest', bool align_corners=False, "
        "float[]? scales=None) -> Tensor");
  m.def("interpolate_aa_dyn(Tensor self, Tensor size, str mode='bicubic', bool align_corners=False) -> Tensor");
  // topk.py
  m.def("topk_dyn(Tensor self, Tensor k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor, Tensor)");
  // selection.py
  m.def("nonzero_bounded(Tensor mask) -> (Tensor, Tensor)");
  // nms.py
  m.def("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor");
}

// No tensor argument to dispatch on (shape_cat_dyn: when the list is empty): the device-independent slot.
TORCH_LIBRARY_IMPL(trt_dyn, CompositeExplicitAutograd, m) {
  m.impl("const", &trt_dyn::const_values);
  m.impl("const_scalar", &trt_dyn::const_scalar);
  m.impl("symint_dyn", &trt_dyn::symint_dyn);
  m.impl("shape_cat_dyn", &trt_dyn::shape_cat_dyn);
}

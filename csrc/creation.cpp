// Factories sized by runtime shape tensors (trt_dyn/ops/creation.py).
#include "common.h"

namespace trt_dyn {

using OptionalDtype = std::optional<at::ScalarType>;
using OptionalDevice = std::optional<at::Device>;

// torch.full's inference from the fill value: bool -> bool, int -> int64, complex -> complex64, else default
static at::ScalarType fill_dtype(const at::Scalar& fill_value, OptionalDtype dtype) {
  if (dtype) return *dtype;
  if (fill_value.isBoolean()) return at::kBool;
  if (fill_value.isIntegral(false)) return at::kLong;
  if (fill_value.isComplex()) return at::kComplexFloat;
  return at::get_default_dtype_as_scalartype();
}

static at::TensorOptions factory_options(OptionalDtype dtype, OptionalDevice device) {
  return at::TensorOptions().dtype(dtype.value_or(at::get_default_dtype_as_scalartype())).device(device);
}

static at::Tensor full_dyn(const at::Tensor& shape, const at::Scalar& fill_value, OptionalDtype dtype,
                           OptionalDevice device) {
  return at::full(shape_values("full_dyn", "shape", shape), fill_value,
                  at::TensorOptions().dtype(fill_dtype(fill_value, dtype)).device(device));
}

// the fill is a 0-d shape value computed at run time
static at::Tensor full_value_dyn(const at::Tensor& shape, const at::Tensor& fill_value, OptionalDtype dtype,
                                 OptionalDevice device) {
  const auto value = scalar_value("full_value_dyn", "fill_value", fill_value, true);
  return at::full(shape_values("full_value_dyn", "shape", shape), value,
                  at::TensorOptions().dtype(fill_dtype(value, dtype)).device(device));
}

static at::Tensor zeros_dyn(const at::Tensor& shape, OptionalDtype dtype, OptionalDevice device) {
  return at::zeros(shape_values("zeros_dyn", "shape", shape), factory_options(dtype, device));
}

static at::Tensor ones_dyn(const at::Tensor& shape, OptionalDtype dtype, OptionalDevice device) {
  return at::ones(shape_values("ones_dyn", "shape", shape), factory_options(dtype, device));
}

// Tensor.new_*: dtype (default self's) and device from self
static at::TensorOptions like(const at::Tensor& self, OptionalDtype dtype) {
  return self.options().dtype(dtype.value_or(self.scalar_type()));
}

static at::Tensor new_full_dyn(const at::Tensor& self, const at::Tensor& shape, const at::Scalar& fill_value,
                               OptionalDtype dtype) {
  return at::full(shape_values("new_full_dyn", "shape", shape), fill_value, like(self, dtype));
}

static at::Tensor new_zeros_dyn(const at::Tensor& self, const at::Tensor& shape, OptionalDtype dtype) {
  return at::zeros(shape_values("new_zeros_dyn", "shape", shape), like(self, dtype));
}

static at::Tensor new_ones_dyn(const at::Tensor& self, const at::Tensor& shape, OptionalDtype dtype) {
  return at::ones(shape_values("new_ones_dyn", "shape", shape), like(self, dtype));
}

static at::Tensor arange_dyn(const at::Tensor& start, const at::Tensor& end, const at::Tensor& step,
                             OptionalDtype dtype, OptionalDevice device) {
  const auto first = scalar_value("arange_dyn", "start", start, true);
  const auto last = scalar_value("arange_dyn", "end", end, true);
  const auto stride = scalar_value("arange_dyn", "step", step, true);
  // int64 when all three are integer tensors, else the default float dtype
  const bool any_float = start.is_floating_point() || end.is_floating_point() || step.is_floating_point();
  const auto result = dtype.value_or(any_float ? at::get_default_dtype_as_scalartype() : at::kLong);
  return at::arange(first, last, stride, at::TensorOptions().dtype(result).device(device));
}

static at::Tensor linspace_dyn(const at::Tensor& start, const at::Tensor& end, const at::Tensor& steps,
                               OptionalDtype dtype, OptionalDevice device) {
  const auto first = scalar_value("linspace_dyn", "start", start, true);
  const auto last = scalar_value("linspace_dyn", "end", end, true);
  const int64_t count = int_value("linspace_dyn", "steps", steps);
  return at::linspace(first, last, count, factory_options(dtype, device));
}

static void register_creation(torch::Library& m) {
  m.impl("full_dyn", &full_dyn);
  m.impl("full_value_dyn", &full_value_dyn);
  m.impl("zeros_dyn", &zeros_dyn);
  m.impl("ones_dyn", &ones_dyn);
  m.impl("new_full_dyn", &new_full_dyn);
  m.impl("new_zeros_dyn", &new_zeros_dyn);
  m.impl("new_ones_dyn", &new_ones_dyn);
  m.impl("arange_dyn", &arange_dyn);
  m.impl("linspace_dyn", &linspace_dyn);
}

TRT_DYN_KERNELS(register_creation)

}  // namespace trt_dyn

// Shape producers (trt_dyn/ops/shape.py): a tensor's runtime shape as int64 shape tensors; frozen ints.
#include "common.h"

namespace trt_dyn {

static at::Tensor size_dyn(const at::Tensor& self) {
  return at::tensor(self.sizes().vec(), at::kLong);
}

static at::Tensor sym_size_dyn(const at::Tensor& self, int64_t dim) {
  return at::scalar_tensor(self.size(dim), at::kLong);
}

static at::Tensor sym_sizes_dyn(const at::Tensor& self, c10::IntArrayRef dims) {
  std::vector<int64_t> sizes;
  sizes.reserve(dims.size());
  for (int64_t dim : dims) {
    sizes.push_back(self.size(dim));
  }
  return at::tensor(sizes, at::kLong);
}

at::Tensor symint_dyn(int64_t value) {
  return at::scalar_tensor(value, at::kLong);
}

static at::Tensor numel_dyn(const at::Tensor& self) {
  return at::scalar_tensor(self.numel(), at::kLong);
}

at::Tensor const_values(c10::IntArrayRef values) {
  return at::tensor(values.vec(), at::kLong);
}

at::Tensor const_scalar(const at::Scalar& value) {
  TORCH_CHECK_TYPE(!value.isBoolean(), "trt_dyn::const_scalar: a shape value cannot be a bool");
  if (value.isIntegral(false)) {
    return at::scalar_tensor(value, at::kLong);
  }
  TORCH_CHECK_TYPE(value.isFloatingPoint(), "trt_dyn::const_scalar: expected int or float, got ", value.type());
  return at::scalar_tensor(value, at::kFloat);
}

at::Tensor shape_cat_dyn(at::TensorList parts) {
  std::vector<at::Tensor> flat;
  for (size_t index = 0; index < parts.size(); ++index) {
    const std::string arg = "parts[" + std::to_string(index) + "]";
    check_shape_tensor("shape_cat_dyn", arg.c_str(), parts[index]);
    flat.push_back(parts[index].reshape({-1}).to(at::kLong).cpu());
  }
  if (flat.empty()) {
    return at::empty({0}, at::kLong);
  }
  return at::cat(flat);
}

static void register_shape(torch::Library& m) {
  m.impl("size_dyn", &size_dyn);
  m.impl("sym_size_dyn", &sym_size_dyn);
  m.impl("sym_sizes_dyn", &sym_sizes_dyn);
  m.impl("numel_dyn", &numel_dyn);
  m.impl("shape_cat_dyn", &shape_cat_dyn);
}

TRT_DYN_KERNELS(register_shape)

}  // namespace trt_dyn

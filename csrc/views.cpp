// View-like ops with a runtime target shape (trt_dyn/ops/views.py); outputs never alias their input.
#include "common.h"

namespace trt_dyn {

static at::Tensor reshape_dyn(const at::Tensor& self, const at::Tensor& shape) {
  return self.reshape(shape_values("reshape_dyn", "shape", shape)).clone();
}

static at::Tensor expand_dyn(const at::Tensor& self, const at::Tensor& shape) {
  return self.expand(shape_values("expand_dyn", "shape", shape)).clone();
}

static at::Tensor unflatten_dyn(const at::Tensor& self, int64_t dim, const at::Tensor& sizes) {
  return self.unflatten(dim, shape_values("unflatten_dyn", "sizes", sizes)).clone();
}

static at::Tensor repeat_dyn(const at::Tensor& self, const at::Tensor& repeats) {
  return self.repeat(shape_values("repeat_dyn", "repeats", repeats));
}

static at::Tensor select_dyn(const at::Tensor& self, int64_t dim, const at::Tensor& index) {
  return self.select(dim, int_value("select_dyn", "index", index)).clone();
}

static void register_views(torch::Library& m) {
  m.impl("reshape_dyn", &reshape_dyn);
  m.impl("expand_dyn", &expand_dyn);
  m.impl("unflatten_dyn", &unflatten_dyn);
  m.impl("repeat_dyn", &repeat_dyn);
  m.impl("select_dyn", &select_dyn);
}

TRT_DYN_KERNELS(register_views)

}  // namespace trt_dyn

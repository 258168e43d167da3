// Slicing with runtime bounds / sizes (trt_dyn/ops/slicing.py).
#include "common.h"

namespace trt_dyn {

static at::Tensor slice_dyn(const at::Tensor& self, int64_t dim, const at::Tensor& start, const at::Tensor& end,
                            int64_t step) {
  return at::slice(self, dim, int_value("slice_dyn", "start", start), int_value("slice_dyn", "end", end), step)
      .clone();
}

static at::Tensor narrow_dyn(const at::Tensor& self, int64_t dim, const at::Tensor& start,
                             const at::Tensor& length) {
  return self.narrow(dim, int_value("narrow_dyn", "start", start), int_value("narrow_dyn", "length", length))
      .clone();
}

static std::vector<at::Tensor> split_dyn(const at::Tensor& self, const at::Tensor& sizes, int64_t dim) {
  std::vector<at::Tensor> parts;
  for (const auto& part : at::split_with_sizes(self, shape_values("split_dyn", "sizes", sizes), dim)) {
    parts.push_back(part.clone());
  }
  return parts;
}

static at::Tensor pad_dyn(const at::Tensor& self, const at::Tensor& pad, double value) {
  return at::constant_pad_nd(self, shape_values("pad_dyn", "pad", pad), value);
}

static void register_slicing(torch::Library& m) {
  m.impl("slice_dyn", &slice_dyn);
  m.impl("narrow_dyn", &narrow_dyn);
  m.impl("split_dyn", &split_dyn);
  m.impl("pad_dyn", &pad_dyn);
}

TRT_DYN_KERNELS(register_slicing)

}  // namespace trt_dyn

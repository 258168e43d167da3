// topk with a runtime k (trt_dyn/ops/topk.py).
#include "common.h"

namespace trt_dyn {

static std::tuple<at::Tensor, at::Tensor> topk_dyn(const at::Tensor& self, const at::Tensor& k, int64_t dim,
                                                   bool largest, bool sorted) {
  return at::topk(self, int_value("topk_dyn", "k", k), dim, largest, sorted);
}

static void register_topk(torch::Library& m) {
  m.impl("topk_dyn", &topk_dyn);
}

TRT_DYN_KERNELS(register_topk)

}  // namespace trt_dyn

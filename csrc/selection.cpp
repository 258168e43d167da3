// Selection with a bounded output shape (trt_dyn/ops/selection.py).
#include "common.h"

namespace trt_dyn {

// torch.nonzero padded with -1 rows to mask.numel() rows, plus the number of true elements
static std::tuple<at::Tensor, at::Tensor> nonzero_bounded(const at::Tensor& mask) {
  TORCH_CHECK_VALUE(mask.dim() != 0, "trt_dyn::nonzero_bounded: mask must have at least one dimension");
  const at::Tensor found = at::nonzero(mask);
  at::Tensor padded = at::full({mask.numel(), mask.dim()}, -1, mask.options().dtype(at::kLong));
  padded.narrow(0, 0, found.size(0)).copy_(found);
  return {padded, at::scalar_tensor(found.size(0), mask.options().dtype(at::kLong))};
}

static void register_selection(torch::Library& m) {
  m.impl("nonzero_bounded", &nonzero_bounded);
}

TRT_DYN_KERNELS(register_selection)

}  // namespace trt_dyn

// trt_dyn::batched_nms (trt_dyn/ops/nms.py): torchvision's batched_nms as one op, both of its branches, on
// torchvision's own nms kernel. torchvision's op library must be loaded in the process (`import torchvision`
// in Python, linking libtorchvision in C++); without it the call fails naming what is missing.
#include <ATen/core/dispatch/Dispatcher.h>

#include "common.h"

namespace trt_dyn {

static at::Tensor torchvision_nms(const at::Tensor& boxes, const at::Tensor& scores, double iou_threshold) {
  const auto schema = c10::Dispatcher::singleton().findSchema({"torchvision::nms", ""});
  TORCH_CHECK(schema.has_value(),
              "trt_dyn::batched_nms needs torchvision's nms op: import torchvision (Python) or link libtorchvision");
  return schema->typed<at::Tensor(const at::Tensor&, const at::Tensor&, double)>().call(boxes, scores,
                                                                                         iou_threshold);
}

// boxes of different classes are moved apart so that one nms call never lets them overlap
static at::Tensor coordinate_trick(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                                   double iou_threshold) {
  if (boxes.numel() == 0) {
    return at::empty({0}, boxes.options().dtype(at::kLong));
  }
  const at::Tensor max_coordinate = boxes.max();
  const at::Tensor offsets = idxs.to(boxes) * (max_coordinate + at::scalar_tensor(1, at::kLong).to(boxes));
  return torchvision_nms(boxes + offsets.unsqueeze(1), scores, iou_threshold);
}

// one nms call per class, kept indices merged and sorted by score
static at::Tensor per_class(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                            double iou_threshold) {
  at::Tensor keep_mask = at::zeros_like(scores, scores.options().dtype(at::kBool));
  const at::Tensor classes = std::get<0>(at::_unique(idxs));
  for (int64_t i = 0; i < classes.size(0); ++i) {
    const at::Tensor members = at::where(idxs == classes[i])[0];
    const at::Tensor kept = torchvision_nms(boxes.index({members}), scores.index({members}), iou_threshold);
    keep_mask.index_put_({members.index({kept})}, true);
  }
  const at::Tensor keep = at::where(keep_mask)[0];
  return keep.index({std::get<1>(scores.index({keep}).sort(/*dim=*/-1, /*descending=*/true))});
}

static at::Tensor batched_nms(const at::Tensor& boxes, const at::Tensor& scores, const at::Tensor& idxs,
                              double iou_threshold) {
  // torchvision's thresholds for the per-class branch
  const int64_t per_class_above = boxes.device().is_cpu() ? 4000 : 100000;
  if (boxes.numel() > per_class_above) {
    return per_class(boxes, scores, idxs, iou_threshold);
  }
  return coordinate_trick(boxes, scores, idxs, iou_threshold);
}

static void register_nms(torch::Library& m) {
  m.impl("batched_nms", &batched_nms);
}

TRT_DYN_KERNELS(register_nms)

}  // namespace trt_dyn

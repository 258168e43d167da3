// Resize to a runtime output size (trt_dyn/ops/resize.py): exactly aten.upsample_<mode>.
#include "common.h"

namespace trt_dyn {

using Scales = std::optional<c10::ArrayRef<double>>;

static int64_t interpolating_dims(const std::string& mode) {
  if (mode == "linear") return 1;
  if (mode == "bilinear" || mode == "bicubic") return 2;
  if (mode == "trilinear") return 3;
  return 0;
}

static void check_mode(const at::Tensor& self, int64_t spatial, const std::string& mode, const Scales& scales) {
  if (mode == "nearest") {
    TORCH_CHECK_VALUE(spatial >= 1 && spatial <= 3 && self.dim() == spatial + 2,
                      "trt_dyn::interpolate_dyn: nearest needs 1-3 spatial dims matching a (N, C, *) input, got "
                      "size of length ", spatial, " for an input of rank ", self.dim());
  } else if (const int64_t wanted = interpolating_dims(mode)) {
    TORCH_CHECK_VALUE(spatial == wanted && self.dim() == wanted + 2, "trt_dyn::interpolate_dyn: ", mode,
                      " needs a ", wanted + 2, "-d input and a size of length ", wanted, ", got rank ", self.dim(),
                      " and length ", spatial);
  } else {
    TORCH_CHECK_NOT_IMPLEMENTED(false, "trt_dyn::interpolate_dyn: mode '", mode,
                                "' is not implemented ('nearest', 'linear', 'bilinear', 'bicubic', 'trilinear')");
  }
  TORCH_CHECK_VALUE(!scales || static_cast<int64_t>(scales->size()) == spatial, "trt_dyn::interpolate_dyn: scales ",
                    *scales, " must have ", spatial, " entries");
}

static at::Tensor interpolate_dyn(const at::Tensor& self, const at::Tensor& size, c10::string_view mode_view,
                                  bool align_corners, Scales scales) {
  const std::vector<int64_t> out = shape_values("interpolate_dyn", "size", size);
  const std::string mode(mode_view);
  const int64_t spatial = static_cast<int64_t>(out.size());
  check_mode(self, spatial, mode, scales);
  std::vector<std::optional<double>> per_dim(spatial);
  if (scales) {
    for (int64_t i = 0; i < spatial; ++i) per_dim[i] = (*scales)[i];
  }
  if (mode == "nearest") {
    if (spatial == 1) return at::upsample_nearest1d(self, out, per_dim[0]);
    if (spatial == 2) return at::upsample_nearest2d(self, out, per_dim[0], per_dim[1]);
    return at::upsample_nearest3d(self, out, per_dim[0], per_dim[1], per_dim[2]);
  }
  if (mode == "linear") return at::upsample_linear1d(self, out, align_corners, per_dim[0]);
  if (mode == "bilinear") return at::upsample_bilinear2d(self, out, align_corners, per_dim[0], per_dim[1]);
  if (mode == "bicubic") return at::upsample_bicubic2d(self, out, align_corners, per_dim[0], per_dim[1]);
  return at::upsample_trilinear3d(self, out, align_corners, per_dim[0], per_dim[1], per_dim[2]);
}

// F.interpolate(..., antialias=True) of a 4-d input: aten._upsample_<mode>2d_aa
static at::Tensor interpolate_aa_dyn(const at::Tensor& self, const at::Tensor& size, c10::string_view mode_view,
                                     bool align_corners) {
  const std::vector<int64_t> out = shape_values("interpolate_aa_dyn", "size", size);
  const std::string mode(mode_view);
  TORCH_CHECK_VALUE((mode == "bilinear" || mode == "bicubic") && self.dim() == 4 && out.size() == 2,
                    "trt_dyn::interpolate_aa_dyn: needs a 4-d input, 2 sizes and mode in ['bicubic', 'bilinear'], "
                    "got rank ", self.dim(), ", ", out, ", '", mode, "'");
  if (mode == "bilinear") return at::_upsample_bilinear2d_aa(self, out, align_corners);
  return at::_upsample_bicubic2d_aa(self, out, align_corners);
}

static void register_resize(torch::Library& m) {
  m.impl("interpolate_dyn", &interpolate_dyn);
  m.impl("interpolate_aa_dyn", &interpolate_aa_dyn);
}

TRT_DYN_KERNELS(register_resize)

}  // namespace trt_dyn

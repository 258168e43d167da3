// Shared checks for the trt_dyn C++ kernels: the same argument rules and messages as trt_dyn/ops/_registry.py.
#pragma once

#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>
#include <vector>

namespace trt_dyn {

// Every kernel is device-generic ATen code; a family registers the same kernels for CPU and CUDA.
#define TRT_DYN_KERNELS(register_family)                                   \
  TORCH_LIBRARY_IMPL(trt_dyn, CPU, m) { register_family(m); }              \
  TORCH_LIBRARY_IMPL(trt_dyn, CUDA, m) { register_family(m); }

inline bool is_int_dtype(at::ScalarType t) {
  return t == at::kLong || t == at::kInt || t == at::kShort || t == at::kChar || t == at::kByte;
}

// A 0-d / 1-d integer (or, if allowed, float32/float64) tensor; rank -1 accepts both.
inline void check_shape_tensor(const char* op, const char* arg, const at::Tensor& value, int64_t rank = -1,
                               bool allow_float = false) {
  const auto dtype = value.scalar_type();
  const bool ok = is_int_dtype(dtype) || (allow_float && (dtype == at::kFloat || dtype == at::kDouble));
  TORCH_CHECK_TYPE(ok, "trt_dyn::", op, ": argument '", arg, "' must be an integer shape tensor, got dtype ",
                   dtype);
  if (rank < 0) {
    TORCH_CHECK_VALUE(value.dim() <= 1, "trt_dyn::", op, ": argument '", arg,
                      "' must be a 0-d or 1-d tensor, got shape ", value.sizes());
  } else {
    TORCH_CHECK_VALUE(value.dim() == rank, "trt_dyn::", op, ": argument '", arg, "' must be a ", rank,
                      "-d tensor, got shape ", value.sizes());
  }
}

// The ints held by a 1-d integer shape tensor.
inline std::vector<int64_t> shape_values(const char* op, const char* arg, const at::Tensor& value) {
  check_shape_tensor(op, arg, value, 1);
  const at::Tensor host = value.to(at::kCPU, at::kLong).contiguous();
  const int64_t* data = host.data_ptr<int64_t>();
  return std::vector<int64_t>(data, data + host.numel());
}

// The number held by a 0-d shape tensor (an integer, or a double when floats are allowed).
inline at::Scalar scalar_value(const char* op, const char* arg, const at::Tensor& value, bool allow_float = false) {
  check_shape_tensor(op, arg, value, 0, allow_float);
  return value.item();
}

inline int64_t int_value(const char* op, const char* arg, const at::Tensor& value) {
  return scalar_value(op, arg, value).toLong();
}

}  // namespace trt_dyn

// Shape arithmetic (trt_dyn/ops/arith.py): 0-d / 1-d shape tensors, broadcast; int64 results with Python's
// floor semantics, float32 as soon as one operand is a float.
#include "common.h"

namespace trt_dyn {

static at::ScalarType result_dtype(const at::Tensor& a, const at::Tensor& b) {
  return (a.is_floating_point() || b.is_floating_point()) ? at::kFloat : at::kLong;
}

static at::ScalarType same_kind(const at::Tensor& a) {
  return a.is_floating_point() ? at::kFloat : at::kLong;
}

static void check_operands(const char* op, const at::Tensor& a, const at::Tensor& b) {
  check_shape_tensor(op, "a", a, -1, true);
  check_shape_tensor(op, "b", b, -1, true);
}

static void check_divisor(const char* op, const at::Tensor& b) {
  TORCH_CHECK(b.is_floating_point() || !(b == 0).any().item<bool>(), "trt_dyn::", op,
              ": integer division by zero");
}

// op(a, b) on both operands converted to the common result dtype
#define TRT_DYN_BINARY(name, expression, divides)                          \
  static at::Tensor name(const at::Tensor& a_in, const at::Tensor& b_in) { \
    check_operands(#name, a_in, b_in);                                     \
    const auto dtype = result_dtype(a_in, b_in);                           \
    const at::Tensor a = a_in.to(dtype);                                   \
    const at::Tensor b = b_in.to(dtype);                                   \
    if (divides) check_divisor(#name, b);                                  \
    return expression;                                                     \
  }

TRT_DYN_BINARY(add_dyn, a + b, false)
TRT_DYN_BINARY(sub_dyn, a - b, false)
TRT_DYN_BINARY(mul_dyn, a * b, false)
TRT_DYN_BINARY(floordiv_dyn, at::div(a, b, "floor"), true)
TRT_DYN_BINARY(ceildiv_dyn, -at::div(-a, b, "floor"), true)
TRT_DYN_BINARY(mod_dyn, at::remainder(a, b), true)
TRT_DYN_BINARY(min_dyn, at::minimum(a, b), false)
TRT_DYN_BINARY(max_dyn, at::maximum(a, b), false)
#undef TRT_DYN_BINARY

static at::Tensor truediv_dyn(const at::Tensor& a, const at::Tensor& b) {
  check_operands("truediv_dyn", a, b);
  TORCH_CHECK(!(b == 0).any().item<bool>(), "trt_dyn::truediv_dyn: division by zero");
  return a.to(at::kDouble).div(b.to(at::kDouble)).to(at::kFloat);
}

// compute(a) converted (always copied) to the op's result dtype
#define TRT_DYN_UNARY(name, dtype, expression)                                     \
  static at::Tensor name(const at::Tensor& a) {                                    \
    check_shape_tensor(#name, "a", a, -1, true);                                   \
    return (expression).to(dtype, /*non_blocking=*/false, /*copy=*/true);          \
  }

TRT_DYN_UNARY(neg_dyn, same_kind(a), at::neg(a))
TRT_DYN_UNARY(float_dyn, at::kFloat, a)
TRT_DYN_UNARY(int_dyn, at::kLong, at::trunc(a))
TRT_DYN_UNARY(ceil_dyn, at::kLong, a.is_floating_point() ? at::ceil(a) : a)
TRT_DYN_UNARY(floor_dyn, at::kLong, a.is_floating_point() ? at::floor(a) : a)
#undef TRT_DYN_UNARY

static void register_arith(torch::Library& m) {
  m.impl("add_dyn", &add_dyn);
  m.impl("sub_dyn", &sub_dyn);
  m.impl("mul_dyn", &mul_dyn);
  m.impl("floordiv_dyn", &floordiv_dyn);
  m.impl("ceildiv_dyn", &ceildiv_dyn);
  m.impl("mod_dyn", &mod_dyn);
  m.impl("min_dyn", &min_dyn);
  m.impl("max_dyn", &max_dyn);
  m.impl("truediv_dyn", &truediv_dyn);
  m.impl("neg_dyn", &neg_dyn);
  m.impl("float_dyn", &float_dyn);
  m.impl("int_dyn", &int_dyn);
  m.impl("ceil_dyn", &ceil_dyn);
  m.impl("floor_dyn", &floor_dyn);
}

TRT_DYN_KERNELS(register_arith)

}  // namespace trt_dyn

"""trt_dyn.ops"""

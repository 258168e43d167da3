"""trt_dyn.models"""

"""trt_dyn.converters"""

"""trt_dyn.lowering"""

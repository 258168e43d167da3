from setuptools import find_packages, setup

setup(
    name="trt_dyn",
    version="0.1.0",
    description="Dynamic-shape models to TensorRT through Torch-TensorRT's Dynamo path, without partitioning",
    packages=find_packages(include=["trt_dyn", "trt_dyn.*"]),
    python_requires=">=3.10",
    install_requires=["torch", "numpy"],
    extras_require={
        "rtx": ["torch-tensorrt-rtx==2.14.*"],
        "trt": ["torch-tensorrt==2.14.*"],
        "test": ["pytest", "parameterized", "torchvision"],
    },
)

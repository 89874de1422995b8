"""GPU engines shared by families: the converted ONNX graph on PyTorch, Triton-language kernels,
GPU embedding tables, CUDA-graph serving helpers."""

"""The Criteo family: DLRM and DCNv2 (synthetic Criteo data, TF2 models, upstream checkpoint layout,
sparse SavedModel / HPS files / ONNX dense exports, Triton repositories)."""

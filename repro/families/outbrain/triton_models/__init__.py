"""model.py files of the W&D python-backend models. They run inside Triton's python backend stub
(isolated Python, no PYTHONPATH), so each is self-contained: numpy and onnxruntime or tensorflow only."""

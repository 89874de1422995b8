"""model.py files of the python-backend models. They run inside Triton's python backend stub
(isolated Python, no PYTHONPATH), so each is self-contained: numpy, onnxruntime or tensorflow only."""

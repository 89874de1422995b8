"""Serving: the Triton runtime (wheels or bundle), the server launcher and model_config writers."""

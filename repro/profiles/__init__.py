"""Profiles: where and how the pipeline runs (cpu, h100, the container GPUs)."""

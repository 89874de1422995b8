"""Measurement: perf_analyzer runs, stability handling, repeated samples, what-ran labels."""

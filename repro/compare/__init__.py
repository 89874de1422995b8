"""Comparison across commits and against the published tables: load, classify, render."""

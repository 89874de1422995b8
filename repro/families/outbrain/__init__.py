"""The Outbrain family: Wide & Deep (seed 002) on synthetic Outbrain-like click data."""

"""Shared library of the reproduction pipeline. Stages import it; it never imports stages."""

"""Shared library of the reproduction pipeline. Stages import it; it never imports stages.

Importing it pins what makes generated artifacts byte-identical across x86-64 machines: oneDNN (which
TensorFlow's matmuls and ops use, TF_ENABLE_ONEDNN_OPTS or not) picks kernels by the CPU's instruction
set, so a checkpoint trained on an AVX-512 or AMX host differed from one trained on an AVX2 host.
Capping oneDNN at AVX2 gives every AVX2-capable host (x86-64-v3: every server CPU since 2013) the same
kernels. REPRO_ONEDNN_MAX_CPU_ISA overrides the cap, for experiments only.
"""
import os

ONEDNN_ISA = os.environ.get("REPRO_ONEDNN_MAX_CPU_ISA", "AVX2")
os.environ["ONEDNN_MAX_CPU_ISA"] = ONEDNN_ISA   # read by oneDNN at its first use, after this import

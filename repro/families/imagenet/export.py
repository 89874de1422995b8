"""ResNet50's served formats, as upstream's ``convert_model.py`` makes them, each checked against PyTorch
on the same images:

    artifacts/convert/resnet50/ts-trace/model.pt     torch.jit.trace
    artifacts/convert/resnet50/ts-script/model.pt    torch.jit.script
    artifacts/convert/resnet50/onnx/model.onnx       torch.onnx.export (TorchScript exporter), opset 11, constant
                                                     folding, dynamic batch axis, onnx.checker passed
The ``trt`` format is built from the ONNX graph inside the TensorRT image (container profiles).
I/O everywhere: ``INPUT__0`` FP32 [3, 224, 224] -> ``OUTPUT__0`` FP32 [1000] logits.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

INPUT, OUTPUT = "INPUT__0", "OUTPUT__0"
FORMATS = {"ts-trace": "ts-trace/model.pt", "ts-script": "ts-script/model.pt", "onnx": "onnx/model.onnx"}


@dataclass(frozen=True)
class Parity:
    max_abs_diff: float       # largest |logit(format) - logit(PyTorch)|
    top1_agreement: float     # share of images whose argmax agrees


def parity(reference: np.ndarray, other: np.ndarray) -> Parity:
    """NaN or inf anywhere gives NaN: a check fails closed."""
    if not (np.all(np.isfinite(other)) and other.shape == reference.shape):
        return Parity(float("nan"), float("nan"))
    return Parity(float(np.max(np.abs(other - reference))), float(np.mean(other.argmax(1) == reference.argmax(1))))


def export_torchscript(model: torch.nn.Module, example: torch.Tensor, checkpoint: Path, out: Path) -> None:
    (out / "ts-trace").mkdir(parents=True)
    (out / "ts-script").mkdir(parents=True)
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, example), str(out / FORMATS["ts-trace"]))
    without_debug_records(out / FORMATS["ts-trace"])
    # torch.jit.script writes a module's Final attributes in set order, which follows Python's per-process string
    # hashing: scripted in a child process with a fixed PYTHONHASHSEED, the file is byte-identical run to run
    subprocess.run([sys.executable, "-m", "repro.families.imagenet.export", str(checkpoint), str(out / FORMATS["ts-script"])],
                   check=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    without_debug_records(out / FORMATS["ts-script"])


def without_debug_records(path: Path) -> None:
    """Rewrite a TorchScript archive without its ``*.debug_pkl`` records, which hold the absolute paths of the
    source files (the checkout's and its venv's: another clone wrote other bytes), and with a serialization id
    derived from the remaining records. torch.jit.load needs neither; error messages lose their source lines.
    Stored entries with a fixed date, so the same model gives the same bytes wherever it is exported."""
    with zipfile.ZipFile(path) as archive:
        entries = [(i.filename, archive.read(i.filename)) for i in archive.infolist()
                   if not i.filename.endswith(".debug_pkl")]
    digest = hashlib.sha256(b"".join(name.encode() + data for name, data in entries
                                     if not name.endswith(".data/serialization_id"))).hexdigest()
    staging = path.with_suffix(".tmp")
    with zipfile.ZipFile(staging, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            if name.endswith(".data/serialization_id"):
                data = str(int(digest, 16))[:len(data)].encode()
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    staging.replace(path)


def script_checkpoint(checkpoint: Path, path: Path) -> None:
    from repro.families.imagenet.model import load
    torch.jit.save(torch.jit.script(load(checkpoint)), str(path))


def export_onnx(model: torch.nn.Module, example: torch.Tensor, out: Path, opset: int) -> None:
    import onnx
    path = out / FORMATS["onnx"]
    path.parent.mkdir(parents=True)
    with torch.no_grad():
        torch.onnx.export(model, (example,), str(path), opset_version=opset, do_constant_folding=True,
                          input_names=[INPUT], output_names=[OUTPUT], dynamo=False,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
    onnx.checker.check_model(str(path), full_check=True)


def run_torchscript(path: Path, x: np.ndarray) -> np.ndarray:
    module = torch.jit.load(str(path), map_location="cpu").eval()
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def onnx_session(path: Path, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, x: np.ndarray, threads: int) -> np.ndarray:
    return onnx_session(path, threads).run([OUTPUT], {INPUT: x})[0]


def check_formats(out: Path, x: np.ndarray, reference: np.ndarray, threads: int) -> dict[str, Parity]:
    """Every format's logits on ``x`` against PyTorch eager's (``reference``)."""
    return {"ts-trace": parity(reference, run_torchscript(out / FORMATS["ts-trace"], x)),
            "ts-script": parity(reference, run_torchscript(out / FORMATS["ts-script"], x)),
            "onnx": parity(reference, run_onnx(out / FORMATS["onnx"], x, threads))}


def engine_throughput(out: Path, x: np.ndarray, threads: int, repeats: int = 3) -> dict[str, float]:
    """Images/s in-process on this CPU (best of ``repeats`` after a warm-up): the cpu flavour's engine choice
    (params.yaml profiles.<p>.serving.imagenet.engine). Timing: not byte-stable, reported only."""
    module = torch.jit.load(str(out / FORMATS["ts-trace"]), map_location="cpu").eval()
    session = onnx_session(out / FORMATS["onnx"], threads)
    tensor = torch.from_numpy(x)

    def torchscript() -> None:
        with torch.no_grad():
            module(tensor)

    runs = {"torchscript": torchscript, "onnxruntime": lambda: session.run([OUTPUT], {INPUT: x})}
    rates = {}
    for name, run in runs.items():
        run()
        best = min(timed(run) for _ in range(repeats))
        rates[name] = round(len(x) / best, 1)
    return rates


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


if __name__ == "__main__":   # the ts-script export, run by export_torchscript with PYTHONHASHSEED fixed
    script_checkpoint(Path(sys.argv[1]), Path(sys.argv[2]))

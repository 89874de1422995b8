"""ResNet50 v1.5: torchvision's ``resnet50`` (the stride on the 3x3 convolution, as upstream's model),
with weights seeded from params.yaml's seed (nothing can be downloaded here; every result says so).

The "short fine-tune" is a closed-form fit, not gradient steps: with the seeded convolutions fixed,
(1) the BatchNorm statistics are recomputed on the training images (one pass in train mode, a cumulative
average over the batches), and (2) the classifier ``fc`` is fitted to the labels by ridge regression on
the pooled features. Both run in float64 and are rounded to 7 mantissa bits (bfloat16's precision), so
last-bit differences between CPUs' float64 kernels cannot change a stored byte, and a GPU host gets the
fitted tensors exactly in half the bytes (``fitted_state``). The result
classifies the synthetic images well above chance, so top-1 means something.

Checkpoint: ``artifacts/train/resnet50/model.pt``, the FP32 state dict (torch.save).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from repro.families.imagenet.dataset import NUM_CLASSES, Split, normalise

CHECKPOINT = "model.pt"


def seeded(seed: int) -> torch.nn.Module:
    """torchvision's resnet50 with the initialisation drawn from ``seed`` (PyTorch's CPU generator)."""
    from torchvision.models import resnet50
    torch.manual_seed(seed)
    return resnet50(weights=None).eval()


def seeded_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of the seeded (not fitted) weights: the convolutions. A host that regenerates them from the
    seed checks it got the same bytes."""
    h = hashlib.sha256()
    for name in sorted(k for k in state if k.endswith(".weight") and state[k].dim() == 4):
        h.update(name.encode())
        h.update(state[name].detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def fitted_names(state: dict[str, torch.Tensor]) -> list[str]:
    """What the fit changes: BatchNorm statistics and the classifier."""
    return sorted(k for k in state if k.endswith(("running_mean", "running_var")) or k.startswith("fc."))


def round_mantissa(t: torch.Tensor, bits: int = 7) -> torch.Tensor:
    """FP32 values rounded to ``bits`` mantissa bits (round half away from zero on the bit pattern)."""
    a = t.detach().to(torch.float32).contiguous().numpy().view(np.int32)
    drop = 23 - bits
    rounded = ((a + np.int32(1 << (drop - 1))) & np.int32(~((1 << drop) - 1))).view(np.float32)
    return torch.from_numpy(rounded.copy())


def batches(split: Split, size: int):
    for start in range(0, len(split), size):
        yield torch.from_numpy(normalise(split.images[start:start + size]))


def features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The pooled 2048-wide features (everything before ``fc``)."""
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return torch.flatten(m.avgpool(x), 1)


def fit(seed: int, train: Split, batch: int, ridge: float, progress=lambda msg: None) -> dict[str, torch.Tensor]:
    """The seeded model with its BatchNorm statistics and classifier fitted to ``train`` (FP32 state dict)."""
    model = seeded(seed).double()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None                     # cumulative average over the batches
    model.train()
    with torch.no_grad():
        for i, x in enumerate(batches(train, batch)):
            model(x.double())
            progress(f"BatchNorm statistics: batch {i + 1}/{-(-len(train) // batch)}")
        for bn in bns:
            bn.running_mean.copy_(round_mantissa(bn.running_mean))
            bn.running_var.copy_(round_mantissa(bn.running_var))
        model.eval()
        feats = torch.cat([features(model, x.double()) for x in batches(train, batch)]).numpy()
    progress(f"classifier: ridge regression on {feats.shape[0]} x {feats.shape[1]} features")
    weight, bias = ridge_head(feats, train.labels, ridge)
    state = {k: v.detach().clone() if k.endswith("num_batches_tracked") else v.detach().to(torch.float32).clone()
             for k, v in model.state_dict().items()}
    for k in state:
        if k.endswith("num_batches_tracked"):
            state[k].zero_()                   # as seeded: only the statistics and the classifier are fitted
    state["fc.weight"], state["fc.bias"] = round_mantissa(torch.from_numpy(weight)), round_mantissa(torch.from_numpy(bias))
    return state


def ridge_head(feats: np.ndarray, labels: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """fc weight [1000, 2048] and bias [1000]: ridge regression of one-hot labels on centred features
    (dual form: fewer samples than features); classes without samples get zero rows."""
    mean = feats.mean(axis=0)
    centred = feats - mean
    targets = np.zeros((len(labels), NUM_CLASSES))
    targets[np.arange(len(labels)), labels] = 1.0
    target_mean = targets.mean(axis=0)
    gram = centred @ centred.T
    scale = ridge * np.trace(gram) / len(gram)
    alpha = np.linalg.solve(gram + scale * np.eye(len(gram)), targets - target_mean)
    weight = centred.T @ alpha                               # [2048, 1000]
    bias = target_mean - mean @ weight
    return weight.T.astype(np.float32), bias.astype(np.float32)


def fitted_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The fitted tensors in bfloat16, exact (they carry 7 mantissa bits): what a GPU host needs beside the
    seed. The classifier's rows of classes without training images are zero: only the others travel."""
    fitted = {k: state[k].to(torch.bfloat16) for k in fitted_names(state) if k != "fc.weight"}
    rows = torch.nonzero(state["fc.weight"].abs().sum(dim=1)).flatten()
    fitted["fc.weight.rows"], fitted["fc.weight.values"] = rows, state["fc.weight"][rows].to(torch.bfloat16)
    return fitted


def from_seed(seed: int, fitted: dict[str, torch.Tensor], digest: str) -> torch.nn.Module:
    """The checkpoint rebuilt on a host from the seed and the fitted tensors; fails when the host's PyTorch and
    torchvision draw other convolutions from the seed (``digest``: the checkpoint's ``seeded_digest``)."""
    model = seeded(seed)
    state = model.state_dict()
    found = seeded_digest(state)
    if found != digest:
        raise RuntimeError(f"the seeded convolutions differ from the checkpoint's (sha256 {found[:12]} vs {digest[:12]}): "
                           "this host's PyTorch/torchvision draw other weights from the seed")
    fitted = dict(fitted)
    weight = torch.zeros_like(state["fc.weight"])
    weight[fitted.pop("fc.weight.rows")] = fitted.pop("fc.weight.values").to(torch.float32)
    state.update({k: v.to(torch.float32) for k, v in fitted.items()}, **{"fc.weight": weight})
    model.load_state_dict(state)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def write_checkpoint(out: Path, state: dict[str, torch.Tensor]) -> None:
    torch.save(state, out / CHECKPOINT)


def from_state(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A state dict in torchvision's resnet50, FP32, eval mode."""
    from torchvision.models import resnet50
    model = resnet50(weights=None)
    model.load_state_dict(state)
    return model.eval()


def load(checkpoint: Path) -> torch.nn.Module:
    """The checkpoint in torchvision's resnet50, FP32, eval mode."""
    return from_state(torch.load(checkpoint / CHECKPOINT, map_location="cpu", weights_only=True))


def logits(model: torch.nn.Module, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """FP32 logits of uint8 images through ``model`` (PyTorch eager on the CPU): the framework's answer."""
    split = Split(images, np.zeros(len(images), np.int64))
    with torch.no_grad():
        return np.concatenate([model(x).numpy() for x in batches(split, batch)])


class Served(torch.nn.Module):
    """What both GPU-host backends serve (the python backend's model and the native one's TorchScript): FP32
    NCHW normalised images in, FP32 logits out; the network runs in its own dtype, channels-last."""

    def __init__(self, net: torch.nn.Module, dtype: torch.dtype):
        super().__init__()
        self.net, self.dtype = net, dtype

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.to(self.dtype).contiguous(memory_format=torch.channels_last)).float()


def served_model(spec: dict, root: Path, device: str) -> Served:
    """The served network of a repository version's spec.json: convolutions from the seed (checked by sha256),
    the fitted tensors from ``spec["fitted"]``, in ``spec["precision"]`` on ``device``, eval mode."""
    dtype = {"fp16": torch.float16, "fp32": torch.float32}[spec["precision"]]
    fitted = torch.load(root / spec["fitted"], map_location="cpu", weights_only=True)
    net = from_seed(spec["seed"], fitted, spec["seeded_digest"]).to(device, dtype).to(memory_format=torch.channels_last)
    return Served(net, dtype).eval()

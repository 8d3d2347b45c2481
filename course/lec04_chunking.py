"""Lecture 04's experiment: Ha, Dai & Le's generated CNN kernel in miniature, on the bundled 8x8 digits.

python -m course.lec04_chunking     # retrain checkpoints/04_ha_digits.pt (about 10 minutes of one CPU core)

Three CNNs of the same shape (conv 1→16, 3x3 · ReLU · maxpool · conv 16→32, 3x3 · ReLU · maxpool · linear
128→10) that differ only in where the second kernel ``[32, 16, 3, 3]`` comes from:

  plain     its own 4,608 numbers, trained directly;
  slices    Ha et al.'s static hypernetwork (arXiv:1609.09106v4, §3.1, Eq. 2): one embedding ``z`` of 4
            numbers for the whole kernel; input-channel slice ``i`` (all 32 output filters, 288 numbers) is
            ``W_out (W_i z + B_i) + B_out``, with slice-specific ``W_i, B_i`` and a shared ``W_out, B_out``;
  filters   the course's variant: a :class:`~hypernet_lib.ChunkedHyperNet` with one chunk per *output*
            filter (144 numbers), a learned 4-number embedding per chunk and a linear generator.

Each is trained for every seed in ``CONFIG["seeds"]`` (Adam on minibatches of 128, learning rate decayed to
zero on a cosine); the notebook loads the weights and measures test accuracy live.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import ChunkedHyperNet, default_device, describe, fit, functional_forward, load_digits
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.train import optimizer_step

from . import retrain_main

RECIPE, NAME = "course.lec04_chunking", "04_ha_digits.pt"
KINDS = ("plain", "slices", "filters")
CONFIG: dict[str, Any] = {
    "channels": (16, 32),  # C1, C2
    "embedding": 4,  # N_z of the slices design, d_c of the filters design
    "n_train": 1437,  # of the 1,797 digits; the other 360 are the test set
    "split_seed": 0,
    "n_steps": 1500,
    "batch": 128,
    "lr": 3e-3,
    "seeds": (0, 1, 2, 3, 4, 5, 6, 7),
}


def digits_split(config: Mapping[str, Any] = CONFIG, device: torch.device | str | None = None):
    """The fixed split of the 1,797 digits: ``(x_train, y_train, x_test, y_test)``, images ``[N, 1, 8, 8]``."""
    d = load_digits()
    perm = torch.randperm(len(d.labels), generator=torch.Generator().manual_seed(config["split_seed"]))
    tr, te = perm[: config["n_train"]], perm[config["n_train"] :]
    return tuple(t.to(device) for t in (d.images[tr], d.labels[tr], d.images[te], d.labels[te]))


def digits_cnn(config: Mapping[str, Any] = CONFIG) -> nn.Sequential:
    """The plain CNN; its second kernel is ``"3.weight"``, ``[C2, C1, 3, 3]``."""
    c1, c2 = config["channels"]
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 2 * 2, 10),
    )


class GeneratedKernelCNN(nn.Module):
    """``digits_cnn()`` whose second kernel comes from a static chunked hypernetwork, one chunk per output filter."""

    def __init__(self, config: Mapping[str, Any] = CONFIG):
        super().__init__()
        c1, _ = config["channels"]
        self.cnn = digits_cnn(config)
        self.cnn[3].weight.requires_grad_(False)  # never used: the generated kernel replaces it
        spec = describe(self.cnn, include=["3.weight"])  # generate only that kernel
        self.register_buffer("z", torch.ones(1))  # static: no task, one constant input
        self.hnet = ChunkedHyperNet(
            spec,
            z_dim=1,
            chunk_size=c1 * 3 * 3,  # one output filter per chunk
            chunk_dim=config["embedding"],
            hidden=(),  # a linear generator
            layout="layer",
            z_sample=self.z[None],
        )

    def kernel(self) -> torch.Tensor:
        """The generated kernel ``[C2, C1, 3, 3]``."""
        return self.hnet(self.z)["3.weight"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_forward(self.cnn, {"3.weight": self.kernel()}, x)


class SlicedKernelCNN(nn.Module):
    """``digits_cnn()`` whose second kernel is made as in Ha et al.'s Eq. 2, one slice per *input* channel.

    ``z: [N_z]`` is the kernel's one embedding; slice ``i`` is ``a_i = W_i z + B_i`` (``[d]``, here ``d = N_z``)
    mapped by the shared ``W_out: [C2·3·3, d]``, ``B_out`` to the ``[C2, 3, 3]`` filters of input channel ``i``.
    """

    def __init__(self, config: Mapping[str, Any] = CONFIG):
        super().__init__()
        c1, c2 = config["channels"]
        n_z = d = config["embedding"]
        self.cnn = digits_cnn(config)
        self.cnn[3].weight.requires_grad_(False)  # never used: the generated kernel replaces it
        self.z = nn.Parameter(torch.randn(n_z))
        # Scaled so that a_i has unit scale and the kernel starts at He scale 2 / fan_in, as a trained CNN's would.
        self.w_in = nn.Parameter(torch.randn(c1, d, n_z) / math.sqrt(n_z))  # W_i for every slice i
        self.b_in = nn.Parameter(torch.zeros(c1, d))  # B_i
        self.w_out = nn.Parameter(torch.randn(c2 * 9, d) * math.sqrt(2 / (c1 * 9 * d)))
        self.b_out = nn.Parameter(torch.zeros(c2 * 9))

    def kernel(self) -> torch.Tensor:
        """The generated kernel ``[C2, C1, 3, 3]``."""
        c2, c1 = self.cnn[3].weight.shape[:2]
        a = self.w_in @ self.z + self.b_in  # [C1, d]: one vector per input-channel slice
        slices = a @ self.w_out.T + self.b_out  # [C1, C2·3·3]
        return slices.view(c1, c2, 3, 3).transpose(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_forward(self.cnn, {"3.weight": self.kernel()}, x)


def build(kind: str, config: Mapping[str, Any] = CONFIG) -> nn.Module:
    """The untrained model of one kind: ``"plain"``, ``"slices"`` or ``"filters"``."""
    if kind == "plain":
        return digits_cnn(config)
    if kind == "slices":
        return SlicedKernelCNN(config)
    if kind == "filters":
        return GeneratedKernelCNN(config)
    raise ValueError(f"kind: expected one of {list(KINDS)}, got {kind!r}")


def fit_cnn(
    model: nn.Module, data, n_steps: int, seed: int, config: Mapping[str, Any] = CONFIG, progress: bool | None = None
) -> list[float]:
    """Adam on minibatches of the training images, learning rate decayed to zero on a cosine; returns the losses."""
    x_train, y_train = data[0], data[1]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config["lr"])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    batches = torch.Generator().manual_seed(seed)

    def step(_: int) -> torch.Tensor:
        idx = torch.randint(0, len(y_train), (config["batch"],), generator=batches).to(y_train.device)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        return optimizer_step(opt, loss, schedule)

    return fit(step, n_steps, desc=f"{type(model).__name__}", log_every=10, progress=progress)


@torch.no_grad()
def correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Which test images the model classifies right: ``[N]`` bools."""
    return model(x).argmax(-1) == y


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Train every kind at every seed; payload ``{kind: [state_dict per seed]}``."""
    device = default_device()
    data = digits_split(config, device)
    payload: dict[str, Any] = {kind: [] for kind in KINDS}
    for seed in config["seeds"]:
        for kind in KINDS:
            torch.manual_seed(seed)  # the same seed gives every kind the same first and last layers
            model = build(kind, config).to(device)
            fit_cnn(model, data, config["n_steps"], seed, config)
            acc = float(correct(model, data[2], data[3]).float().mean())
            print(f"seed {seed} {kind:8s} test accuracy {100 * acc:.2f}%", flush=True)
            payload[kind].append({k: v.detach().cpu() for k, v in model.state_dict().items()})
    return payload


def load_or_train(config: Mapping[str, Any] = CONFIG) -> dict[str, list[nn.Module]]:
    """``{kind: [trained model per seed]}`` (from ``checkpoints/04_ha_digits.pt`` when it matches ``config``)."""
    payload = _load_or_train(NAME, config, train, recipe=RECIPE, keys=KINDS, estimate="about 10 minutes")
    models: dict[str, list[nn.Module]] = {}
    for kind in KINDS:
        models[kind] = []
        for state in payload[kind]:
            model = build(kind, config)
            model.load_state_dict(state)
            models[kind].append(model.eval())
    return models


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)

"""What every hypernetwork family shares: one call shape, one input check, one MLP builder (lecture 01).

Every family is built the same way and called the same way::

    hnet = Family(spec, z_dim, *, <its own knobs>, hidden=(...), init="hyperfan_in", gain=2**0.5, z_sample=None)
    hnet(z)   # z: [B, d_z] -> {name: [B, *shape]}      z: [d_z] -> {name: [*shape]}

``spec`` says what to generate (:func:`hypernet_lib.describe`), ``z_dim`` how large the embedding is.
:class:`HyperNetBase` checks these once, checks every ``z`` before it is used (so a wrong shape, dtype
or device is named instead of surfacing as a matmul error deep inside), and runs the family's
initialization on a sample of embeddings like the ones it will see (``z_sample``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from .._checks import require_dims, require_float, require_positive_int
from ..target import Params, TargetSpec

InitName = Literal["hyperfan_in", "hyperfan_out", "default"]
INIT_NAMES = ("hyperfan_in", "hyperfan_out", "default")
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


def widths_of(name: str, hidden: Any) -> tuple[int, ...]:
    """``hidden`` as a tuple of positive widths; an int (the likeliest slip) gets a message saying what to write."""
    if isinstance(hidden, bool) or isinstance(hidden, int):
        raise TypeError(f"{name}: expected a sequence of layer widths such as ({hidden},), got the int {hidden}")
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{name}: expected a sequence of layer widths such as (64, 64), got {type(hidden).__name__}")
    return tuple(require_positive_int(name, h) for h in hidden)


def mlp(
    widths: Sequence[int],
    activation: str = "relu",
    final_activation: bool = False,
    dropout: float | None = None,
) -> nn.Sequential:
    """The course's one MLP: ``Linear → act [→ Dropout]`` per hidden layer, then a last ``Linear`` [→ act].

    ``widths = (d_in, h_1, …, d_out)``. ``final_activation`` puts the activation after the last layer too
    (a trunk whose features feed a head). With ``dropout`` a ``Dropout(p)`` follows every hidden activation,
    also at ``p = 0``, so parameter names such as ``"3.weight"`` never depend on ``p``.
    """
    widths = widths_of("widths", widths)
    if len(widths) < 2:
        raise ValueError(f"widths: expected at least (d_in, d_out), got {list(widths)}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if dropout is not None and not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout: expected None or a probability in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    n = len(widths) - 1
    for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(w_in, w_out))
        if i < n - 1 or final_activation:
            layers.append(_ACTIVATIONS[activation]())
            if dropout is not None and i < n - 1:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def check_spec(spec: Any) -> TargetSpec:
    if not isinstance(spec, TargetSpec):
        raise TypeError(f"spec: expected a TargetSpec (from describe(module)), got {type(spec).__name__}")
    return spec


def check_init(init: Any, gain: Any) -> tuple[str, float]:
    if init not in INIT_NAMES:
        raise ValueError(f"init: expected one of {list(INIT_NAMES)}, got {init!r}")
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain) or gain <= 0:
        raise ValueError(f"gain: expected a positive finite number (2 ** 0.5 for ReLU targets), got {gain!r}")
    return init, float(gain)


def check_embedding(z: Any, z_dim: int, like: torch.Tensor | None = None) -> None:
    """Refuse anything but a float ``[d_z]`` or ``[B, d_z]`` tensor (on ``like``'s device and dtype)."""
    if not isinstance(z, torch.Tensor):
        hint = "; build it with torch.as_tensor(z, dtype=torch.float32)" if hasattr(z, "__array__") else ""
        raise TypeError(f"z: expected a torch.Tensor of shape [B, {z_dim}] or [{z_dim}], got {type(z).__name__}{hint}")
    require_float("z", z)
    require_dims("z", z, (1, 2), f"[{z_dim}] or [B, {z_dim}]")
    if z.shape[-1] != z_dim:
        raise ValueError(f"z: expected last dimension d_z={z_dim}, got shape {list(z.shape)}")
    if like is not None:
        if z.device != like.device:
            raise ValueError(
                f"z: on {z.device.type}, the hypernetwork's parameters on {like.device.type}; "
                f"move one of them (z.to({like.device.type!r}) or hnet.to({z.device.type!r}))"
            )
        if z.dtype != like.dtype:
            raise TypeError(
                f"z: dtype {z.dtype}, the hypernetwork's parameters {like.dtype}; call z.to({like.dtype}) "
                f"(a float64 z often comes from NumPy: torch.as_tensor(array, dtype=torch.float32))"
            )
    if not _all_finite(z):
        raise ValueError("z: contains NaN or inf; every embedding must be finite")


def _all_finite(t: torch.Tensor) -> bool:
    """Whether every entry is finite; True inside torch.func transforms (vmap, grad), which cannot branch on data."""
    if torch._C._functorch.is_functorch_wrapped_tensor(t):
        return True
    return bool(torch.isfinite(t).all())


def default_z_sample(z_dim: int, generator: torch.Generator | None = None, n: int = 4096) -> torch.Tensor:
    """``[n, d_z]`` draws of ``N(0, I)``: the embeddings an initialization assumes when none are given."""
    z_dim, n = require_positive_int("z_dim", z_dim), require_positive_int("n", n)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    return torch.randn(n, z_dim, generator=generator)


def check_z_sample(z_sample: Any, z_dim: int) -> torch.Tensor:
    require_float("z_sample", z_sample)
    if z_sample.dim() != 2 or z_sample.shape[1] != z_dim:
        raise ValueError(f"z_sample: expected shape [n, {z_dim}], got {list(z_sample.shape)}")
    if z_sample.shape[0] == 0 or not bool(torch.isfinite(z_sample).all()):
        raise ValueError(
            f"z_sample: expected at least one finite embedding, got {list(z_sample.shape)} with NaN/inf/none"
        )
    return z_sample


MAX_BYTES_ENV = "HYPERNET_MAX_BYTES"
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of parameters: Binder gives a whole session 2 GB


def check_size(owner: str, n_numbers: int, driver: str, hint: str = "") -> None:
    """Refuse to allocate ``n_numbers`` float32 parameters above ``$HYPERNET_MAX_BYTES`` (default 1 GiB).

    A size that needs several GB would otherwise really be attempted, and on a small machine the kernel
    dies with no message. ``driver`` names what makes it large, ``hint`` what to do instead.
    """
    if isinstance(n_numbers, bool) or not isinstance(n_numbers, int) or n_numbers < 0:
        raise ValueError(f"n_numbers: expected an integer >= 0, got {n_numbers!r}")
    limit = int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_BYTES))
    needed = 4 * n_numbers
    if needed > limit:
        raise MemoryError(
            f"{owner}: would allocate {n_numbers:,} parameters ({needed / 2**30:.2f} GiB of float32), above the "
            f"{limit / 2**30:.2f} GiB limit (${MAX_BYTES_ENV}); {driver}{'; ' + hint if hint else ''}"
        )


def count_parameters(module: nn.Module) -> int:
    """Number of trainable numbers in ``module``."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class HyperNetBase(nn.Module):
    """Base of every family: holds ``spec`` and ``z_dim``, checks ``z``, handles the unbatched call.

    The arguments every family shares:

    - ``spec``: what to generate (from :func:`hypernet_lib.describe`, possibly with ``include=``);
    - ``z_dim``: the size of the embedding ``z``;
    - ``hidden``: widths of the family's ReLU layers (a trunk or a generator); ``()`` for none;
    - ``init``: ``"hyperfan_in"`` (default), ``"hyperfan_out"`` or ``"default"`` (PyTorch's own);
    - ``gain``: the target's nonlinearity gain (``2 ** 0.5`` for ReLU targets);
    - ``z_sample``: ``[n, d_z]`` embeddings like those the hypernetwork will see, for the init
      (default ``N(0, I)``).

    Call: ``z: [B, d_z] → {name: [B, *shape]}``; ``z: [d_z] → {name: [*shape]}``.

    A family sets its modules in ``__init__`` (after ``super().__init__``) and implements
    :meth:`generate` for ``z: [B, d_z] → {name: [B, *shape]}``; ``hnet(z)`` checks ``z`` and also
    accepts a single embedding ``[d_z]``, returning ``{name: [*shape]}``.
    """

    def __init__(self, spec: TargetSpec, z_dim: int, init: InitName = "hyperfan_in", gain: float = 2**0.5):
        super().__init__()
        self.spec = check_spec(spec)
        self.z_dim = require_positive_int("z_dim", z_dim)
        self.init, self.gain = check_init(init, gain)

    @property
    def mode(self) -> Literal["in", "out"]:
        """The hyperfan mode of ``init``: ``"in"`` or ``"out"``."""
        return "out" if self.init == "hyperfan_out" else "in"

    def _reference(self) -> torch.Tensor | None:
        return next(iter(self.parameters()), None)

    def forward(self, z: torch.Tensor) -> Params:
        check_embedding(z, self.z_dim, self._reference())
        if z.dim() == 1:
            return {k: v[0] for k, v in self.generate(z[None]).items()}
        return self.generate(z)

    def generate(self, z: torch.Tensor) -> Params:
        """``z: [B, d_z]`` (already checked) → ``{name: [B, *shape]}``."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, generates {self.spec.num_params} numbers in {len(self.spec)} tensors"


class TrunkHyperNet(HyperNetBase):
    """A family whose embedding first goes through an MLP trunk ``z → e`` (He-initialized, ReLU features)."""

    def _make_trunk(self, hidden: Sequence[int]) -> int:
        """Build ``self.trunk`` (``d_z → hidden…``, ReLU after every layer); return its output width ``d_e``."""
        widths = (self.z_dim, *widths_of("hidden", hidden))
        self.trunk = mlp(widths, final_activation=True) if len(widths) > 1 else nn.Sequential()
        return widths[-1]

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The trunk's output ``e``: ``[B, d_z] → [B, d_e]``."""
        return self.trunk(z)

    @torch.no_grad()
    def _he_trunk_(self) -> None:
        for layer in self.trunk:
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

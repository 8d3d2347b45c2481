"""The target network: any ``nn.Module``, described by its parameter names and shapes.

A hypernetwork never needs to know *what* the target computes, only which tensors it
must fill. ``describe`` reads that list off an ordinary module; ``functional_forward``
runs the module with generated tensors for a whole batch of tasks at once via
``torch.func.functional_call`` and ``vmap``, so the user's model is never rewritten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call, vmap

from ._checks import require_float, require_sequence, require_tensor

Params = dict[str, torch.Tensor]
"""Generated parameters ``{name: Tensor[*shape]}``, or ``{name: Tensor[B, *shape]}`` for ``B`` tasks."""


@dataclass(frozen=True)
class ParamInfo:
    """One generated tensor of the target.

    ``fan_in`` / ``fan_out`` follow PyTorch's convention: for a ``Linear`` weight
    ``[out, in]`` they are ``in`` and ``out``; for a conv kernel ``[out, in, kh, kw]``
    they are ``in*kh*kw`` and ``out*kh*kw``. A bias has the fan-in of its layer's
    weight (``fan_in``) and ``is_bias=True``.
    """

    name: str
    shape: tuple[int, ...]
    fan_in: int
    fan_out: int
    is_bias: bool

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


class TargetSpec:
    """Ordered description of the tensors a hypernetwork must generate for ``module``.

    Build it with :func:`describe`. ``split`` turns a flat vector ``[B, P]`` into the
    parameter dict ``{name: [B, *shape]}``; ``flatten`` is its inverse.
    """

    def __init__(self, params: Iterable[ParamInfo]):
        self.params: tuple[ParamInfo, ...] = tuple(require_sequence("params", params, "ParamInfo"))
        bad = [type(p).__name__ for p in self.params if not isinstance(p, ParamInfo)]
        if bad:
            raise TypeError(f"params: expected ParamInfo entries (describe(module) makes them), got {bad[0]}")
        if not self.params:
            raise ValueError("TargetSpec: expected at least one parameter to generate, got none")
        self.names: tuple[str, ...] = tuple(p.name for p in self.params)
        self.shapes: dict[str, tuple[int, ...]] = {p.name: p.shape for p in self.params}
        self.num_params: int = sum(p.numel for p in self.params)

    def __getitem__(self, name: str) -> ParamInfo:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"{name!r} is not a generated parameter; the target has {list(self.names)}")

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        rows = ", ".join(f"{p.name}: {list(p.shape)}" for p in self.params)
        return f"TargetSpec({rows}; {self.num_params} numbers)"

    def split(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``flat: [..., P]`` → ``{name: [..., *shape]}`` (views, no copy)."""
        require_tensor("flat", flat)
        if flat.shape[-1] != self.num_params:
            raise ValueError(
                f"flat: expected last dimension {self.num_params} (the target's parameter count), "
                f"got shape {tuple(flat.shape)}"
            )
        lead = flat.shape[:-1]
        chunks = torch.split(flat, [p.numel for p in self.params], dim=-1)
        return {p.name: c.reshape(*lead, *p.shape) for p, c in zip(self.params, chunks)}

    def flatten(self, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``{name: [..., *shape]}`` → ``[..., P]``, the inverse of :meth:`split`."""
        batch_shape = self.check(params)
        return torch.cat([params[p.name].reshape(*batch_shape, p.numel) for p in self.params], dim=-1)

    def check(self, params: Mapping[str, torch.Tensor]) -> tuple[int, ...]:
        """Validate a parameter dict and return its leading (batch) shape: ``()`` or ``(B,)``."""
        if not isinstance(params, Mapping):
            raise TypeError(f"params: expected a dict {{name: Tensor}}, got {type(params).__name__}")
        missing = [n for n in self.names if n not in params]
        extra = [n for n in params if n not in self.shapes]
        if missing or extra:
            raise ValueError(
                f"params: expected exactly the keys {list(self.names)}, missing {missing}, unexpected {extra}"
            )
        batch_shape: tuple[int, ...] | None = None
        for p in self.params:
            t = require_float(f"params[{p.name!r}]", params[p.name])
            n_lead = t.dim() - len(p.shape)
            if n_lead not in (0, 1) or tuple(t.shape[n_lead:]) != p.shape:
                raise ValueError(
                    f"params[{p.name!r}]: expected shape {list(p.shape)} or [B, {', '.join(map(str, p.shape))}], "
                    f"got {list(t.shape)}"
                )
            lead = tuple(t.shape[:n_lead])
            if batch_shape is None:
                batch_shape = lead
            elif lead != batch_shape:
                raise ValueError(
                    f"params[{p.name!r}]: batch shape {list(lead)} differs from the other tensors' {list(batch_shape)}"
                )
        assert batch_shape is not None
        return batch_shape


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 0:  # a scalar (a temperature, a gate): one number, nothing to fan
        return 1, 1
    if len(shape) == 1:  # a bias or a norm scale: one number per output unit
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def describe(module: nn.Module, include: Iterable[str] | None = None) -> TargetSpec:
    """Describe ``module``'s parameters (all of them, or only ``include``) for a hypernetwork.

    Parameters left out stay ordinary, shared parameters of ``module``: ``functional_forward``
    uses the module's own tensors for them (this is how a hypernetwork generates only one
    layer of a CNN, or only an adapter). Scalars (0-d parameters) and vectors are described
    like biases (generated directly, starting at zero under hyperfan init).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    named = dict(module.named_parameters())
    if include is None:
        chosen = list(named)
    else:
        if isinstance(include, str):
            raise TypeError(
                f"include: expected a list of parameter names, got the string {include!r}; write [{include!r}]"
            )
        chosen = list(include)
        unknown = [n for n in chosen if n not in named]
        if unknown:
            raise ValueError(f"include: {unknown} are not parameters of the module; it has {list(named)}")
        repeated = sorted({n for n in chosen if chosen.count(n) > 1})
        if repeated:
            raise ValueError(f"include: {repeated} listed more than once; each parameter is generated once")
    if not chosen:
        raise ValueError("module: has no parameters to generate (include= chose none, or the module has none)")
    infos = []
    for name in chosen:
        shape = tuple(named[name].shape)
        if named[name].numel() == 0:
            raise ValueError(
                f"module: parameter {name!r} has shape {list(shape)}, no numbers to generate; "
                f"leave it out with include=[...] or give the layer a non-zero size"
            )
        is_bias = len(shape) <= 1
        if not shape:
            fan_in = fan_out = 1
        elif is_bias:
            # A bias's fan-in is its layer's: look up the sibling weight.
            sibling = name.rsplit(".", 1)[0] + ".weight" if "." in name else "weight"
            fan_in = (
                _fans(tuple(named[sibling].shape))[0] if sibling in named and named[sibling].dim() > 1 else shape[0]
            )
            fan_out = shape[0]
        else:
            fan_in, fan_out = _fans(shape)
        infos.append(ParamInfo(name, shape, fan_in, fan_out, is_bias))
    return TargetSpec(infos)


def functional_forward(module: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run ``module`` with the given parameters instead of its own.

    Batched: ``params[name]: [B, *shape]`` and ``x: [B, N, ...]`` → ``[B, N, ...]``, task ``b``
    uses ``params[·][b]`` on ``x[b]`` (one vectorised call, no Python loop over tasks).
    Unbatched: ``params[name]: [*shape]`` and ``x: [N, ...]`` → ``[N, ...]``.
    Parameters of ``module`` that are not in ``params`` are used as they are (shared by all tasks).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
    spec = _spec_of(module, params)
    batch_shape = spec.check(params)
    require_float("x", x)
    devices = {t.device for t in params.values()}
    if len(devices) > 1 or x.device not in devices:
        where = ", ".join(sorted({f"{n} on {t.device}" for n, t in params.items()})[:3])
        raise ValueError(
            f"x: on {x.device}, the parameters {where}: put them on one device (x.to(device), "
            f"{{k: v.to(device) for k, v in params.items()}})"
        )
    own = next((p for n, p in module.named_parameters() if n not in params), None)
    if own is not None and own.device != x.device:
        raise ValueError(
            f"module: its own (not generated) parameters are on {own.device}, x on {x.device}; call module.to({str(x.device)!r})"
        )
    if not batch_shape:
        return functional_call(module, dict(params), (x,), strict=False)
    (n_tasks,) = batch_shape
    if x.dim() < 2 or x.shape[0] != n_tasks:
        raise ValueError(
            f"x: expected shape [B={n_tasks}, N, ...] to match the {n_tasks} parameter sets, got {list(x.shape)}"
        )

    def one_task(p: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(module, p, (xb,), strict=False)

    return vmap(one_task)(dict(params), x)


def _spec_of(module: nn.Module, params: Mapping[str, torch.Tensor]) -> TargetSpec:
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a dict {{name: Tensor}}, got {type(params).__name__}")
    named = dict(module.named_parameters())
    unknown = [n for n in params if n not in named]
    if unknown:
        raise ValueError(f"params: {unknown} are not parameters of the module; it has {list(named)}")
    return describe(module, include=list(params))

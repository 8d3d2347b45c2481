"""Implicit neural representations (INRs): an image as a function ``(x, y) → intensity``.

A generative hypernetwork maps a latent code ``z`` to the weights of a small coordinate MLP,
so every generated network *is* an image that can be drawn at any resolution (lecture 09).
This module holds the pieces that are not specific to one notebook:

- :func:`coordinate_grid`: pixel-centre coordinates in ``[-1, 1]²``, any resolution;
- :class:`FourierFeatures` and :func:`make_inr`: the target coordinate MLP (its only
  parameters are those of its ``Linear`` layers, so ``describe(inr)`` lists exactly what a
  hypernetwork must generate);
- :func:`image_samples` / :func:`render`: images ↔ (coordinates, values) and back;
- :func:`block_means`: the forward model of the bundled digits (each 8x8 pixel is the fraction
  of "on" pixels in a 4x4 block of a 32x32 bitmap), applied to a fine rendering;
- :class:`HyperINRAutoencoder` and :class:`PixelAutoencoder`: encoder + hypernetwork + INR,
  and the plain autoencoder it is compared against;
- :func:`fit_codes`: the auto-decoder's inference, a code found by gradient descent for
  any subset of an image's pixels (DeepSDF, Park et al. 2019).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import require_dims, require_float, require_positive_int, require_sequence
from ..hypernets import HyperNetwork, check_embedding
from ..target import describe, functional_forward
from ..train import fit, optimizer_step


def _require_finite(name: str, value: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(value).all():
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or inf entries; clean or mask them first")
    return value


def _require_rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _require_weight(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


def coordinate_grid(
    height: int,
    width: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Pixel-centre coordinates of an ``height × width`` image: ``[H*W, 2]`` as ``(x, y)``.

    ``x`` runs along a row (columns), ``y`` down the image (rows), both in ``(-1, 1)``:
    pixel ``(r, c)`` sits at ``x = (2c + 1)/W - 1``, ``y = (2r + 1)/H - 1``. Rows come in
    row-major order, so ``values.reshape(H, W)`` is the image. Grids of any resolution
    cover the same square, which is what lets an INR fitted at 8x8 be drawn at 64x64.
    """
    height = require_positive_int("height", height)
    width = height if width is None else require_positive_int("width", width)
    ys = (torch.arange(height, dtype=dtype, device=device) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=dtype, device=device) * 2 + 1) / width - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([xx, yy], dim=-1).reshape(-1, 2)


class FourierFeatures(nn.Module):
    """Fixed sinusoidal encoding of coordinates: NeRF's positional encoding (Mildenhall et al. 2020, §5.1).

    ``c: [..., d] → [..., d + 2·d·n]``: the raw coordinates followed by ``sin`` and ``cos`` of
    ``π·2^k·c`` for ``k = 0..n-1`` (Tancik et al. 2020 analyse why such features help and prefer
    random Gaussian frequencies; these are NeRF's fixed powers of two). Without it a small ReLU MLP of ``(x, y)`` can only draw
    blurry blobs (the spectral bias of MLPs); with it, the highest frequency ``π·2^(n-1)``
    sets the finest detail. The frequencies are a buffer, not a parameter: nothing to
    generate, and ``describe`` does not list it.
    """

    def __init__(self, n_frequencies: int, in_dim: int = 2):
        super().__init__()
        self.n_frequencies = require_positive_int("n_frequencies", n_frequencies)
        self.in_dim = require_positive_int("in_dim", in_dim)
        self.register_buffer("frequencies", math.pi * 2.0 ** torch.arange(n_frequencies, dtype=torch.float32))

    @property
    def out_dim(self) -> int:
        return self.in_dim * (1 + 2 * self.n_frequencies)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        require_float("coords", coords)
        if coords.dim() < 1 or coords.shape[-1] != self.in_dim:
            raise ValueError(f"coords: expected last dimension {self.in_dim}, got shape {list(coords.shape)}")
        angles = (coords[..., :, None] * self.frequencies.to(coords)).flatten(-2)  # [..., d·n]
        return torch.cat([coords, torch.sin(angles), torch.cos(angles)], dim=-1)


def make_inr(
    hidden: Sequence[int] = (16, 16),
    n_frequencies: int = 3,
    activation: Callable[[], nn.Module] = nn.SiLU,
    in_dim: int = 2,
    out_dim: int = 1,
    sigmoid_output: bool = False,
) -> nn.Sequential:
    """The target network: ``FourierFeatures → Linear → act → … → Linear(out_dim) [→ Sigmoid]``.

    ``coords: [..., in_dim] → [..., out_dim]``. The default (two hidden layers of 16) has 529
    parameters: an image described by 529 numbers, all of which a hypernetwork generates.
    ``sigmoid_output`` keeps intensities in (0, 1), e.g. the ink of a binary bitmap; it adds no parameter.
    """
    if not isinstance(sigmoid_output, bool):
        raise TypeError(f"sigmoid_output: expected True or False, got {sigmoid_output!r}")
    widths = [require_positive_int("hidden", h) for h in require_sequence("hidden", hidden, "layer widths")]
    features = FourierFeatures(n_frequencies, in_dim)
    layers: list[nn.Module] = [features]
    w_in = features.out_dim
    for w in widths:
        layers += [nn.Linear(w_in, w), activation()]
        w_in = w
    layers.append(nn.Linear(w_in, require_positive_int("out_dim", out_dim)))
    if sigmoid_output:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


def image_samples(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as INR training data: ``[B, 1, H, W]`` or ``[B, H, W]`` → ``(coords [H*W, 2], values [B, H*W, 1])``.

    All images share one coordinate grid; ``values[b]`` lists image ``b``'s pixels in the grid's order.
    """
    require_float("images", images)
    require_dims("images", images, (3, 4), "[B, H, W] or [B, 1, H, W]")
    _require_finite("images", images)
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images: expected one channel [B, 1, H, W], got shape {list(images.shape)}")
        images = images[:, 0]
    n, height, width = images.shape
    coords = coordinate_grid(height, width, device=images.device, dtype=images.dtype)
    return coords, images.reshape(n, height * width, 1)


def render(inr: nn.Module, params: dict[str, torch.Tensor], height: int, width: int | None = None) -> torch.Tensor:
    """Draw INRs on a ``height × width`` grid: ``params[name]: [B, *shape]`` → images ``[B, H, W]``.

    Task ``b`` is the image drawn by ``inr`` with parameters ``params[·][b]``; all ``B`` are
    evaluated in one batched call (:func:`hypernet_lib.functional_forward`).
    """
    if not isinstance(params, dict):
        raise TypeError(f"params: expected a dict {{name: Tensor[B, *shape]}}, got {type(params).__name__}")
    height = require_positive_int("height", height)
    width = height if width is None else require_positive_int("width", width)
    first = next(iter(params.values()), None)
    if first is None:
        raise ValueError("params: expected at least one generated tensor, got an empty dict")
    spec = describe(inr, include=list(params))
    batch_shape = spec.check(params)
    if batch_shape == ():
        raise ValueError(
            f"params: expected batched tensors [B, *shape], got unbatched ones, e.g. {list(first.shape)}; add a leading dim"
        )
    coords = coordinate_grid(height, width, device=first.device, dtype=first.dtype)
    out = functional_forward(inr, params, coords.expand(batch_shape[0], -1, -1))
    return out[..., 0].reshape(batch_shape[0], coords.shape[0] // width, width)


def block_means(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Average non-overlapping ``factor × factor`` blocks: ``[B, H·f, W·f]`` or ``[B, 1, H·f, W·f]`` → ``[B, 1, H, W]``.

    This is how the bundled digits were made (scikit-learn's description of the data: 32x32 binary
    bitmaps, "on" pixels counted in 4x4 blocks, counts 0-16; we divide by 16): pixel ``(r, c)`` of a digit
    is the mean of the 32x32 bitmap over its block, not a sample at the pixel's centre. A fine rendering
    passed through ``block_means(·, 4)`` is therefore directly comparable with the data (lecture 09).
    """
    require_float("images", images)
    require_dims("images", images, (3, 4), "[B, H, W] or [B, 1, H, W]")
    factor = require_positive_int("factor", factor)
    if images.dim() == 4:
        if images.shape[1] != 1:
            raise ValueError(f"images: expected one channel [B, 1, H, W], got shape {list(images.shape)}")
    else:
        images = images[:, None]
    if images.shape[-2] % factor or images.shape[-1] % factor:
        raise ValueError(
            f"images: expected height and width divisible by factor={factor}, got {list(images.shape[-2:])}"
        )
    return F.avg_pool2d(images, factor)


def _encoder(in_dim: int, hidden: int, z_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, z_dim))


class HyperINRAutoencoder(nn.Module):
    """Encoder → code ``z`` → hypernetwork → weights of an INR → image at any resolution.

    Args:
        image_size: side of the square training images (8 for the bundled digits).
        z_dim: size of the latent code.
        encoder_hidden: width of the encoder's one hidden layer (``H*W → hidden → z_dim``).
        hnet_hidden: widths of the hypernetwork's trunk.
        inr_hidden, n_frequencies: the target INR (:func:`make_inr`).
        supersample: how the INR is compared with a training pixel. Each pixel is the mean of the INR
            over its area, estimated on a ``supersample × supersample`` grid of points inside it
            (:func:`block_means` of a rendering at ``image_size · supersample``). 4 is the bundled
            digits' own forward model (4x4 blocks of a 32x32 bitmap); 1 compares the INR's value at
            the pixel centre only.
        sigmoid_output: end the INR with a sigmoid, so the fine rendering is an ink density in (0, 1).

    ``encode(images [B, 1, H, W]) → z [B, z_dim]``; ``weights(z) → {name: [B, *shape]}``;
    ``render(z, size) → [B, size, size]`` (the INR itself, any resolution); ``decode(z) → [B, 1, H, W]``
    (the rendering at ``image_size · supersample``, block-averaged); ``forward(images) → decode(encode(images))``.
    """

    def __init__(
        self,
        image_size: int = 8,
        z_dim: int = 8,
        encoder_hidden: int = 64,
        hnet_hidden: Sequence[int] = (32,),
        inr_hidden: Sequence[int] = (16, 16),
        n_frequencies: int = 3,
        supersample: int = 4,
        sigmoid_output: bool = True,
    ):
        super().__init__()
        self.image_size = require_positive_int("image_size", image_size)
        self.z_dim = require_positive_int("z_dim", z_dim)
        self.supersample = require_positive_int("supersample", supersample)
        self.encoder = _encoder(image_size**2, require_positive_int("encoder_hidden", encoder_hidden), z_dim)
        self.inr = make_inr(inr_hidden, n_frequencies, sigmoid_output=sigmoid_output)
        # The INR's parameters are placeholders that are never trained: the hypernetwork
        # generates every one of them (describe lists them all).
        self.inr.requires_grad_(False)
        self.hnet = HyperNetwork(describe(self.inr), z_dim, hidden=hnet_hidden, init="hyperfan_in", gain=1.0)

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(_flatten_images(images, self.image_size))

    def weights(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        check_embedding(z, self.z_dim)
        return self.hnet(z if z.dim() == 2 else z[None])

    def render(self, z: torch.Tensor, size: int | None = None) -> torch.Tensor:
        """``z: [B, z_dim] → [B, size, size]`` (``size`` defaults to the training resolution)."""
        return render(self.inr, self.weights(z), size or self.image_size)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``z: [B, z_dim] → [B, 1, H, W]``: each pixel the INR's mean over its area (see ``supersample``)."""
        s = self.supersample
        return block_means(self.render(z, self.image_size * s), s)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


class PixelAutoencoder(nn.Module):
    """The baseline: the same encoder, and an MLP decoder ``z → hidden → H*W`` pixels [→ sigmoid].

    It can only ever output ``H × W`` pixels; its decoder width is chosen so that its
    parameter count matches the hypernetwork decoder it is compared with.
    """

    def __init__(
        self,
        image_size: int = 8,
        z_dim: int = 8,
        encoder_hidden: int = 64,
        decoder_hidden: int = 128,
        sigmoid_output: bool = True,
    ):
        super().__init__()
        if not isinstance(sigmoid_output, bool):
            raise TypeError(f"sigmoid_output: expected True or False, got {sigmoid_output!r}")
        self.image_size = require_positive_int("image_size", image_size)
        self.z_dim = require_positive_int("z_dim", z_dim)
        self.encoder = _encoder(image_size**2, require_positive_int("encoder_hidden", encoder_hidden), z_dim)
        hidden = require_positive_int("decoder_hidden", decoder_hidden)
        self.decoder = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, image_size**2))
        if sigmoid_output:
            self.decoder.append(nn.Sigmoid())

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(_flatten_images(images, self.image_size))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        check_embedding(z, self.z_dim)
        z = z if z.dim() == 2 else z[None]
        return self.decoder(z).reshape(-1, 1, self.image_size, self.image_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


def _flatten_images(images: torch.Tensor, size: int) -> torch.Tensor:
    require_float("images", images)
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, size, size):
        raise ValueError(f"images: expected shape [B, 1, {size}, {size}], got {list(images.shape)}")
    return _require_finite("images", images).flatten(1)


def fit_autoencoder(
    model: nn.Module,
    images: torch.Tensor,
    n_steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    code_weight: float = 1e-4,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train an autoencoder (``encode``/``decode``) by pixel MSE on random mini-batches; return the losses.

    The loss adds ``code_weight·|z|²``, a weak prior that keeps the codes near the origin so
    that a Gaussian fitted to them is a usable sampler. The learning rate follows a cosine
    decay to zero, so a short and a long run both end settled. Batches are drawn on the CPU
    with ``generator`` (same batches on any device).
    """
    if not (hasattr(model, "encode") and hasattr(model, "decode")):
        raise TypeError(f"model: expected an autoencoder with encode and decode, got {type(model).__name__}")
    require_float("images", images)
    require_dims("images", images, (4,), "[N, 1, H, W]")
    if images.shape[0] == 0:
        raise ValueError("images: expected at least one training image, got an empty batch [0, ...]")
    _require_finite("images", images)
    n_steps = require_positive_int("n_steps", n_steps)
    batch_size = require_positive_int("batch_size", batch_size)
    lr = _require_rate("lr", lr)
    code_weight = _require_weight("code_weight", code_weight)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps)

    def step(_: int) -> torch.Tensor:
        idx = torch.randint(images.shape[0], (batch_size,), generator=generator).to(images.device)
        x = images[idx]
        z = model.encode(x)
        loss = (model.decode(z) - x).pow(2).mean() + code_weight * z.pow(2).sum(1).mean()
        return optimizer_step(opt, loss, sched)

    return fit(step, n_steps, desc=f"training {type(model).__name__}", log_every=10, progress=progress)


@torch.no_grad()
def per_image_mse(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Reconstruction error of each image: ``[N, 1, H, W] → [N]`` (mean over its pixels)."""
    require_float("images", images)
    require_dims("images", images, (4,), "[N, 1, H, W]")
    _require_finite("images", images)
    return (model(images) - images).pow(2).flatten(1).mean(1)


def fit_codes(
    decode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    z_dim: int,
    mask: torch.Tensor | None = None,
    n_steps: int = 200,
    lr: float = 0.05,
    prior_weight: float = 1e-3,
    init: torch.Tensor | None = None,
) -> torch.Tensor:
    """Auto-decoder inference: the codes whose decoded images best match ``images`` where ``mask`` is set.

    Minimises ``Σ mask·(decode(z) - images)² / Σ mask + prior_weight·|z|²`` over ``z`` only
    (``decode``'s own parameters are left untouched) with Adam, for all images at once.

    Args:
        decode: ``z: [B, z_dim] → [B, 1, H, W]``, e.g. ``model.decode``.
        images: ``[B, 1, H, W]`` targets.
        mask: ``[B, 1, H, W]`` or ``[1, 1, H, W]`` of 0/1 (which pixels are observed); all if ``None``.
            Every image needs at least one observed pixel (with none, only the prior would shape its code).
        init: ``[B, z_dim]`` starting codes (zeros if ``None``).

    Returns: ``z: [B, z_dim]``, detached.
    """
    if not callable(decode):
        raise TypeError(f"decode: expected a callable z -> images, got {type(decode).__name__}")
    require_float("images", images)
    require_dims("images", images, (4,), "[B, 1, H, W]")
    if images.shape[0] == 0:
        raise ValueError("images: expected at least one image, got an empty batch [0, ...]")
    z_dim = require_positive_int("z_dim", z_dim)
    n_steps = require_positive_int("n_steps", n_steps)
    lr = _require_rate("lr", lr)
    prior_weight = _require_weight("prior_weight", prior_weight)
    if mask is None:
        mask = torch.ones_like(images)
    require_float("mask", mask)
    if mask.dim() != 4 or mask.shape[1:] != images.shape[1:] or mask.shape[0] not in (1, images.shape[0]):
        raise ValueError(
            f"mask: expected shape [B or 1, {', '.join(map(str, images.shape[1:]))}], got {list(mask.shape)}"
        )
    if not ((mask == 0) | (mask == 1)).all():
        raise ValueError(
            "mask: expected 0 (hidden) or 1 (observed) in every entry, got other values; "
            "threshold it, e.g. (mask > 0.5).float()"
        )
    mask = mask.expand_as(images)
    empty = (mask.flatten(1).sum(1) == 0).nonzero()[:, 0].tolist()
    if empty:
        raise ValueError(
            f"mask: expected at least one observed pixel per image, got none for image(s) {empty[:5]}; "
            "leave those images out"
        )
    # NaN is allowed where a pixel is hidden (a natural way to mark it), never where it is observed.
    _require_finite("images (observed pixels)", images[mask.bool()])
    images = torch.where(mask.bool(), images, torch.zeros_like(images))
    if init is None:
        z = torch.zeros(images.shape[0], z_dim, device=images.device, dtype=images.dtype)
    else:
        require_float("init", init)
        if tuple(init.shape) != (images.shape[0], z_dim):
            raise ValueError(f"init: expected shape [{images.shape[0]}, {z_dim}], got {list(init.shape)}")
        z = _require_finite("init", init).detach().clone()
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    observed = mask.sum()
    for step in range(n_steps):
        decoded = decode(z)
        if step == 0 and (not isinstance(decoded, torch.Tensor) or decoded.shape != images.shape):
            got = list(decoded.shape) if isinstance(decoded, torch.Tensor) else type(decoded).__name__
            raise ValueError(f"decode: expected it to return images of shape {list(images.shape)}, got {got}")
        loss = ((decoded - images).pow(2) * mask).sum() / observed + prior_weight * z.pow(2).sum(1).mean()
        # Differentiate with respect to z alone: decode's parameters get no .grad and stay as they are.
        (z.grad,) = torch.autograd.grad(loss, [z])
        opt.step()
    return z.detach()

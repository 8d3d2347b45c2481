"""Weight heatmaps and slider panels that redraw one figure in place.

Two tools every lecture shares:

* :class:`WeightPanel` draws every generated tensor of a target side by side: one heatmap per
  tensor, all on one symmetric colour scale centred on zero (diverging colormap, one colourbar),
  each titled with its name and shape. Matrices keep square cells (a ``[40, 1]`` weight is a thin
  column, a ``[1, 40]`` one a thin row), biases are thin vertical strips, conv kernels
  ``[out, in, kh, kw]`` are tiled (one ``kh × kw`` tile per (out, in) pair, white gaps between
  tiles). ``update(params)`` swaps the data of the existing images (``set_data``), so nothing is
  rebuilt. ``panel.axes[name]`` is an ordinary matplotlib ``Axes``: draw on it (chunk boundaries,
  annotations).
* :class:`SliderPanel` puts a figure (the target's behaviour on the left, a ``WeightPanel`` on the
  right) next to ``ipywidgets`` sliders, a reset button and a readout of the current values.
  Every slider change calls your ``generate(values) -> params``, updates the heatmaps and your
  behaviour plot, and redraws the *same* figure (``draw_idle``); no figure is created per tick.

In a Jupyter kernel the panel's figure lives on an ``ipympl`` canvas widget (you do not need
``%matplotlib widget``; inline figures elsewhere in the notebook stay as they are). Outside a
kernel (a script, pytest, CI) it uses a plain Agg canvas, and setting ``slider.value`` from code
still runs the whole update, so tests can check the figure's data.

Example (a hypernetwork for a 1-40-40-1 target; ``z`` = two slider values)::

    import numpy as np, torch
    from torch import nn
    from hypernet_lib import HyperNetwork, describe, functional_forward
    from hypernet_lib.viz import SliderPanel

    target = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    hnet = HyperNetwork(describe(target), z_dim=2)
    xs = torch.linspace(-5, 5, 200).unsqueeze(1)

    def generate(values):                       # slider values -> {name: tensor}
        return hnet(torch.tensor([values["z0"], values["z1"]]))

    def behaviour(ax):                          # called once: make the artists ...
        (line,) = ax.plot(xs[:, 0], np.zeros(len(xs)))
        ax.set(xlim=(-5, 5), ylim=(-3, 3), xlabel="x", ylabel="f(x)")

        def update(params, values):             # ... called on every change: move them
            line.set_ydata(functional_forward(target, params, xs)[:, 0])
            return (line,)                      # the artists it changed (None: redraw everything)

        return update

    panel = SliderPanel({"z0": (-2, 2, 0.0), "z1": (-2, 2, 0.5)}, generate, behaviour)
    panel                                       # in a notebook: figure + sliders + reset + readout
    panel.sliders["z0"].value = 1.0             # from code: regenerates and redraws in place
    panel.set(z0=-1.0, z1=0.0)                  # several sliders, one redraw
    panel.reset()

For sliders directly on the coordinates of an embedding, :func:`embedding_sliders` builds the
``sliders`` and ``generate`` arguments from a hypernetwork and a starting ``z``.
"""

from __future__ import annotations

import math
import sys
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import matplotlib
import numpy as np
import torch
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec
from matplotlib.image import AxesImage

from .target import Params

# The panels made at each code location, with the cell run that made them: [(weakref, run), ...]
_LIVE_PANELS: dict[tuple[str, int], list[tuple[weakref.ref, Any]]] = {}
Behaviour = Callable[[Axes], Callable[[Params, dict[str, float]], "Sequence[Artist] | None"]]

__all__ = ["SliderPanel", "WeightPanel", "embedding_sliders", "new_figure", "weight_image"]

# Layout constants, in inches: room for the two-line titles, gaps between heatmaps, the colourbar.
_TITLE_IN = 0.42
_GAP_IN = 0.12
_MIN_SLOT_IN = 0.55
_MIN_STRIP_IN = 0.22  # a bias ([n] → one column) or a one-row matrix is drawn at least this thick
_CBAR_IN = 0.12
_CBAR_PAD_IN = 0.12
_CBAR_LABELS_IN = 0.55


# ---------------------------------------------------------------------------------------------
# Tensors to images
# ---------------------------------------------------------------------------------------------


def _to_numpy(name: str, value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(f"params[{name!r}]: expected a floating-point tensor, got dtype {value.dtype}")
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating):
            raise TypeError(f"params[{name!r}]: expected a floating-point array, got dtype {value.dtype}")
        return value.astype(np.float64, copy=False)
    raise TypeError(f"params[{name!r}]: expected a torch.Tensor or numpy array, got {type(value).__name__}")


def weight_image(name: str, value: torch.Tensor | np.ndarray) -> np.ndarray:
    """The 2-d image a :class:`WeightPanel` shows for one tensor.

    ``[n]`` (a bias) → ``[n, 1]`` column; ``[out, in]`` → itself; ``[out, in, k]`` (conv1d) and
    ``[out, in, kh, kw]`` (conv2d) → tiles, one ``kh × kw`` tile per (out, in) pair, with a row and
    a column of NaN (drawn white) between tiles: ``[out·(kh+1) − 1, in·(kw+1) − 1]``.
    """
    a = _to_numpy(name, value)
    if a.ndim == 1:
        return a[:, None]
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        a = a[:, :, None, :]
    if a.ndim != 4:
        raise ValueError(
            f"params[{name!r}]: expected 1 to 4 dimensions (bias, matrix, conv kernel) of ONE parameter set, "
            f"got shape {list(a.shape)}; pass params[name][b] to show task b of a batch"
        )
    n_out, n_in, kh, kw = a.shape
    tiled = np.full((n_out * (kh + 1) - 1, n_in * (kw + 1) - 1), np.nan)
    for o in range(n_out):
        for i in range(n_in):
            tiled[o * (kh + 1) : o * (kh + 1) + kh, i * (kw + 1) : i * (kw + 1) + kw] = a[o, i]
    return tiled


def _images(params: Params) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a dict {{name: tensor}}, got {type(params).__name__}")
    if not params:
        raise ValueError("params: expected at least one tensor to show, got an empty dict")
    return {str(k): weight_image(str(k), v) for k, v in params.items()}


def _abs_max(images: Mapping[str, np.ndarray]) -> float:
    m = max(float(np.nanmax(np.abs(im))) if np.isfinite(im).any() else 0.0 for im in images.values())
    return m if m > 0 else 1.0  # all zeros: any symmetric scale shows them as white


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


MAX_CANVAS_PX = 960
MAX_PANEL_CELLS = 2_000_000  # more heatmap cells than a screen has pixels to show them  # widest ipympl canvas, in CSS pixels (see new_figure)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _import_ipympl() -> bool:
    """Import ipympl if it is installed, leaving pyplot's backend as it was.

    ipympl's first import calls ``matplotlib.use("module://ipympl.backend_nbagg")``: every later ``plt``
    figure in the notebook would become a widget (a static reader then sees only its fallback picture), and
    switching back afterwards leaves IPython's inline hooks half undone. Panels use ipympl's canvas
    explicitly, so that one call is suppressed while ipympl is imported.
    """
    use = matplotlib.use
    matplotlib.use = lambda *args, **kwargs: None
    try:
        import ipympl  # noqa: F401
    except ImportError:
        return False
    finally:
        matplotlib.use = use
    return True


def new_figure(figsize: tuple[float, float], canvas: Literal["auto", "ipympl", "agg"] = "auto") -> Figure:
    """A figure on its own canvas, not registered with pyplot (nothing shows it behind your back).

    ``"ipympl"``: an ipympl canvas widget, redrawn in place in the browser; ``"agg"``: an off-screen
    Agg canvas (scripts, tests); ``"auto"``: ipympl inside a Jupyter kernel when it is installed, else Agg.
    """
    if canvas not in ("auto", "ipympl", "agg"):
        raise ValueError(f"canvas: expected 'auto', 'ipympl' or 'agg', got {canvas!r}")
    if (
        not isinstance(figsize, Sequence)
        or len(figsize) != 2
        or not all(isinstance(s, (int, float)) and s > 0 for s in figsize)
    ):
        raise ValueError(f"figsize: expected (width, height) in inches, both > 0, got {figsize!r}")
    use_ipympl = canvas == "ipympl"
    if canvas == "auto" and _in_kernel():
        use_ipympl = _import_ipympl()
    width, height = (float(s) for s in figsize)
    dpi = float(matplotlib.rcParams["figure.dpi"])
    if use_ipympl:
        # A canvas wider than JupyterLab's notebook column (about 1000 px on a 1440 px laptop screen
        # with the file browser open) is clipped on the right. Lower the resolution instead of the
        # layout, so every panel keeps its proportions and fits.
        dpi = min(dpi, MAX_CANVAS_PX / width)
    fig = Figure(figsize=(width, height), dpi=dpi)
    if use_ipympl:
        from ipympl.backend_nbagg import Canvas, FigureManager

        manager = FigureManager(Canvas(fig), 0)
        manager.canvas.header_visible = False  # no "Figure 0" title bar
        manager.canvas.resizable = False
        # The pan/zoom toolbar fades in over the left axes whenever the mouse is on the figure,
        # hiding its axis label; a slider panel is driven by its sliders, not by panning.
        manager.canvas.toolbar_visible = False
        # ipympl 0.10 mirrors every frame drawn before a browser view exists into ``_data_url``
        # as bare base64 (no ``data:image/png;base64,`` prefix). The view then fails to decode it
        # ("Error setting state: ... HTMLImageElement ... broken") and never sizes its canvas: the
        # figure stays 0 x 0 pixels. Without the mirror the view asks for a fresh frame once it is
        # attached, which is what happens anyway after the first redraw.
        manager.canvas.syncing_data_url = False
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig)
    return fig


class WeightPanel:
    """Heatmaps of every tensor in ``params``, side by side, one symmetric colour scale.

    Args:
        params: ``{name: tensor}`` of ONE parameter set (``[n]``, ``[out, in]``, ``[out, in, kh, kw]``),
            e.g. ``hnet(z)`` for a single ``z: [d_z]``. Any float tensors work: low-rank factors,
            samples, chunks. Their shapes are fixed from here on.
        fig: draw into this figure; ``None`` makes a pyplot figure of ``figsize`` (shown inline at
            the end of a notebook cell like any other).
        spec: the part of ``fig`` to fill (a ``SubplotSpec``, e.g. ``gs[0, 1]``); ``None``: all of it.
        vmax: colour limit (the scale is ``[-vmax, vmax]``); ``None``: the largest ``|value|`` now.
            It stays fixed on ``update`` (so you see values grow), unless ``update(..., rescale=True)``.
        cmap: a diverging matplotlib colormap name.
        title: optional line above the panel.
        per_tensor: one symmetric scale per tensor (``[-m_k, m_k]`` with ``m_k`` its largest ``|value|``
            now, shown in its title) instead of one for all: for tensors whose scales differ ~10x (a
            first layer with fan-in 1 next to one with fan-in 40), which one shared scale leaves pale.

    Attributes: ``fig``, ``axes`` and ``images`` (dicts by name), ``norm`` (shared by all images; with
    ``per_tensor`` the unit scale of the colourbar), ``norms`` (by name), ``colorbar``.
    """

    def __init__(
        self,
        params: Params,
        fig: Figure | None = None,
        spec: SubplotSpec | None = None,
        vmax: float | None = None,
        cmap: str = "RdBu_r",
        title: str | None = None,
        figsize: tuple[float, float] = (9.0, 2.6),
        per_tensor: bool = False,
    ):
        images = _images(params)
        cells = sum(im.size for im in images.values())
        if cells > MAX_PANEL_CELLS:
            big = max(images, key=lambda k: images[k].size)
            raise ValueError(
                f"params: {cells:,} heatmap cells to draw (largest: {big!r}, {list(images[big].shape)}), above "
                f"{MAX_PANEL_CELLS:,}: too many to read or to redraw on a slider move; show a slice such as "
                f"{{{big!r}: params[{big!r}][:32]}}"
            )
        if not isinstance(per_tensor, bool):
            raise TypeError(f"per_tensor: expected True or False, got {per_tensor!r}")
        if per_tensor and vmax is not None:
            raise ValueError("vmax: a per-tensor panel scales each tensor itself; pass vmax=None with per_tensor=True")
        if fig is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=figsize)
        if not isinstance(fig, Figure):
            raise TypeError(f"fig: expected a matplotlib Figure or None, got {type(fig).__name__}")
        if spec is not None and not isinstance(spec, SubplotSpec):
            raise TypeError(
                f"spec: expected a matplotlib SubplotSpec (e.g. gs[0, 1]) or None, got {type(spec).__name__}"
            )
        if vmax is not None and not (isinstance(vmax, (int, float)) and math.isfinite(vmax) and vmax > 0):
            raise ValueError(f"vmax: expected a positive finite number or None, got {vmax!r}")
        self.fig = fig
        self.shapes = {k: tuple(np.shape(_to_numpy(k, v))) for k, v in params.items()}
        self.per_tensor = per_tensor
        limit = 1.0 if per_tensor else (float(vmax) if vmax is not None else _abs_max(images))
        self.norm = Normalize(-limit, limit)
        self.norms = {
            k: Normalize(-(m := _abs_max({k: im})), m) if per_tensor else self.norm for k, im in images.items()
        }
        cm = matplotlib.colormaps[cmap].with_extremes(bad="white")
        self.axes: dict[str, Axes] = {}
        self.images: dict[str, AxesImage] = {}
        rects, cbar_rect = self._layout(images, spec, title is not None)
        for name, im in images.items():
            ax = fig.add_axes(rects[name])
            self.images[name] = ax.imshow(im, cmap=cm, norm=self.norms[name], aspect="auto", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            scale = f" ±{self.norms[name].vmax:.2g}" if per_tensor else ""
            ax.set_title(f"{name}\n{list(self.shapes[name])}{scale}", fontsize=8, pad=3)
            self.axes[name] = ax
        cax = fig.add_axes(cbar_rect)
        mappable = (
            matplotlib.cm.ScalarMappable(norm=self.norm, cmap=cm) if per_tensor else self.images[next(iter(images))]
        )
        self.colorbar = fig.colorbar(mappable, cax=cax)
        self.colorbar.ax.tick_params(labelsize=8)
        self.colorbar.set_label("value ÷ tensor's scale" if per_tensor else "value", fontsize=8)
        if title is not None:
            x0, _, x1, y1 = self._area
            fig.text((x0 + x1) / 2, y1, title, ha="center", va="top", fontsize=10)

    @property
    def vmax(self) -> float:
        return float(self.norm.vmax)

    def _layout(
        self, images: Mapping[str, np.ndarray], spec: SubplotSpec | None, has_title: bool
    ) -> tuple[dict[str, list[float]], list[float]]:
        """Axes rectangles (figure fractions): square cells of one size, tops aligned, in one row."""
        fw, fh = self.fig.get_size_inches()
        if spec is None:
            box = (0.02, 0.04, 0.98, 0.96)
        else:
            b = spec.get_position(self.fig)
            box = (b.x0, b.y0, b.x1, b.y1)
        self._area = box
        width_in = (box[2] - box[0]) * fw - _CBAR_PAD_IN - _CBAR_IN - _CBAR_LABELS_IN
        height_in = (box[3] - box[1]) * fh - _TITLE_IN - (0.25 if has_title else 0.0)
        n = len(images)
        rows = [im.shape[0] for im in images.values()]
        cols = [im.shape[1] for im in images.values()]
        min_slot = min(_MIN_SLOT_IN, max(width_in - _GAP_IN * (n - 1), 0.1) / n * 0.95)

        def total_width(cell: float) -> float:
            return sum(max(c * cell, min_slot) for c in cols) + _GAP_IN * (n - 1)

        # The largest cell size that fits: height bounds it directly, width by bisection.
        hi = height_in / max(rows)
        lo = 0.0
        if total_width(hi) > width_in:
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if total_width(mid) <= width_in else (lo, mid)
            cell = lo
        else:
            cell = hi
        if cell <= 0 or width_in <= 0 or height_in <= 0:
            raise ValueError(
                f"WeightPanel: {n} tensors do not fit a {fw:.1f} x {fh:.1f} inch figure area; make figsize larger"
            )
        # Centre the row of heatmaps vertically; tops aligned so the titles line up.
        top_in = box[3] * fh - _TITLE_IN - (0.25 if has_title else 0.0) - (height_in - max(rows) * cell) / 2
        x_in = box[0] * fw + max(0.0, (width_in - total_width(cell)) / 2)
        rects = {}
        for name, r, c in zip(images, rows, cols):
            slot = max(c * cell, min_slot)
            # a vector or a single row would be a hairline at the scale of a large matrix
            w, h = max(c * cell, min(_MIN_STRIP_IN, slot)), max(r * cell, min(_MIN_STRIP_IN, max(rows) * cell))
            left = x_in + (slot - w) / 2
            rects[name] = [left / fw, (top_in - h) / fh, w / fw, h / fh]
            x_in += slot + _GAP_IN
        cbar_h = max(rows) * cell
        cbar_left = x_in - _GAP_IN + _CBAR_PAD_IN
        cbar_rect = [cbar_left / fw, (top_in - cbar_h) / fh, _CBAR_IN / fw, cbar_h / fh]
        return rects, cbar_rect

    def update(self, params: Params, rescale: bool = False, draw: bool = True) -> None:
        """Show new values for the same names and shapes (in place: ``set_data``, then ``draw_idle``).

        ``rescale=True`` resets the shared colour limit to the new largest ``|value|``;
        ``draw=False`` leaves the redraw to the caller (a :class:`SliderPanel` redraws once per change).
        """
        if not isinstance(params, Mapping):
            raise TypeError(f"params: expected a dict {{name: tensor}}, got {type(params).__name__}")
        if set(params) != set(self.shapes):
            raise ValueError(
                f"params: expected the keys {sorted(self.shapes)} this panel was built with, got {sorted(params)}"
            )
        images = {}
        for name, value in params.items():
            shape = tuple(np.shape(_to_numpy(name, value)))
            if shape != self.shapes[name]:
                raise ValueError(f"params[{name!r}]: expected shape {list(self.shapes[name])}, got {list(shape)}")
            images[name] = weight_image(name, value)
        for name, im in images.items():
            self.images[name].set_data(im)
        if rescale and self.per_tensor:
            for name, im in images.items():
                v = _abs_max({name: im})
                self.norms[name].vmin, self.norms[name].vmax = -v, v
        elif rescale:
            v = _abs_max(images)
            self.norm.vmin, self.norm.vmax = -v, v
        if draw:
            self.fig.canvas.draw_idle()


# ---------------------------------------------------------------------------------------------
# Sliders
# ---------------------------------------------------------------------------------------------


def _slider_ranges(sliders: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, float, float, float]]:
    """Normalize ``{name: (min, max[, value[, step]])}`` to ``{name: (min, max, value, step)}``."""
    if not isinstance(sliders, Mapping):
        raise TypeError(f"sliders: expected a dict {{name: (min, max, value)}}, got {type(sliders).__name__}")
    if not sliders:
        raise ValueError("sliders: expected at least one slider, got an empty dict")
    out = {}
    for name, spec in sliders.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"sliders: expected non-empty string names, got {name!r}")
        if not isinstance(spec, Sequence) or not 2 <= len(spec) <= 4:
            raise ValueError(
                f"sliders[{name!r}]: expected (min, max), (min, max, value) or (min, max, value, step), got {spec!r}"
            )
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) for s in spec):
            raise ValueError(f"sliders[{name!r}]: expected finite numbers, got {spec!r}")
        lo, hi = float(spec[0]), float(spec[1])
        if not lo < hi:
            raise ValueError(f"sliders[{name!r}]: expected min < max, got min={lo}, max={hi}")
        value = float(spec[2]) if len(spec) > 2 else (lo + hi) / 2
        if not lo <= value <= hi:
            raise ValueError(f"sliders[{name!r}]: expected a start value in [{lo}, {hi}], got {value}")
        step = float(spec[3]) if len(spec) > 3 else (hi - lo) / 100
        if not 0 < step <= hi - lo:
            raise ValueError(f"sliders[{name!r}]: expected a step in (0, max - min], got {step}")
        out[name] = (lo, hi, value, step)
    return out


def _close_widget_tree(widget: Any) -> None:
    """Close a widget, its children and their layout and style models (each is a widget of its own)."""
    for child in getattr(widget, "children", ()):
        _close_widget_tree(child)
    for part in ("layout", "style"):
        sub = getattr(widget, part, None)
        if sub is not None and hasattr(sub, "close"):
            sub.close()
    widget.close()


def _cell_location(frame: Any) -> tuple[str, int]:
    """Where a panel is made: the notebook cell's line that (maybe through helpers) built it, else the caller's."""
    found = (frame.f_code.co_filename, frame.f_lineno)
    while frame is not None:
        name = frame.f_code.co_filename
        if "ipykernel" in name or name.startswith("<ipython"):
            found = (name, frame.f_lineno)
        frame = frame.f_back
    return found


def _cell_run() -> int | None:
    """Which cell execution is running (IPython's execution count); None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return None if shell is None else shell.execution_count


def _default_readout(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k} = {v:.2f}" for k, v in values.items())


class SliderPanel:
    """Sliders → ``generate`` → weight heatmaps and the target's behaviour, redrawn in place.

    Args:
        sliders: ``{name: (min, max[, value[, step]])}``; ``value`` defaults to the middle,
            ``step`` to 1/100 of the range. One ``FloatSlider`` per entry, in this order.
        generate: ``generate(values) -> {name: tensor}``, called with ``{name: float}`` for every change
            (under ``torch.no_grad()``); returns ONE parameter set (e.g. ``hnet(z)`` with ``z: [d_z]``).
        behaviour: optional ``behaviour(ax) -> update``: called once with the left axes to make
            its artists; the returned ``update(params, values)`` is called on every change and should
            change those artists' data (``line.set_ydata``, ``image.set_data``), not add new ones.
            Like ``FuncAnimation(blit=True)``, ``update`` returns the artists it changed: then only
            they and the heatmaps are redrawn over a cached background (fast). Return ``None`` when
            it changed more (axis limits, titles): the whole figure is redrawn (slower, always right).
        readout: ``readout(values) -> str`` for the text under the sliders (default ``a = 1.00, b = 0.50``).
        figsize, vmax, cmap, per_tensor: the figure size in inches; passed on to :class:`WeightPanel`.
        behaviour_width: the fraction of the figure's width for the behaviour axes.
        canvas: see :func:`new_figure`.
        blit: ``False`` redraws the whole figure on every change (``draw_idle``), never blitting.

    Attributes: ``fig``, ``ax`` (behaviour axes or ``None``), ``weights`` (:class:`WeightPanel`),
    ``sliders`` (``{name: FloatSlider}``), ``reset_button``, ``readout`` (an ``HTML`` widget),
    ``widget`` (the whole layout), ``params`` (the current generated tensors), ``values``,
    ``last_update_ms`` (time of the last regenerate-and-redraw).
    """

    def __init__(
        self,
        sliders: Mapping[str, Sequence[float]],
        generate: Callable[[dict[str, float]], Params],
        behaviour: Behaviour | None = None,
        readout: Callable[[dict[str, float]], str] | None = None,
        figsize: tuple[float, float] = (10.0, 3.0),
        behaviour_width: float = 0.32,
        vmax: float | None = None,
        cmap: str = "RdBu_r",
        canvas: Literal["auto", "ipympl", "agg"] = "auto",
        blit: bool = True,
        per_tensor: bool = False,
    ):
        import ipywidgets as widgets

        self._ranges = _slider_ranges(sliders)
        if not callable(generate):
            raise TypeError(f"generate: expected a callable generate(values) -> params, got {type(generate).__name__}")
        if behaviour is not None and not callable(behaviour):
            raise TypeError(
                f"behaviour: expected a callable behaviour(ax) -> update, or None, got {type(behaviour).__name__}"
            )
        if readout is not None and not callable(readout):
            raise TypeError(
                f"readout: expected a callable readout(values) -> str, or None, got {type(readout).__name__}"
            )
        if not (isinstance(behaviour_width, (int, float)) and 0 < behaviour_width < 0.9):
            raise ValueError(f"behaviour_width: expected a fraction in (0, 0.9), got {behaviour_width!r}")
        self._generate = generate
        self._format = readout or _default_readout
        self.initial = {k: r[2] for k, r in self._ranges.items()}
        self.params = self._run_generate(self.initial)

        self.fig = new_figure(figsize, canvas)
        if behaviour is None:
            self.ax = None
            self._behaviour_update = None
            spec = None
        else:
            gs = self.fig.add_gridspec(
                1,
                2,
                width_ratios=[behaviour_width, 1 - behaviour_width],
                left=0.07,
                right=0.99,
                bottom=0.16,
                top=0.97,
                wspace=0.12,
            )
            self.ax = self.fig.add_subplot(gs[0])
            self._behaviour_update = behaviour(self.ax)
            if not callable(self._behaviour_update):
                raise TypeError(
                    "behaviour: expected behaviour(ax) to return update(params, values), "
                    f"got {type(self._behaviour_update).__name__}"
                )
            spec = gs[1]
        self.weights = WeightPanel(self.params, fig=self.fig, spec=spec, vmax=vmax, cmap=cmap, per_tensor=per_tensor)

        self.sliders: dict[str, Any] = {}
        for name, (lo, hi, value, step) in self._ranges.items():
            s = widgets.FloatSlider(
                value=value,
                min=lo,
                max=hi,
                step=step,
                description=name,
                continuous_update=True,
                # a slider over whole numbers (a chunk index, K) reads "5", not "5.00"
                readout_format=".0f" if all(float(v).is_integer() for v in (lo, hi, value, step)) else ".2f",
            )
            s.observe(self._on_change, names="value")
            self.sliders[name] = s
        self.reset_button = widgets.Button(description="reset", icon="undo", tooltip="back to the start values")
        self.reset_button.on_click(self._on_reset)
        self.readout = widgets.HTML()
        self._holding = False
        self.blit = blit
        self._background: Any = None
        self._background_key: Any = None
        self.last_update_ms = float("nan")

        view: Any
        if isinstance(self.fig.canvas, widgets.DOMWidget):
            view = self.fig.canvas
        elif _in_kernel():  # a kernel without ipympl: an Output area showing a fresh PNG per change (slower)
            view = widgets.Output()
            self._png_output = view
        else:  # a script or test: the Agg canvas holds the figure; nothing to show
            view = widgets.Output()
        controls = widgets.VBox([*self.sliders.values(), self.reset_button, self.readout])
        # Side by side when the notebook column is wide enough, else the controls wrap under the
        # figure: a wide panel must never push its sliders off screen, where no mouse can reach them.
        self.widget = widgets.HBox([view, controls], layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        self._closed = False
        self._good = dict(self.initial)
        self._refresh()
        # Re-running the cell that made a panel makes a new one: close the ones it replaces, or every re-run
        # would keep another figure, its widgets and their observers alive. Panels made by the same run (two
        # from one line, or a script outside IPython, which has no runs) all stay.
        self._key = _cell_location(sys._getframe(1))
        run = _cell_run()
        kept = []
        for ref, made_by in _LIVE_PANELS.get(self._key, []):
            old = ref()
            if old is not None and run is not None and made_by != run:
                old.close()
            elif old is not None:
                kept.append((ref, made_by))
        _LIVE_PANELS[self._key] = [*kept, (weakref.ref(self), run)]

    # -- state -----------------------------------------------------------------------------

    @property
    def values(self) -> dict[str, float]:
        """The current slider values, ``{name: float}``."""
        return {k: float(s.value) for k, s in self.sliders.items()}

    def _run_generate(self, values: dict[str, float]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            params = self._generate(dict(values))
        if not isinstance(params, Mapping):
            raise TypeError(f"generate: expected it to return a dict {{name: tensor}}, got {type(params).__name__}")
        return {k: (v.detach() if isinstance(v, torch.Tensor) else v) for k, v in params.items()}

    def _on_change(self, _change: Any) -> None:
        if not self._holding:
            self._refresh()

    def _on_reset(self, _button: Any) -> None:
        self.reset()

    def _refresh(self) -> None:
        start = time.perf_counter()
        values = self.values
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:  # a slider set to NaN from code would draw NaN: keep the last good values and say why
            self._holding = True
            try:
                for k in bad:
                    self.sliders[k].value = self._good[k]
            finally:
                self._holding = False
            self.readout.value = f"<code>{', '.join(bad)}: not a number, kept {self._format(self._good)}</code>"
            return
        self._good = values
        self.params = self._run_generate(values)
        self.weights.update(self.params, draw=False)
        changed = self._behaviour_update(self.params, values) if self._behaviour_update is not None else ()
        self.readout.value = f"<code>{self._format(values)}</code>"
        if changed is None or not self.blit:
            self._background = None
            self.fig.canvas.draw_idle()
        else:
            self._blit([*self.weights.images.values(), *changed])
        if hasattr(self, "_png_output"):
            self._show_png()
        self.last_update_ms = 1000 * (time.perf_counter() - start)

    def _blit(self, artists: list[Artist]) -> None:
        """Redraw only ``artists`` over a cached picture of everything else (matplotlib's blitting).

        The background (axes, ticks, titles, colourbar: text is what makes a full draw slow) is
        rendered once, with the changing artists hidden, and again only when the canvas size or
        the set of changing artists changes. A full draw of the figure (``savefig``, the browser
        asking for a fresh frame) still draws everything: the artists always hold the current data.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = self.fig.canvas
        # A full draw puts the axes frames over the data: hide and redraw them with the data so
        # that the fast picture and a full draw agree pixel for pixel.
        axes = {id(a.axes): a.axes for a in artists if a.axes is not None}.values()
        layers = sorted(artists, key=lambda a: a.get_zorder()) + [s for ax in axes for s in ax.spines.values()]
        key = (canvas.get_width_height(), self.fig.dpi, tuple(id(a) for a in layers))
        if self._background is None or self._background_key != key:
            visible = [a.get_visible() for a in layers]
            for a in layers:
                a.set_visible(False)
            FigureCanvasAgg.draw(canvas)  # Agg's draw: render only, do not send this frame to the browser
            self._background = canvas.copy_from_bbox(self.fig.bbox)
            self._background_key = key
            for a, v in zip(layers, visible):
                a.set_visible(v)
        canvas.restore_region(self._background)
        for a in layers:
            self.fig.draw_artist(a)
        canvas.blit(self.fig.bbox)  # ipympl: send the changed pixels to the browser

    def _show_png(self) -> None:
        import io

        from IPython.display import Image, display

        buf = io.BytesIO()
        self.fig.savefig(buf, format="png", dpi=self.fig.dpi)
        with self._png_output:
            self._png_output.clear_output(wait=True)
            display(Image(buf.getvalue()))

    # -- actions ---------------------------------------------------------------------------

    def set(self, **values: float) -> None:
        """Move several sliders at once (one regenerate and one redraw): ``panel.set(amplitude=2.0)``."""
        if self._closed:
            raise RuntimeError("this panel was closed (its cell ran again?): use the new panel")
        unknown = [k for k in values if k not in self.sliders]
        if unknown:
            raise ValueError(f"set: {unknown} are not sliders of this panel; it has {list(self.sliders)}")
        for k, v in values.items():
            lo, hi = self._ranges[k][:2]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"set: {k} expected a number in [{lo}, {hi}], got {v!r}")
        self._holding = True
        try:
            for k, v in values.items():
                self.sliders[k].value = float(v)
        finally:
            self._holding = False
        self._refresh()

    def reset(self) -> None:
        """Every slider back to its start value (one redraw)."""
        self.set(**self.initial)

    def still(
        self,
        settings: Sequence[Mapping[str, float]],
        ncols: int | None = None,
        alt: str | None = None,
        width_px: int = 900,
    ) -> Any:
        """A PNG of the panel at several slider settings, as small multiples: what GitHub and the website show.

        ``settings`` is a list of ``{slider: value}`` (sliders not named keep their current value). Each
        setting is drawn with the panel's own figure and labelled with its readout; the sliders are put
        back afterwards. Works with any matplotlib backend (the figure is rendered off-screen).
        Returns an ``IPython.display.Image``: ``display(panel.still([...]))`` puts a PNG in the notebook.
        """
        import io

        import matplotlib.image as mpimg
        from IPython.display import Image

        if isinstance(settings, Mapping) or not isinstance(settings, Sequence) or not settings:
            raise ValueError(f"settings: expected a non-empty list of {{slider: value}} dicts, got {settings!r}")
        if not all(isinstance(s, Mapping) for s in settings):
            raise TypeError("settings: expected every entry to be a dict {slider: value}")
        if ncols is None:
            ncols = 1 if self.fig.get_figwidth() > 1.6 * self.fig.get_figheight() * 1.5 else 2
        if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
            raise ValueError(f"ncols: expected a positive integer, got {ncols!r}")
        before = self.values
        frames, labels = [], []
        dpi = width_px / ncols / self.fig.get_figwidth()
        try:
            for setting in settings:
                self.set(**{**before, **setting})
                buf = io.BytesIO()
                self.fig.savefig(buf, format="png", dpi=dpi)
                buf.seek(0)
                frames.append(mpimg.imread(buf, format="png"))
                labels.append(self._format(self.values))
        finally:
            self.set(**before)
        nrows = math.ceil(len(frames) / ncols)
        h_px, w_px = frames[0].shape[:2]
        label_px = 22
        sheet = Figure(figsize=(ncols * w_px / 100, nrows * (h_px + label_px) / 100), dpi=100)
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(sheet)
        cell_h = 1 / nrows
        for i, (frame, label) in enumerate(zip(frames, labels)):
            r, c = divmod(i, ncols)
            bottom = 1 - (r + 1) * cell_h
            ax = sheet.add_axes((c / ncols, bottom, 1 / ncols, cell_h * h_px / (h_px + label_px)))
            ax.imshow(frame, interpolation="nearest")
            ax.set_axis_off()
            sheet.text(
                c / ncols + 0.005, bottom + cell_h - 0.004, label, va="top", ha="left", fontsize=10, family="monospace"
            )
        out = io.BytesIO()
        sheet.savefig(out, format="png", dpi=100)
        text = alt or "Slider panel at " + "; ".join(labels)
        return Image(out.getvalue(), format="png", alt=text, metadata={"alt": text})

    def close(self) -> None:
        """Release the panel: its widgets, their observers, the figure and the generated tensors.

        Called for you when the cell that made a panel runs again. A closed panel can no longer be used.
        """
        if self._closed:
            return
        self._closed = True
        for s in self.sliders.values():
            s.unobserve(self._on_change, names="value")
        self.reset_button.on_click(self._on_reset, remove=True)
        canvas = self.fig.canvas
        _close_widget_tree(self.widget)
        if hasattr(canvas, "close"):
            canvas.close()
        self.fig.clear()
        # IPython's output history (Out[n]) may keep this object alive: keep nothing large in it.
        self.fig = self.ax = self.weights = self._behaviour_update = self._generate = self._background = None
        self.params = {}
        key = getattr(self, "_key", None)
        if key in _LIVE_PANELS:
            _LIVE_PANELS[key] = [(ref, run) for ref, run in _LIVE_PANELS[key] if ref() not in (self, None)]
            if not _LIVE_PANELS[key]:
                del _LIVE_PANELS[key]

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def embedding_sliders(
    hnet: torch.nn.Module,
    z0: torch.Tensor,
    dims: Sequence[int] | None = None,
    span: float = 2.0,
    names: Sequence[str] | None = None,
) -> tuple[dict[str, tuple[float, float, float]], Callable[[dict[str, float]], Params]]:
    """Sliders on coordinates of an embedding: returns ``(sliders, generate)`` for :class:`SliderPanel`.

    Args:
        hnet: a hypernetwork ``z: [d_z] → {name: tensor}``.
        z0: ``[d_z]``, the starting embedding; coordinates not on a slider stay at ``z0``'s values.
        dims: which coordinates get a slider (default: all of them).
        span: each slider covers ``z0[d] ± span``.
        names: slider labels (default ``z[d]``).

    Usage: ``SliderPanel(*embedding_sliders(hnet, z0), behaviour=...)``.
    """
    if not isinstance(z0, torch.Tensor) or not z0.is_floating_point() or z0.dim() != 1:
        got = f"shape {list(z0.shape)}, dtype {z0.dtype}" if isinstance(z0, torch.Tensor) else type(z0).__name__
        raise ValueError(f"z0: expected a float tensor of shape [d_z], got {got}")
    dims = list(range(z0.numel())) if dims is None else list(dims)
    if not dims or any(not isinstance(d, int) or not 0 <= d < z0.numel() for d in dims):
        raise ValueError(f"dims: expected coordinates in [0, {z0.numel()}), got {dims}")
    if not (isinstance(span, (int, float)) and span > 0):
        raise ValueError(f"span: expected a positive number, got {span!r}")
    names = [f"z[{d}]" for d in dims] if names is None else list(names)
    if len(names) != len(dims):
        raise ValueError(f"names: expected {len(dims)} names (one per slider), got {len(names)}")
    base = z0.detach().clone()
    sliders = {n: (float(base[d]) - span, float(base[d]) + span, float(base[d])) for n, d in zip(names, dims)}

    def generate(values: dict[str, float]) -> Params:
        z = base.clone()
        for n, d in zip(names, dims):
            z[d] = values[n]
        return hnet(z)

    return sliders, generate

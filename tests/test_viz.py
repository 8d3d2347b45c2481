"""Specification of the weight heatmaps and slider panels (headless: Agg canvas, sliders moved from code)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, describe, functional_forward
from hypernet_lib.viz import SliderPanel, WeightPanel, embedding_sliders, new_figure, weight_image

XS = torch.linspace(-3, 3, 50).unsqueeze(1)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def sine_setup():
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    hnet = HyperNetwork(describe(target), z_dim=2, hidden=(16,))
    return target, hnet


def make_panel(target, hnet, **kwargs):
    def generate(values):
        return hnet(torch.tensor([values["a"], values["b"]]))

    def behaviour(ax):
        (line,) = ax.plot(XS[:, 0], np.zeros(len(XS)))

        def update(params, values):
            line.set_ydata(functional_forward(target, params, XS)[:, 0].numpy())
            return (line,)

        return update

    return SliderPanel({"a": (-2.0, 2.0, 0.5), "b": (-1.0, 1.0)}, generate, behaviour, canvas="agg", **kwargs)


def snapshot(panel) -> dict:
    """Everything the panel shows that depends on z: its weights, heatmap arrays, behaviour line and readout."""
    return {
        "params": {k: v.clone() for k, v in panel.params.items()},
        "images": {k: np.array(im.get_array()) for k, im in panel.weights.images.items()},
        "line": np.array(panel.ax.lines[0].get_ydata()),
        "readout": panel.readout.value,
    }


# --- weight_image -------------------------------------------------------------------------------


def test_bias_becomes_a_column_and_matrix_stays():
    assert weight_image("b", torch.arange(5.0)).shape == (5, 1)
    w = torch.randn(3, 7)
    assert np.array_equal(weight_image("w", w), w.double().numpy())


def test_conv_kernels_are_tiled_with_nan_gaps():
    k = torch.randn(2, 3, 4, 5)
    im = weight_image("k", k)
    assert im.shape == (2 * 5 - 1, 3 * 6 - 1)
    assert np.array_equal(im[5:9, 6:11], k[1, 1].double().numpy())  # tile (out=1, in=1)
    assert np.isnan(im[4]).all() and np.isnan(im[:, 5]).all()  # the gaps
    assert weight_image("k1", torch.randn(2, 3, 4)).shape == (2 * 2 - 1, 3 * 5 - 1)  # conv1d: 1-row tiles


def test_weight_image_rejects_bad_input():
    with pytest.raises(ValueError, match=r"expected 1 to 4 dimensions .* got shape \[2, 2, 2, 2, 2\]"):
        weight_image("x", torch.zeros(2, 2, 2, 2, 2))
    with pytest.raises(TypeError, match="expected a floating-point tensor, got dtype torch.int64"):
        weight_image("x", torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="expected a torch.Tensor or numpy array, got list"):
        weight_image("x", [1.0, 2.0])


# --- WeightPanel --------------------------------------------------------------------------------


def test_weight_panel_one_heatmap_per_tensor_on_one_symmetric_scale(mlp):
    params = {k: v.detach() for k, v in mlp.named_parameters()}
    panel = WeightPanel(params)
    assert list(panel.images) == list(params)
    biggest = max(float(v.abs().max()) for v in params.values())
    assert panel.norm.vmin == pytest.approx(-biggest) and panel.norm.vmax == pytest.approx(biggest)
    assert all(im.norm is panel.norm for im in panel.images.values())  # shared scale
    assert panel.axes["2.weight"].get_title() == "2.weight\n[8, 8]"
    assert panel.images["0.bias"].get_array().shape == (8, 1)  # a thin strip


def test_weight_panel_update_changes_data_in_place(mlp):
    params = {k: v.detach() for k, v in mlp.named_parameters()}
    panel = WeightPanel(params, vmax=1.0)
    images_before, n_axes = dict(panel.images), len(panel.fig.axes)
    doubled = {k: 2 * v for k, v in params.items()}
    panel.update(doubled)
    assert panel.images == images_before and len(panel.fig.axes) == n_axes  # same artists, nothing added
    assert np.allclose(panel.images["4.weight"].get_array(), 2 * params["4.weight"].numpy())
    assert panel.vmax == 1.0  # the scale stays unless asked
    panel.update(doubled, rescale=True)
    assert panel.vmax == pytest.approx(max(float(v.abs().max()) for v in doubled.values()))


def test_weight_panel_fits_into_part_of_a_figure(cnn):
    fig = plt.figure(figsize=(10, 3))
    gs = fig.add_gridspec(1, 2)
    behaviour_ax = fig.add_subplot(gs[0])
    panel = WeightPanel({k: v.detach() for k, v in cnn.named_parameters()}, fig=fig, spec=gs[1])
    right_half = gs[1].get_position(fig)
    for ax in panel.axes.values():
        box = ax.get_position()
        assert box.x0 >= right_half.x0 - 1e-9 and box.x1 <= right_half.x1 + 1e-9
        assert not box.overlaps(behaviour_ax.get_position())
    assert panel.images["2.weight"].get_array().shape == (6 * 4 - 1, 4 * 4 - 1)  # tiled 3x3 kernels


def test_weight_panel_rejects_bad_input(mlp):
    params = {k: v.detach() for k, v in mlp.named_parameters()}
    with pytest.raises(ValueError, match="expected at least one tensor"):
        WeightPanel({})
    with pytest.raises(TypeError, match="params: expected a dict"):
        WeightPanel([torch.zeros(3)])
    with pytest.raises(ValueError, match="vmax: expected a positive finite number"):
        WeightPanel(params, vmax=-1.0)
    panel = WeightPanel(params)
    with pytest.raises(ValueError, match=r"expected the keys .* got \['0.weight'\]"):
        panel.update({"0.weight": params["0.weight"]})
    with pytest.raises(ValueError, match=r"params\['0.bias'\]: expected shape \[8\], got \[9\]"):
        panel.update({**params, "0.bias": torch.zeros(9)})
    batched = {k: v.expand(4, *v.shape) for k, v in params.items()}
    with pytest.raises(ValueError, match="of ONE parameter set"):
        WeightPanel({"w": batched["0.weight"].unsqueeze(1).unsqueeze(1)})


# --- SliderPanel --------------------------------------------------------------------------------


def test_moving_a_slider_regenerates_weights_and_redraws_the_plot(sine_setup):
    target, hnet = sine_setup
    panel = make_panel(target, hnet)
    before = snapshot(panel)

    panel.sliders["a"].value = -1.5

    assert panel.values == {"a": -1.5, "b": 0.0}
    expected = hnet(torch.tensor([-1.5, 0.0]))
    for name in before["params"]:
        assert not torch.equal(panel.params[name], before["params"][name]) or "bias" in name  # biases start at 0
        assert torch.allclose(panel.params[name], expected[name])
    after = snapshot(panel)
    assert np.allclose(after["images"]["2.weight"], expected["2.weight"].detach().numpy())
    assert not np.allclose(after["images"]["2.weight"], before["images"]["2.weight"])
    assert not np.allclose(after["line"], before["line"])
    assert np.allclose(after["line"], functional_forward(target, expected, XS)[:, 0].detach().numpy(), atol=1e-6)
    assert after["readout"] != before["readout"] and "a = -1.50" in panel.readout.value


def test_slider_changes_redraw_the_same_figure_and_match_a_full_draw(sine_setup):
    target, hnet = sine_setup
    panel = make_panel(target, hnet)
    fig, n_axes, n_lines, n_figs = panel.fig, len(panel.fig.axes), len(panel.ax.lines), plt.get_fignums()
    for v in np.linspace(-2, 2, 5):
        panel.sliders["a"].value = float(v)
    assert panel.fig is fig and len(fig.axes) == n_axes and len(panel.ax.lines) == n_lines
    assert plt.get_fignums() == n_figs  # no new pyplot figures either
    blitted = np.array(fig.canvas.buffer_rgba())
    fig.canvas.draw()  # what a fresh full draw shows: the fast path must agree pixel for pixel
    assert np.array_equal(blitted, np.array(fig.canvas.buffer_rgba()))
    assert panel.last_update_ms > 0


def test_reset_restores_values_weights_and_plot(sine_setup):
    target, hnet = sine_setup
    panel = make_panel(target, hnet)
    start = snapshot(panel)
    panel.set(a=1.9, b=-0.7)
    assert panel.values == {"a": 1.9, "b": -0.7}
    panel.reset_button.click()
    assert panel.values == {"a": 0.5, "b": 0.0}
    now = snapshot(panel)
    assert all(torch.equal(now["params"][k], start["params"][k]) for k in start["params"])
    assert all(np.array_equal(now["images"][k], start["images"][k]) for k in start["images"])
    assert np.array_equal(now["line"], start["line"]) and now["readout"] == start["readout"]


def test_behaviour_returning_none_gets_a_full_redraw(sine_setup):
    target, hnet = sine_setup

    def behaviour(ax):
        def update(params, values):
            ax.set_title(f"a = {values['a']:.1f}")  # more than artist data: needs a full draw
            return None

        return update

    panel = SliderPanel(
        {"a": (-1, 1, 0), "b": (-1, 1, 0)},
        lambda v: hnet(torch.tensor([v["a"], v["b"]])),
        behaviour,
        readout=lambda v: f"amplitude {v['a']:.1f}",
        canvas="agg",
    )
    panel.sliders["a"].value = 0.5
    assert panel.ax.get_title() == "a = 0.5" and panel.readout.value == "<code>amplitude 0.5</code>"
    full = np.array(panel.fig.canvas.buffer_rgba())
    panel.fig.canvas.draw()
    assert np.array_equal(full, np.array(panel.fig.canvas.buffer_rgba()))


def test_weights_only_panel_and_embedding_sliders(sine_setup):
    _, hnet = sine_setup
    z0 = torch.tensor([0.3, -0.2])
    sliders, generate = embedding_sliders(hnet, z0, dims=[1], span=1.0)
    assert sliders == {"z[1]": pytest.approx((-1.2, 0.8, -0.2))}
    panel = SliderPanel(sliders, generate, canvas="agg")
    assert panel.ax is None
    panel.sliders["z[1]"].value = 0.5
    assert torch.allclose(panel.params["2.weight"], hnet(torch.tensor([0.3, 0.5]))["2.weight"])
    assert np.allclose(panel.weights.images["2.weight"].get_array(), panel.params["2.weight"].numpy())


def test_slider_panel_rejects_bad_input(sine_setup):
    _, hnet = sine_setup
    gen = lambda v: hnet(torch.tensor([v["a"], 0.0]))
    with pytest.raises(ValueError, match="expected at least one slider"):
        SliderPanel({}, gen)
    with pytest.raises(ValueError, match=r"sliders\['a'\]: expected min < max, got min=1.0, max=0.0"):
        SliderPanel({"a": (1, 0)}, gen)
    with pytest.raises(ValueError, match=r"sliders\['a'\]: expected a start value in \[0.0, 1.0\], got 3.0"):
        SliderPanel({"a": (0, 1, 3)}, gen)
    with pytest.raises(ValueError, match=r"sliders\['a'\]: expected \(min, max\)"):
        SliderPanel({"a": 1.0}, gen)
    with pytest.raises(TypeError, match="generate: expected a callable"):
        SliderPanel({"a": (0, 1)}, "hnet")
    with pytest.raises(TypeError, match="generate: expected it to return a dict"):
        SliderPanel({"a": (0, 1)}, lambda v: torch.zeros(3), canvas="agg")
    with pytest.raises(TypeError, match=r"behaviour: expected behaviour\(ax\) to return update"):
        SliderPanel({"a": (0, 1)}, gen, behaviour=lambda ax: None, canvas="agg")
    panel = SliderPanel({"a": (0, 1)}, gen, canvas="agg")
    with pytest.raises(ValueError, match=r"set: \['c'\] are not sliders of this panel; it has \['a'\]"):
        panel.set(c=1.0)
    with pytest.raises(ValueError, match=r"set: a expected a number in \[0.0, 1.0\], got 5"):
        panel.set(a=5)
    with pytest.raises(ValueError, match="canvas: expected 'auto', 'ipympl' or 'agg', got 'qt'"):
        new_figure((3, 2), canvas="qt")
    with pytest.raises(ValueError, match=r"z0: expected a float tensor of shape \[d_z\]"):
        embedding_sliders(hnet, torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"dims: expected coordinates in \[0, 2\), got \[5\]"):
        embedding_sliders(hnet, torch.zeros(2), dims=[5])


def test_ipympl_canvas_is_the_widget_next_to_the_sliders(sine_setup):
    pytest.importorskip("ipympl")
    import ipywidgets as widgets

    _, hnet = sine_setup
    panel = SliderPanel(
        {"a": (-1, 1, 0), "b": (-1, 1, 0)}, lambda v: hnet(torch.tensor([v["a"], v["b"]])), canvas="ipympl"
    )
    canvas, controls = panel.widget.children
    assert canvas is panel.fig.canvas and isinstance(canvas, widgets.DOMWidget)
    assert list(controls.children) == [*panel.sliders.values(), panel.reset_button, panel.readout]
    before = np.array(panel.weights.images["0.weight"].get_array())
    panel.sliders["a"].value = 0.9
    assert not np.allclose(panel.weights.images["0.weight"].get_array(), before)
    panel.close()


def test_ipympl_canvas_fits_the_notebook_column_and_sends_no_broken_preview(sine_setup):
    pytest.importorskip("ipympl")
    from hypernet_lib.viz import MAX_CANVAS_PX

    _, hnet = sine_setup
    wide = SliderPanel(
        {"a": (-1, 1, 0), "b": (-1, 1, 0)},
        lambda v: hnet(torch.tensor([v["a"], v["b"]])),
        canvas="ipympl",
        figsize=(14, 3),
    )
    # 14 in at the default 100 dpi would be 1400 px, wider than JupyterLab's column: the resolution
    # drops, the proportions stay
    assert wide.fig.get_figwidth() == 14 and round(wide.fig.get_figwidth() * wide.fig.dpi) == MAX_CANVAS_PX
    assert wide.fig.canvas.get_width_height()[0] == MAX_CANVAS_PX
    # frames drawn before the browser has a view must not be mirrored into _data_url (ipympl 0.10
    # mirrors them as bare base64, which the browser cannot decode, and the figure never shows)
    wide.sliders["a"].value = 0.5
    assert wide.fig.canvas._data_url is None
    wide.close()
    narrow = new_figure((4, 3), canvas="ipympl")
    assert narrow.dpi == 100 and new_figure((14, 3), canvas="agg").dpi == 100  # only wide ipympl canvases shrink


def test_whole_number_sliders_read_as_whole_numbers(sine_setup):
    _, hnet = sine_setup
    panel = SliderPanel(
        {"k": (1, 9, 5, 1), "a": (-1, 1, 0)}, lambda v: hnet(torch.tensor([v["k"] / 9, v["a"]])), canvas="agg"
    )
    assert panel.sliders["k"].readout_format == ".0f" and panel.sliders["a"].readout_format == ".2f"
    panel.close()


# --- a panel releases what it holds --------------------------------------------------------------


def _small_panel():
    from hypernet_lib.viz import SliderPanel

    target = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    hnet = HyperNetwork(describe(target), 2, hidden=(8,))
    return SliderPanel({"a": (-1.0, 1.0, 0.0)}, lambda v: hnet(torch.tensor([v["a"], 0.0])), canvas="agg")


def test_closing_panels_frees_their_widgets_and_memory():
    import gc
    import tracemalloc

    import ipywidgets

    def one_cycle():
        panel = _small_panel()  # the same line every time: each new panel also closes the one before
        panel.set(a=0.5)
        panel.close()

    one_cycle()
    gc.collect()
    widgets_before = len(ipywidgets.Widget.widgets)
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    for _ in range(30):
        one_cycle()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - start
    tracemalloc.stop()
    assert len(ipywidgets.Widget.widgets) == widgets_before
    assert grown < 1_000_000, f"30 panels built and closed kept {grown / 1e6:.1f} MB alive"


def test_re_running_the_cell_that_made_a_panel_closes_the_old_one(monkeypatch):
    from hypernet_lib import viz

    panels = []
    for run in (1, 2):  # the same line in two runs of one cell
        monkeypatch.setattr(viz, "_cell_run", lambda run=run: run)
        panels.append(_small_panel())
    assert panels[0]._closed and not panels[1]._closed
    with pytest.raises(RuntimeError, match="this panel was closed"):
        panels[0].set(a=0.1)


def test_panels_made_by_one_run_or_outside_ipython_all_stay_open(monkeypatch):
    from hypernet_lib import viz

    monkeypatch.setattr(viz, "_cell_run", lambda: 7)
    same_run = [_small_panel() for _ in range(2)]  # e.g. `full, fast = make(...), make(...)` in one cell
    monkeypatch.setattr(viz, "_cell_run", lambda: None)
    script = [_small_panel() for _ in range(2)]  # a script (benchmarks/bench_viz.py) has no cell runs
    assert not any(p._closed for p in same_run + script)
    for p in same_run + script:
        p.close()


def test_a_slider_set_to_nan_keeps_the_last_good_values_and_says_so():
    panel = _small_panel()
    panel.set(a=0.5)
    good = {k: v.clone() for k, v in panel.params.items()}
    panel.sliders["a"].value = float("nan")
    assert panel.values == {"a": 0.5}
    assert "not a number" in panel.readout.value
    assert all(torch.equal(good[k], panel.params[k]) for k in good)
    with pytest.raises(ValueError, match=r"set: a expected a number in \[-1.0, 1.0\], got nan"):
        panel.set(a=float("nan"))


def test_a_panel_too_large_to_read_is_refused_before_drawing():
    from hypernet_lib.viz import WeightPanel, new_figure

    with pytest.raises(ValueError, match=r"params: 4,000,000 heatmap cells to draw \(largest: 'w', \[2000, 2000\]\)"):
        WeightPanel({"w": torch.zeros(2000, 2000)}, fig=new_figure((6, 3), canvas="agg"))


def test_importing_ipympl_for_a_panel_leaves_pyplot_on_its_backend(monkeypatch):
    # ipympl's first import switches pyplot to its widget backend; panels must not do that to a notebook.
    import sys

    from hypernet_lib import viz

    before = matplotlib.get_backend()
    monkeypatch.delitem(sys.modules, "ipympl", raising=False)
    assert viz._import_ipympl() is True
    assert matplotlib.get_backend() == before

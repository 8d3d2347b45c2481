"""Drive JupyterLab in a real Chromium: start a throwaway server, run a notebook, move its sliders.

Used by ``tests/browser/conftest.py`` and ``test_sliders_in_browser.py``; importable on its own
(``PYTHONPATH=tests/browser``) to poke at a lecture by hand.

What happens, and why it is done this way:

- ``LabServer`` starts ``jupyter lab`` on a free loopback port with no token and every Jupyter
  directory (config, data, runtime, settings, workspaces, IPython) in a temporary folder, so it neither
  reads nor writes the user's setup. The notebooks are *copied* into that folder (the rest of the repo is
  symlinked beside them so relative paths such as ``../checkpoints`` still resolve): clearing outputs
  and re-running in the browser can never touch the committed notebooks. Autosave and news are off.
- The page runs with ``window.jupyterapp`` exposed, so "clear all outputs" and "run all cells" are
  the very commands the Run and Edit menus trigger, and their promises tell when execution is done.
- Sliders are moved with real input events: a key press on the focused handle and a mouse drag.
- A figure "changed" when the pixels of its ipympl canvas (or the bytes of an ``<img>``) differ.
- Latency: an init script wraps ``CanvasRenderingContext2D.drawImage`` and records when an ipympl canvas
  shows a frame it has not shown before (the kernel's newly rendered PNG), and a capture-phase ``keydown`` listener records when the key went down. Latency is the
  first paint of a figure in the slider's panel after the key press: the browser -> kernel -> browser
  round trip and the repaint a student waits for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = ROOT / "artifacts" / "browser"  # git-ignored: screenshots, latency table
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",  # small /dev/shm in containers makes tabs crash
]
SERVER_START_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 600  # per notebook; nbval's own limit is 300 s per cell, lectures take <= 60 s
RUN_ALL_QUIET_S = 3.0  # the kernel idle this long after Run All = every queued cell has run
REDRAW_TIMEOUT_S = 20
# a common laptop screen, JupyterLab's default layout (file browser open): what a student sees
VIEWPORT = {"width": 1440, "height": 900}
QUIET_S = 0.3  # no figure paint for this long (and an idle kernel) = the panel has settled
TIMED_KEY_MOVES = 6  # extra key presses on each lecture's first slider, for the latency median

# User settings written into the throwaway settings folder.
LAB_SETTINGS = {
    # no "Would you like to get notified about official Jupyter news?" toast, no update checks
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    # the copies are throwaway, but nothing should be written behind the test's back
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# Installed before any page script: timestamps of input events and of ipympl canvas paints.
INIT_SCRIPT = """
(() => {
  const hn = (window.__hn = { lastKey: 0, paints: 0, lastPaint: 0 });
  document.addEventListener('keydown', () => { hn.lastKey = performance.now(); }, true);
  // ipympl paints a new frame in two steps: the received PNG goes into an offscreen canvas (source: an
  // <img>), then each view copies that canvas into its on-screen canvas. Only a copy of a frame the view
  // has not shown yet counts as a repaint (views also repaint the same frame, e.g. on resize).
  const orig = CanvasRenderingContext2D.prototype.drawImage;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const c = this.canvas, src = args[0], t = performance.now();
    if (src instanceof HTMLImageElement && c) c.__hnFrameAt = t;
    if (c && c.isConnected && c.closest && c.closest('.jupyter-matplotlib-canvas-div')) {
      const frame = src && src.__hnFrameAt;
      if (frame && frame > (c.__hnSeenFrame || 0)) {
        c.__hnSeenFrame = frame;
        hn.paints += 1; hn.lastPaint = t;
        c.__hnPaints = (c.__hnPaints || []).concat([t]).slice(-50);
      }
    }
    return orig.apply(this, args);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      const imgs = r.type === 'attributes' ? [r.target] : [...r.addedNodes].flatMap(
        (n) => n.nodeType === 1 ? (n.tagName === 'IMG' ? [n] : [...n.querySelectorAll('img')]) : []);
      for (const img of imgs) {
        if (img.tagName !== 'IMG' || !img.closest('.jp-OutputArea')) continue;
        const t = performance.now();
        hn.paints += 1; hn.lastPaint = t;
        img.__hnPaints = (img.__hnPaints || []).concat([t]).slice(-50);
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['src'] });
})();
"""

# Helpers evaluated in the page. `nb()` is the open notebook's panel.
PAGE_HELPERS = """
(() => {
window.__hnNb = () => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.widgets || !w.sessionContext) throw new Error('no notebook panel is active');
  return w;
};
window.__hnKernelIdle = () => { const k = window.__hnNb().sessionContext.session?.kernel;
  return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; };
window.__hnHash = (s) => { let h = 2166136261; for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); } return (h >>> 0).toString(16) + ':' + s.length; };
window.__hnFigures = (root) => [
  ...[...root.querySelectorAll('.jupyter-matplotlib-canvas-div')].map((d) => d.querySelector('canvas')).filter(Boolean),
  ...root.querySelectorAll('.jp-OutputArea-output img'),
];
window.__hnSnapshot = (root) => window.__hnFigures(root).map((f) => {
  if (f.tagName === 'CANVAS') return f.width && f.height ? window.__hnHash(f.toDataURL()) : 'empty';
  return window.__hnHash(f.getAttribute('src') || '');
});
})();
"""


# Names in code, not prose: the Colab setup cell of every lecture prints a sentence about sliders.
SLIDER_RE = re.compile(r"\b(?:\w+Slider|SliderPanel|embedding_sliders)\b")


def slider_notebooks(repo: Path = ROOT) -> list[Path]:
    """Lectures (``notebooks/NN_*.ipynb``) whose code mentions a slider: ipywidgets' ``*Slider``
    classes or a ``viz`` slider panel. Each of them must render at least one slider in the browser."""
    found = []
    for path in sorted((repo / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        code = ("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
        if any(SLIDER_RE.search(src) for src in code):
            found.append(path)
    return found


class BrowserUnavailable(RuntimeError):
    """Chromium or the Playwright package is missing."""


def find_chromium() -> str:
    """Path of a Chromium executable: ``$CHROMIUM``, else ``chromium`` on PATH, else ``/usr/bin/chromium``."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise BrowserUnavailable(
        "no Chromium found (looked at $CHROMIUM, `chromium` on PATH, /usr/bin/chromium). "
        "Enable the browser tests with `sudo apt-get install chromium` (Debian/Ubuntu) or point $CHROMIUM "
        "at a Chromium/Chrome binary; Playwright's own browser downloads are not used."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """A JupyterLab server on 127.0.0.1 serving copies of ``notebooks`` from a temporary root.

    Usage: ``with LabServer([paths]) as lab: lab.url_for(path)``. Everything it started (the server and
    the kernels it spawned) is stopped on exit, also when the body raised.
    """

    def __init__(self, notebooks: list[Path], repo: Path = ROOT) -> None:
        self.repo = repo
        self.notebooks = [Path(p).resolve() for p in notebooks]
        self.tmp = Path(tempfile.mkdtemp(prefix="hn-browser-"))
        self.root = self.tmp / "root"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmp / "jupyter-lab.log"
        self._children: set[int] = set()

    # -- layout ------------------------------------------------------------------------------------
    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True)
        for entry in self.repo.iterdir():
            if entry.name in {"notebooks", ".git", ".venv", "artifacts"}:
                continue
            (self.root / entry.name).symlink_to(entry)
        (self.root / "notebooks").mkdir()
        nb_dir = self.repo / "notebooks"
        if nb_dir.is_dir():  # data files beside the lectures (not the lectures: those are copied below)
            for entry in nb_dir.iterdir():
                if entry.suffix != ".ipynb" and not entry.name.startswith("."):
                    (self.root / "notebooks" / entry.name).symlink_to(entry)
        for nb in self.notebooks:
            shutil.copy2(nb, self.root / "notebooks" / nb.name)
        settings = self.tmp / "config" / "lab" / "user-settings"
        for rel, value in LAB_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))

    def rel_path(self, notebook: Path) -> str:
        """Server path of the copy of ``notebook``."""
        return f"notebooks/{Path(notebook).name}"

    def url_for(self, notebook: Path) -> str:
        return f"{self.base}/lab/tree/{self.rel_path(notebook)}?reset"

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> LabServer:
        self._prepare_root()
        env = dict(os.environ)
        for var, sub in {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython",
            "MPLCONFIGDIR": "mpl",
        }.items():
            (self.tmp / sub).mkdir(exist_ok=True)
            env[var] = str(self.tmp / sub)
        env["PYTHONPATH"] = os.pathsep.join([str(self.repo), *filter(None, [env.get("PYTHONPATH")])])
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("MPLBACKEND", None)  # the notebooks choose `%matplotlib widget` themselves
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            "--allow-root",  # CI runs as root; the server only listens on loopback
            "--ServerApp.terminals_enabled=False",
            "--LabApp.extension_manager=readonly",  # never query a package index
            f"--ServerApp.root_dir={self.root}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={self.tmp / 'config' / 'lab' / 'user-settings'}",
            f"--LabApp.workspaces_dir={self.tmp / 'config' / 'lab' / 'workspaces'}",
        ]
        log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            cmd, cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S} s:\n{self.log_tail()}")

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(f"{self.base}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def remember_children(self) -> None:
        """Note the server's child processes (kernels): they run in their own sessions, so we track them."""
        import psutil

        if self.proc is None:
            return
        try:
            self._children |= {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass

    def kernel_process(self, kernel_id: str):
        """The ``psutil.Process`` of the kernel with this id (its connection file names the id), or None."""
        import psutil

        if self.proc is None:
            return None
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if any(f"kernel-{kernel_id}" in arg for arg in child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        return None

    def shutdown_kernels(self) -> None:
        """Delete every session and kernel of this server (between notebooks)."""
        self.remember_children()
        try:
            for s in self.api("GET", "/api/sessions") or []:
                self.api("DELETE", f"/api/sessions/{s['id']}")
            for k in self.api("GET", "/api/kernels") or []:
                self.api("DELETE", f"/api/kernels/{k['id']}")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass

    def stop(self) -> None:
        import psutil

        if self.proc is not None:
            self.shutdown_kernels()
            self.remember_children()
            if self.proc.poll() is None:
                self.proc.terminate()  # jupyter_server shuts its kernels down on SIGTERM
                try:
                    self.proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            # anything we started that is still alive (a kernel that ignored its shutdown request)
            for pid in self._children:
                try:
                    p = psutil.Process(pid)
                    p.kill()
                    p.wait(timeout=5)
                except (psutil.NoSuchProcess, psutil.TimeoutExpired):
                    pass
            self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no server log)"

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class SliderResult:
    """What moving one slider did. ``key_ms``: latencies of its timed key presses."""

    cell: int
    description: str
    figure_scope: str  # "panel" (figure in the slider's own output) or "notebook"
    key_ms: list[float] = field(default_factory=list)
    kernel_cpu_ms: float = float("nan")  # kernel CPU time (user + system) per timed key press
    readout_before: str = ""
    readout_after_key: str = ""
    readout_after_drag: str = ""
    text_changed: bool = False  # a Label/HTML readout in the panel (not the slider's own) changed


@dataclass
class LectureResult:
    notebook: str
    run_all_s: float = 0.0
    sliders: list[SliderResult] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    @property
    def key_ms(self) -> list[float]:
        return [ms for s in self.sliders for ms in s.key_ms]

    @property
    def kernel_cpu_ms(self) -> float:
        """Kernel CPU per key press, over all sliders (all of the kernel's threads, so on a busy machine
        it grows too: cache misses and PyTorch's spinning worker threads; measured 53 ms headless vs
        146-299 ms with Chromium and other jobs on the same 2 cores, for the same panel)."""
        known = [
            (s.kernel_cpu_ms, len(s.key_ms)) for s in self.sliders if s.key_ms and s.kernel_cpu_ms == s.kernel_cpu_ms
        ]
        n = sum(k for _, k in known)
        return sum(ms * k for ms, k in known) / n if n else float("nan")

    @property
    def median_ms(self) -> float:
        return statistics.median(self.key_ms) if self.key_ms else float("nan")


class NotebookDriver:
    """One notebook open in one Playwright page."""

    def __init__(self, page, lab: LabServer, notebook: Path, shots_dir: Path | None = None) -> None:
        self.page = page
        self.lab = lab
        self.notebook = Path(notebook)
        self.shots_dir = shots_dir
        self.result = LectureResult(self.notebook.stem)
        self.redraw_timeout_s = REDRAW_TIMEOUT_S

    # -- opening and running -------------------------------------------------------------------------
    def open(self) -> None:
        """Open the notebook: load JupyterLab on first use, else open it in the already loaded page."""
        page = self.page
        path = self.lab.rel_path(self.notebook)
        loaded = page.url.startswith(self.lab.base) and page.evaluate("() => !!(window.jupyterapp && window.__hnNb)")
        if loaded:
            page.evaluate(
                # the command resolves to the notebook widget, which cannot cross into Python: return nothing
                "async (path) => { await window.jupyterapp.commands.execute('docmanager:open', { path, factory: 'Notebook' }); }",
                path,
            )
        else:
            page.goto(self.lab.url_for(self.notebook), wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_function("() => !!(window.jupyterapp && window.__hnNb)", timeout=120_000)
            page.evaluate("() => window.jupyterapp.started")
        page.wait_for_function(
            """(path) => { const w = window.jupyterapp.shell.currentWidget;
                 return !!(w && w.context && w.context.path === path && w.content && w.sessionContext); }""",
            arg=path,
            timeout=120_000,
        )
        page.evaluate(
            """async () => { const w = window.__hnNb(); await w.context.ready; await w.sessionContext.ready;
                 if (!w.sessionContext.session || !w.sessionContext.session.kernel)
                   throw new Error('the notebook opened without a kernel'); }"""
        )
        self.wait_kernel_idle(120)
        self.dismiss_toasts()

    def close(self) -> None:
        """Close the notebook without saving (the copy is throwaway); the caller shuts its kernel down."""
        self.page.evaluate(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                 if (w && w.context) { w.context.model.dirty = false; w.close(); } }"""
        )

    def dismiss_toasts(self) -> None:
        """Close any notification toast (news, updates) so it cannot cover a slider."""
        self.page.evaluate(
            """() => { for (const b of document.querySelectorAll('.Toastify__close-button, .jp-toast-button'))
                 { const t = (b.getAttribute('title') || b.textContent || '').toLowerCase();
                   if (b.classList.contains('Toastify__close-button') || t.includes('no') || t.includes('dismiss')) b.click(); } }"""
        )

    def wait_kernel_idle(self, timeout_s: float = 60) -> None:
        self.page.wait_for_function("() => window.__hnKernelIdle()", timeout=timeout_s * 1000)

    def clear_and_run_all(self) -> None:
        """Edit > Clear Outputs of All Cells, then Run > Run All Cells; wait until execution is done."""
        page = self.page
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        left = page.evaluate(
            """() => window.__hnNb().content.widgets.filter((c) => c.model.type === 'code'
                 && c.model.toJSON().outputs.length > 0).length"""
        )
        assert left == 0, f"{left} code cells still show outputs after 'Clear Outputs of All Cells'"
        start = time.perf_counter()
        page.evaluate(
            """async (ms) => { await Promise.race([
                 window.jupyterapp.commands.execute('notebook:run-all-cells'),
                 new Promise((_, rej) => setTimeout(() => rej(new Error('Run All did not finish within ' + ms + ' ms')), ms)),
               ]); }""",
            RUN_ALL_TIMEOUT_S * 1000,
        )
        # The command's promise can settle before the last cell ran: after a cell tagged
        # ``raises-exception`` fails, the rest are still queued. Done = the kernel stayed idle a while.
        deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
        idle_since = None
        while time.monotonic() < deadline:
            idle = page.evaluate("() => window.__hnKernelIdle()")
            now = time.monotonic()
            idle_since = (idle_since or now) if idle else None
            if idle_since is not None and now - idle_since >= RUN_ALL_QUIET_S:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"Run All did not finish within {RUN_ALL_TIMEOUT_S} s")
        self.result.run_all_s = time.perf_counter() - start - RUN_ALL_QUIET_S

    def cell_problems(self) -> list[str]:
        """Cells that raised (unless tagged ``raises-exception``) or did not run at all."""
        cells = self.page.evaluate(
            """() => window.__hnNb().content.widgets.map((c, i) => ({ i, type: c.model.type, json: c.model.toJSON() }))"""
        )
        problems = []
        for c in cells:
            if c["type"] != "code" or not c["json"]["source"].strip():
                continue
            tags = c["json"].get("metadata", {}).get("tags", [])
            errors = [o for o in c["json"]["outputs"] if o["output_type"] == "error"]
            if errors and "raises-exception" not in tags:
                e = errors[0]
                hint = ""
                if "NBVAL_RAISES_EXCEPTION" in c["json"]["source"]:
                    hint = (
                        " (it is marked NBVAL_RAISES_EXCEPTION: also give it the cell tag `raises-exception`, "
                        "or JupyterLab's Run All stops there for students)"
                    )
                problems.append(f"cell {c['i']} raised {e['ename']}: {e['evalue'][:200]}{hint}")
            elif c["json"].get("execution_count") is None:
                problems.append(f"cell {c['i']} did not run (Run All stopped before it)")
        return problems

    # -- widgets --------------------------------------------------------------------------------------
    def widget_cells(self) -> list[int]:
        """Indices of code cells whose outputs include a widget view."""
        return self.page.evaluate(
            """() => window.__hnNb().content.widgets.flatMap((c, i) => c.model.type === 'code' &&
                 c.model.toJSON().outputs.some((o) => o.data && o.data['application/vnd.jupyter.widget-view+json'])
                 ? [i] : [])"""
        )

    def show_cell(self, i: int) -> str:
        """Scroll cell ``i`` into view, wait for its widgets to attach; return a CSS selector for its node."""
        page = self.page
        page.evaluate(
            """async (i) => { const nb = window.__hnNb().content; const cell = nb.widgets[i];
                 nb.activeCellIndex = i; await nb.scrollToItem(i, 'start');
                 cell.node.setAttribute('data-hn-cell', String(i)); }""",
            i,
        )
        sel = f'[data-hn-cell="{i}"]'
        # a widget view is attached once its DOM carries .jupyter-widgets; an error view says so in text;
        # a widget closed by the kernel (a finished progress bar) leaves a hidden, empty output behind
        page.wait_for_function(
            """(sel) => { const n = document.querySelector(sel); if (!n) return false;
                 const all = [...n.querySelectorAll('.jp-OutputArea-output')];
                 const outs = all.filter((o) => !o.classList.contains('lm-mod-hidden'));
                 return all.length > 0 && outs.every((o) => o.querySelector('.jupyter-widgets, .widget-error')
                   || o.textContent.trim().length > 0 || o.querySelector('img, canvas')); }""",
            arg=sel,
            timeout=30_000,
        )
        page.locator(sel).scroll_into_view_if_needed()
        return sel

    def widget_render_errors(self, sel: str) -> list[str]:
        return self.page.evaluate(
            """(sel) => [...document.querySelectorAll(sel + ' .jp-OutputArea-output')]
                 .map((o) => o.textContent).filter((t) => /Error displaying widget|Failed to (load|create) (model|view)/.test(t))
                 .map((t) => t.trim().slice(0, 200))""",
            sel,
        )

    def settle(self, root_sel: str, since: float, expect_paint: bool) -> float | None:
        """Wait until the kernel is idle and no figure under ``root_sel`` painted for QUIET_S.

        Returns the time (page clock, ms) of the first paint after ``since`` or None.
        """
        deadline = time.monotonic() + self.redraw_timeout_s
        first = None
        while time.monotonic() < deadline:
            state = self.page.evaluate(
                """([sel, since]) => { const root = document.querySelector(sel) || document;
                   const paints = window.__hnFigures(root).flatMap((f) => f.__hnPaints || []).filter((t) => t > since);
                   const k = window.__hnNb().sessionContext.session?.kernel;
                   return { first: paints.length ? Math.min(...paints) : null, last: paints.length ? Math.max(...paints) : null,
                            now: performance.now(), idle: !!k && k.status === 'idle' }; }""",
                [root_sel, since],
            )
            first = state["first"]
            quiet = state["last"] is None or state["now"] - state["last"] >= QUIET_S * 1000
            if state["idle"] and quiet and (first is not None or not expect_paint):
                return first
            time.sleep(0.05)
        return first

    def snapshot(self, root_sel: str) -> list[str]:
        return self.page.evaluate("(sel) => window.__hnSnapshot(document.querySelector(sel) || document)", root_sel)

    def texts(self, sel: str) -> list[str]:
        return self.page.evaluate(
            """(sel) => [...document.querySelectorAll(sel + ' .widget-label, ' + sel + ' .widget-html-content')]
                 .filter((e) => !e.closest('.widget-slider')).map((e) => e.textContent.trim())""",
            sel,
        )

    def move_sliders(self, timed_moves: int = TIMED_KEY_MOVES) -> None:
        """Move every slider of every widget cell by key press and by drag; check the figure and readouts."""
        page = self.page
        first = True
        cells = self.widget_cells()
        for i in cells:
            sel = self.show_cell(i)
            errs = self.widget_render_errors(sel)
            assert not errs, f"cell {i}: widget failed to render in the browser: {errs}"
            n = page.locator(f"{sel} .widget-slider").count()
            for k in range(n):
                slider = page.locator(f"{sel} .widget-slider").nth(k)
                slider.scroll_into_view_if_needed()
                slider.locator(".noUi-handle").first.wait_for(state="visible", timeout=15_000)
                self.dismiss_toasts()
                self._move_one(sel, slider, i, k, shots=first, timed=timed_moves if first else 1)
                first = False

    def _figure_root(self, sel: str) -> tuple[str, str]:
        has = self.page.evaluate("(sel) => window.__hnFigures(document.querySelector(sel)).length > 0", sel)
        return (sel, "panel") if has else ("body", "notebook")

    def _readout(self, slider) -> str:
        """The slider's own value readout ('' when the slider has ``readout=False``)."""
        r = slider.locator(".widget-readout")
        return (r.first.text_content() or "").strip() if r.count() and r.first.is_visible() else ""

    def _key_move(self, slider, fig_root: str) -> float | None:
        """Press an arrow key on the focused handle (towards the far end); return the latency in ms."""
        page = self.page
        handle = slider.locator(".noUi-handle").first
        now, lo, hi = (handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemin", "aria-valuemax"))
        key = "ArrowRight"
        if now is not None and hi is not None and lo is not None:
            if float(now) >= float(hi) or float(now) - float(lo) > float(hi) - float(now):
                key = "ArrowLeft"
        if slider.get_attribute("class") and "widget-vslider" in slider.get_attribute("class"):
            key = {"ArrowRight": "ArrowUp", "ArrowLeft": "ArrowDown"}[key]
        handle.focus()
        page.keyboard.press(key)
        since = page.evaluate("() => window.__hn.lastKey")
        painted = self.settle(fig_root, since, expect_paint=True)
        return None if painted is None else painted - since

    def _drag(self, slider) -> None:
        """Drag the handle to the far quarter of the track with the mouse."""
        page = self.page
        handle = slider.locator(".noUi-handle").first
        track = slider.locator(".noUi-base, .noUi-target").first
        handle.scroll_into_view_if_needed()  # a wide panel may have scrolled it out of view horizontally
        hb, tb = handle.bounding_box(), track.bounding_box()
        assert hb and tb, "slider handle or track has no size on screen"
        x0, y0 = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
        vw = page.viewport_size or {"width": 0, "height": 0}
        reachable = page.evaluate(
            "([x, y]) => { const e = document.elementFromPoint(x, y); return !!(e && e.closest('.noUi-handle')); }",
            [x0, y0],
        )
        assert reachable and tb["x"] + tb["width"] <= vw["width"], (
            f"the slider cannot be dragged with the mouse in a {vw['width']}x{vw['height']} browser window: its track "
            f"spans x = {tb['x']:.0f}..{tb['x'] + tb['width']:.0f} px and its handle is "
            f"{'covered or clipped' if not reachable else 'visible'}. The panel is wider than JupyterLab's notebook "
            "column; make it narrower (smaller figsize, or sliders above/below the figure)."
        )
        vertical = tb["height"] > tb["width"]
        if vertical:
            frac = 0.2 if (y0 - tb["y"]) / tb["height"] > 0.5 else 0.8
            x1, y1 = x0, tb["y"] + frac * tb["height"]
        else:
            frac = 0.2 if (x0 - tb["x"]) / tb["width"] > 0.5 else 0.8
            x1, y1 = tb["x"] + frac * tb["width"], y0
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=8)
        page.mouse.up()

    @staticmethod
    def _cpu(proc) -> float | None:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except Exception:  # no such process (None, or it ended): the column shows '-'
            return None

    def _move_one(self, sel: str, slider, cell: int, k: int, shots: bool, timed: int) -> None:
        page = self.page
        fig_root, scope = self._figure_root(sel)
        desc_loc = slider.locator(".widget-label")
        desc = (desc_loc.first.text_content() or "").strip() if desc_loc.count() else ""
        res = SliderResult(cell=cell, description=desc or f"slider {k}", figure_scope=scope)
        self.result.sliders.append(res)  # recorded now, so a later failure keeps what was measured
        where = f"cell {cell}, slider {desc or k}"
        self.settle(fig_root, page.evaluate("() => performance.now()"), expect_paint=False)
        figs0, texts0, res.readout_before = self.snapshot(fig_root), self.texts(sel), self._readout(slider)
        assert figs0, f"{where}: no figure (ipympl canvas or image) found in the panel or the notebook"
        output = page.locator(f"{sel} .jp-OutputArea-output").first
        if shots and self.shots_dir is not None:
            self.shots_dir.mkdir(parents=True, exist_ok=True)
            before = self.shots_dir / f"{self.notebook.stem}-before.png"
            output.screenshot(path=str(before))
            self.result.screenshots.append(before)

        # 1. keyboard: one press on the focused handle
        kernel = self.lab.kernel_process(page.evaluate("() => window.__hnNb().sessionContext.session.kernel.id"))
        cpu0 = self._cpu(kernel)
        ms = self._key_move(slider, fig_root)
        assert ms is not None, f"{where}: the figure did not repaint within {self.redraw_timeout_s} s after a key press"
        res.key_ms.append(ms)
        figs1, texts1, res.readout_after_key = self.snapshot(fig_root), self.texts(sel), self._readout(slider)
        assert figs1 != figs0, f"{where}: key press repainted the figure but its pixels did not change"
        assert not res.readout_before or res.readout_after_key != res.readout_before, (
            f"{where}: readout still shows {res.readout_before!r} after a key press"
        )
        res.text_changed = texts1 != texts0
        if shots and self.shots_dir is not None:
            after = self.shots_dir / f"{self.notebook.stem}-after.png"
            output.screenshot(path=str(after))
            self.result.screenshots.append(after)

        # 2. more key presses, timed only (median over several moves)
        for _ in range(timed - 1):
            ms = self._key_move(slider, fig_root)
            assert ms is not None, f"{where}: the figure did not repaint after a key press"
            res.key_ms.append(ms)
        cpu1 = self._cpu(kernel)
        if cpu0 is not None and cpu1 is not None:
            res.kernel_cpu_ms = 1000 * (cpu1 - cpu0) / len(res.key_ms)

        # 3. mouse drag along the track
        figs2, readout2 = self.snapshot(fig_root), self._readout(slider)
        since = page.evaluate("() => performance.now()")
        self._drag(slider)
        painted = self.settle(fig_root, since, expect_paint=True)
        assert painted is not None, f"{where}: the figure did not repaint after a mouse drag"
        res.readout_after_drag = self._readout(slider)
        assert self.snapshot(fig_root) != figs2, f"{where}: a mouse drag did not change the figure"
        assert not readout2 or res.readout_after_drag != readout2, (
            f"{where}: readout still shows {readout2!r} after a drag"
        )


def latency_table(results: list[LectureResult]) -> str:
    """Markdown table: per lecture, run-all seconds, sliders moved, key-press → repaint latency."""
    lines = [
        "| notebook | run all (s) | sliders | timed moves | median (ms) | min (ms) | max (ms) | kernel CPU/move (ms) | goal <= 100 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        ms = r.key_ms
        if ms:
            cpu = "-" if r.kernel_cpu_ms != r.kernel_cpu_ms else f"{r.kernel_cpu_ms:.0f}"
            ok = "yes" if r.median_ms <= 100 else "NO"
            row = f"{len(ms)} | {r.median_ms:.0f} | {min(ms):.0f} | {max(ms):.0f} | {cpu} | {ok}"
        else:
            row = "0 | - | - | - | - | -"
        lines.append(f"| {r.notebook} | {r.run_all_s:.1f} | {len(r.sliders)} | {row} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines.append(
        f"\n(load average {load:.1f} on {os.cpu_count()} CPUs. Latency: key down -> first repaint of the figure. "
        "Kernel CPU/move: the kernel's CPU time per key press; load inflates it less than the latency, but it does.)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """By hand: ``python tests/browser/lab_harness.py notebooks/01_*.ipynb`` runs those notebooks in
    Chromium as the tests do, prints the latency table and saves screenshots; ``--repo`` serves another
    checkout (its library on PYTHONPATH)."""
    import argparse
    import traceback

    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--shots", type=Path, default=ARTIFACTS)
    args = parser.parse_args(argv)
    results, failed = [], 0
    args.shots.mkdir(parents=True, exist_ok=True)
    with LabServer(args.notebooks, repo=args.repo.resolve()) as lab, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_FLAGS)
        ctx = browser.new_context(viewport=VIEWPORT)
        ctx.add_init_script(INIT_SCRIPT + PAGE_HELPERS)
        page = ctx.new_page()
        for nb in args.notebooks:
            driver = NotebookDriver(page, lab, nb, shots_dir=args.shots)
            results.append(driver.result)
            try:
                driver.open()
                driver.clear_and_run_all()
                problems = driver.cell_problems()
                assert not problems, "\n".join(problems)
                driver.move_sliders()
                print(f"{nb.name}: ok ({len(driver.result.sliders)} sliders)", flush=True)
            except Exception:
                failed += 1
                print(f"{nb.name}: FAILED\n{traceback.format_exc(limit=1)}", flush=True)
                page.screenshot(path=str(args.shots / f"FAILED-{nb.stem}.png"))
            finally:
                driver.close()
                lab.shutdown_kernels()
        browser.close()
    print(latency_table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

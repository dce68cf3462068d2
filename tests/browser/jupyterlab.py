"""Driving JupyterLab in Chromium as a student does: menus, keyboard and mouse.

The page's state is read through JupyterLab's own application object (the server runs with
``expose_app_in_browser``): which cells ran, their outputs, the kernel's status. Sliders are read
from what is drawn: the slider's readout text and the bytes of the picture on screen.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass

from playwright.sync_api import Locator, Page

from .server import LabServer

WAIT_S = 60              # ceiling for anything the browser does by itself (never a measured time)

_NOTEBOOK = "window.jupyterapp.shell.currentWidget"
READY_JS = f"""(cells) => {{
    const w = window.jupyterapp && {_NOTEBOOK};
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return !!(w && w.context && w.context.isReady && k && k.status === 'idle'
              && w.content.model.cells.length === cells);
}}"""
CELLS_JS = f"""() => {{
    const cells = {_NOTEBOOK}.content.model.cells, out = [];
    for (let i = 0; i < cells.length; i++) {{
        const c = cells.get(i);
        const outputs = c.type !== 'code' ? []
            : [...Array(c.outputs.length).keys()].map(j => c.outputs.get(j).toJSON());
        out.push({{type: c.type, count: c.type === 'code' ? c.executionCount : null, outputs,
                   tags: c.getMetadata('tags') || [], source: c.sharedModel.getSource().slice(0, 80)}});
    }}
    return out;
}}"""
KERNEL_STATUS_JS = f"() => {_NOTEBOOK}.sessionContext.session.kernel.status"
SHOWN_JS = """async (box) => {
    const readout = box.querySelector('.widget-readout');
    const images = [...box.querySelectorAll('img')].filter(i => i.getClientRects().length > 0);
    if (images.length !== 1)
        return {readout: readout && readout.textContent, error: `${images.length} images on screen`};
    const img = images[0], src = img.src;
    const loaded = img.complete && img.naturalWidth > 0;
    const bytes = new Uint8Array(await (await fetch(src)).arrayBuffer());
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return {readout: readout && readout.textContent, loaded, png: btoa(binary)};
}"""


def open_notebook(page: Page, lab: LabServer, path: str, n_cells: int, workspace: str) -> None:
    """Open ``path`` (relative to the server's root) in a fresh workspace; wait until its kernel is idle."""
    page.goto(lab.url(f"lab/workspaces/{workspace}/tree/{path}"))
    page.wait_for_function(READY_JS, arg=n_cells, timeout=180_000)


def _exactly(label: str) -> re.Pattern:
    return re.compile(f"^{re.escape(label)}$")


def menu(page: Page, *labels: str) -> None:
    """Click through the menu bar: ``menu(page, "Run", "Run All Cells")`` (labels match exactly)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=_exactly(labels[0])).click()
    for label in labels[1:-1]:
        page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=_exactly(label)).hover()
    page.locator(".lm-Menu .lm-Menu-itemLabel", has_text=_exactly(labels[-1])).click()


def cells(page: Page) -> list[dict]:
    """Every cell of the open notebook: type, execution count, outputs (nbformat JSON), start of source."""
    return page.evaluate(CELLS_JS)


def wait_for_cell(page: Page, index: int, timeout_s: float) -> None:
    """Wait until code cell ``index`` has run and printed something, or a cell shows an error (which
    stops Run All; cells tagged ``raises-exception`` aside)."""
    page.wait_for_function(f"""() => {{
        const cells = {_NOTEBOOK}.content.model.cells, c = cells.get({index});
        if (c.executionCount !== null && c.outputs.length > 0) return true;
        for (let i = 0; i < cells.length; i++) {{
            const d = cells.get(i);
            if (d.type !== 'code' || (d.getMetadata('tags') || []).includes('raises-exception')) continue;
            for (let j = 0; j < d.outputs.length; j++) if (d.outputs.get(j).type === 'error') return true;
        }}
        return false;
    }}""", timeout=timeout_s * 1000, polling=500)


def kernel_status(page: Page) -> str:
    return page.evaluate(KERNEL_STATUS_JS)


def wait_for_kernel(page: Page, status: str) -> None:
    page.wait_for_function(f"() => ({KERNEL_STATUS_JS})() === {json.dumps(status)}", timeout=WAIT_S * 1000)


def errors_in(notebook_cells: list[dict]) -> list[str]:
    """One line per code cell that did not run or shows an error (an error output or a traceback),
    except cells tagged ``raises-exception``: those show an error on purpose (and Run All goes on)."""
    problems = []
    for i, cell in enumerate(notebook_cells):
        if cell["type"] != "code" or "raises-exception" in cell["tags"]:
            continue
        if cell["count"] is None:
            problems.append(f"cell {i} did not run: {cell['source']!r}")
        for out in cell["outputs"]:
            text = out.get("text", "") if out["output_type"] == "stream" else ""
            if out["output_type"] == "error" or "Traceback (most recent call last)" in text:
                problems.append(f"cell {i} shows an error: {out.get('ename', '')} {out.get('evalue', text[-200:])}")
    return problems


def sha(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


@dataclass
class Slider:
    """One frame slider on the page, and the frames its notebook computed for it (from the kernel)."""
    page: Page
    box: Locator
    values: list[int]           # the t of each frame, one per slider position
    frame_sha: list[str]        # SHA-256 of each frame's PNG bytes

    def shown(self) -> dict:
        """What is on screen now: the readout text and the bytes of the one visible picture."""
        return self.box.evaluate(SHOWN_JS)

    def expect_frame(self, t: int | None = None, what: str = "") -> int:
        """Wait until the readout shows ``t`` (any of the slider's values if None) and the picture on screen
        is the frame the notebook computed for the readout's t; return that t. Fails with what is shown."""
        deadline, state = time.monotonic() + WAIT_S, {}
        while time.monotonic() < deadline:
            state = self.shown()
            readout = (state.get("readout") or "").strip()
            if readout in map(str, self.values) and (t is None or readout == str(t)) and state.get("png"):
                expected = self.frame_sha[self.values.index(int(readout))]
                if state["loaded"] and sha(base64.b64decode(state["png"])) == expected:
                    return int(readout)
            self.page.wait_for_timeout(200)
        shown = sha(base64.b64decode(state["png"])) if state.get("png") else state.get("error")
        index = {s: i for i, s in enumerate(self.frame_sha)}.get(shown, "none of them")
        raise AssertionError(f"{what}: expected readout {t if t is not None else 'a slider position'} and its "
                             f"frame; the readout says {state.get('readout')!r} and the picture is frame {index}")

    def handle(self) -> Locator:
        return self.box.locator(".noUi-handle")

    def key(self, key: str, times: int = 1) -> None:
        """Focus the slider's handle and press ``key`` (``End``, ``Home``, ``ArrowRight``...)."""
        self.box.scroll_into_view_if_needed()
        self.handle().focus()
        for _ in range(times):
            self.page.keyboard.press(key)

    def drag_to(self, fraction: float) -> None:
        """Drag the handle with the mouse to ``fraction`` of the track (below 0 or above 1: past its ends)."""
        self.box.scroll_into_view_if_needed()
        handle = self.handle().bounding_box()
        track = self.box.locator(".noUi-base").bounding_box()
        y = handle["y"] + handle["height"] / 2
        self.page.mouse.move(handle["x"] + handle["width"] / 2, y)
        self.page.mouse.down()
        self.page.mouse.move(track["x"] + fraction * track["width"], y, steps=8)
        self.page.mouse.up()

    def play_button(self) -> Locator:
        return self.box.locator(".widget-play button").first

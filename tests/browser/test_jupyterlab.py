"""The course in JupyterLab 4 and headless Chromium, used as a student uses it (``make test-browser``).

Per notebook, on a scratch copy served by JupyterLab (fast settings, DDPM_FAST=1):
- opened fresh, without running: the committed outputs show no error, every figure loads, no widget
  shows as a bare text repr, every slider has a static figure right after it; once the notebook is
  trusted, every widget is drawn from the saved widget state, and each slider's Home and End keys show
  the frames saved for its ends (no kernel involved);
- with a slider (it calls ``frame_slider``): Run menu, Run All Cells; no cell shows an error; while a
  last cell keeps the kernel busy, each slider drawn is moved with the keyboard (End, Home, arrows to the
  middle) and the mouse (dragged past both ends and to the middle) and after each move the readout
  and the picture on screen must be those of the frame the notebook computed for that t; Play must
  advance the frames. Then the kernel is interrupted and the picture must still match the readout.
- notebook 11 (the analysis): File, Save and Export Notebook As, PDF gives a PDF (where LaTeX is installed).
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import sys
import textwrap
import time

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from helpers.io import ROOT

pytestmark = pytest.mark.slow          # a JupyterLab server and a browser; make test-browser runs these

from .jupyterlab import (
    Slider,
    cells,
    errors_in,
    kernel_status,
    menu,
    open_notebook,
    sha,
    wait_for_cell,
    wait_for_kernel,
)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SLIDER_NOTEBOOKS = [p for p in NOTEBOOKS if "frame_slider(" in p.read_text()]
RUN_ALL_S = 900                  # ceiling for Run All of one notebook in fast mode on a busy 2-core CPU
BARE_REPR = re.compile(r"\b[A-Z]\w*\((children|value|options|description)=")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

PROBE = textwrap.dedent('''\
    # browser test: tell the test which frames each slider of this page shows (appended to a scratch copy)
    def _browser_probe():
        import hashlib, json, sys
        import ipywidgets
        from ipywidgets.widgets import widget as widget_module
        from helpers.widgets import FrameSlider
        registry = getattr(widget_module, "_instances", None)
        registry = ipywidgets.Widget.widgets if registry is None else registry
        boxes = [w for w in list(registry.values()) if isinstance(w, FrameSlider)]
        for k, box in enumerate(boxes):
            box.add_class(f"frame-slider-{k}")
        print("BROWSER-PROBE " + json.dumps({
            "python": sys.executable, "ipywidgets": ipywidgets.__version__,
            "sliders": [{"values": b.values, "browser": isinstance(b.picture, getattr(ipywidgets, "Stack", ())),
                         "sha": [hashlib.sha256(f).hexdigest() for f in b.frames]} for b in boxes]}))
    _browser_probe()
''')
BUSY = ("# browser test: keep the kernel busy while the sliders move (the test interrupts this)\n"
        "import time\ntime.sleep(900)")


def scratch_copy(lab, path, folder: str, extra_cells: tuple[str, ...] = ()) -> tuple[str, int]:
    """Copy notebook ``path`` into the server's ``folder`` (plus ``extra_cells``); return (its path, cell count)."""
    nb = nbformat.read(path, as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in extra_cells]
    (lab.root / folder).mkdir(exist_ok=True)
    nbformat.write(nb, lab.root / folder / path.name)
    return f"{folder}/{path.name}", len(nb.cells)


def probe_report(cell: dict) -> dict:
    """The JSON the probe cell printed: the kernel's Python and ipywidgets, and each slider's values and frames."""
    text = "".join(out.get("text", "") for out in cell["outputs"])
    assert "BROWSER-PROBE " in text, f"the probe cell printed no report: {text[-500:]}"
    return json.loads(text.split("BROWSER-PROBE ", 1)[1])


def exercise(slider: Slider, when: str) -> None:
    """Keyboard, mouse and Play; after each, the readout and the picture must be the frame for that t."""
    first, last = slider.values[0], slider.values[-1]
    middle = slider.values[len(slider.values) // 2]
    slider.key("End")
    slider.expect_frame(last, f"End key, {when}")
    slider.key("Home")
    slider.expect_frame(first, f"Home key, {when}")
    slider.key("ArrowRight", len(slider.values) // 2)
    slider.expect_frame(middle, f"right arrow to the middle, {when}")
    slider.drag_to(1.2)
    slider.expect_frame(last, f"dragged past the right end, {when}")
    slider.drag_to(-0.2)
    slider.expect_frame(first, f"dragged past the left end, {when}")
    slider.drag_to(0.5)
    t = slider.expect_frame(None, f"dragged to the middle, {when}")
    assert first < t < last, f"dragged to the middle of the track, the slider reads {t}"
    played = play_a_little(slider, when)
    assert played > first, f"Play did not advance the slider ({when})"


def play_a_little(slider: Slider, when: str) -> int:
    """From the first frame, press Play, wait until it has advanced two steps, pause; return the t shown."""
    slider.key("Home")
    slider.expect_frame(slider.values[0], f"Home key before Play, {when}")
    slider.play_button().click()
    readout = slider.box.locator(".widget-readout")
    slider.page.wait_for_function("([el, t]) => parseInt(el.textContent) >= t",
                                  arg=[readout.element_handle(), slider.values[2]], timeout=60_000)
    if slider.box.locator(".widget-play .fa-pause").count():
        slider.play_button().click()
    return slider.expect_frame(None, f"after Play, {when}")


def distinct_ends(slider: Slider) -> None:
    """The frames at the start, middle and end differ, so the checks above can tell them apart."""
    picks = (0, len(slider.values) // 2, -1)
    assert len(slider.values) >= 3, f"a slider of {len(slider.values)} frames"
    assert len({slider.frame_sha[i] for i in picks}) == 3, \
        f"the slider's frames at t = {[slider.values[i] for i in picks]} are not three different pictures"


@pytest.mark.parametrize("path", SLIDER_NOTEBOOKS, ids=lambda p: p.stem)
def test_sliders_after_run_all(lab, page, path):
    """Run All from the menu; then every slider, moved while the kernel is busy, shows the right frames."""
    name, n_cells = scratch_copy(lab, path, "run", (PROBE, BUSY))
    open_notebook(page, lab, name, n_cells, workspace=f"run-{path.stem}")
    menu(page, "Run", "Run All Cells")
    wait_for_cell(page, n_cells - 2, RUN_ALL_S)
    notebook = cells(page)
    problems = errors_in(notebook[:-1])
    assert not problems, f"{path.name} after Run All:\n" + "\n".join(problems)
    report = probe_report(notebook[-2])
    assert report["python"] == sys.executable, f"the kernel runs {report['python']}, not this environment's Python"
    assert kernel_status(page) == "busy", "the last cell should keep the kernel busy"
    page.wait_for_function("""() => [...document.querySelectorAll('.frame-slider')]       // the probe's classes
        .every(e => [...e.classList].some(c => /^frame-slider-\\d+$/.test(c)))""", timeout=60_000)
    drawn = [(Slider(page, page.locator(f".frame-slider-{k}"), s["values"], s["sha"]), s["browser"])
             for k, s in enumerate(report["sliders"])]
    drawn = [(slider, browser) for slider, browser in drawn if slider.box.count()]   # collapsed outputs aside
    assert drawn, f"{path.name} calls frame_slider but no slider is drawn"
    for slider, browser in drawn:
        assert slider.box.count() == 1, "a slider is drawn twice"
        distinct_ends(slider)
        if browser:
            exercise(slider, "kernel busy")
        else:
            assert "kernel is idle" in slider.box.text_content(), "a kernel-side slider needs its note"
    menu(page, "Kernel", "Interrupt Kernel")
    wait_for_kernel(page, "idle")
    for slider, browser in drawn:
        if browser:
            slider.expect_frame(None, "after the kernel caught up")
        else:
            exercise(slider, "kernel idle")


def saved_ends(nb: nbformat.NotebookNode) -> dict[str, dict[str, str]]:
    """From the saved widget state, for each frame slider whose frames are swapped in the browser:
    its description -> {value read out at either end: SHA-256 of the frame saved for it}."""
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    model = {key: value["state"] | {"_buffers": value.get("buffers", [])} for key, value in state.items()}

    def ref(reference: str) -> dict:
        return model[reference.removeprefix("IPY_MODEL_")]

    found: dict[str, dict[str, str]] = {}
    for m in model.values():
        if m.get("_model_name") != "VBoxModel" or "frame-slider" not in m.get("_dom_classes", []):
            continue
        slider, picture = ref(ref(m["children"][0])["children"][1]), ref(m["children"][1])
        if picture.get("_model_name") != "StackModel":
            continue                                    # a kernel-side picture cannot change without a kernel
        for end in (0, -1):
            data = next(b["data"] for b in ref(picture["children"][end])["_buffers"] if b["path"] == ["value"])
            found.setdefault(slider.get("description", ""), {})[slider["_options_labels"][end]] = \
                hashlib.sha256(base64.b64decode(data)).hexdigest()
    return found


def scroll_through(page) -> None:
    """Scroll every cell into view once, as a reader does, so that every output gets drawn."""
    page.evaluate("""async () => { for (const cell of document.querySelectorAll('.jp-Notebook .jp-Cell')) {
        cell.scrollIntoView(); await new Promise(r => requestAnimationFrame(() => setTimeout(r, 20))); } }""")


def outputs_on_screen(page) -> tuple[list[str], list[bool]]:
    """Text of every output area, and for every figure in them whether it loaded."""
    texts = page.locator(".jp-OutputArea-output").all_text_contents()
    loaded = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".map(i => i.complete && i.naturalWidth > 0)")
    return texts, loaded


def static_figure_follows(nb: nbformat.NotebookNode) -> list[str]:
    """One line per widget output without a figure in its own or one of the next two code cells."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    missing = []
    for i, cell in enumerate(code):
        if any(WIDGET_MIME in o.get("data", {}) for o in cell.outputs):
            after = [o for c in code[i:i + 3] for o in c.outputs]
            if not any("image/png" in o.get("data", {}) for o in after):
                missing.append(f"no static figure after the widget of {cell.source[:60]!r}")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_render(lab, page, path):
    """Opened fresh (untrusted, not run): what a reader of the committed notebook sees."""
    nb = nbformat.read(path, as_version=4)
    name, n_cells = scratch_copy(lab, path, "fresh")
    open_notebook(page, lab, name, n_cells, workspace=f"fresh-{path.stem}")
    assert not errors_in([c for c in cells(page) if c["count"] is not None]), "a committed output is an error"
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                  and not c.metadata.get("jupyter", {}).get("outputs_hidden") for o in c.outputs)
    scroll_through(page)
    try:
        page.wait_for_function("""(n) => [...document.querySelectorAll('.jp-OutputArea-output img')]
                                  .filter(i => i.complete && i.naturalWidth > 0).length >= n""", arg=figures,
                               timeout=60_000)
    except PlaywrightTimeout:
        pass                                            # the assertion below says how many were drawn
    texts, loaded = outputs_on_screen(page)
    assert sum(loaded) >= figures, f"{sum(loaded)} of {figures} figures drawn (collapsed ones aside)"
    bare = [t[:80] for t in texts if BARE_REPR.search(t) or "Error displaying widget" in t]
    assert not bare, f"widgets shown as text in the untrusted notebook: {bare}"
    assert not static_figure_follows(nb), static_figure_follows(nb)
    check_saved_sliders(page, nb)


def check_saved_sliders(page, nb: nbformat.NotebookNode) -> None:
    """Trust the notebook: every slider is drawn from the saved state, and its Home and End keys show
    the frames saved for its two ends, with no kernel involved."""
    visible = [c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("jupyter", {}).get("outputs_hidden")]
    n_widgets = sum(WIDGET_MIME in o.get("data", {}) for c in visible for o in c.outputs)
    if not n_widgets:
        return
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:trust'); }")
    page.locator(".jp-Dialog-button", has_text="Trust").click()
    page.wait_for_function("""(n) => [...document.querySelectorAll('.jp-OutputArea-output')]
                              .filter(e => e.querySelector('.jupyter-widgets')).length >= n""", arg=n_widgets,
                           timeout=60_000)
    broken = [t[:80] for t in outputs_on_screen(page)[0] if "Error displaying widget" in t]
    assert not broken, f"widgets that cannot be drawn from the saved state: {broken}"
    expected = saved_ends(nb)
    if expected:
        page.locator(".frame-slider").first.wait_for(timeout=60_000)
    boxes = page.locator(".frame-slider")
    assert boxes.count() >= len(expected), f"{boxes.count()} sliders drawn from the saved state of {len(expected)}"
    for k in range(boxes.count()):
        slider = Slider(page, boxes.nth(k), [], [])
        description = slider.box.locator(".widget-label").first.text_content()
        ends = expected.get(description)
        assert ends, f"slider {description!r} on the page is not in the saved state {list(expected)}"
        assert len(set(ends.values())) == 2, f"slider {description!r}: the saved ends show the same picture"
        for key, label in zip(("Home", "End"), ends):            # ends: first value, then last
            slider.key(key)
            _, shown = wait_shown(slider, {label})
            assert sha(shown) == ends[label], f"slider {description!r}: {key} shows another picture than saved"


def wait_shown(slider: Slider, readouts: set[str]) -> tuple[str, bytes]:
    """Wait until the readout says one of ``readouts`` with one loaded picture; return it and the picture's bytes."""
    deadline, state = time.monotonic() + 60, {}
    while time.monotonic() < deadline:
        state = slider.shown()
        readout = (state.get("readout") or "").strip()
        if readout in readouts and state.get("loaded"):
            return readout, base64.b64decode(state["png"])
        slider.page.wait_for_timeout(200)
    raise AssertionError(f"expected a readout in {readouts} and a picture, got {state}")


def test_pdf_export_from_the_file_menu(lab, page):
    """File, Save and Export Notebook As, PDF on the analysis: the route README.md describes."""
    from pypdf import PdfReader

    from experiments.export_report import TEX_PACKAGES, have_latex

    if not have_latex():
        pytest.skip("JupyterLab's PDF export needs xelatex and pandoc: apt-get install " + " ".join(TEX_PACKAGES))
    path = ROOT / "notebooks" / "11_analysis.ipynb"
    name, n_cells = scratch_copy(lab, path, "export")
    open_notebook(page, lab, name, n_cells, workspace="export")
    with page.expect_download(timeout=300_000) as download:
        menu(page, "File", "Save and Export Notebook As", "PDF")
    pdf = download.value.path()
    assert download.value.suggested_filename.endswith(".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-", "the export is not a PDF"
    reader = PdfReader(pdf)
    title = nbformat.read(path, as_version=4).cells[0].source.splitlines()[0].lstrip("# ").strip()
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    assert len(reader.pages) >= 4 and title[:20] in text, f"{len(reader.pages)} pages; title {title!r} not found"

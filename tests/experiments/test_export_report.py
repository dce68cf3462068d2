"""The analysis exports: PDF where LaTeX is installed, else HTML; every heading and figure, no code."""
import base64
import re

import nbformat
import pytest

from experiments import export_report
from experiments.common import ROOT

pytestmark = pytest.mark.slow          # executes notebook 11 in a fresh kernel, then exports it


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Notebook 11 executed in a fresh kernel on the committed results, then exported."""
    out = tmp_path_factory.mktemp("report")
    return export_report.main(["--format", "auto", "--out-dir", str(out)])


def _headings(nb) -> list[str]:
    return [line.lstrip("#").strip() for cell in nb.cells if cell.cell_type == "markdown"
            for line in cell.source.splitlines() if re.match(r"#{1,2} ", line)]


def _figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_export_has_every_heading_and_figure_and_no_code(exported):
    path = exported
    full = nbformat.read(ROOT / "notebooks" / "11_analysis.ipynb", as_version=4)
    nb = export_report.report_cells(full)
    headings, figures = _headings(nb), _figures(nb)     # what the report keeps: no set-up cell, no exercises
    assert len(headings) >= 7 and figures >= 5            # a title, the seed's six sections; real plots
    code_line = next(line for c in full.cells if c.cell_type == "code" for line in c.source.splitlines()
                     if line.startswith("from helpers"))
    if path.suffix == ".pdf":
        from pypdf import PdfReader
        reader = PdfReader(path)
        text = "\n".join(page.extract_text() for page in reader.pages)
        images = sum(len(page.images) for page in reader.pages)
        assert 4 <= len(reader.pages) <= 40
    else:
        text = path.read_text()
        images = len(re.findall(r'<img[^>]+src="data:image/png;base64,', text))
        for m in re.finditer(r'src="data:image/png;base64,([^"]+)"', text):
            assert base64.b64decode(m.group(1))[:4] == b"\x89PNG"
    flat = _norm(text)
    missing = [h for h in headings if _norm(h) not in flat]
    assert not missing, f"headings missing from {path.name}: {missing}"
    assert images >= figures, f"{path.name} shows {images} images, the notebook draws {figures}"
    assert _norm(code_line) not in flat, "code cells leaked into the report"
    assert not any(r in text for r in export_report.WIDGET_REPRS)


def test_the_report_quotes_the_results_files(exported):
    """Numbers in the report are computed from the committed files: the headline ones must appear as the files say."""
    import json

    from pypdf import PdfReader
    text = "\n".join(p.extract_text() for p in PdfReader(exported).pages) if exported.suffix == ".pdf" \
        else re.sub(r"<[^>]+>", " ", exported.read_text())
    quality = json.loads((ROOT / "results" / "reference_quality.json").read_text())
    judge = json.loads((ROOT / "models" / "digit_classifier.json").read_text())
    ref = json.loads((ROOT / "models" / "ddpm_reference.json").read_text())
    flat = " ".join(text.split())
    for quoted in (f"{quality['guided']['accuracy']:.2%}", f"{judge['test_accuracy']:.2%}",
                   f"{ref['steps']:,} steps"):          # commands live in the lab notes, not in the report
        assert quoted in flat, f"the report does not quote {quoted!r}"
    assert "–guidance" not in flat, "a command lost its double dash in the export"

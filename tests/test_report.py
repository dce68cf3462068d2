"""The written analysis (notebook 11) and its export to report/report.pdf: the report's sections,
its references, where machines and dates may appear, the asserts behind its conclusions, and what
the exporter leaves out (checked on the exported HTML, and on the committed PDF's text)."""
import re
import shutil
import subprocess

import nbformat
import pytest

from experiments.export_report import export, keep_tables_together, report_cells
from helpers.io import ROOT

NOTEBOOK = ROOT / "notebooks" / "11_analysis.ipynb"
SECTIONS = ["Abstract", "Method", "Results", "Discussion", "Limitations", "References", "Your turn"]
CITATION = re.compile(r"\b([A-Z][\w'-]+(?: et al\.| & [A-Z][\w'-]+)?),? \(?((?:19|20)\d\d)\b")
MACHINE_OR_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b|Xeon|EPYC|\bH[12]00\b|\bA100\b|\bcores\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def sections(nb):
    """{level-2 heading: [cells under it]}, in order; the cells before the first heading are under ''."""
    out, current = {"": []}, ""
    for cell in nb.cells:
        heading = re.match(r"## (.+)", cell.source) if cell.cell_type == "markdown" else None
        if heading:
            current = heading.group(1).strip()
            out[current] = []
        out[current].append(cell)
    return out


def shown_text(cell):
    """What a reader sees of a cell: a markdown cell's source, a code cell's printed and displayed outputs."""
    if cell.cell_type == "markdown":
        return cell.source
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        data = output.get("data", {})
        parts += [data.get("text/markdown", ""), data.get("text/plain", "")]
    return "\n".join(parts)


def test_the_sections_exist_in_order_after_the_title(nb):
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    inner = [c.source[:40] for c in nb.cells if c.cell_type == "markdown" and re.search(r"\n#{1,2} ", c.source)]
    assert not inner, f"a section must start its own cell: {inner}"
    assert [h for h in sections(nb) if h] == SECTIONS


def test_every_citation_is_in_the_references_and_every_reference_is_cited(nb):
    parts = sections(nb)
    listed = re.findall(r"^- \*\*(.+?)\.\*\* ", "\n".join(c.source for c in parts["References"]), flags=re.M)
    assert len(listed) == len(set(listed)) >= 11
    body = "\n".join(c.source for h, cs in parts.items() if h != "References" for c in cs if c.cell_type == "markdown")
    cited = {f"{who} {year}" for who, year in CITATION.findall(body)}
    assert cited == set(listed), (sorted(cited - set(listed)), sorted(set(listed) - cited))
    for required in ("Ho et al. 2020", "Song et al. 2021", "Ho & Salimans 2022", "Heusel et al. 2017",
                     "Radford et al. 2021", "Nichol & Dhariwal 2021", "Karras et al. 2022", "Lu et al. 2022",
                     "Salimans & Ho 2022", "Lipman et al. 2023", "Ronneberger et al. 2015"):
        assert required in listed, required


def test_references_are_written_in_full(nb):
    for line in re.findall(r"^- \*\*.+$", sections(nb)["References"][0].source, flags=re.M):
        key, rest = line.split(".** ", 1)
        assert rest.count(". ") >= 2 and re.search(r"(19|20)\d\d\.$", rest), f"authors, title, venue, year: {line}"


def test_machines_and_dates_appear_once_in_the_method_section_only(nb):
    for heading, cells in sections(nb).items():
        hits = [m.group(0) for c in cells for m in MACHINE_OR_DATE.finditer(shown_text(c))]
        if heading != "Method":
            assert not hits, f"{heading or 'the title'} names a machine or date: {hits}"
    method_lines = [line for c in sections(nb)["Method"] for line in shown_text(c).splitlines()
                    if MACHINE_OR_DATE.search(line)]
    assert len(method_lines) == 1 and method_lines[0].startswith("Measured on "), method_lines


def test_the_prose_is_markdown_not_generated(nb):
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "say(" not in code and "def say" not in code
    assert not any("exported as" in shown_text(c) for c in nb.cells)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def test_each_claim_is_checked_by_an_assert_and_given_a_verdict(nb):
    results = sections(nb)["Results"]
    claims, current = {}, None
    for cell in results:
        if cell.cell_type == "code" and current:
            claims[current]["asserts"] += len(re.findall(r"^\s*assert ", cell.source, flags=re.M))
            continue
        for chunk in re.split(r"(?m)^(?=### )", cell.source) if cell.cell_type == "markdown" else []:
            heading = re.match(r"### (Claims? [\d and]+)", chunk)
            if chunk.startswith("### "):
                current = heading and heading.group(1).strip()
                claims.update({current: {"asserts": 0, "verdict": False}} if current else {})
            if current and re.search(r"\*\*Verdict: (supported|refuted|partly)", chunk):
                claims[current]["verdict"] = True
    numbers = sorted(int(n) for name in claims for n in re.findall(r"\d+", name))
    assert numbers == list(range(1, 11)), numbers
    for name, found in claims.items():
        assert found["asserts"] >= 1 and found["verdict"], (name, found)


def test_the_loss_spike_is_explained_in_its_caption(nb):
    caption = next(c.source for c in nb.cells if c.cell_type == "markdown" and "spike" in c.source)
    assert caption.startswith("*Figure") and "learning-rate schedule" in caption and "resumed" in caption


def test_the_exercises_are_three_with_collapsed_solutions_one_against_a_results_file(nb):
    exercises = sections(nb)["Your turn"]
    questions = [c for c in exercises if c.cell_type == "markdown" and re.match(r"\*\*\d\. ", c.source)]
    solutions = [c for c in exercises if c.cell_type == "code"]
    assert len(questions) == len(solutions) == 3
    for cell in solutions:
        assert "solution" in cell.metadata["tags"] and cell.metadata["jupyter"]["source_hidden"]
        assert cell.execution_count is not None
    assert any("results file" in " ".join(q.source.split()) and "assert" in q.source for q in questions)


def test_report_cells_drop_setup_solutions_and_everything_from_your_turn():
    cell = nbformat.v4.new_markdown_cell
    nb = nbformat.v4.new_notebook(cells=[
        cell("# Title"), nbformat.v4.new_code_cell("import sys", metadata={"tags": ["setup"]}),
        cell("## Abstract\n\ntext"), cell("## References\n\n- a\n\n## Your turn\n\nquestion"),
        cell("**1. q**"), nbformat.v4.new_code_cell("answer", metadata={"tags": ["solution"]})])
    kept = report_cells(nb)
    assert [c.source for c in kept.cells] == ["# Title", "## Abstract\n\ntext", "## References\n\n- a"]
    assert kept.metadata["date"] == "" and len(nb.cells) == 6, "the original is left as it was"


def test_tables_are_kept_on_one_page_with_their_heading():
    latex = ("\\begin{document}\nx\n\\hypertarget{v}{%\n\\subsection{Verdicts}\\label{v}}\n\n"
             "\\begin{longtable}[]{ll}\na & b \\\\\nc & d \\\\\n\\end{longtable}\n")
    once = keep_tables_together(latex)
    assert once == keep_tables_together(once), "LaTeX may run twice on the same file"
    assert once.count("\\usepackage{needspace}") == 1
    assert "x\n\\needspace{8\\baselineskip}\n\\hypertarget{v}" in once


@pytest.fixture(scope="module")
def html(nb, tmp_path_factory):
    return export(nb, "html", tmp_path_factory.mktemp("report")).read_text()


def test_the_exported_html_opens_with_title_and_abstract_and_drops_the_exercises(nb, html):
    text = re.sub(r"<[^>]+>", " ", html.split("<body", 1)[1])
    assert "Your turn" not in text and "Predict, then check" not in text and "REPO_URL" not in text
    assert "exported as" not in text and "The restart, computed" not in text
    headings = re.findall(r"<h2[^>]*>(.*?)<", html)
    assert [h.strip() for h in headings] == SECTIONS[:-1]
    title = nb.cells[0].source[2:].strip()
    assert re.findall(r"<h1[^>]*>(.*?)<", html) == [title], "one title, above the abstract"
    assert html.index(title.split(":")[0]) < html.index("Abstract")


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_the_committed_pdf_starts_with_the_title_and_has_no_exercises():
    text = subprocess.run(["pdftotext", "-layout", str(ROOT / "report" / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    first_page = text.split("\f")[0]
    title = nbformat.read(NOTEBOOK, as_version=4).cells[0].source[2:].strip()
    assert first_page.lstrip().startswith(title.split(":")[0]) and "Abstract" in first_page
    assert "Your turn" not in text and "exported as" not in text
    assert re.search(r"^\s*2\s*$", text.split("\f")[1], flags=re.M), "pages are numbered"

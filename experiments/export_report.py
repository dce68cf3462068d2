"""Export the written analysis (notebook 11) to ``report/report.pdf``, without code cells.

    python -m experiments.export_report                 # execute 11 on the committed results, write the PDF
    python -m experiments.export_report --format html   # no LaTeX needed
    python -m experiments.export_report --format auto   # PDF where xelatex and pandoc exist, else HTML

``make report`` runs the first form. The PDF goes through nbconvert's LaTeX exporter and
xelatex; when ``xelatex`` or ``pandoc`` is missing it installs the Debian packages named in
``TEX_PACKAGES`` with apt-get (root or sudo), or says exactly what to install.
Widgets cannot be printed: the analysis draws static figures only, and the export fails if a
widget's text repr would leak into the report.

The report is the notebook less what only a notebook reader needs: cells tagged ``setup`` (installing
and importing) or ``solution``, and everything from the ``## Your turn`` heading on. It opens with the
title and the abstract, carries no build date, and in the PDF no table is split across two pages.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter, PDFExporter

from helpers.io import ROOT, atomic_write

NOTEBOOK = ROOT / "notebooks" / "11_analysis.ipynb"
TEX_PACKAGES = ["pandoc", "texlive-xetex", "texlive-fonts-recommended", "texlive-plain-generic",
                "texlive-latex-extra"]
WIDGET_REPRS = ("VBox(children", "HBox(children", "IntSlider(", "Play(", "Image(value")
NOTEBOOK_ONLY_TAGS = {"setup", "solution"}
EXERCISES_HEADING = "## Your turn"


def report_cells(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without its notebook-only cells: those tagged ``setup`` or ``solution``, and
    every cell from the ``## Your turn`` heading on."""
    nb = nbformat.from_dict(nb)
    kept = []
    for cell in nb.cells:
        exercises = re.search(rf"^{EXERCISES_HEADING}\b", cell.source, flags=re.MULTILINE)
        if cell.cell_type == "markdown" and exercises:
            cell.source = cell.source[:exercises.start()].rstrip()    # the text above the heading stays
            kept += [cell] if cell.source else []
            break
        if NOTEBOOK_ONLY_TAGS.isdisjoint(cell.metadata.get("tags", [])):
            kept.append(cell)
    nb.cells = kept
    nb.metadata["date"] = ""                 # the title carries no build date: each results file has its own
    return nb


def keep_tables_together(latex: str) -> str:
    """Precede every longtable (and a heading right above it) with ``\\needspace`` for its rows, so a
    short table starts on a new page rather than splitting, and never leaves its heading behind
    (pandoc writes every Markdown table as a longtable, which may break across pages)."""
    def reserve(match: re.Match) -> str:
        rows = match.group(0).count("\\\\")
        return f"\\needspace{{{min(2 * rows + 4, 40)}\\baselineskip}}\n" + match.group(0)
    if "\\usepackage{needspace}" not in latex:
        latex = latex.replace("\\begin{document}", "\\usepackage{needspace}\n\\begin{document}", 1)
    latex = re.sub(r"\\needspace\{\d+\\baselineskip\}\n", "", latex)      # idempotent: LaTeX may run twice
    heading = r"(?:\\hypertarget\{[^{}\n]*\}\{%\n\\(?:sub)*section\{[^\n]*\}\}\s*)?"
    return re.sub(heading + r"\\begin\{longtable\}.*?\\end\{longtable\}", reserve, latex, flags=re.DOTALL)


class ReportPDFExporter(PDFExporter):
    """nbconvert's PDF exporter, with tables kept on one page (:func:`keep_tables_together`)."""

    def run_latex(self, filename, **kwargs):
        path = Path(filename)
        path.write_text(keep_tables_together(path.read_text()))
        return super().run_latex(filename, **kwargs)


def have_latex() -> bool:
    """True when nbconvert's PDF route (pandoc + xelatex) can run here."""
    return shutil.which("xelatex") is not None and shutil.which("pandoc") is not None


def install_latex() -> None:
    """apt-get install the TeX packages, or raise with the command to run by hand."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *TEX_PACKAGES]
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SystemExit("PDF export needs xelatex and pandoc; install them with:\n  sudo "
                             + " ".join(command))
        command = ["sudo", *command]
    print("installing LaTeX for the PDF export:", " ".join(command), file=sys.stderr)
    if subprocess.run(command).returncode != 0 or not have_latex():
        raise SystemExit("could not install xelatex/pandoc; run by hand: " + " ".join(command)
                         + "\n(or export HTML instead: python -m experiments.export_report --format html)")


def executed_notebook(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run ``path`` top to bottom in a fresh kernel (working directory: its folder); return it."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def title_of(nb: nbformat.NotebookNode) -> str:
    """Take the notebook's first heading out of its first cell and return it as the document's title;
    the other headings move up a level (``##`` becomes a numbered section)."""
    first = nb.cells[0]
    heading, _, rest = first.source.partition("\n")
    if first.cell_type != "markdown" or not heading.startswith("# "):
        raise SystemExit("the analysis must open with a markdown cell whose first line is its '# title'")
    first.source = rest.lstrip("\n")
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"^#(#+) ", r"\1 ", cell.source, flags=re.MULTILINE)
    return heading[2:].strip()


def export(nb: nbformat.NotebookNode, fmt: str, out_dir: Path, name: str = "report") -> Path:
    """Write ``nb`` without code and without its notebook-only cells (:func:`report_cells`) as
    ``out_dir/name.pdf`` or ``.html``; returns the path."""
    nb = report_cells(nb)
    exporter = ReportPDFExporter() if fmt == "pdf" else HTMLExporter(embed_images=True)
    exporter.exclude_input = True            # no code, only prose, printed results and figures
    exporter.exclude_input_prompt = exporter.exclude_output_prompt = True
    # the PDF sets the title in LaTeX's title block; a web page keeps it as its first heading
    title = title_of(nb) if fmt == "pdf" else nb.cells[0].source.partition("\n")[0].lstrip("# ")
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return atomic_write(out_dir / f"{name}.{fmt}",
                        lambda tmp: tmp.write_bytes(body if isinstance(body, bytes) else body.encode()))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=["pdf", "html", "auto"], default="pdf")
    parser.add_argument("--out-dir", default=str(ROOT / "report"))
    parser.add_argument("--no-execute", action="store_true", help="export the notebook's stored outputs as they are")
    args = parser.parse_args(argv)
    fmt = args.format
    if fmt == "auto":
        fmt = "pdf" if have_latex() else "html"
    if fmt == "pdf" and not have_latex():
        install_latex()
    nb = nbformat.read(NOTEBOOK, as_version=4) if args.no_execute else executed_notebook(NOTEBOOK)
    for cell in nb.cells:                     # a widget's text fallback must never reach the page
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/plain", "") if "data" in output else output.get("text", "")
            if any(r in text for r in WIDGET_REPRS):
                raise SystemExit(f"the analysis prints a widget repr ({text[:60]!r}); draw a static figure instead")
    path = export(nb, fmt, Path(args.out_dir))
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return path


if __name__ == "__main__":
    main()

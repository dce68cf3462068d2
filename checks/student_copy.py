"""Write the learner's copy of the course: every notebook without its solution cells, outputs cleared.

    python -m checks.student_copy OUTDIR

The committed notebooks stay the single source: this removes each cell tagged ``solution`` (the
collapsed code and its discussion) and every output, and copies the glossary the notebooks link to.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

from helpers.io import ROOT

NOTEBOOKS = ROOT / "notebooks"


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cells tagged ``solution``, its code cells' outputs and counts cleared."""
    out = nbformat.from_dict(nb)
    out.cells = [c for c in out.cells if "solution" not in c.metadata.get("tags", [])]
    for cell in out.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out.metadata.pop("widgets", None)          # saved widget state belongs to the cleared outputs
    return out


def write_student_copy(outdir: Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Write the student copy of ``notebooks`` (default: every numbered notebook) into ``outdir``."""
    paths = notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks to copy in {NOTEBOOKS}")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        target = outdir / path.name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    shutil.copy(NOTEBOOKS / "GLOSSARY.md", outdir / "GLOSSARY.md")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path, help="folder for the copies (created if missing)")
    args = parser.parse_args(argv)
    if args.outdir.resolve() == NOTEBOOKS.resolve():
        parser.error("OUTDIR must not be the course's notebooks/ folder: the copies would replace the originals")
    for path in write_student_copy(args.outdir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

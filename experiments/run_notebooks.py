"""Execute the course notebooks in order, in place, and strip volatile metadata.

    python -m experiments.run_notebooks [NOTEBOOK ...]      # default: notebooks/[0-9]*.ipynb

Each notebook runs top to bottom in a fresh kernel with its working directory in
notebooks/ (as in Jupyter). Its parameters cell decides full or fast settings
(DDPM_FAST=1). The outputs are saved into the notebook, so what git shows is
the result of this run. Prints the wall time of each notebook.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.io import ROOT

VOLATILE_CELL_KEYS = ("execution", "collapsed", "scrolled", "ExecuteTime", "papermill")


def strip(nb: nbformat.NotebookNode) -> None:
    """Remove timestamps and per-run metadata so that reruns give small diffs."""
    for key in ("papermill", "vscode", "colab"):
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if "outputs" in cell:
            cell.outputs = coalesce_streams(cell.outputs)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":      # an intended error: keep its message, not the
                output["traceback"] = output["traceback"][-1:]   # frames, which name this machine's paths


def coalesce_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks into one output, so that a busy machine, which
    delivers a cell's prints in more pieces, gives the same notebook as an idle one."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream" and previous.get("name") == output.get("name")):
            previous["text"] = "".join(previous["text"]) + "".join(output["text"])
        else:
            merged.append(output)
    return merged


def run(path: Path, timeout: int) -> float:
    """Execute ``path`` in place; returns the wall time in seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.monotonic() - start
    strip(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        print(f"  {path.name}: {run(path, args.timeout):.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

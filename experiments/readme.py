"""The README's generated parts: the notebook table with its Colab links, and the results table.

    python -m experiments.readme            # rewrite both blocks of README.md from the files
    python -m experiments.readme --check    # exit 1 if README.md is not what the files say (a test runs this)

Numbers come from the committed results files, links from the repository address in
``pyproject.toml`` (the one the notebooks' set-up cell clones), titles from the notebooks.
"""
from __future__ import annotations

import argparse
import json
import re
import sys

from experiments.common import RESULTS, ROOT
from helpers.config import Config
from helpers.io import atomic_write
from helpers.unet import count_parameters, unet_from_config

NOTEBOOKS = ROOT / "notebooks"


def repo_url() -> str:
    """The repository address, from pyproject.toml's [project.urls] Repository."""
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    if not match:
        raise SystemExit("pyproject.toml has no [project.urls] Repository = \"...\" line")
    return match[1]


def colab_link(notebook: str) -> str:
    """An 'Open in Colab' address for notebooks/NAME.ipynb on the main branch."""
    return f"https://colab.research.google.com/github/{repo_url().removeprefix('https://github.com/')}/blob/main/notebooks/{notebook}"


CORE = ("01", "02", "03", "04", "05", "11")     # the core path: forward process to measuring and guidance, then the analysis


def notebook_table() -> str:
    """One row per notebook: number, title (from its first heading), core path or going further, Colab link."""
    rows = ["| | notebook | | |", "|---|---|---|---|"]
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        first = json.loads(path.read_text())["cells"][0]["source"]
        title = "".join(first).splitlines()[0].lstrip("# ").split("·", 1)[-1].strip()
        path_kind = "core" if path.name[:2] in CORE else "further"
        rows.append(f"| {path.name[:2]} | [{title}](notebooks/{path.name}) | {path_kind} | [Colab]({colab_link(path.name)}) |")
    return "\n".join(rows)


def _machine(record: dict) -> str:
    h = record["hardware"]
    name = h["device_name"].replace("(R)", "").replace(" Processor", "")    # "Intel(R) Xeon(R) Processor"
    return f"{name}, {h['cpu_count']} cores"


def results_table() -> str:
    """The headline measurements, each with its source and machine."""
    quality = json.loads((RESULTS / "reference_quality.json").read_text())
    bench = [json.loads(x) for x in (RESULTS / "benchmarks" / "bench.jsonl").read_text().splitlines()]
    judge = json.loads((ROOT / "models" / "digit_classifier.json").read_text())
    aug = json.loads((RESULTS / "applications.json").read_text())["augmentation"]
    fg = json.loads((RESULTS / "fashion" / "reference_quality.json").read_text())["guided"]
    fjudge = json.loads((ROOT / "models" / "fashion_classifier.json").read_text())
    ratio = lambda r: r["distances"]["fid"] / r["floor"]["fid"]  # noqa: E731
    g, close, ur = quality["guided"], quality["guided_ddpm50_w1.1"], quality["uncond_reference_n10000"]
    default_size = count_parameters(unet_from_config(Config()))          # today's default, not an earlier one's
    cpu15 = next(r for r in reversed(bench) if r["benchmark"] == "time_to_digits" and not r["label"]
                 and r["budget"] == {"minutes": 15.0} and r["guidance"] == 1.5 and r["parameters"] == default_size)
    fast = next(r for r in reversed(bench) if r["benchmark"] == "sampling_speed" and r.get("call_n") == 100
                and r["checkpoint"] == "ddpm_reference.pt" and r["sampler"] == "dpm++" and r["sampler_steps"] == 5)
    rows = ["| measured | read as asked | FID / floor | on |", "|---|---|---|---|",
            f"| reference model, 10,000 digits, w = {g['guidance']:g}, DDIM {g['steps']} steps | {g['accuracy']:.2%} "
            f"| {ratio(g):.2f} | {_machine(g)} |",
            f"| the same, w = {close['guidance']:g}, DDPM {close['steps']} steps (closest to real digits) "
            f"| {close['accuracy']:.2%} | {ratio(close):.2f} | {_machine(close)} |",
            f"| trained from scratch, 15 CPU-minutes ({cpu15['train_steps']:,} steps), 1,000 digits, "
            f"w = {cpu15['guidance']:g} | "
            f"{cpu15['accuracy']:.1%} | {cpu15['fid_over_floor']:.2f} | {_machine(cpu15)} |",
            f"| 100 guided digits in {fast['call_s']:.2f} s (DPM-Solver++, {fast['network_calls']} network calls; "
            f"{fast['n']:,} scored) | {fast['accuracy']:.1%} | {fast['fid_over_floor']:.2f} | {_machine(fast)} |",
            f"| unconditional reference (no labels), {ur['n']:,} digits, autoguided, DDPM {ur['steps']} steps "
            f"| {ur['share_confident']:.1%} recognisable | {ratio(ur):.2f} | {_machine(ur)} |",
            f"| a classifier trained only on {aug['generated']:,} generated digits, on MNIST's test digits "
            f"(notebook 09) | {aug['runs']['generated']['accuracy']:.2%} | | {_machine(aug)} |",
            f"| the judge: the course's digit classifier, on MNIST's {judge['test_images']:,} test digits "
            f"| {judge['test_accuracy']:.2%} | | {_machine(judge)} |",
            f"| Fashion-MNIST reference, {fg['n']:,} images, w = {fg['guidance']:g}, DDIM {fg['steps']} steps "
            f"(judge: {fjudge['test_accuracy']:.1%} on real ones) | {fg['accuracy']:.2%} | {ratio(fg):.2f} "
            f"| {_machine(fg)} |"]
    return "\n".join(rows)


def render(text: str) -> str:
    """``text`` with its two generated blocks replaced by what the files say now."""
    for name, block in (("notebooks", notebook_table()), ("results", results_table())):
        pattern = re.compile(rf"(<!-- {name}:start[^>]*-->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"README.md lacks the markers <!-- {name}:start --> and <!-- {name}:end -->")
        text = pattern.sub(lambda m: m[1] + block + "\n" + m[2], text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    args = parser.parse_args(argv)
    path = ROOT / "README.md"
    text = path.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print("README.md is out of date with the results files: run python -m experiments.readme", file=sys.stderr)
            return 1
        return 0
    atomic_write(path, lambda tmp: tmp.write_text(new))
    return 0


if __name__ == "__main__":
    sys.exit(main())

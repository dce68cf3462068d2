"""The README's generated parts, and the repository address in every notebook.

    python -m experiments.readme            # rewrite README.md's blocks and the notebooks' REPO_URL from the files
    python -m experiments.readme --check    # exit 1 if README.md or a notebook is not what the files say (a test runs this)

Numbers come from the committed results files, titles from the notebooks, and the address
where the course is published from ``pyproject.toml`` ([project.urls] Repository): the Colab
links of the README and the ``REPO_URL`` line of each notebook's set-up cell both follow it, so
a fork changes that one line and runs this command.
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


def machine_name(record: dict) -> str:
    """A record's processor, short: "Intel(R) Xeon(R) Processor" -> "Intel Xeon"."""
    return record["hardware"]["device_name"].replace("(R)", "").replace(" Processor", "").strip()


def provenance(records: list[dict]) -> str:
    """One line: the machines and the dates of ``records`` (each with "hardware" and "date")."""
    machines = sorted({machine_name(r) for r in records})
    cores = sorted({r["hardware"]["cpu_count"] for r in records})
    dates = sorted({r["date"] for r in records})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    return (f"Measured on {'/'.join(map(str, cores))}-core CPUs ({', '.join(machines)}), {when}; "
            "the results files keep each figure's machine and date.")


def results_table() -> str:
    """The headline measurements, each from its results file, then one line saying where they were measured."""
    quality = json.loads((RESULTS / "reference_quality.json").read_text())
    bench = [json.loads(x) for x in (RESULTS / "benchmarks" / "bench.jsonl").read_text().splitlines()]
    judge = json.loads((ROOT / "models" / "digit_classifier.json").read_text())
    aug = json.loads((RESULTS / "applications.json").read_text())["augmentation"]
    fg = json.loads((RESULTS / "fashion" / "reference_quality.json").read_text())["guided"]
    fjudge = json.loads((ROOT / "models" / "fashion_classifier.json").read_text())
    ratio = lambda r: r["distances"]["fid"] / r["floor"]["fid"]  # noqa: E731
    g, close, ur = quality["guided"], quality["guided_ddpm50_w1.1"], quality["uncond_reference_n10000"]
    default_size = count_parameters(unet_from_config(Config()))          # the file holds other networks' runs too
    cpu15 = next(r for r in reversed(bench) if r["benchmark"] == "time_to_digits" and not r["label"]
                 and r["budget"] == {"minutes": 15.0} and r["guidance"] == 1.5 and r["parameters"] == default_size)
    fast = next(r for r in reversed(bench) if r["benchmark"] == "sampling_speed" and r.get("call_n") == 100
                and r["checkpoint"] == "ddpm_reference.pt" and r["sampler"] == "dpm++" and r["sampler_steps"] == 5)
    rows = ["| measured | read as asked | FID / floor |", "|---|---|---|",
            f"| reference model, 10,000 digits, w = {g['guidance']:g}, DDIM {g['steps']} steps | {g['accuracy']:.2%} "
            f"| {ratio(g):.2f} |",
            f"| the same, w = {close['guidance']:g}, DDPM {close['steps']} steps (closest to real digits) "
            f"| {close['accuracy']:.2%} | {ratio(close):.2f} |",
            f"| trained from scratch for 15 minutes on a CPU ({cpu15['train_steps']:,} steps), 1,000 digits, "
            f"w = {cpu15['guidance']:g} | {cpu15['accuracy']:.1%} | {cpu15['fid_over_floor']:.2f} |",
            f"| 100 guided digits in {fast['call_s']:.2f} s (DPM-Solver++, {fast['network_calls']} network calls; "
            f"{fast['n']:,} scored) | {fast['accuracy']:.1%} | {fast['fid_over_floor']:.2f} |",
            f"| unconditional reference (no labels), {ur['n']:,} digits, autoguided, DDPM {ur['steps']} steps "
            f"| {ur['share_confident']:.1%} recognisable | {ratio(ur):.2f} |",
            f"| a classifier trained only on {aug['generated']:,} generated digits, on MNIST's test digits "
            f"(notebook 09) | {aug['runs']['generated']['accuracy']:.2%} | |",
            f"| the judge: the course's digit classifier, on MNIST's {judge['test_images']:,} test digits "
            f"| {judge['test_accuracy']:.2%} | |",
            f"| Fashion-MNIST reference, {fg['n']:,} images, w = {fg['guidance']:g}, DDIM {fg['steps']} steps "
            f"(judge: {fjudge['test_accuracy']:.1%} on real ones) | {fg['accuracy']:.2%} | {ratio(fg):.2f} |",
            "", provenance([g, close, cpu15, fast, ur, aug, judge, fg, fjudge])]
    return "\n".join(rows)


SETUP_URL = re.compile(r'(REPO_URL = \\")[^"\\]*(\\")')   # in a notebook file's JSON: REPO_URL = \"...\"


def set_repo_url(notebook_json: str) -> str:
    """A notebook file's text with its set-up cell's ``REPO_URL = "..."`` set to :func:`repo_url`."""
    if not SETUP_URL.search(notebook_json):
        raise SystemExit("a notebook lacks the set-up cell's line REPO_URL = \"...\"")
    return SETUP_URL.sub(lambda m: m[1] + repo_url() + m[2], notebook_json)


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
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when README.md or a notebook is out of date")
    args = parser.parse_args(argv)
    files = {ROOT / "README.md": render}
    files.update({path: set_repo_url for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))})
    stale = []
    for path, rewrite in files.items():
        text = path.read_text()
        new = rewrite(text)
        if new == text:
            continue
        stale.append(path.name)
        if not args.check:
            atomic_write(path, lambda tmp: tmp.write_text(new))
    if args.check and stale:
        print(f"out of date with the results files and pyproject.toml: {', '.join(stale)}; "
              "run python -m experiments.readme", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Markdown tables from the benchmarks' JSON lines (what ``results/README.md`` quotes).

    python -m experiments.summarize results/benchmarks/bench.jsonl
    python -m experiments.summarize results/benchmarks/lever_cpu.jsonl

One table per benchmark found in the files, rows in file order. Nothing is computed here
that the benchmark did not record, except the labels of the rows.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _label(r: dict) -> str:
    if r.get("label"):
        return r["label"]
    o = r.get("overrides") or {}
    return "default" if not o else ", ".join(f"{k}={v}" for k, v in o.items())


def _budget(r: dict) -> str:
    b = r.get("budget") or {}
    return f"{b['minutes']:g} min" if "minutes" in b else f"{b.get('steps', '?')} steps"


def _levers(r: dict) -> str:
    lv = r["levers"]
    on = [k.replace("_", "-") for k, v in lv.items() if v]
    return ", ".join(on) or "none"


TABLES = {
    "ceiling": (["configuration", "levers", "batch", "GFLOP/step", "step ms", "GFLOP/s", "matmul GFLOP/s",
                 "of ceiling", "images/s"],
                lambda r: [_label(r), _levers(r), r["batch_size"], r["step_gflop"], r["step_ms"],
                           r["achieved_gflops"], r["matmul_gflops"], _pct(r["fraction_of_ceiling"]),
                           r["images_per_s"]]),
    "time_to_digits": (["configuration", "budget", "parameters", "train steps", "w", "accuracy",
                        "recognisable", "FID", "floor", "FID / floor"],
                       lambda r: [_label(r), _budget(r), f"{r['parameters']:,}", f"{r['train_steps']:,}",
                                  r["guidance"], _pct(r["accuracy"]), _pct(r["recognisable"]), r["fid"],
                                  r["floor_fid"], r["fid_over_floor"]]),
    "sampling_speed": (["checkpoint", "sampler", "steps", "network calls", "n", "w", "accuracy", "recognisable",
                        "FID / floor", "images/s", "speed-up over the first", "one call of 100, s"],
                       lambda r: [r["checkpoint"], r["sampler"], r["sampler_steps"],
                                  r.get("network_calls") or (r["sampler_steps"] if r["sampler"] != "heun" else ""),
                                  r["n"], r["guidance"],
                                  _pct(r["accuracy"]), _pct(r["recognisable"]), r["fid_over_floor"],
                                  r["images_per_s"], r.get("speedup_over_first", r.get("speedup_over_ddpm")) or "",
                                  r["call_s"] if r.get("call_n") == 100 else ""]),
    "diffusers_baseline": (["diffusers", "budget", "trained s", "batch", "peak lr", "parameters", "train steps",
                            "images/s (train)", "w", "accuracy", "recognisable", "FID", "FID / floor"],
                           lambda r: [r["diffusers"] + (f" ({r['label']})" if r.get("label") else ""), _budget(r),
                                      r["train_s"], r.get("batch_size", 128), f"{r.get('lr', 1e-4):g}", f"{r['parameters']:,}",
                                      f"{r['train_steps']:,}", r["images_per_s_train"], r["guidance"], _pct(r["accuracy"]),
                                      _pct(r["recognisable"]), r["fid"], r["fid_over_floor"]]),
}


def tables(records: list[dict]) -> str:
    """One markdown table per benchmark kind present in ``records``."""
    parts = []
    for kind, (head, row) in TABLES.items():
        rows = [row(r) for r in records if r.get("benchmark") == kind]
        if rows:
            lines = [f"**{kind}**", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(map(str, cells)) + " |" for cells in rows]
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="JSON-lines files written by the benchmarks")
    args = p.parse_args(argv)
    records = []
    for f in args.files:
        if not f.is_file():
            raise SystemExit(f"{f}: no such file (run a benchmark with --out {f} first)")
        records += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    print(tables(records))


if __name__ == "__main__":
    main()

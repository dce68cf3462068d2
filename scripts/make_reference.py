"""Turn a finished training run into the committed reference checkpoint, with its provenance.

    python scripts/make_reference.py checkpoints/reference_run.pt models/ddpm_reference.pt \
        --command "python -m helpers train --out checkpoints/reference_run.pt --conditional --epochs 8"

Writes the slim checkpoint (weights + EMA + config + loss history, no optimiser state) and a
JSON file beside it with the exact command, config, steps, wall time and hardware.

With ``--resumable`` it keeps the whole training state instead (optimiser and random state too),
so that a run too long for one sitting can be committed between sittings and continued on
another machine with ``python -m helpers train --out <copy> --resume``.
"""
from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path

import torch

from helpers.checkpoint import load_checkpoint, save_checkpoint, slim_checkpoint
from helpers.device import hardware
from helpers.unet import count_parameters, unet_from_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="training checkpoint (from python -m helpers train)")
    parser.add_argument("out", help="slim checkpoint to write, e.g. models/ddpm_reference.pt")
    parser.add_argument("--command", required=True, help="the exact training command, for the record")
    parser.add_argument("--device", default="cpu", help="the device it trained on (for the record)")
    parser.add_argument("--note", default="", help="anything else a reader should know")
    parser.add_argument("--resumable", action="store_true",
                        help="keep optimiser and random state (a run between sittings), not a slim copy")
    args = parser.parse_args(argv)
    state = load_checkpoint(args.run)
    config = state["config"]
    info = {"command": args.command, "config": config.to_dict(), "steps": state["step"],
            "images_seen": state["step"] * config.batch_size,
            "wall_time_min": round(state["elapsed_s"] / 60, 1),
            "hardware": {k: v for k, v in hardware(args.device).items() if k != "torch_threads"},
            "torch": str(torch.__version__), "parameters": count_parameters(unet_from_config(config)),
            "final_loss_mean_200": sum(state["losses"][-200:]) / len(state["losses"][-200:]),
            "date": datetime.date.today().isoformat(), "note": args.note, "resumable": args.resumable}
    if args.resumable:
        path = save_checkpoint({**state, "config": config.to_dict(), "provenance": info}, args.out)
    else:
        path = slim_checkpoint(args.run, args.out, extra={"provenance": info})
    info["file_bytes"] = path.stat().st_size
    Path(args.out).with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()

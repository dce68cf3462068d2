"""Turn a finished training run into a committed model file, with its provenance beside it.

    python -m experiments.publish_model checkpoints/reference_run.pt models/ddpm_reference.pt \
        --command "python -m helpers train --out checkpoints/reference_run.pt --max-steps 52000"

Writes the slim checkpoint (weights, EMA, config, loss history; no optimiser state) and a
JSON file beside it with the exact training command, config, steps, wall time and hardware.
``--resumable`` keeps the whole training state instead (optimiser and random state), so a
run too long for one sitting can be committed between sittings and continued elsewhere with
``python -m helpers train --out <copy> --resume``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from helpers.device import provenance
from helpers.io import load_checkpoint, save_checkpoint, save_json, slim_checkpoint
from helpers.unet import count_parameters, unet_from_config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="training checkpoint (from python -m helpers train)")
    parser.add_argument("out", help="model file to write, e.g. models/ddpm_reference.pt")
    parser.add_argument("--command", required=True, action="append",
                        help="the exact training command, for the record (once per command run, in order)")
    parser.add_argument("--device", default="cpu", help="the device it trained on (for the record)")
    parser.add_argument("--note", default="", help="anything else a reader should know")
    parser.add_argument("--resumable", action="store_true",
                        help="keep optimiser and random state (a run between sittings), not a slim copy")
    args = parser.parse_args(argv)
    state = load_checkpoint(args.run)
    config = state["config"]
    made = provenance(args.device, args.command)
    made["hardware"].pop("torch_threads")
    info = {"config": config.to_dict(), "steps": state["step"], "images_seen": state["step"] * config.batch_size,
            "wall_time_min": round(state["elapsed_s"] / 60, 1), "torch": made["hardware"]["torch"],
            "parameters": count_parameters(unet_from_config(config)),
            "final_loss_mean_200": sum(state["losses"][-200:]) / len(state["losses"][-200:]) if state.get("losses") else None,
            **({"chain": state["chain"], "distilled": state["distilled"]} if state.get("chain") is not None else {}),
            "note": args.note, "resumable": args.resumable, **made}
    if args.resumable:
        path = save_checkpoint({**state, "config": config.to_dict(), "provenance": info}, args.out)
    else:
        path = slim_checkpoint(args.run, args.out, extra={"provenance": info})
    info["file_bytes"] = path.stat().st_size
    save_json(info, Path(args.out).with_suffix(".json"))
    return info


if __name__ == "__main__":
    main()

"""Command line: ``python -m helpers train|sample ...`` (``evaluate`` and ``train-classifier``
come from :mod:`helpers.evaluation.cli`). ``--help`` on each command lists every flag.

``train`` has one flag per :class:`~helpers.config.Config` field, generated from the
dataclass (:func:`add_config_flags`), so every hyperparameter is settable and none is
forgotten. Errors (bad flags, missing or corrupt files, bad values) print one line on
stderr and exit with status 2; no traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
import time
import warnings
from typing import Callable

from .config import DATASETS, Config, config_for_dataset
from .data import load_images
from .device import make_generator, pick_device
from .distributed import from_environment, shutdown
from .io import CheckpointError, load_checkpoint, load_model, save_samples
from .samplers import parse_sampler
from .sampling import parse_labels, sample
from .train import TrainingDiverged, TrainingStopped, train

BUDGETS = ("epochs", "max_steps", "max_minutes")


class CLIError(Exception):
    """A user error worth one line on stderr."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one :class:`CLIError` line, not usage and a message."""

    def error(self, message: str):
        raise CLIError(f"{self.prog}: {message} (see --help)")


def _typed(kind: type, optional: bool) -> Callable[[str], object]:
    """A converter from a flag's text to ``kind`` (accepting 'none' when ``optional``)."""
    def convert(text: str):
        if optional and text.lower() == "none":
            return None
        if kind is tuple:       # 'none' or '' is the empty tuple (e.g. --attention none: no attention)
            return () if text.strip().lower() in ("", "none") else tuple(int(v) for v in text.split(","))
        return kind(text)
    name = "comma-separated integers or none" if kind is tuple else kind.__name__
    convert.__name__ = f"{name}{' or none' if optional else ''}"   # argparse names it in its error
    return convert


def _sampler(text: str):
    """--sampler's converter: a :class:`~helpers.samplers.Sampler`, or argparse's error with our message."""
    try:
        return parse_sampler(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per Config field (``--base-channels``, ``--no-skip-connections``, ...), help from the field.

    Flags the user does not give stay out of the parsed namespace, so
    :func:`config_from_args` knows what was asked for.
    """
    group = parser.add_argument_group("configuration (every field of helpers.config.Config)")
    for f in dataclasses.fields(Config):
        flag, default = "--" + f.name.replace("_", "-"), getattr(Config(), f.name)
        shown = default if not isinstance(default, tuple) else ",".join(map(str, default)) or "none"
        text = f"{f.metadata['help']} (default: {shown})"
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(f.type.split(" |")[0], tuple)
        if kind is bool:
            group.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(flag, dest=f.name, type=_typed(kind, "None" in f.type), default=argparse.SUPPRESS,
                               choices=f.metadata.get("choices"), metavar=f.name.upper(), help=text)


def config_from_args(args: argparse.Namespace, base: Config | None = None) -> Config:
    """The Config the flags describe: ``base`` (default: the dataset's defaults), then every flag given.

    Giving any budget flag (``--epochs``, ``--max-steps``, ``--max-minutes``) replaces the
    base's budget: the budgets not given are then unlimited.
    """
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if hasattr(args, f.name)}
    if any(b in given for b in BUDGETS):
        given = {**{b: None for b in BUDGETS}, **given}
    if base is not None:
        return base.replace(**given)
    return config_for_dataset(given.pop("dataset", "mnist"), **given)


def config_flags(config: Config) -> list[str]:
    """The flags that spell out every field of ``config``: ``config_from_args`` of them gives ``config`` back.

    What a model's record writes, so that its command reruns the same run whatever the defaults become.
    """
    flags = []
    for f in dataclasses.fields(Config):
        value, flag = getattr(config, f.name), "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            flags += [flag, ",".join(map(str, value)) or "none"]
        else:
            flags += [flag, "none" if value is None else repr(value) if isinstance(value, float) else str(value)]
    return flags


def build_parser() -> Parser:
    parser = Parser(prog="python -m helpers", description="Train, sample and evaluate a DDPM.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    tr = sub.add_parser("train", help="train a model and write a checkpoint",
                        description="Train a DDPM. Stops at the first budget reached; without a budget "
                                    "flag, the default configuration's (5 epochs). On several processes: "
                                    "torchrun --nproc_per_node N -m helpers train ... (--batch-size is the "
                                    "global batch, split over the processes).")
    tr.add_argument("--out", required=True, help="checkpoint path to write (atomically)")
    tr.add_argument("--resume", action="store_true",
                    help="continue the run saved in --out (an error if there is none); flags given change only the "
                         "budgets, and settings that differ from the checkpoint's are named")
    tr.add_argument("--resume-if-exists", action="store_true",
                    help="continue --out when it exists, else start fresh there (a run in sittings)")
    tr.add_argument("--overwrite", action="store_true",
                    help="start a fresh run even if --out exists, replacing it (without this, an existing "
                         "--out is an error)")
    tr.add_argument("--sitting-minutes", type=float,
                    help="pause after this many minutes of this call, schedule unchanged (continue with --resume)")
    tr.add_argument("--sitting-steps", type=int,
                    help="pause after this many steps of this call, schedule unchanged (continue with --resume)")
    tr.add_argument("--data-root", help="folder with the data (default: $DDPM_DATA, else a cache)")
    tr.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_config_flags(tr)
    tr.set_defaults(run=cmd_train)

    sa = sub.add_parser("sample", help="generate images from a checkpoint",
                        description="Generate images from pure noise with a trained checkpoint.")
    sa.add_argument("--checkpoint", required=True, help="checkpoint written by 'train'")
    sa.add_argument("--n", type=int, required=True, help="number of images")
    sa.add_argument("--out", required=True, help="output .pt file (a PNG preview is written beside it)")
    sa.add_argument("--sampler", default=parse_sampler("ddpm"), type=_sampler,
                    help="ddpm (every step, the default), ddpm:STEPS, ddim:STEPS, ddim:STEPS:ETA "
                         "(eta 0 = deterministic, 1 = DDPM-like), heun:STEPS or dpm++:STEPS, e.g. ddim:25 or dpm++:5; "
                         "flow-matching checkpoints: euler:STEPS, heun:STEPS or midpoint:STEPS, e.g. euler:20")
    sa.add_argument("--labels", help="'balanced' or comma-separated class labels (conditional models)")
    sa.add_argument("--prompt", action="append",
                    help="a caption for a text-conditioned checkpoint, e.g. 'a thick slanted four' (repeat the flag "
                         "for several; they are used in turn to fill --n)")
    sa.add_argument("--guidance", type=float, help="classifier-free guidance weight w (1 = none)")
    sa.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    sa.add_argument("--batch-size", type=int, default=500, help="images per forward pass")
    sa.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sa.add_argument("--raw-weights", action="store_true", help="use raw weights instead of EMA")
    sa.add_argument("--dataset", choices=sorted(DATASETS),
                    help="check that the checkpoint makes images of this data set (an error if not)")
    sa.set_defaults(run=cmd_sample)
    parser.commands = sub            # helpers.__main__ adds the evaluation commands here
    return parser


def cmd_train(args) -> None:
    if sum((args.resume, args.resume_if_exists, args.overwrite)) > 1:
        raise CLIError("--resume, --resume-if-exists and --overwrite exclude each other; give one")
    resume = True if args.resume else "if_exists" if args.resume_if_exists else False
    saved = Path(args.out).is_file() and resume
    # resuming, the checkpoint's settings are the base: only the flags given can differ from them
    config = config_from_args(args, load_checkpoint(args.out)["config"] if saved else None)
    if args.sitting_minutes is not None and args.sitting_minutes <= 0:
        raise CLIError(f"--sitting-minutes must be positive, got {args.sitting_minutes}")
    ctx = from_environment(args.device)                 # one process, or this one of torchrun's
    try:
        data = load_images(config.dataset, train=True, root=args.data_root)
        if ctx.main:
            print(f"data: {len(data)} images from {data.source}"
                  + (f"; {ctx.world} processes on {ctx.device.type}" if ctx.world > 1 else ""), file=sys.stderr)
        state = train(config, data, out=args.out, resume=resume, overwrite=args.overwrite,
                      progress=not args.no_progress,
                      sitting_minutes=args.sitting_minutes, sitting_steps=args.sitting_steps, ctx=ctx)
    finally:
        shutdown(ctx)
    if ctx.main:
        recent = state.losses[-100:]
        print(f"trained {state.step} steps in {state.elapsed_s / 60:.1f} min ({state.stop_reason}); "
              f"mean loss of the last {len(recent)} steps {sum(recent) / max(1, len(recent)):.4f}; "
              f"checkpoint: {args.out}")


def cmd_sample(args) -> None:
    if args.n < 1 or args.batch_size < 1:
        raise CLIError(f"--n and --batch-size must be positive, got {args.n} and {args.batch_size}")
    device = pick_device(args.device)
    model, diffusion, config = load_model(args.checkpoint, device, not args.raw_weights, args.dataset)
    if args.sampler.steps and args.sampler.steps > diffusion.T:
        raise CLIError(f"--sampler {args.sampler} asks for more steps than the model's T={diffusion.T}")
    text = config.condition == "text"
    if args.prompt is not None and not text:
        raise CLIError("--prompt needs a text-conditioned checkpoint; this one is "
                       + ("conditioned on class labels: use --labels" if config.conditional else "unconditional"))
    if args.labels is not None and text:
        raise CLIError("--labels needs a class-conditioned checkpoint; this one is conditioned on text: use --prompt")
    labels = None if text else parse_labels(args.labels, args.n, config.num_classes)
    start = time.monotonic()
    images = sample(model, diffusion, args.n, labels, args.guidance, make_generator(args.seed, device),
                    args.sampler, args.batch_size, prompts=args.prompt)
    meta = {"checkpoint": str(args.checkpoint), "dataset": config.dataset, "sampler": str(args.sampler),
            **({"prompts": args.prompt} if args.prompt else {}),
            "steps": args.sampler.chain(diffusion).T, "guidance": args.guidance, "seed": args.seed,
            "seconds": time.monotonic() - start}
    path = save_samples(images, labels, args.out, meta)
    print(f"wrote {args.n} images to {path} and {path.with_suffix('.png')} "
          f"({args.sampler}, {meta['steps']} steps, {meta['seconds']:.1f} s)")


def main(argv: list[str] | None = None, parser: Parser | None = None) -> int:
    """Entry point; returns the exit status. ``parser``: the full one from ``helpers.__main__``."""
    previous_format = warnings.formatwarning     # one-line warnings while the CLI runs
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        args = (parser or build_parser()).parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        args.run(args)
        return 0
    except SystemExit as e:         # --help
        return int(e.code or 0)
    except (CLIError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingStopped as e:
        print(f"stopped: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous_format

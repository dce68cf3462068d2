"""Command line: ``python -m helpers train|sample|train-classifier|evaluate ...``.

``--help`` on each subcommand lists every flag.

Errors (bad flags, missing or corrupt files, bad values) print one line on
stderr and exit with a non-zero status; no traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

from .checkpoint import CheckpointError, load_model
from .config import config_for_dataset
from .data import load_images
from .device import make_generator, pick_device
from .sampling import parse_labels, sample_many, save_samples
from .train import TrainingDiverged, train


class CLIError(Exception):
    """A user error worth one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not usage + message
        raise CLIError(f"{self.prog}: {message} (see --help)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m helpers", description="Train and sample a DDPM.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tr = sub.add_parser("train", help="train a model and write a checkpoint",
                        description="Train a DDPM. Without a budget flag, trains the default "
                                    "configuration (its epochs). Stops at the first budget reached.")
    tr.add_argument("--out", required=True, help="checkpoint path to write (atomically)")
    tr.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    tr.add_argument("--max-steps", type=_positive_int, help="optimiser steps")
    tr.add_argument("--max-minutes", type=_positive_float, help="wall-clock budget in minutes")
    tr.add_argument("--sitting-minutes", type=_positive_float,
                    help="pause after this many minutes of this call, schedule unchanged (continue with --resume)")
    tr.add_argument("--dataset", choices=["mnist", "fashion"], default="mnist")
    tr.add_argument("--data-root", help="folder with the data (default: $DDPM_DATA, else a cache)")
    kind = tr.add_mutually_exclusive_group()
    kind.add_argument("--conditional", action="store_true",
                      help="class-conditional model with label dropout, for guidance (the default)")
    kind.add_argument("--unconditional", action="store_true", help="a model without class labels")
    tr.add_argument("--seed", type=int, default=0, help="seed for weights, batches and noise")
    tr.add_argument("--resume", action="store_true", help="continue from --out if it exists")
    tr.add_argument("--schedule", choices=["linear", "scaled_linear", "cosine"])
    tr.add_argument("--lr", type=_positive_float, help="peak learning rate")
    tr.add_argument("--batch-size", type=_positive_int)
    tr.add_argument("--ema-decay", type=_positive_float, help="EMA decay of the sampling weights (e.g. 0.999)")
    tr.add_argument("--base-channels", type=_positive_int, help="U-Net width at full resolution")
    tr.add_argument("--channel-mults", help="width multipliers per resolution, e.g. 1,2,2")
    tr.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    sa = sub.add_parser("sample", help="generate images from a checkpoint",
                        description="Generate images from pure noise with a trained checkpoint.")
    sa.add_argument("--checkpoint", required=True, help="checkpoint written by 'train'")
    sa.add_argument("--n", type=_positive_int, required=True, help="number of images")
    sa.add_argument("--out", required=True, help="output .pt file (a PNG grid is written beside it)")
    sa.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm",
                    help="ddpm: ancestral sampling (default); ddim: Song et al. 2021, see --eta")
    sa.add_argument("--steps", type=_positive_int,
                    help="reverse steps, evenly spaced over the model's T (default: T for ddpm, 50 for ddim)")
    sa.add_argument("--eta", type=float,
                    help="DDIM noise: 0 = deterministic (default), 1 = DDPM-like; ddim only")
    sa.add_argument("--labels", help="'balanced' or comma-separated class labels (conditional models)")
    sa.add_argument("--guidance", type=float, help="classifier-free guidance weight w (1 = none)")
    sa.add_argument("--seed", type=int, default=0, help="seed of the sampling noise")
    sa.add_argument("--batch-size", type=_positive_int, default=500, help="images per forward pass")
    sa.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    sa.add_argument("--raw-weights", action="store_true", help="use raw weights instead of EMA")
    _add_train_classifier(sub)
    _add_evaluate(sub)
    return parser


def _add_train_classifier(sub) -> None:
    tc = sub.add_parser("train-classifier", help="train the digit classifier used by 'evaluate'",
                        description="Train the MNIST digit classifier (the judge of generated digits and "
                                    "the feature extractor of FID/KID), measure its test accuracy and "
                                    "write the checkpoint plus a .json record beside it.")
    tc.add_argument("--out", required=True, help="checkpoint path to write, e.g. models/digit_classifier.pt")
    tc.add_argument("--epochs", type=_positive_int, help="passes over the training set (default 5)")
    tc.add_argument("--seed", type=int, default=0, help="seed for weights, batches, augmentation, dropout")
    tc.add_argument("--lr", type=_positive_float, help="peak learning rate (default 2e-3)")
    tc.add_argument("--batch-size", type=_positive_int, help="images per step (default 128)")
    tc.add_argument("--data-root", help="folder with MNIST (default: $DDPM_DATA, else a cache)")
    tc.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tc.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _add_evaluate(sub) -> None:
    ev = sub.add_parser("evaluate", help="score a samples file with the digit classifier (and CLIP)",
                        description="Score images written by 'sample': accuracy against the intended labels, "
                                    "recognisability, mode coverage, FID and KID on the digit classifier's "
                                    "features next to their floor (real training digits vs the test set), "
                                    "and CLIP's score when its weights can be had.")
    ev.add_argument("samples", help="a .pt file written by 'python -m helpers sample'")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ev.add_argument("--classifier", help="digit-classifier checkpoint (default: models/digit_classifier.pt)")
    ev.add_argument("--no-fid", action="store_true", help="skip FID/KID and their floor (no MNIST needed)")
    ev.add_argument("--no-clip", action="store_true", help="skip the CLIP score")
    ev.add_argument("--clip-model", default="ViT-B-32", help="open_clip model name (default ViT-B-32)")
    ev.add_argument("--clip-pretrained", default="openai",
                    help="open_clip weights: a tag (default openai) or a local weights file")
    ev.add_argument("--clip-real", type=int, default=500,
                    help="real test digits CLIP also reads, for scale (default 500; 0 = none; "
                         "needs MNIST, so none with --no-fid)")
    ev.add_argument("--threshold", type=float, default=0.9,
                    help="confidence above which a sample counts as recognised (default 0.9)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the floor's digits and KID's subsets")
    ev.add_argument("--data-root", help="folder with MNIST (default: $DDPM_DATA, else a cache)")
    ev.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")


def _mults(text: str | None) -> tuple[int, ...] | None:
    """'1,2,2' -> (1, 2, 2); a clear error otherwise."""
    if text is None:
        return None
    try:
        mults = tuple(int(v) for v in text.split(","))
    except ValueError:
        mults = ()
    if not mults or min(mults) < 1:
        raise ValueError(f"--channel-mults expects positive integers separated by commas, e.g. 1,2,2; got {text!r}")
    return mults


def cmd_train(args) -> None:
    overrides = {k: v for k, v in {"schedule": args.schedule, "lr": args.lr, "batch_size": args.batch_size,
                                   "ema_decay": args.ema_decay, "base_channels": args.base_channels,
                                   "channel_mults": _mults(args.channel_mults)}.items() if v is not None}
    config = config_for_dataset(args.dataset, seed=args.seed,
                                num_classes=None if args.unconditional else 10, **overrides)
    if args.epochs or args.max_steps or args.max_minutes:
        config = config.replace(epochs=args.epochs, max_steps=args.max_steps,
                                max_minutes=args.max_minutes)
    data = load_images(args.dataset, train=True, root=args.data_root)
    print(f"data: {len(data)} images from {data.source}", file=sys.stderr)
    state = train(config, data, out=args.out, resume=args.resume, device=pick_device(args.device),
                  progress=not args.no_progress, sitting_minutes=args.sitting_minutes)
    recent = state.losses[-100:]
    print(f"trained {state.step} steps in {state.elapsed_s / 60:.1f} min ({state.stop_reason}); "
          f"mean loss of the last {len(recent)} steps {sum(recent) / max(1, len(recent)):.4f}; "
          f"checkpoint: {args.out}")


def cmd_sample(args) -> None:
    device = pick_device(args.device)
    model, diffusion, config = load_model(args.checkpoint, device, use_ema=not args.raw_weights)
    labels = parse_labels(args.labels, args.n, config.num_classes)
    if args.eta is not None and args.sampler != "ddim":
        raise CLIError("--eta applies to --sampler ddim only")
    if args.eta is not None and args.eta < 0:
        raise CLIError(f"--eta must be >= 0, got {args.eta}")
    steps = args.steps or (50 if args.sampler == "ddim" else diffusion.T)
    if not 2 <= steps <= diffusion.T:
        raise CLIError(f"--steps must be between 2 and the model's T={diffusion.T}, got {steps}")
    chain = diffusion.respaced(steps)
    eta = args.eta or 0.0
    generator = make_generator(args.seed, device)
    start = time.monotonic()
    images = sample_many(model, chain, args.n, labels, args.guidance, generator, args.batch_size,
                         sampler=args.sampler, eta=eta)
    meta = {"checkpoint": str(args.checkpoint), "sampler": args.sampler, "steps": chain.T,
            "eta": eta if args.sampler == "ddim" else None, "guidance": args.guidance,
            "seed": args.seed, "seconds": time.monotonic() - start}
    path = save_samples(images, labels, args.out, meta)
    print(f"wrote {args.n} images to {path} and {path.with_suffix('.png')} "
          f"({args.sampler}, {chain.T} steps, {meta['seconds']:.1f} s)")


def cmd_train_classifier(args) -> None:
    from .classifier import ClassifierConfig, fit_and_save

    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr,
                                   "batch_size": args.batch_size}.items() if v is not None}
    config = ClassifierConfig(seed=args.seed, **overrides)
    train_set = load_images("mnist", train=True, root=args.data_root)
    test_set = load_images("mnist", train=False, root=args.data_root)
    print(f"data: {len(train_set)} training images from {train_set.source}; "
          f"{len(test_set)} test images", file=sys.stderr)
    command = "python -m helpers " + " ".join(args.argv)
    info = fit_and_save(config, train_set, test_set, args.out, pick_device(args.device),
                        progress=not args.no_progress, command=command)
    print(f"test accuracy {info['test_accuracy']:.2%} ({info['test_errors']} errors in "
          f"{info['test_images']}); trained in {info['wall_time_s'] / 60:.1f} min; "
          f"wrote {args.out} ({info['file_bytes'] / 1e6:.1f} MB) and its .json record")


def cmd_evaluate(args) -> None:
    import json

    from .classifier import load_classifier
    from .evaluate import evaluate_file, format_report, load_reference, load_samples

    if not 0 < args.threshold < 1:
        raise CLIError(f"--threshold must be between 0 and 1, got {args.threshold}")
    load_samples(args.samples)                       # fail fast on a bad file, before loading MNIST
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device)
    reference = None if args.no_fid else load_reference(classifier, args.data_root)
    result = evaluate_file(args.samples, classifier, reference, clip=not args.no_clip,
                           clip_model=args.clip_model, clip_pretrained=args.clip_pretrained,
                           clip_real=args.clip_real, device=device, seed=args.seed, threshold=args.threshold)
    if result.get("clip") and "skipped" in result["clip"]:
        print(result["clip"]["skipped"], file=sys.stderr)
    print(json.dumps(result, default=str) if args.json else format_report(result))


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    previous_format = warnings.formatwarning     # one-line warnings while the CLI runs
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        args = build_parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        {"train": cmd_train, "sample": cmd_sample, "train-classifier": cmd_train_classifier,
         "evaluate": cmd_evaluate}[args.command](args)
        return 0
    except SystemExit as e:         # --help
        return int(e.code or 0)
    except (CLIError, CheckpointError, TrainingDiverged, ValueError, FileNotFoundError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous_format

"""The judge's commands: ``python -m helpers train-classifier`` and ``python -m helpers evaluate``."""
from __future__ import annotations

import json
import sys

from ..cli import CLIError
from ..data import load_images
from ..device import pick_device
from ..io import load_samples


def add_commands(sub) -> None:
    """Add ``train-classifier`` and ``evaluate`` to the subparsers ``sub`` of :func:`helpers.cli.build_parser`."""
    tc = sub.add_parser("train-classifier", help="train the classifier used by 'evaluate'",
                        description="Train the classifier of MNIST or Fashion-MNIST (the judge of generated "
                                    "images and the feature extractor of FID/KID), measure its test accuracy "
                                    "and write the checkpoint plus a .json record beside it.")
    tc.add_argument("--out", required=True, help="checkpoint path to write, e.g. models/digit_classifier.pt")
    tc.add_argument("--dataset", default="mnist", choices=["mnist", "fashion"],
                    help="the data set it learns to judge (default mnist)")
    tc.add_argument("--epochs", type=int, help="passes over the training set (default 5)")
    tc.add_argument("--seed", type=int, default=0, help="seed for weights, batches, augmentation, dropout")
    tc.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    tc.add_argument("--batch-size", type=int, help="images per step (default 128)")
    tc.add_argument("--data-root", help="folder with MNIST (default: $DDPM_DATA, else a cache)")
    tc.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    tc.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tc.set_defaults(run=cmd_train_classifier)

    ev = sub.add_parser("evaluate", help="score a samples file with its data set's classifier (and CLIP)",
                        description="Score images written by 'sample' with the classifier of the data set "
                                    "they imitate (MNIST or Fashion-MNIST, read from the file): accuracy against "
                                    "the intended labels, recognisability, class coverage, FID and KID on the "
                                    "classifier's features next to their floor (real training images vs the "
                                    "test set), and CLIP's score when its weights can be had.")
    ev.add_argument("samples", help="a .pt file written by 'python -m helpers sample'")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ev.add_argument("--classifier", help="classifier checkpoint (default: the committed judge of the samples' "
                                         "data set, models/digit_classifier.pt or models/fashion_classifier.pt)")
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
    ev.set_defaults(run=cmd_evaluate)


def cmd_train_classifier(args) -> None:
    from .classifier import ClassifierConfig, fit_and_save

    overrides = {k: v for k, v in {"epochs": args.epochs, "lr": args.lr,
                                   "batch_size": args.batch_size}.items() if v is not None}
    config = ClassifierConfig(dataset=args.dataset, seed=args.seed, **overrides)
    train_set = load_images(args.dataset, train=True, root=args.data_root)
    test_set = load_images(args.dataset, train=False, root=args.data_root)
    print(f"data: {len(train_set)} training images from {train_set.source}; "
          f"{len(test_set)} test images", file=sys.stderr)
    info = fit_and_save(config, train_set, test_set, args.out, pick_device(args.device),
                        progress=not args.no_progress, command="python -m helpers " + " ".join(args.argv))
    print(f"test accuracy {info['test_accuracy']:.2%} ({info['test_errors']} errors in "
          f"{info['test_images']}); trained in {info['wall_time_s'] / 60:.1f} min; "
          f"wrote {args.out} ({info['file_bytes'] / 1e6:.1f} MB) and its .json record")


def cmd_evaluate(args) -> None:
    from .classifier import load_classifier
    from .fid import load_real_images
    from .report import evaluate_file, format_report

    if not 0 < args.threshold < 1:
        raise CLIError(f"--threshold must be between 0 and 1, got {args.threshold}")
    images, _, meta = load_samples(args.samples)     # fail fast on a bad file, before loading any data
    dataset = meta.get("dataset", "mnist")           # the data set the samples imitate picks the judge
    if dataset == "cifar10":
        return _evaluate_colour(args, images, dataset)
    device = pick_device(args.device)
    classifier = load_classifier(args.classifier, device, dataset)
    real = None if args.no_fid else load_real_images(classifier, args.data_root)
    result = evaluate_file(args.samples, classifier, real, clip=not args.no_clip,
                           clip_model=args.clip_model, clip_pretrained=args.clip_pretrained,
                           clip_real=args.clip_real, device=device, seed=args.seed, threshold=args.threshold)
    if result.get("clip") and "skipped" in result["clip"]:
        print(result["clip"]["skipped"], file=sys.stderr)
    print(json.dumps(result, default=str) if args.json else format_report(result))


def _evaluate_colour(args, images, dataset: str) -> None:
    """CIFAR-10 samples: no classifier judges them; FID and KID on Inception features, next to their floor."""
    from .inception import InceptionUnavailable, inception_report

    if args.no_fid or args.classifier:
        raise CLIError(f"{dataset} samples have no classifier judge: 'evaluate' measures them with FID and KID on "
                       "Inception features only (drop --no-fid and --classifier)")
    test = load_images(dataset, train=False, root=args.data_root)
    train = load_images(dataset, train=True, root=args.data_root)
    try:
        r = inception_report(images, test, train, seed=args.seed)
    except InceptionUnavailable as e:
        raise CLIError(str(e)) from None
    r = {"samples": args.samples, "dataset": dataset, **r}
    if args.json:
        print(json.dumps(r, default=str))
        return
    f = r["floor"]
    print(f"samples: {args.samples}: {r['n']} {dataset} images; features: {r['features']}\n"
          f"FID {r['fid']:.3f}   (floor {f['fid']:.3f}: {f['n']} real training images vs the {r['test_images']} "
          f"test images; ratio {r['fid_ratio']:.2f})\n"
          f"KID {r['kid']:.5f} +- {r['kid_std']:.5f}   (floor {f['kid']:.5f} +- {f['kid_std']:.5f})")

"""Progressive distillation of the guided reference: digits in 8, 4 and 2 network calls, trained on the CPU.

    python -m experiments.distill                                  # 16 -> 8 -> 4 -> 2 steps, w = 1.5
    python -m experiments.distill --train-steps 3000 --final-steps 4
    python -m experiments.distill --quick                          # checks that it runs (CI)

Stage by stage (:mod:`helpers.distillation`): the teacher (first the reference with guidance
``w`` on DDIM over ``--start-steps`` steps, then each stage's student) takes two DDIM steps where
its student, a copy of it, learns to take one. Each stage trains ``--train-steps`` Adam steps
on batches of real training digits (cosine learning rate from ``--lr``), writes its student to
``--out-dir``/student_<N>.pt (weights, the chain of N timesteps, provenance) and scores 1,000
digits in MNIST's class mix, one plain conditional call per step (no guidance: the student
learned the guided prediction), as part ``student_<N>`` of ``--results``. Resumable: a stage in
progress is saved atomically every minute and an interrupted run picks up where it stopped;
finished stages are skipped. Needs full MNIST (``DDPM_DATA``) for the scores.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from experiments.common import REFERENCE, RESULTS, ROOT, load_judge, provenance, quick, sample_and_score, \
    set_threads, summary, write
from helpers.data import load_images
from helpers.device import make_generator
from helpers.distillation import distillation_loss, halve
from helpers.io import load_checkpoint, load_model, save_checkpoint
from helpers.sampling import eps_model
from helpers.train import learning_rate


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", default=str(REFERENCE), help="class-conditional checkpoint to distil")
    p.add_argument("--guidance", type=float, default=1.5, help="the teacher's guidance weight w")
    p.add_argument("--start-steps", type=int, default=16, help="the teacher's DDIM steps (a power of two)")
    p.add_argument("--final-steps", type=int, default=2, help="stop at a student of this many steps")
    p.add_argument("--train-steps", type=int, default=1500, help="Adam steps per stage")
    p.add_argument("--lr", type=float, default=2e-4, help="peak learning rate (cosine decay over a stage)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n", type=int, default=1000, help="digits scored per student")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out-dir", default=str(ROOT / "checkpoints" / "distill"))
    p.add_argument("--results", default=str(RESULTS / "distillation.json"))
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    return p


def train_stage(student, teacher, chain, data, args, partial: Path) -> dict:
    """Train ``student`` in place to halve ``chain`` (the teacher's); resumes from ``partial``."""
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    schedule = args.config.replace(lr=args.lr, warmup_steps=0, lr_schedule="cosine")     # the training loop's decay
    generator, step, elapsed, losses = make_generator(args.seed), 0, 0.0, []
    if partial.exists():
        state = load_checkpoint(partial)
        student.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["rng"])
        step, elapsed, losses = state["step"], state["elapsed_s"], state["losses"]
        print(f"resuming {partial.name} at step {step}", flush=True)
    student.train()
    start, saved = time.monotonic() - elapsed, time.monotonic()
    while step < args.train_steps:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(schedule, step, step / args.train_steps)
        rows = torch.randint(0, len(data), (args.batch_size,), generator=generator)
        x0, y = data.images[rows], data.labels[rows]
        loss = distillation_loss(student, teacher, chain, x0, y, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        step, losses = step + 1, losses + [round(loss.item(), 5)]
        if step % 100 == 0:
            print(f"  step {step}: loss {sum(losses[-100:]) / len(losses[-100:]):.4f}", flush=True)
        if time.monotonic() - saved > 60 or step == args.train_steps:
            save_checkpoint({"config": args.config.to_dict(), "model": student.state_dict(),
                             "optimizer": optimizer.state_dict(), "rng": generator.get_state(), "step": step,
                             "elapsed_s": time.monotonic() - start, "losses": losses}, partial)
            saved = time.monotonic()
    return {"train_steps": step, "train_s": round(time.monotonic() - start, 1),
            "final_loss_mean_100": round(sum(losses[-100:]) / len(losses[-100:]), 5), "losses": losses}


def main(argv: list[str] | None = None) -> list[dict]:
    args = build_parser().parse_args(argv)
    threads = set_threads(args.threads)
    fast = args.quick or quick(argv)
    if fast:
        args.start_steps, args.final_steps, args.train_steps, args.n = 8, 4, 2, 20
    if args.start_steps & (args.start_steps - 1) or not 2 <= args.final_steps < args.start_steps:
        raise SystemExit(f"--start-steps must be a power of two above --final-steps (>= 2); got "
                         f"{args.start_steps} and {args.final_steps}")
    reference, diffusion, args.config = load_model(args.teacher)
    if args.config.num_classes is None:
        raise SystemExit(f"{args.teacher} is unconditional; distillation here needs a class-conditional teacher")
    if (args.config.method, args.config.prediction) != ("ddpm", "eps"):
        raise SystemExit(f"{args.teacher} is a {args.config.method} model predicting {args.config.prediction}; the "
                         "students here start from a DDPM noise-prediction (eps) teacher's weights")
    data = load_images(args.config.dataset, train=True)
    classifier, real = load_judge("cpu", need_full=not fast)
    out_dir = Path(args.out_dir)
    teacher_net, chain, records = reference, diffusion.respaced(args.start_steps), []
    teacher = lambda y: eps_model(reference, y, args.guidance)                   # noqa: E731
    while chain.T > args.final_steps:
        short, path = halve(chain), out_dir / f"student_{chain.T // 2}.pt"
        student = copy.deepcopy(teacher_net).requires_grad_(True)
        if path.exists():
            student.load_state_dict(load_checkpoint(path)["model"])
            print(f"{path.name} exists: skipping its training", flush=True)
            trained = {}
        else:
            trained = train_stage(student, teacher, chain, data, args, out_dir / f"student_{short.T}.partial.pt")
            save_checkpoint({"config": args.config.to_dict(), "model": student.state_dict(), "ema": None,
                             "step": trained["train_steps"], "elapsed_s": trained["train_s"],
                             "losses": trained.pop("losses"),
                             "chain": short.timestep_map.tolist(),
                             "distilled": {"teacher": Path(args.teacher).name, "guidance": args.guidance,
                                           "teacher_steps": chain.T}}, path)
            (out_dir / f"student_{short.T}.partial.pt").unlink(missing_ok=True)
        student.eval().requires_grad_(False)
        scores = summary(sample_and_score(student, short, classifier, real, args.n, 1.0, "ddim"))
        record = {"student_steps": short.T, "teacher_steps": chain.T, "chain": short.timestep_map.tolist(),
                  "teacher_guidance": args.guidance, "lr": args.lr, "batch_size": args.batch_size,
                  **trained, **scores, "threads": threads, **provenance("distill", argv, "cpu")}
        if not fast:
            write(record, args.results, f"student_{short.T}")
        records.append(record)
        print(record, flush=True)
        teacher_net, chain = student, short
        teacher = lambda y, net=student: eps_model(net, y)                    # noqa: E731
    return records


if __name__ == "__main__":
    main()

"""Does the model copy its training digits? Nearest-neighbour distances, generated against real.

A model that memorised its training set would make samples that sit much nearer to
some training image than a new real digit does. So for each generated image we find
its nearest training image (in pixels, or in the digit classifier's features), and
compare that distance with the same distance for real *test* digits, which the model
never saw: they show how near a new, uncopied digit typically falls.
"""
from __future__ import annotations

import torch


def nearest(queries: torch.Tensor, pool: torch.Tensor, batch: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query to its nearest pool item, and that item's index.

    queries: (M, ...) and pool: (N, ...), flattened to vectors of the same length.
    Returns (distances (M,), indices (M,)).
    """
    q, p = queries.flatten(1).double(), pool.flatten(1).double()     # float64: exact copies come out at 0
    if q.shape[1] != p.shape[1]:
        raise ValueError(f"queries and pool must have the same size per item, got {q.shape[1]} and {p.shape[1]}")
    p_sq = (p ** 2).sum(1)
    dists, idx = [], []
    for lo in range(0, len(q), batch):
        qb = q[lo:lo + batch]
        d2 = ((qb ** 2).sum(1, keepdim=True) - 2 * qb @ p.T + p_sq).clamp(min=0)
        best = d2.min(1)
        dists.append(best.values.sqrt().float())
        idx.append(best.indices)
    return torch.cat(dists), torch.cat(idx)


def _quantiles(d: torch.Tensor) -> dict:
    qs = torch.quantile(d.double(), torch.tensor([0.01, 0.05, 0.5], dtype=torch.float64))
    return {"min": float(d.min()), "p1": float(qs[0]), "p5": float(qs[1]), "median": float(qs[2]),
            "mean": float(d.mean())}


def audit(generated: torch.Tensor, real_test: torch.Tensor, train: torch.Tensor) -> dict:
    """Nearest-training-image distances of ``generated`` (M, ...) and ``real_test`` (K, ...).

    Returns ``generated`` and ``test``: min, 1st and 5th percentile, median and mean distance;
    ``share_nearer_than_any_test``: the share of generated items nearer to a training item
    than the nearest test digit is (0 for a model that never copies more closely than a new
    digit resembles one); ``median_ratio``: generated median over test median; and the
    index arrays ``generated_nearest`` (M,) and ``generated_distance`` (M,) for showing pairs.
    """
    d_gen, i_gen = nearest(generated, train)
    d_test, _ = nearest(real_test, train)
    return {"generated": _quantiles(d_gen), "test": _quantiles(d_test),
            "share_nearer_than_any_test": float((d_gen < d_test.min()).float().mean()),
            "median_ratio": float(d_gen.median() / d_test.median()),
            "generated_nearest": i_gen, "generated_distance": d_gen}

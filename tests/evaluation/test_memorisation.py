"""The memorisation audit: nearest training images, and copies found as copies."""
import pytest
import torch

from helpers.evaluation.memorisation import audit, nearest


def test_nearest_matches_a_brute_force_search():
    g = torch.Generator().manual_seed(0)
    q, pool = torch.randn(7, 1, 4, 4, generator=g), torch.randn(30, 1, 4, 4, generator=g)
    d, i = nearest(q, pool, batch=3)
    full = torch.cdist(q.flatten(1), pool.flatten(1))
    assert torch.equal(i, full.argmin(1)) and torch.allclose(d, full.min(1).values, atol=1e-4)
    with pytest.raises(ValueError, match="same size per item"):
        nearest(q, torch.randn(3, 5))


def test_copies_are_flagged_and_new_images_are_not():
    g = torch.Generator().manual_seed(1)
    train, test = torch.randn(200, 16, generator=g), torch.randn(50, 16, generator=g)
    copies = train[:20] + 0.01 * torch.randn(20, 16, generator=g)
    fresh = torch.randn(20, 16, generator=g)
    copied, new = audit(copies, test, train), audit(fresh, test, train)
    assert copied["share_nearer_than_any_test"] == 1.0 and copied["median_ratio"] < 0.05
    assert torch.equal(copied["generated_nearest"], torch.arange(20))
    assert new["share_nearer_than_any_test"] < 0.2 and 0.7 < new["median_ratio"] < 1.3

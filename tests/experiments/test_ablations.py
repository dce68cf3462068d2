"""experiments.ablations: a two-step try-out trains, scores and records every variant asked for."""
import json

import pytest

from experiments import ablations


@pytest.mark.slow        # trains and scores two variants: minutes on a CPU
def test_a_tiny_ablation_run_records_each_variant_and_seed(judge, tmp_path, monkeypatch):
    monkeypatch.setattr(ablations, "load_judge", lambda device: judge)
    monkeypatch.setattr(ablations, "ROOT", tmp_path)
    monkeypatch.setattr(ablations, "RESULTS", tmp_path)
    out = tmp_path / "ablations.json"
    ablations.main(["--steps", "2", "--n", "20", "--sampler", "ddim:3", "--seeds", "0",
                    "--variants", "no_skip", "unconditional", "--out", str(out)])
    r = json.loads(out.read_text())
    assert set(r["runs"]) == {"no_skip", "unconditional"} and r["steps"] == 2
    no_skip, uncond = r["runs"]["no_skip"]["0"], r["runs"]["unconditional"]["0"]
    assert no_skip["config"]["skip_connections"] is False and no_skip["steps"] == 2
    assert "guided" in no_skip and "guided" not in uncond and uncond["unguided"]["labels"] is None
    assert len(no_skip["loss_by_t"]) == ablations.T_BANDS and all(x > 0 for x in no_skip["loss_by_t"])
    assert (tmp_path / "ablation_samples" / "no_skip.png").exists()
    assert (tmp_path / "checkpoints" / "ablations" / "no_skip_s0_2.pt").exists()

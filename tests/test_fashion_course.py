"""Notebooks 01-06 on Fashion-MNIST: each runs end to end with ``DATASET = "fashion"`` (fast mode).

The committed notebooks show MNIST and are checked by nbval; these tests execute a copy of
each with the parameter injected as papermill does (nbclient runs it, so that a cell tagged
``raises-exception`` may raise as intended) and check that it ran on Fashion-MNIST (its
outputs name it) without an unintended error. They need Fashion-MNIST on disk (Debian's
``dataset-fashion-mnist``, or torchvision's files under ``DDPM_DATA``) and skip, saying so,
where it is not.
"""
from __future__ import annotations

import pytest
from nbclient import NotebookClient

from helpers.io import ROOT

parameterize = pytest.importorskip("papermill.parameterize")
from papermill.iorw import load_notebook_node  # noqa: E402

# notebook -> a text its Fashion-MNIST run prints (None: the notebook prints nothing data-specific)
EXPECTED = {
    "01_forward_diffusion": "fashion test images",
    "02_unet": None,
    "03_training": "fashion training images",
    "04_sampling": "fashion test images right",
    "05_measuring_and_guidance": "fashion test images right",
    "06_fast_sampling": "fashion_reference",
}


@pytest.fixture(scope="module")
def fashion_available():
    from helpers.data import load_images

    try:
        load_images("fashion", train=False, download=False)
    except FileNotFoundError as e:
        pytest.skip(f"Fashion-MNIST is not on this machine ({e})")


def text_outputs(nb) -> str:
    """Every stream and text/plain output of an executed notebook, joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") + out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_on_fashion_mnist(name, fashion_available, monkeypatch):
    monkeypatch.setenv("DDPM_FAST", "1")                       # the kernel inherits it: the small settings
    nb = parameterize.parameterize_notebook(load_notebook_node(str(ROOT / "notebooks" / f"{name}.ipynb")),
                                            {"DATASET": "fashion"})
    NotebookClient(nb, timeout=900, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()   # raises on an error
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'DATASET = "fashion"' in injected[0].source
    if EXPECTED[name]:
        assert EXPECTED[name] in text_outputs(nb)


def test_a_checkpoint_of_one_data_set_refuses_another(tmp_path):
    from helpers.io import CheckpointError, load_model, reference_model

    with pytest.raises(CheckpointError, match=r"trained on mnist \(1 x 28 x 28 images\).*fashion"):
        load_model(reference_model("mnist"), dataset="fashion")
    with pytest.raises(CheckpointError, match="reference models for"):
        reference_model("cifar10")

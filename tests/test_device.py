"""Where a run happens: device choice, generators, provenance, and progress bars that suit a log file."""
import pytest
import torch

from helpers.device import make_generator, pick_device, progress_bar, provenance


def test_device_choice_and_clear_errors():
    assert pick_device("cpu") == torch.device("cpu") and pick_device(None).type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu9'"):
        pick_device("gpu9")
    assert torch.equal(torch.randn(3, generator=make_generator(5)), torch.randn(3, generator=make_generator(5)))


def test_provenance_names_the_command_the_machine_and_the_day():
    p = provenance("cpu", "python -m helpers train --out x.pt")
    assert p["command"] == "python -m helpers train --out x.pt" and p["hardware"]["device"] == "cpu"
    assert {"device_name", "cpu_count", "torch"} <= set(p["hardware"]) and p["date"].count("-") == 2


def test_progress_in_a_log_file_is_a_few_whole_lines(capfd):
    """Where nobody watches (stderr is not a terminal), the bar writes whole lines, not hundreds of '\\r'."""
    bar = progress_bar(1000, "training", True)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    err = capfd.readouterr().err
    assert "\r" not in err and 1 <= len(err.strip().splitlines()) <= 3 and "1000/1000" in err
    bar = progress_bar(10, "quiet", False)
    bar.update(10)
    bar.close()
    assert capfd.readouterr().err == ""

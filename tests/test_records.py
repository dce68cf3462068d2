"""Every committed model's record holds commands that rerun it with today's command line: each one
parses, and the settings it spells are the model's own."""
import json
import shlex

import pytest

from experiments import distill, records, train_clip
from helpers.cli import build_parser, config_from_args
from helpers.config import Config
from helpers.evaluation.cli import add_commands
from helpers.io import ROOT

RECORDS = records.records()


def parse(command: str):
    """(module, parsed args) of one recorded shell command, its VAR=value prefix dropped."""
    words = shlex.split(command)
    while "=" in words[0]:
        words.pop(0)
    assert words[:2] == ["python", "-m"], command
    if words[2] == "helpers":
        parser = build_parser()
        add_commands(parser.commands)
        return "helpers", parser.parse_args(words[3:])
    if words[2] == "experiments.train_clip":
        return words[2], train_clip.build_parser().parse_args(words[3:])
    assert words[2] == "experiments.distill", command
    return words[2], distill.build_parser().parse_args(words[3:])


def test_every_model_has_a_record_and_the_records_are_up_to_date():
    models = {p for p in (ROOT / "models").rglob("*.pt") if records.IN_TRAINING not in p.parts}
    assert {p.with_suffix(".pt") for p in RECORDS} == models
    assert records.main(["--check"]) == 0, "python -m experiments.records"


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(ROOT / "models")))
def test_each_recorded_command_parses_and_spells_the_models_settings(path):
    record = json.loads(path.read_text())
    parsed = [parse(c) for c in record["command"]]
    module, first = parsed[0]
    if module == "experiments.train_clip":
        assert (first.steps, first.batch_size, first.lr, first.seed) == tuple(
            record["config"][k] for k in ("steps", "batch_size", "lr", "seed"))
    elif module == "experiments.distill":
        assert (ROOT / first.teacher).is_file() and first.guidance == record["distilled"]["guidance"]
    elif first.command == "train-classifier":
        assert (first.dataset, first.epochs, first.seed, first.lr, first.batch_size) == tuple(
            record["config"].get(k, "mnist") for k in ("dataset", "epochs", "seed", "lr", "batch_size"))
    else:
        assert first.command == "train" and not first.resume
        config = config_from_args(first)
        for _, later in parsed[1:]:                     # resumed sittings change the budgets only
            assert later.command == "train" and later.resume and later.out == first.out
            config = config_from_args(later, base=config)
        assert config == Config.from_dict(record["config"])


def test_a_record_with_a_changed_setting_fails_the_check(tmp_path, monkeypatch):
    record = json.loads((ROOT / "models" / "uncond_guide.json").read_text())
    record["config"]["base_channels"] += 1
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "uncond_guide.json").write_text(json.dumps(record))
    monkeypatch.setattr(records, "ROOT", tmp_path)
    assert records.main(["--check"]) == 1

"""CIFAR-10 through the course: loading (a fake folder in torchvision's format), the generated stand-in
and the offline fallback, the preset with attention at 8x8, the attention block, and the command line."""
import os
import pickle
import socket

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image as PILImage

from helpers import data as data_module
from helpers import standin as standin_module
from helpers.__main__ import main
from helpers.config import DATASETS, Config, config_for_dataset
from helpers.data import DataFallbackWarning, ImageSet, load_images, network_available, resolve_root
from helpers.io import load_checkpoint
from helpers.standin import STANDIN_CLASSES, standin_cifar10
from helpers.unet import SelfAttention, UNet, count_parameters, unet_from_config

CIFAR = torchvision.datasets.CIFAR10


@pytest.fixture
def offline(offline, monkeypatch):
    """The shared offline fixture (tests/conftest.py), with a small stand-in (20 pictures per class)."""
    monkeypatch.setattr(standin_module, "STANDIN_PER_CLASS", {True: 20, False: 5})
    return offline


def write_fake_cifar(root, n_train=(6, 4, 4, 4, 2), n_test=5, seed=0) -> dict:
    """A small CIFAR-10 in torchvision's on-disk format (pickled batches under cifar-10-batches-py);
    returns {split: (uint8 (N, 32, 32, 3) as stored after torchvision's transpose, labels)}."""
    folder = root / CIFAR.base_folder
    folder.mkdir(parents=True)
    rng, written = np.random.default_rng(seed), {}
    for split, sizes in (("train", n_train), ("test", (n_test,))):
        names = [name for name, _ in (CIFAR.train_list if split == "train" else CIFAR.test_list)]
        chunks = []
        for name, n in zip(names, sizes):
            rows = rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)     # CIFAR's rows: R plane, G, B
            labels = rng.integers(0, 10, n).tolist()
            with open(folder / name, "wb") as f:
                pickle.dump({"data": rows, "labels": labels}, f)
            chunks.append((rows.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), labels))
        written[split] = (np.concatenate([c[0] for c in chunks]), sum((c[1] for c in chunks), []))
    with open(folder / CIFAR.meta["filename"], "wb") as f:
        pickle.dump({"label_names": list(DATASETS["cifar10"].classes)}, f)
    return written


@pytest.fixture
def fake_md5(monkeypatch):
    """torchvision checks each file's md5 against the real CIFAR-10's; here a file need only exist."""
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))


# --- the data -------------------------------------------------------------------------------------

def test_known_data_sets_agree_with_torchvisions_description_of_them():
    """Sizes and class names as torchvision lists them (its CIFAR-10 batches hold 10,000 pictures each)."""
    cifar = DATASETS["cifar10"]
    assert (cifar.train_size, cifar.test_size) == (10_000 * len(CIFAR.train_list), 10_000 * len(CIFAR.test_list))
    for name, tv in (("mnist", torchvision.datasets.MNIST), ("fashion", torchvision.datasets.FashionMNIST)):
        assert DATASETS[name].classes == tuple(c.split(" - ")[0] for c in tv.classes)
    assert len(cifar.classes) == len(set(cifar.classes)) == 10


def test_cifar10_loads_from_torchvisions_folder_as_colour_images(tmp_path, fake_md5, offline):
    written = write_fake_cifar(tmp_path / "data")
    for train, split in ((True, "train"), (False, "test")):
        out = load_images("cifar10", train=train, root=tmp_path / "data")
        stored, labels = written[split]
        assert out.images.shape == (len(stored), 3, 32, 32) and out.images.dtype == torch.float32
        assert out.images.min() >= -1 and out.images.max() <= 1
        back = ((out.images + 1) * 127.5).round().to(torch.uint8)           # [-1, 1] back to the stored bytes
        assert torch.equal(back.permute(0, 2, 3, 1), torch.from_numpy(stored))   # channels in R, G, B order
        assert out.labels.tolist() == labels and out.labels.dtype == torch.int64
        assert out.class_names == DATASETS["cifar10"].classes and out.name == "cifar10" and out.train == train
        assert "CIFAR10" in out.source and not out.is_full and not out.generated
    assert len(load_images("cifar10", root=tmp_path / "data" / CIFAR.base_folder)) == 20   # its folder works too
    assert resolve_root(tmp_path / "data" / CIFAR.base_folder) == (tmp_path / "data").resolve()


def test_cifar10_is_downloaded_by_torchvision_when_the_network_is_there(tmp_path, fake_md5, monkeypatch):
    asked = []
    monkeypatch.setattr(data_module, "network_available", lambda name: asked.append(name) or True)

    def download(self):                                   # what torchvision's download leaves behind
        if not (tmp_path / "root" / CIFAR.base_folder).exists():
            write_fake_cifar(tmp_path / "root")
    monkeypatch.setattr(CIFAR, "download", download)
    out = load_images("cifar10", train=False, root=tmp_path / "root")
    assert asked == ["cifar10"] and out.images.shape == (5, 3, 32, 32) and "CIFAR10" in out.source


def test_network_check_uses_cifar10s_url(offline, monkeypatch):
    hosts = []

    def refuse(address, timeout):
        hosts.append(address)
        raise OSError("unreachable")
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert network_available("cifar10", timeout=0.5) is False
    assert hosts == [("www.cs.toronto.edu", 443)]


def test_offline_cifar10_falls_back_to_the_stand_in_with_one_line(offline):
    with pytest.warns(DataFallbackWarning, match="CIFAR-10 not found .* generated stand-in .*DDPM_DATA") as record:
        train = load_images("cifar10", train=True)
    assert len(record) == 1 and "\n" not in str(record[0].message)
    with pytest.warns(DataFallbackWarning):
        test = load_images("cifar10", train=False)
    assert (len(train), len(test)) == (200, 50)
    assert train.images.shape[1:] == (3, 32, 32) and train.class_names == STANDIN_CLASSES
    assert train.name == "cifar10" and train.generated and not train.is_full and "stand-in" in train.source


# --- the stand-in ---------------------------------------------------------------------------------

def test_stand_in_has_cifar10s_shape_and_type_and_is_deterministic():
    a = standin_cifar10(True, 30)
    assert a.images.shape == (300, 3, 32, 32) and a.images.dtype == torch.float32
    assert a.images.min() >= -1 and a.images.max() <= 1
    levels = (a.images + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)            # CIFAR-10's 256 levels, like real bytes
    assert torch.bincount(a.labels).tolist() == [30] * 10 and a.labels[:10].unique().numel() > 3   # shuffled
    assert len(a.class_names) == 10 and "red disc" in a.class_names and "airplane" not in a.class_names
    assert torch.equal(a.images, standin_cifar10(True, 30).images)                          # same seed, same set
    assert torch.equal(a.images, standin_cifar10(True, 30, torch.Generator().manual_seed(0)).images)
    assert not torch.equal(a.images[:10], standin_cifar10(False, 30).images[:10])           # test split differs
    assert not ImageSet(torch.zeros(50_000, 1, 1, 1), torch.zeros(50_000), "", a.class_names, "cifar10",
                        generated=True).is_full                       # never taken for the real thing


def test_stand_in_classes_are_coloured_and_easy_to_tell_apart():
    train, test = standin_cifar10(True, 100), standin_cifar10(False, 30)
    red, green, blue = (train.images[train.labels == k].mean((0, 2, 3)) for k in range(3))
    assert red.argmax() == 0 and green.argmax() == 1 and blue.argmax() == 2     # not grey: colour matters
    def features(s):
        return torch.nn.functional.adaptive_avg_pool2d(s.images, 4).flatten(1)     # 4x4 average colours
    means = torch.stack([features(train)[train.labels == k].mean(0) for k in range(10)])
    guess = torch.cdist(features(test), means).argmin(1)                  # the nearest class mean
    assert (guess == test.labels).float().mean() > 0.5                    # chance: 0.1


# --- the preset and the attention field -----------------------------------------------------------

def test_cifar10_preset_is_wider_with_attention_at_8x8_and_mnist_is_unchanged():
    c = config_for_dataset("cifar10")
    assert (c.channels, c.image_size, c.num_classes) == (3, 32, 10)
    assert c.resolutions() == (32, 16, 8, 4) and c.attention and set(c.attention) <= set(c.resolutions())
    assert c.base_channels > Config().base_channels and len(c.channel_mults) > len(Config().channel_mults)
    assert config_for_dataset("mnist") == Config()                     # no preset: the default U-Net
    assert config_for_dataset("fashion") == Config(dataset="fashion")
    assert config_for_dataset("cifar10", attention=(), base_channels=32).attention == ()     # overrides win


def test_attention_is_validated_and_old_configs_load():
    with pytest.raises(ValueError, match=r"attention at \[7\] is not a resolution of this U-Net; "
                                         r"its resolutions are \[32, 16, 8, 4\]"):
        config_for_dataset("cifar10", attention=(7,))
    c = config_for_dataset("cifar10")
    assert c.to_dict()["attention"] == [8] and Config.from_dict(c.to_dict()) == c
    old = Config().to_dict()
    del old["attention"]                                       # a checkpoint written before the field existed
    assert Config.from_dict(old) == Config()


def test_self_attention_block_shapes_start_and_reach():
    torch.manual_seed(0)
    block = SelfAttention(32)
    x = torch.randn(2, 32, 8, 8)
    assert torch.equal(block(x), x)                           # its output projection starts at zero: identity
    torch.nn.init.normal_(block.proj.weight, std=0.1)
    y = block(x)
    assert y.shape == x.shape and block.heads == 4
    x2 = x.clone()
    x2[:, :, 7, 7] += 5                                       # change one corner pixel ...
    assert (block(x2) - y)[:, :, 0, 0].abs().max() > 1e-3     # ... and the opposite corner's output changes
    assert SelfAttention(6).heads == 1                        # channels that do not split into 4 heads: one head


def test_unet_puts_attention_at_the_configured_resolutions_and_prints_its_size():
    c = config_for_dataset("cifar10")
    model = unet_from_config(c)
    def at(modules):
        return [isinstance(m, SelfAttention) for m in modules]
    assert at(model.down_attn) == [False, False, True, False]            # 32, 16, 8, 4
    assert at(model.up_attn) == [False, True, False, False]              # 4, 8, 16, 32 (deepest first)
    assert not isinstance(model.mid_attn, SelfAttention)                 # the middle is at 4x4
    assert isinstance(unet_from_config(c.replace(attention=(4,))).mid_attn, SelfAttention)
    without = unet_from_config(c.replace(attention=()))
    n, n0 = count_parameters(model), count_parameters(without)
    print(f"\nCIFAR-10 preset: {n:,} parameters; attention at 8x8 adds {n - n0:,}")
    assert 3_000_000 < n < 8_000_000 and n - n0 == 2 * (2 * 128 + 4 * 128 * 128 + 4 * 128)
    x = torch.randn(2, 3, 32, 32)
    assert model(x, torch.tensor([0, 299]), torch.tensor([1, 10])).shape == x.shape
    with pytest.raises(ValueError, match="attention at"):
        UNet(3, 32, 8, (1, 2), attention=(8,))


def test_mnist_unet_is_unchanged_by_the_attention_option():
    model = unet_from_config(Config())
    assert count_parameters(model) == 247_909                 # notebook 03 prints this number
    assert not any(isinstance(m, SelfAttention) for m in model.modules())
    assert not any(k.startswith(("down_attn", "up_attn", "mid_attn")) for k in model.state_dict())


# --- the command line on the stand-in -------------------------------------------------------------

def test_cli_trains_and_samples_cifar10_on_the_stand_in(offline, capsys):
    ckpt, samples = offline / "c.pt", offline / "s.pt"
    with pytest.warns(DataFallbackWarning):
        code = main(["train", "--dataset", "cifar10", "--max-steps", "2", "--batch-size", "8", "--base-channels",
                     "16", "--attention", "16,8", "--no-progress", "--device", "cpu", "--out", str(ckpt)])
    assert code == 0, capsys.readouterr().err
    config = load_checkpoint(ckpt)["config"]
    assert (config.dataset, config.channels, config.attention) == ("cifar10", 3, (16, 8))
    assert config.channel_mults == (1, 2, 2, 2)                          # the preset's, under the flags given
    assert main(["sample", "--checkpoint", str(ckpt), "--n", "4", "--sampler", "ddim:3", "--labels", "balanced",
                 "--guidance", "2", "--out", str(samples), "--device", "cpu"]) == 0
    out = torch.load(samples)
    assert out["images"].shape == (4, 3, 32, 32) and out["images"].dtype == torch.uint8
    assert PILImage.open(samples.with_suffix(".png")).mode == "RGB"
    assert main(["train", "--dataset", "cifar10", "--attention", "7", "--out", str(ckpt)]) == 2
    assert "attention at [7] is not a resolution" in capsys.readouterr().err

"""U-Net shapes for MNIST and CIFAR sizes, clear errors for bad inputs, embeddings."""
import pytest
import torch

from helpers.config import Config
from helpers.unet import UNet, count_parameters, timestep_embedding, unet_from_config


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
@pytest.mark.parametrize("num_classes", [None, 10])
def test_output_shape_equals_input_shape(channels, size, num_classes):
    model = UNet(channels, size, base_channels=16, num_classes=num_classes)
    x = torch.randn(3, channels, size, size)
    y = torch.tensor([0, 9, 10]) if num_classes else None
    assert model(x, torch.tensor([0, 150, 299]), y).shape == x.shape


def test_default_model_size():
    model = unet_from_config(Config())                          # class-conditional by default
    assert count_parameters(model) == 247_909                   # notebooks 02 and 03 print this number
    assert count_parameters(unet_from_config(Config(num_classes=None))) == 247_381
    assert count_parameters(unet_from_config(Config(base_channels=16, channel_mults=(1, 2, 2)))) == 189_777  # the reference's
    assert model(torch.zeros(1, 1, 28, 28), torch.tensor([5])).abs().max() == 0  # zero-initialised output


def test_wrong_image_size_names_the_sizes_that_work():
    model = UNet(1, 28)
    with pytest.raises(ValueError, match=r"expects input of shape \(B, 1, 28, 28\), got \(2, 1, 32, 32\).*multiples of 4"):
        model(torch.zeros(2, 1, 32, 32), torch.zeros(2, dtype=torch.long))


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r"1-channel 28x28"):
        UNet(1, 28)(torch.zeros(2, 3, 28, 28), torch.zeros(2, dtype=torch.long))


def test_unsupported_size_at_construction():
    with pytest.raises(ValueError, match="image_size 30 is not supported.*multiple of 4"):
        UNet(1, 30)


def test_timestep_batch_mismatch():
    with pytest.raises(ValueError, match=r"t must have shape \(2,\)"):
        UNet(1, 28, base_channels=8)(torch.zeros(2, 1, 28, 28), torch.zeros(3, dtype=torch.long))


def test_labels_out_of_range():
    model = UNet(1, 28, base_channels=8, num_classes=10)
    with pytest.raises(ValueError, match=r"labels must be in 0..10"):
        model(torch.zeros(1, 1, 28, 28), torch.zeros(1, dtype=torch.long), torch.tensor([11]))


def test_no_label_is_the_extra_index():
    model = UNet(1, 28, base_channels=8, num_classes=10)
    torch.nn.init.normal_(model.out[-1].weight)
    x, t = torch.randn(2, 1, 28, 28), torch.tensor([3, 4])
    assert torch.equal(model(x, t), model(x, t, torch.tensor([10, 10])))
    assert not torch.equal(model(x, t), model(x, t, torch.tensor([1, 2])))


@pytest.mark.parametrize("flag", ["skip_connections", "time_embedding"])
def test_ablations_keep_shapes(flag):
    model = UNet(1, 28, base_channels=8, **{flag: False})
    assert model(torch.zeros(2, 1, 28, 28), torch.tensor([0, 9])).shape == (2, 1, 28, 28)


def test_without_time_embedding_the_step_is_invisible():
    model = UNet(1, 28, base_channels=8, time_embedding=False)
    torch.nn.init.normal_(model.out[-1].weight)
    x = torch.randn(1, 1, 28, 28)
    assert torch.equal(model(x, torch.tensor([0])), model(x, torch.tensor([200])))


def test_sinusoidal_embedding():
    emb = timestep_embedding(torch.tensor([0, 1, 299]), 32)
    assert emb.shape == (3, 32)
    assert torch.equal(emb[0, :16], torch.zeros(16)) and torch.equal(emb[0, 16:], torch.ones(16))
    assert emb[1, 0].item() == pytest.approx(torch.sin(torch.tensor(1.0)).item())
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(torch.tensor([0]), 7)


def test_scale_shift_injection_multiplies_the_features_by_the_embedding():
    """Adaptive GroupNorm: each block's embedding layer gives a scale and a shift per channel (twice the
    outputs), and a scale of -1 (1 + scale = 0) wipes the normalised features out, leaving only the shift."""
    from helpers.unet import ResBlock
    block = ResBlock(8, 8, 16, scale_shift=True)
    assert block.emb.out_features == 16
    x, emb = torch.randn(2, 8, 6, 6), torch.randn(2, 16)
    with torch.no_grad():
        block.emb.weight.zero_()
        block.emb.bias.copy_(torch.cat([-torch.ones(8), torch.full((8,), 0.5)]))     # scale -1, shift 0.5
        h = block.conv1(block.act(block.norm1(x)))
        expected = block.conv2(block.act(torch.full_like(h, 0.5))) + block.skip(x)
        assert torch.allclose(block(x, emb), expected, atol=1e-5)
    model = UNet(1, 28, 16, (1, 2, 2), num_classes=10, scale_shift=True)
    assert model(torch.randn(2, 1, 28, 28), torch.tensor([0, 299]), torch.tensor([3, 10])).shape == (2, 1, 28, 28)

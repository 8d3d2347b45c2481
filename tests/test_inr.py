"""Specification of the INR helpers: coordinate grids, Fourier features, rendering, the two autoencoders."""

import math

import pytest
import torch
from torch import nn

from hypernet_lib import count_parameters, describe, functional_forward
from hypernet_lib.apps.inr import (
    FourierFeatures,
    HyperINRAutoencoder,
    PixelAutoencoder,
    block_means,
    coordinate_grid,
    fit_autoencoder,
    fit_codes,
    image_samples,
    make_inr,
    per_image_mse,
    render,
)

# --- coordinate grids -------------------------------------------------------------------


def test_grid_lists_pixel_centres_row_major_as_x_then_y():
    grid = coordinate_grid(2, 4)
    assert grid.shape == (8, 2)
    # first row of pixels (y = -1/2) from left to right, then the second row
    torch.testing.assert_close(grid[:4, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    torch.testing.assert_close(grid[:4, 1], torch.full((4,), -0.5))
    torch.testing.assert_close(grid[4:, 1], torch.full((4,), 0.5))


def test_grids_of_any_resolution_cover_the_same_square_symmetrically():
    for size in (1, 3, 8, 32):
        grid = coordinate_grid(size)
        assert grid.shape == (size * size, 2)
        assert grid.abs().max() < 1
        torch.testing.assert_close(grid.mean(0), torch.zeros(2), atol=1e-6, rtol=0)


def test_a_finer_grid_contains_the_coarse_grid_when_the_factor_is_odd():
    coarse, fine = coordinate_grid(4), coordinate_grid(12)
    # every coarse pixel centre is also a fine pixel centre (3x3 fine pixels per coarse pixel)
    dist = torch.cdist(coarse, fine).min(1).values
    assert dist.max() < 1e-6


# --- Fourier features and the INR -------------------------------------------------------


def test_fourier_features_are_raw_coordinates_then_sines_then_cosines():
    ff = FourierFeatures(2)
    c = torch.tensor([[0.25, -0.5]])
    out = ff(c)
    assert out.shape == (1, 2 + 2 * 2 * 2) and ff.out_dim == 10
    angles = torch.tensor([0.25 * math.pi, 0.25 * 2 * math.pi, -0.5 * math.pi, -0.5 * 2 * math.pi])
    torch.testing.assert_close(out[0], torch.cat([c[0], angles.sin(), angles.cos()]))


def test_fourier_features_have_no_parameters_so_describe_lists_only_linear_layers():
    inr = make_inr(hidden=(16, 16), n_frequencies=3)
    spec = describe(inr)
    assert spec.names == ("1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias")
    assert spec["1.weight"].shape == (16, 14)
    assert spec.num_params == 14 * 16 + 16 + 16 * 16 + 16 + 16 + 1 == 529


def test_inr_maps_coordinates_to_intensities_for_any_batch_shape():
    inr = make_inr()
    assert inr(torch.rand(7, 2)).shape == (7, 1)
    assert inr(torch.rand(3, 5, 2)).shape == (3, 5, 1)


# --- images <-> samples, rendering ------------------------------------------------------


def test_image_samples_list_pixels_in_grid_order():
    images = torch.rand(3, 1, 4, 5)
    coords, values = image_samples(images)
    assert coords.shape == (20, 2) and values.shape == (3, 20, 1)
    # pixel (r, c) sits at grid row r*W + c
    assert values[1, 2 * 5 + 3, 0] == images[1, 0, 2, 3]
    torch.testing.assert_close(coords[2 * 5 + 3], torch.tensor([(2 * 3 + 1) / 5 - 1, (2 * 2 + 1) / 4 - 1]))


def test_render_draws_each_parameter_set_on_the_grid_batched_equals_looped():
    torch.manual_seed(0)
    inr = make_inr(hidden=(8,), n_frequencies=2)
    params = {n: torch.randn(4, *p.shape) for n, p in inr.named_parameters()}
    images = render(inr, params, 6, 5)
    assert images.shape == (4, 6, 5)
    grid = coordinate_grid(6, 5)
    for b in range(4):
        one = functional_forward(inr, {n: t[b] for n, t in params.items()}, grid)
        torch.testing.assert_close(images[b], one[:, 0].reshape(6, 5))


def test_block_means_average_each_block_as_the_digits_were_made():
    fine = torch.arange(16.0).reshape(1, 4, 4)
    coarse = block_means(fine, 2)
    assert coarse.shape == (1, 1, 2, 2)
    torch.testing.assert_close(coarse[0, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))
    # a binary 32x32 bitmap gives multiples of 1/16, the counts of the bundled digits divided by 16
    bitmap = (torch.rand(3, 1, 32, 32) > 0.5).float()
    counts = block_means(bitmap, 4) * 16
    assert torch.equal(counts, counts.round()) and counts.max() <= 16


def test_block_means_of_a_fine_grid_are_the_coarse_pixel_centres():
    fine = coordinate_grid(32)
    centres = block_means(fine.T.reshape(2, 32, 32), 4).reshape(2, 64).T
    torch.testing.assert_close(centres, coordinate_grid(8), atol=1e-6, rtol=0)


def test_a_feature_at_the_nyquist_frequency_averages_to_zero_over_every_pixel():
    fine = coordinate_grid(8 * 64, 8 * 64)
    picture = torch.cos(4 * math.pi * fine[:, 0]).reshape(1, 8 * 64, 8 * 64)
    assert block_means(picture, 64).abs().max() < 1e-4


# --- the autoencoders -------------------------------------------------------------------


def test_hyper_autoencoder_shapes_and_resolution_free_rendering():
    torch.manual_seed(0)
    model = HyperINRAutoencoder(z_dim=4, hnet_hidden=(8,), inr_hidden=(8, 8), n_frequencies=2)
    images = torch.rand(5, 1, 8, 8)
    z = model.encode(images)
    assert z.shape == (5, 4)
    assert model(images).shape == (5, 1, 8, 8)
    assert model.render(z, 32).shape == (5, 32, 32)
    assert model.weights(z)["1.weight"].shape == (5, 8, 2 + 2 * 2 * 2)


def test_hyper_autoencoder_decodes_through_block_means_of_a_fine_rendering():
    torch.manual_seed(0)
    model = HyperINRAutoencoder(z_dim=4, hnet_hidden=(8,), inr_hidden=(8,), n_frequencies=2, supersample=4)
    z = torch.randn(3, 4)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(z), block_means(model.render(z, 32), 4))
        point = HyperINRAutoencoder(z_dim=4, hnet_hidden=(8,), inr_hidden=(8,), n_frequencies=2, supersample=1)
        torch.testing.assert_close(point.decode(z), point.render(z, 8)[:, None])


def test_a_sigmoid_output_keeps_ink_in_0_1_and_adds_no_parameter():
    torch.manual_seed(0)
    plain, squashed = make_inr(sigmoid_output=False), make_inr(sigmoid_output=True)
    assert describe(plain).names == describe(squashed).names
    out = squashed(torch.rand(50, 2) * 2 - 1)
    assert ((out > 0) & (out < 1)).all()
    assert isinstance(PixelAutoencoder(sigmoid_output=True).decoder[-1], nn.Sigmoid)


def test_hyper_autoencoder_trains_only_encoder_and_hypernetwork():
    model = HyperINRAutoencoder(z_dim=4)
    assert not any(p.requires_grad for p in model.inr.parameters())
    trainable = count_parameters(model)
    assert trainable == count_parameters(model.encoder) + count_parameters(model.hnet)


def test_pixel_autoencoder_has_the_documented_size():
    model = PixelAutoencoder(z_dim=8, encoder_hidden=64, decoder_hidden=10)
    assert count_parameters(model.decoder) == (8 + 1) * 10 + (10 + 1) * 64
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("cls", [HyperINRAutoencoder, PixelAutoencoder])
def test_training_lowers_the_reconstruction_error(cls):
    torch.manual_seed(0)
    images = torch.rand(16, 1, 8, 8).round()  # random binary "images"
    model = cls(z_dim=4) if cls is PixelAutoencoder else cls(z_dim=4, hnet_hidden=(16,))
    before = per_image_mse(model, images).mean()
    losses = fit_autoencoder(model, images, n_steps=60, batch_size=16, lr=3e-3, progress=False)
    after = per_image_mse(model, images).mean()
    assert len(losses) == 7 and after < 0.8 * before


def test_per_image_mse_is_the_mean_over_each_images_pixels():
    model = PixelAutoencoder(z_dim=2)
    images = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        expected = ((model(images) - images) ** 2).mean((1, 2, 3))
    torch.testing.assert_close(per_image_mse(model, images), expected)


# --- auto-decoder codes -----------------------------------------------------------------


def test_fit_codes_recovers_a_code_and_leaves_the_decoder_alone():
    torch.manual_seed(0)
    decoder = nn.Linear(3, 64)
    decode = lambda z: decoder(z).reshape(-1, 1, 8, 8)
    true_z = torch.randn(4, 3)
    with torch.no_grad():
        images = decode(true_z)
    before = [p.clone() for p in decoder.parameters()]
    z = fit_codes(decode, images, z_dim=3, n_steps=300, lr=0.1, prior_weight=0.0)
    torch.testing.assert_close(z, true_z, atol=2e-2, rtol=0)
    assert all(torch.equal(a, b) for a, b in zip(before, decoder.parameters()))
    assert all(p.grad is None for p in decoder.parameters())


def test_fit_codes_ignores_nan_in_hidden_pixels():
    decode = lambda z: z[:, :1, None, None].expand(-1, 1, 8, 8).clone()
    images = torch.full((1, 1, 8, 8), float("nan"))
    images[..., :4] = 1.0
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1.0
    z = fit_codes(decode, images, z_dim=1, mask=mask, n_steps=300, lr=0.1, prior_weight=0.0)
    assert z.item() == pytest.approx(1.0, abs=1e-2)


def test_fit_codes_uses_only_the_observed_pixels():
    torch.manual_seed(0)
    decode = lambda z: z[:, :1, None, None].expand(-1, 1, 8, 8).clone()  # an image of one constant value
    images = torch.zeros(1, 1, 8, 8)
    images[..., :4] = 1.0  # left half 1, right half 0
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1.0  # observe only the left half
    z = fit_codes(decode, images, z_dim=1, mask=mask, n_steps=300, lr=0.1, prior_weight=0.0)
    assert z.item() == pytest.approx(1.0, abs=1e-2)


# --- bad input --------------------------------------------------------------------------

NAN_IMAGES = torch.full((2, 1, 8, 8), float("nan"))
HALF = torch.tensor([0.0, 1.0]).repeat(32).reshape(1, 1, 8, 8)


def _decode(z):
    return z[:, :1, None, None].expand(-1, 1, 8, 8).clone()


BAD_CALLS = [
    (lambda: coordinate_grid(0), ValueError, "height: expected a positive integer"),
    (lambda: render(make_inr(), {n: p[None] for n, p in make_inr().named_parameters()}, 0), ValueError, "height"),
    (lambda: image_samples(NAN_IMAGES), ValueError, "images: expected finite values, got 128 NaN"),
    (lambda: block_means(torch.rand(2, 1, 7, 7), 4), ValueError, "divisible by factor=4"),
    (lambda: block_means(torch.rand(2, 3, 8, 8), 4), ValueError, "expected one channel"),
    (lambda: block_means(torch.rand(2, 1, 8, 8), 0), ValueError, "factor: expected a positive integer"),
    (lambda: make_inr(sigmoid_output="yes"), TypeError, "sigmoid_output: expected True or False"),
    (lambda: HyperINRAutoencoder(supersample=0), ValueError, "supersample: expected a positive integer"),
    (lambda: PixelAutoencoder().encode(NAN_IMAGES), ValueError, "images: expected finite values"),
    (lambda: per_image_mse(PixelAutoencoder(), NAN_IMAGES), ValueError, "images: expected finite values"),
    (lambda: fit_autoencoder(PixelAutoencoder(), torch.rand(0, 1, 8, 8), 1), ValueError, "at least one training image"),
    (
        lambda: fit_autoencoder(PixelAutoencoder(), torch.rand(4, 1, 8, 8), 1, lr=float("nan")),
        ValueError,
        "lr: expected a positive finite",
    ),
    (
        lambda: fit_autoencoder(PixelAutoencoder(), torch.rand(4, 1, 8, 8), 1, code_weight=-1.0),
        ValueError,
        "code_weight: expected a finite number >= 0",
    ),
    (lambda: fit_autoencoder(PixelAutoencoder(), torch.rand(4, 1, 8, 8), 1, batch_size=0), ValueError, "batch_size"),
    (
        lambda: fit_codes(_decode, torch.rand(1, 1, 8, 8), 1, mask=HALF * 0.5),
        ValueError,
        r"mask: expected 0 \(hidden\) or 1 \(observed\)",
    ),
    (
        lambda: fit_codes(_decode, torch.rand(2, 1, 8, 8), 1, mask=torch.stack([HALF[0], 0 * HALF[0]])),
        ValueError,
        r"at least one observed pixel per image, got none for image\(s\) \[1\]",
    ),
    (lambda: fit_codes(_decode, NAN_IMAGES, 1, mask=HALF), ValueError, r"images \(observed pixels\): expected finite"),
    (
        lambda: fit_codes(_decode, torch.rand(1, 1, 8, 8), 1, init=torch.full((1, 1), float("inf"))),
        ValueError,
        "init: expected finite",
    ),
    (lambda: fit_codes(_decode, torch.rand(1, 1, 8, 8), 1, lr=0), ValueError, "lr: expected a positive finite"),
    (lambda: fit_codes(_decode, torch.rand(1, 1, 8, 8), 1, prior_weight=float("nan")), ValueError, "prior_weight"),
    (
        lambda: fit_codes(lambda z: z, torch.rand(1, 1, 8, 8), 1, n_steps=1),
        ValueError,
        r"decode: expected it to return images of shape \[1, 1, 8, 8\], got \[1, 1\]",
    ),
    (lambda: fit_codes(_decode, torch.rand(0, 1, 8, 8), 1), ValueError, "at least one image"),
]


@pytest.mark.parametrize("call, error, message", BAD_CALLS, ids=[m[:40] for _, _, m in BAD_CALLS])
def test_bad_input_is_refused_with_a_message_naming_it(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="height: expected a positive integer"):
        coordinate_grid(0)
    with pytest.raises(ValueError, match=r"coords: expected last dimension 2, got shape \[5, 3\]"):
        FourierFeatures(2)(torch.rand(5, 3))
    with pytest.raises(ValueError, match=r"images: expected one channel"):
        image_samples(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"images: expected 3 or 4 dimensions"):
        image_samples(torch.rand(8, 8))
    model = HyperINRAutoencoder(z_dim=4)
    with pytest.raises(ValueError, match=r"images: expected shape \[B, 1, 8, 8\], got \[2, 1, 7, 7\]"):
        model.encode(torch.rand(2, 1, 7, 7))
    with pytest.raises(ValueError, match=r"z: expected last dimension d_z=4"):
        model.render(torch.rand(2, 3))
    inr = make_inr()
    with pytest.raises(ValueError, match="expected batched tensors"):
        render(inr, {n: p.detach() for n, p in inr.named_parameters()}, 8)
    with pytest.raises(ValueError, match=r"mask: expected shape"):
        fit_codes(model.decode, torch.rand(2, 1, 8, 8), 4, mask=torch.ones(3, 1, 8, 8), n_steps=1)
    with pytest.raises(TypeError, match="model: expected an autoencoder"):
        fit_autoencoder(nn.Linear(2, 2), torch.rand(4, 1, 8, 8), n_steps=1)


# --- lecture 09's recipe ----------------------------------------------------------------


def test_the_lecture_recipe_trains_every_seed_and_its_weights_load_into_build():
    from course import lec09_generative as recipe

    config = {**recipe.CONFIG, "n_steps": 3, "seeds": (0, 1), "live_steps": 2}
    payload = recipe.train(config)
    assert payload["heldout_mse"]["hyper"].shape == (2, 297) and payload["losses"]["pixel"].shape[0] == 2
    assert set(payload["measured"]) == {"sample_confidence", "code_mid_confidence", "pixel_mid_confidence"}
    hyper, pixel = recipe.build(config)
    hyper.load_state_dict(payload["hyper"])
    pixel.load_state_dict(payload["pixel"])

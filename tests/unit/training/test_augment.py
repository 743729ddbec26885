import torch

from training.augment import AugmentConfig, augment_batch, random_stroke_width


def digit_batch(n: int = 64) -> torch.Tensor:
    """Ring-shaped 'zeros' of varying size: enough structure to see shape changes."""
    yy, xx = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    r = ((yy - 14) ** 2 + (xx - 14) ** 2).sqrt()
    radii = torch.linspace(5, 9, n).view(n, 1, 1)
    return (((r - radii).abs() < 1.5).float() * 255).to(torch.uint8)


def test_augment_keeps_shape_range_and_order():
    out = augment_batch(digit_batch(), AugmentConfig(), torch.Generator().manual_seed(0))
    assert out.shape == (64, 1, 28, 28)
    assert out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 255


def test_augment_keeps_each_image_in_its_label_slot():
    """Squares whose areas differ more than any scaling can: their order must survive."""
    sides = [2, 3, 4, 6, 8, 11]
    images = torch.zeros(len(sides), 28, 28, dtype=torch.uint8)
    for i, side in enumerate(sides):
        lo = 14 - side // 2
        images[i, lo : lo + side, lo : lo + side] = 255
    cfg = AugmentConfig(p_thick=0, p_thin=0)  # stroke width is tested on its own below
    for seed in range(5):
        out = augment_batch(images, cfg, torch.Generator().manual_seed(seed))
        ink = out.sum(dim=(1, 2, 3))
        assert torch.equal(ink.argsort(), torch.arange(len(sides))), ink


def test_augment_is_deterministic_for_a_seed_and_varies_otherwise():
    images, cfg = digit_batch(), AugmentConfig()
    a = augment_batch(images, cfg, torch.Generator().manual_seed(1))
    b = augment_batch(images, cfg, torch.Generator().manual_seed(1))
    c = augment_batch(images, cfg, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_stroke_width_thickens_and_thins():
    x = digit_batch(8).unsqueeze(1).float() / 255
    gen = torch.Generator().manual_seed(0)
    thick = random_stroke_width(x, AugmentConfig(p_thick=1.0, p_thin=0.0), gen)
    thin = random_stroke_width(x, AugmentConfig(p_thick=0.0, p_thin=1.0), gen)
    assert (thick.sum(dim=(1, 2, 3)) > x.sum(dim=(1, 2, 3))).all()
    assert (thin.sum(dim=(1, 2, 3)) < x.sum(dim=(1, 2, 3))).all()
    assert (thin.amax(dim=(1, 2, 3)) > 0.5).all()  # thinning never erases a digit


def test_identity_config_changes_nothing():
    images = digit_batch(8)
    cfg = AugmentConfig(
        rotate_deg=0, scale=(1, 1), aspect=0, shear=0, translate_px=0, p_thick=0, p_thin=0
    )
    out = augment_batch(images, cfg, torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.squeeze(1), images.float(), atol=1e-3, rtol=0)


def test_augment_batch_varies_the_stroke_width():
    """With the affine part off, augment_batch must still thicken some digits and thin others,
    chosen per image by the generator."""
    images = digit_batch()
    cfg = AugmentConfig(rotate_deg=0, scale=(1, 1), aspect=0, shear=0, translate_px=0)
    assert cfg.p_thick > 0 and cfg.p_thin > 0  # the defaults, which training uses

    def ink_ratio(seed: int) -> torch.Tensor:
        out = augment_batch(images, cfg, torch.Generator().manual_seed(seed))
        return out.sum(dim=(1, 2, 3)) / images.float().sum(dim=(1, 2))

    ratio = ink_ratio(0)
    thicker, thinner, same = ratio > 1.2, ratio < 0.8, (ratio - 1).abs() < 1e-3
    assert thicker.any() and thinner.any() and same.any(), ratio
    assert (thicker | thinner | same).all(), ratio  # nothing else changes the ink
    assert torch.equal(ink_ratio(0), ratio)  # the same seed picks the same images
    assert not torch.equal(ink_ratio(1), ratio)  # another seed picks others

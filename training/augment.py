"""Whole-batch augmentation with tensor ops (no torchvision, no per-sample PIL work).

MNIST digits are clean, centred and of one stroke weight. People draw large or small, slanted,
with thick markers or thin pens, and after the handler's normalisation a digit can still sit a
pixel or two off centre. Each transform below imitates one of those, on the whole batch at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    rotate_deg: float = 12.0  # uniform in ±rotate_deg
    scale: tuple[float, float] = (0.85, 1.12)  # digit size relative to MNIST's 20×20 box
    aspect: float = 0.12  # width/height stretch, uniform in ±aspect (narrow and wide writers)
    shear: float = 0.25  # horizontal shear factor (slanted handwriting), uniform in ±shear
    translate_px: float = 2.0  # shift, uniform in ±translate_px pixels (off-centre after centring)
    p_thick: float = 0.3  # probability of a thicker stroke (3×3 dilation)
    p_thin: float = 0.2  # probability of a thinner stroke (3×3 erosion, kept only if ink remains)

    def scaled(self, strength: float) -> AugmentConfig:
        """Every range and probability times `strength` (0 = no change to any image, 1 = self).

        One knob for make tune: the fields move together, so a short search can still find it.
        Probabilities are capped so that thick and thin never share an image (up to strength 2).
        """
        lo, hi = self.scale
        return AugmentConfig(
            rotate_deg=self.rotate_deg * strength,
            scale=(1 - (1 - lo) * strength, 1 + (hi - 1) * strength),
            aspect=self.aspect * strength,
            shear=self.shear * strength,
            translate_px=self.translate_px * strength,
            p_thick=min(self.p_thick * strength, 1 - self.p_thin * strength),
            p_thin=min(self.p_thin * strength, 1.0),
        )


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Rotate, scale, stretch, shear and shift each image in a float batch (N, 1, 28, 28)."""
    n = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = uniform(*cfg.scale)
    aspect = uniform(-cfg.aspect, cfg.aspect)
    sx, sy = scale * (1 + aspect), scale * (1 - aspect)
    shear = uniform(-cfg.shear, cfg.shear)
    tx, ty = (uniform(-cfg.translate_px, cfg.translate_px) * 2 / 28 for _ in range(2))

    # affine_grid maps *output* coordinates to *input* ones, so build the forward transform
    # (scale, then shear, then rotate) and invert it.
    cos, sin = torch.cos(angle), torch.sin(angle)
    forward = torch.zeros(n, 3, 3)
    forward[:, 0, 0] = cos * sx
    forward[:, 0, 1] = cos * shear * sy - sin * sy
    forward[:, 1, 0] = sin * sx
    forward[:, 1, 1] = sin * shear * sy + cos * sy
    forward[:, 0, 2], forward[:, 1, 2], forward[:, 2, 2] = tx, ty, 1
    theta = torch.linalg.inv(forward)[:, :2, :]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_stroke_width(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Thicken some digits (max filter) and thin others (min filter), chosen per image."""
    n = x.shape[0]
    draw = torch.rand(n, generator=gen)
    thick = (draw < cfg.p_thick).view(n, 1, 1, 1)
    thin = (draw >= 1 - cfg.p_thin).view(n, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    # Erosion dims anti-aliased strokes; a thin pen stroke is thin but still dark, so restore the
    # peak brightness. Digits that erosion nearly wipes out are kept as they were.
    peak = eroded.amax(dim=(1, 2, 3), keepdim=True)
    eroded = eroded / peak.clamp(min=1e-6) * x.amax(dim=(1, 2, 3), keepdim=True)
    x = torch.where(thick, dilated, x)
    return torch.where(thin & (peak > 0.3), eroded, x)


def augment_batch(images: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """uint8 (N, 28, 28) → augmented float (N, 1, 28, 28) in [0, 255], same labels and order."""
    x = images.unsqueeze(1).float() / 255
    x = random_stroke_width(x, cfg, gen)
    x = random_affine(x, cfg, gen)
    return x.clamp_(0, 1) * 255

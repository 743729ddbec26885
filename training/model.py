"""The digit CNN: small, BatchNorm everywhere, fast on two CPU cores, TorchScript-friendly."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 convolution (no bias: BatchNorm has one), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class DigitCNN(nn.Module):
    """28×28 grey digit (scaled by `handler.normalize.scale_pixels`) → 10 logits.

    One cheap layer at full resolution, then two stages of two convolutions at 14×14 and 7×7:
    most of the compute sits where the feature maps are small, which is what makes it fast on CPU.
    Global average pooling keeps the head tiny and tolerant to a pixel or two of misplacement.
    """

    def __init__(self, width: int = 32, dropout: float = 0.1) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            conv_bn(1, w),  # 28×28
            nn.MaxPool2d(2),
            conv_bn(w, 2 * w),  # 14×14
            conv_bn(2 * w, 2 * w),
            nn.MaxPool2d(2),
            conv_bn(2 * w, 4 * w),  # 7×7
            conv_bn(4 * w, 4 * w),
        )
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(4 * w, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

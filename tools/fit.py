"""The training loop of the segmenter's small helper networks (tools.digit_check,
tools.pair_reader): AdamW on a one-cycle schedule, each batch shifted by a pixel or two, the
held-out accuracy printed after every epoch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class FitSettings:
    epochs: int
    batch_size: int
    lr: float  # peak of the one-cycle schedule
    weight_decay: float
    shift: tuple[int, int] = (1, 1)  # each batch moves by up to this many pixels (rows, columns)
    label_smoothing: float = 0.0


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    held: torch.Tensor,
    settings: FitSettings,
) -> float:
    """Train `model` on the rows of (x, y) not `held`; return its accuracy on the held rows."""
    x_train, y_train, x_held, y_held = x[~held], y[~held], x[held], y[held]
    optimiser = torch.optim.AdamW(
        model.parameters(), settings.lr, weight_decay=settings.weight_decay
    )
    steps_per_epoch = len(y_train) // settings.batch_size
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, settings.lr, total_steps=settings.epochs * steps_per_epoch
    )
    reach = torch.tensor(settings.shift)
    held_accuracy = 0.0
    for epoch in range(settings.epochs):
        model.train()
        order = torch.randperm(len(y_train))
        for step in range(steps_per_epoch):
            batch = order[step * settings.batch_size : (step + 1) * settings.batch_size]
            shift = tuple(int(s) for s in torch.randint(-1, 2, (2,)) * reach)
            inputs = torch.roll(x_train[batch], shift, dims=(2, 3))
            loss = nn.functional.cross_entropy(
                model(inputs), y_train[batch], label_smoothing=settings.label_smoothing
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        held_accuracy = accuracy(model, x_held, y_held)
        print(f"  epoch {epoch + 1}/{settings.epochs}: held-out accuracy {held_accuracy:.2%}")
    model.eval()
    return held_accuracy


def logits(model: nn.Module, x: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    model.eval()
    with torch.no_grad():  # not inference_mode: a temperature may be fitted to these
        return torch.cat([model(x[i : i + batch]) for i in range(0, len(x), batch)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits(model, x).argmax(dim=1) == y).float().mean()) if len(y) else 0.0

"""Export a checkpoint to TorchScript, checking that it computes what the eager model computes.

python -m training.export --checkpoint runs/mnist/best.pt --out runs/mnist/model.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from training.model import DigitCNN

# Scripted and eager models run the same kernels; a tiny tolerance covers float reordering only.
MAX_ABS_DIFF = 1e-4


def load_checkpoint(path: Path) -> DigitCNN:
    """The model stored in a best.pt/last.pt checkpoint (its config names the architecture)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    cfg = state["config"]
    model = DigitCNN(cfg["width"], cfg["dropout"])
    weights = state["model"]
    # An EMA checkpoint comes from AveragedModel: its keys carry a "module." prefix and a counter.
    weights = {k.removeprefix("module."): v for k, v in weights.items() if k != "n_averaged"}
    model.load_state_dict(weights)
    return model.eval()


def export_torchscript(model: torch.nn.Module, out: Path, check_batch: torch.Tensor) -> float:
    """Script `model` to `out` and return the largest output difference on `check_batch`.

    Raises ValueError when the scripted model disagrees with the eager one.
    """
    model = model.eval().to(memory_format=torch.contiguous_format)
    scripted = torch.jit.script(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    scripted.save(str(out))
    reloaded = torch.jit.load(str(out))
    with torch.no_grad():
        diff = (reloaded(check_batch) - model(check_batch)).abs().max().item()
    if diff > MAX_ABS_DIFF:
        raise ValueError(f"TorchScript output differs from the eager model by {diff:.2e}")
    return diff


def main() -> None:
    parser = argparse.ArgumentParser(description="Export a training checkpoint to TorchScript.")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path("runs/mnist/best.pt"),
        help="best.pt or last.pt from a training run",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="TorchScript file to write (default: model.pt beside the checkpoint)",
    )
    args = parser.parse_args()
    if not args.checkpoint.is_file():
        sys.exit(f"error: {args.checkpoint}: no such checkpoint; train first (make train)")
    out = args.out or args.checkpoint.with_name("model.pt")
    model = load_checkpoint(args.checkpoint)
    # Any input of the right shape checks the export; random values exercise every weight.
    check = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    diff = export_torchscript(model, out, check)
    print(f"Exported {out} (max |scripted - eager| = {diff:.1e} on a batch of 64)")


if __name__ == "__main__":
    main()

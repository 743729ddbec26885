import torch

from training.export import export_torchscript, load_checkpoint
from training.model import DigitCNN


def trained_looking(model: DigitCNN) -> DigitCNN:
    """Non-default BatchNorm statistics, so the check covers them too."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


def test_torchscript_round_trip_equals_eager(tmp_path):
    torch.manual_seed(0)
    model = trained_looking(DigitCNN())
    batch = torch.randn(16, 1, 28, 28)
    diff = export_torchscript(model, tmp_path / "model.pt", batch)
    scripted = torch.jit.load(str(tmp_path / "model.pt"))
    with torch.no_grad():
        torch.testing.assert_close(scripted(batch), model(batch), atol=1e-5, rtol=0)
    assert diff <= 1e-5


def test_export_from_an_ema_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = trained_looking(DigitCNN(width=8))
    ema = torch.optim.swa_utils.AveragedModel(model, use_buffers=True)
    config = {"width": 8, "dropout": 0.1}
    torch.save({"model": ema.state_dict(), "config": config}, tmp_path / "best.pt")
    loaded = load_checkpoint(tmp_path / "best.pt")
    batch = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch), model(batch))

import torch

from training.model import DigitCNN, count_parameters


def test_output_shape_and_size():
    model = DigitCNN().eval()
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)
    assert count_parameters(model) <= 500_000


def test_batch_of_one_works_in_eval_mode():
    assert DigitCNN().eval()(torch.randn(1, 1, 28, 28)).shape == (1, 10)

import torch

from training.data import IDX_SHA256


def test_genuine_mnist_loads_with_verified_checksums(mnist):
    assert mnist.train_images.shape == (60_000, 28, 28)
    assert mnist.test_images.shape == (10_000, 28, 28)
    assert mnist.train_images.dtype == torch.uint8
    assert mnist.checksums == IDX_SHA256
    assert torch.bincount(mnist.test_labels).tolist()[:2] == [980, 1135]

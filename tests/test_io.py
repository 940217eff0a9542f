"""Reading back what qseq wrote: damaged files give one clear error naming the file (and are left as
they are), damaged caches are set aside and computed again, output directories are checked up front."""

from __future__ import annotations

import io
import sys
import warnings

import numpy as np
import pytest
import torch

import qseq._io as qio
from qseq._io import DamagedFileError, check_writable_dir, load_torch, read_cached_array, read_json


def _npy(tmp_path):
    path = tmp_path / "features-abc.npy"
    np.save(path, np.arange(50.0).reshape(10, 5))
    return path


def _damage(good: bytes) -> dict[str, bytes]:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return {
        "empty": b"",
        "garbage": b"not an array\n",
        "truncated": good[: len(good) // 2],
        "header only": good[:40],
        "pickled objects": buffer.getvalue(),
    }


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "header only", "pickled objects"])
def test_a_damaged_cache_file_is_set_aside_with_a_warning(tmp_path, damage):
    path = _npy(tmp_path)
    bad = _damage(path.read_bytes())[damage]
    path.write_bytes(bad)
    with pytest.warns(RuntimeWarning, match="cannot be read") as record:
        assert read_cached_array(path) is None
    message = str(record[0].message)
    assert str(path) in message and "computed again" in message and "features-abc.npy.damaged" in message
    assert not path.exists()  # the caller writes fresh values here ...
    assert (tmp_path / "features-abc.npy.damaged").read_bytes() == bad  # ... and the damaged bytes are kept


def test_a_second_damaged_cache_file_does_not_replace_the_first(tmp_path):
    path = _npy(tmp_path)
    path.write_bytes(b"first")
    with pytest.warns(RuntimeWarning):
        read_cached_array(path)
    path.write_bytes(b"second")
    with pytest.warns(RuntimeWarning, match="damaged-2"):
        read_cached_array(path)
    assert (tmp_path / "features-abc.npy.damaged").read_bytes() == b"first"
    assert (tmp_path / "features-abc.npy.damaged-2").read_bytes() == b"second"


def test_a_damaged_cache_file_can_be_left_in_place(tmp_path):
    path = _npy(tmp_path)
    path.write_bytes(b"garbage")
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        assert read_cached_array(path, set_aside=False) is None
    assert path.read_bytes() == b"garbage" and len(list(tmp_path.iterdir())) == 1


def test_a_good_cache_file_loads_silently_and_a_missing_one_raises(tmp_path):
    path = _npy(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_cached_array(path), np.arange(50.0).reshape(10, 5))
    with pytest.raises(FileNotFoundError):
        read_cached_array(tmp_path / "missing.npy")


@pytest.mark.parametrize("content", [b"", b"garbage\n", b"PK\x03\x04 half a zip"])
def test_load_torch_names_the_file_and_the_remedy(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(DamagedFileError) as err:
        load_torch(path, "qseq checkpoint", "Do this.")
    message = str(err.value)
    assert message.startswith(f"{path} is not a readable qseq checkpoint (")
    assert message.endswith("Do this.") and "\n" not in message
    assert isinstance(err.value, ValueError) and path.read_bytes() == content


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_load_torch_truncated_checkpoint(tmp_path, keep):
    path = tmp_path / "model.pt"
    torch.save({"model_state": {"w": torch.zeros(1000)}}, path)
    good = path.read_bytes()
    path.write_bytes(good[: int(len(good) * keep)])
    with pytest.raises(DamagedFileError, match="model.pt is not a readable"):
        load_torch(path, "qseq checkpoint", "")


def test_load_torch_lets_a_missing_file_raise_as_usual(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_torch(tmp_path / "missing.pt", "qseq checkpoint", "")


def test_read_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"model": "qrnn",\n}')
    with pytest.raises(
        DamagedFileError, match=r"run.json is not a readable run file \(JSONDecodeError: .* line 2, column 1\)"
    ):
        read_json(path, "run file", "Fix it.")
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DamagedFileError, match="not UTF-8 text"):
        read_json(path, "run file", "Fix it.")


def test_check_writable_dir_accepts_new_and_existing_directories_and_creates_nothing(tmp_path):
    check_writable_dir(tmp_path)
    check_writable_dir(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []


def test_check_writable_dir_refuses_a_file_and_a_path_below_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"/f is a file, not a directory"):
        check_writable_dir(tmp_path / "f", "--out")
    with pytest.raises(NotADirectoryError, match=r"f/sub cannot be created: .*/f is a file"):
        check_writable_dir(tmp_path / "f" / "sub", "--out")
    assert (tmp_path / "f").read_text() == "x"


def test_check_writable_dir_refuses_an_unwritable_place(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(qio.tempfile, "TemporaryFile", refuse)
    with pytest.raises(PermissionError, match=rf"{tmp_path}/run cannot be written: .*\(Permission denied\)"):
        check_writable_dir(tmp_path / "run")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_check_writable_dir_refuses_a_virtual_file_system():
    with pytest.raises(PermissionError, match="/proc/qseq-run cannot be written"):
        check_writable_dir("/proc/qseq-run")

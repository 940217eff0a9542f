"""Reading back what qseq wrote: damaged files give one clear error naming the file (and are left as
they are), damaged caches are set aside and computed again, files whose contents changed after they
were written are caught by their SHA-256 checksum, output directories are checked up front."""

from __future__ import annotations

import io
import json
import sys
import warnings

import numpy as np
import pytest
import torch

import qseq._io as qio
from qseq._io import (
    CHECKSUM_KEY,
    DamagedFileError,
    check_writable_dir,
    digest,
    load_torch,
    read_cached_array,
    read_json,
    save_torch,
    write_cached_array,
    write_json,
)


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


# ------------------------------------------------------------------------------------------ checksums


def _payload() -> dict:
    return {
        "model_state": {"w": torch.linspace(-1, 1, 12, dtype=torch.float64).reshape(3, 4), "b": torch.zeros(2)},
        "epoch": 7,
        "history": [{"epoch": 1, "val_mse": 0.25, "note": None}],
        "betas": (0.9, 0.999),
        "flags": torch.tensor([True, False]),
        "blob": torch.frombuffer(bytearray(b"\x00\x01\xfe"), dtype=torch.uint8),
    }


def test_digest_follows_the_contents_not_their_container():
    value = _payload()
    same = {**value, "model_state": {k: v.clone() for k, v in value["model_state"].items()}, "betas": [0.9, 0.999]}
    assert digest(value) == digest(same) and len(digest(value)) == 64
    nudged = _payload()
    nudged["model_state"]["w"][1, 2] = torch.nextafter(nudged["model_state"]["w"][1, 2], torch.tensor(2.0))
    changes = [
        nudged,  # one tensor element by one ulp
        {**value, "epoch": 8},
        {**value, "history": [{"epoch": 1, "val_mse": 0.25000000000000006, "note": None}]},
        {**value, "model_state": {"w": value["model_state"]["w"].float(), "b": value["model_state"]["b"]}},  # dtype
        {**value, "flags": value["flags"].reshape(1, 2)},  # shape
        {**value, "epoch": 7.0},  # an int is not a float
        {**value, "epoch": True},
        {k: value[k] for k in reversed(value)},  # key order
    ]
    assert len({digest(v) for v in changes} | {digest(value)}) == len(changes) + 1
    assert digest(0.0) != digest(-0.0) and digest(["ab", "c"]) != digest(["a", "bc"])
    assert digest(np.arange(3.0)) != digest(np.arange(3.0).astype(">f8"))  # byte order is part of the bytes
    with pytest.raises(TypeError, match="cannot checksum a value of type 'object'"):
        digest({"x": object()})


def test_save_torch_round_trips_and_stays_a_plain_torch_file(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_torch(path, _payload())
    loaded = load_torch(path, "qseq checkpoint", "")
    assert CHECKSUM_KEY not in loaded and digest(loaded) == digest(_payload())
    raw = torch.load(path, weights_only=True)  # what a user's own torch.load sees
    assert raw[CHECKSUM_KEY] == digest(_payload())
    with pytest.raises(TypeError, match="without the key 'sha256'"):
        save_torch(path, {**_payload(), CHECKSUM_KEY: "mine"})


def test_a_checkpoint_with_a_changed_value_is_refused_naming_it(tmp_path):
    path = tmp_path / "best.pt"
    save_torch(path, _payload())
    saved = torch.load(path, weights_only=True)
    saved["model_state"]["w"][0, 0] += 1e-12  # still a valid checkpoint, with one weight changed
    torch.save(saved, path)
    tampered = path.read_bytes()
    with pytest.raises(DamagedFileError) as err:
        load_torch(path, "qseq checkpoint", "Restore it from a copy.")
    message = str(err.value)
    assert message.startswith(f"{path} does not match the SHA-256 checksum written with it: this qseq checkpoint")
    assert message.endswith("Restore it from a copy.") and path.read_bytes() == tampered


def test_a_checkpoint_with_a_flipped_byte_that_still_loads_is_refused(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_torch(path, {"model_state": {"w": torch.arange(16, dtype=torch.float64)}})
    raw = bytearray(path.read_bytes())
    where = raw.find(np.float64(5.0).tobytes())
    raw[where + 7] ^= 0x01
    path.write_bytes(bytes(raw))
    assert torch.load(path, weights_only=True)["model_state"]["w"][5] != 5.0  # torch itself does not notice
    with pytest.raises(DamagedFileError, match="does not match the SHA-256 checksum"):
        load_torch(path, "qseq checkpoint", "")


def test_a_checkpoint_without_a_checksum_loads_as_before(tmp_path):
    path = tmp_path / "old.pt"
    torch.save(_payload(), path)  # as qseq wrote checkpoints before checksums
    assert digest(load_torch(path, "qseq checkpoint", "")) == digest(_payload())


def test_write_json_round_trips_what_json_reads_back(tmp_path):
    path = tmp_path / "run.json"
    record = {"model": "qrnn", "val": 0.1, "shape": (2, 3), "by_epoch": {1: 0.5}, "nan": float("nan"), "none": None}
    write_json(path, record)
    assert json.loads(path.read_text())[CHECKSUM_KEY] == digest(json.loads(json.dumps(record)))
    back = read_json(path, "run file", "")
    assert back["shape"] == [2, 3] and back["by_epoch"] == {"1": 0.5} and CHECKSUM_KEY not in back


@pytest.mark.parametrize(("before", "after"), [('"val": 0.1', '"val": 0.2'), ('"model": "qrnn"', '"model": "qlstm"')])
def test_an_edited_json_record_is_refused_naming_it(tmp_path, before, after):
    path = tmp_path / "run.json"
    write_json(path, {"model": "qrnn", "val": 0.1, "seed": 0})
    path.write_text(path.read_text().replace(before, after))
    with pytest.raises(DamagedFileError) as err:
        read_json(path, "run file", "Write it again.")
    message = str(err.value)
    assert message.startswith(f"{path} does not match the SHA-256 checksum written with it: this run file")
    assert 'Write it again. If it was edited on purpose, delete its "sha256" entry' in message


def test_a_json_record_reformatted_with_the_same_contents_is_accepted(tmp_path):
    path = tmp_path / "run.json"
    write_json(path, {"model": "qrnn", "val": 0.1, "seed": 0})
    path.write_text(json.dumps(json.loads(path.read_text())).replace("0.1", "1e-1"))  # one line, 0.1 spelt otherwise
    assert read_json(path, "run file", "") == {"model": "qrnn", "val": 0.1, "seed": 0}


def test_a_json_record_without_a_checksum_reads_as_before(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"model": "qrnn", "val": 0.2}')
    assert read_json(path, "run file", "") == {"model": "qrnn", "val": 0.2}


def test_write_cached_array_writes_a_checksum_beside_it(tmp_path):
    path = tmp_path / "features-abc.npy"
    features = np.linspace(0, 1, 20).reshape(4, 5)
    write_cached_array(path, features)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features-abc.npy", "features-abc.npy.sha256"]
    assert (tmp_path / "features-abc.npy.sha256").read_text() == digest(features) + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_cached_array(path), features)


def test_a_cached_array_with_a_changed_value_is_set_aside_and_computed_again(tmp_path):
    path = tmp_path / "features-abc.npy"
    features = np.linspace(0, 1, 20).reshape(4, 5)
    write_cached_array(path, features)
    changed = features.copy()
    changed[2, 3] = 0.5
    np.save(path, changed)  # a valid array, not the one the checksum was written for
    with pytest.warns(RuntimeWarning) as record:
        assert read_cached_array(path) is None
    message = str(record[0].message)
    assert message == (
        f"the cache file {path} does not match its checksum (features-abc.npy.sha256) "
        "(kept as features-abc.npy.damaged); its values are computed again"
    )
    np.testing.assert_array_equal(np.load(tmp_path / "features-abc.npy.damaged"), changed)
    assert not path.exists()
    write_cached_array(path, features)  # the caller's recomputed values
    np.testing.assert_array_equal(read_cached_array(path), features)


def test_a_cached_array_without_a_checksum_loads_as_before(tmp_path):
    path = _npy(tmp_path)  # as qseq wrote caches before checksums
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(read_cached_array(path), np.arange(50.0).reshape(10, 5))

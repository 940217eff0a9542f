"""The chronological train / validation / test split of ``qseq.data.chronological_split``."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.data import Split, chronological_split, get_task


@pytest.fixture(scope="module")
def shm():
    return get_task("damped_shm").load(seq_len=4)


def test_three_way_split_is_in_time_order_and_keeps_the_papers_test_windows(shm):
    X, y = shm
    split = chronological_split(X, y, val=0.1, test=0.33)
    assert isinstance(split, Split) and split.sizes() == (134, 23, 78)
    X_train, y_train, X_val, y_val, X_test, y_test = split  # unpacks like a tuple
    np.testing.assert_array_equal(np.concatenate([X_train, X_val, X_test]), X)
    np.testing.assert_array_equal(np.concatenate([y_train, y_val, y_test]), y)
    _, _, X_test2, y_test2 = chronological_split(X, y)  # the papers' 67/33 split
    np.testing.assert_array_equal(X_test, X_test2)
    np.testing.assert_array_equal(y_test, y_test2)
    assert split.train[0] is X_train and split.val[1] is y_val and split.test[0] is X_test


def test_default_test_fraction_and_an_empty_validation_part(shm):
    X, y = shm
    assert chronological_split(X, y, val=0.2).sizes() == (110, 47, 78)
    none = chronological_split(X, y, val=0)
    assert none.sizes() == (157, 0, 78) and none.val is None
    assert chronological_split(X, y, val=0.1, test=0.5).sizes() == (94, 23, 118)


def test_the_two_way_split_is_unchanged(shm):
    X, y = shm
    parts = chronological_split(X, y)
    assert type(parts) is tuple and [len(p) for p in parts] == [157, 157, 78, 78]
    assert [len(p) for p in chronological_split(X, y, 0.8)] == [188, 188, 47, 47]
    assert [len(p) for p in chronological_split(X, y, train_fraction=0.5)] == [117, 117, 118, 118]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"val": 1.0}, ValueError, r"val must be in \[0, 1\), got 1.0"),
        ({"val": -0.1}, ValueError, r"val must be in \[0, 1\)"),
        ({"val": 0.1, "test": 0.0}, ValueError, r"test must be in \(0, 1\), got 0.0"),
        ({"val": 0.1, "test": 1.0}, ValueError, r"test must be in \(0, 1\)"),
        ({"val": 0.5, "test": 0.5}, ValueError, r"val \+ test must be < 1"),
        ({"val": "0.1"}, TypeError, "val must be a number, got '0.1'"),
        ({"val": True}, TypeError, "val must be a number"),
        ({"val": 0.1, "test": None, "train_fraction": 0.5}, ValueError, "either train_fraction .* or val and test"),
        ({"test": 0.2}, ValueError, "test is the fraction of the three-way split: pass val too"),
        ({"train_fraction": "0.5"}, TypeError, "train_fraction must be a number"),
    ],
)
def test_bad_fractions_are_refused_naming_the_argument(shm, kwargs, error, message):
    with pytest.raises(error, match=message):
        chronological_split(*shm, **kwargs)


def test_too_few_windows_for_a_validation_part_is_refused():
    X, y = np.zeros((9, 4, 1)), np.zeros((9, 1))
    message = "9 windows with val=0.1, test=0.33 leave an empty part: 6 train / 0 validation / 3 test"
    with pytest.raises(ValueError, match=message):
        chronological_split(X, y, val=0.1)
    assert chronological_split(X, y, val=0.2).sizes() == (5, 1, 3)
    with pytest.raises(ValueError, match="same number of windows"):
        chronological_split(X, y[:-1], val=0.2)

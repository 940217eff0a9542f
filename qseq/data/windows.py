"""Preparing series for sequence models: sliding windows, chronological splits, min-max scaling, and
CSV loading for users' own data.

:func:`windows` follows Chen's windowing (including its extra ``-1``), :func:`chronological_split`
keeps ``int(0.67 * N)`` training windows (with ``val=``: train / validation / test), and
:class:`MinMaxScaler` is fitted on the whole series as Chen's code does. Shapes: a series is ``(T,)``
or ``(T, F)``; windows are ``X (N, seq_len, F)`` and targets ``y (N, G)``.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np

from .._checks import check_count, first_nonfinite

__all__ = ["windows", "chronological_split", "Split", "MinMaxScaler", "load_csv", "ColumnSpec"]


def _as_series(name: str, a) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be shaped (T,) or (T, features), got shape {arr.shape}")
    bad = first_nonfinite(arr)
    if bad is not None:
        raise ValueError(f"{name} has a non-finite value (NaN or inf) at index {bad}: {arr[bad].tolist()}")
    return arr


def windows(series, seq_len: int, *, target=None, horizon: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into sliding windows and next-value targets, in Chen's convention.

    For ``i = 0, ..., N-1``::

        X[i] = series[i : i + seq_len]
        y[i] = target[i + seq_len + horizon - 1]        # target defaults to series

    with ``N = T - seq_len - horizon``. For ``horizon = 1`` this is ``range(len(s) - seq_len - 1)``
    exactly as in Chen's ``transform_data_single_predict``: the extra ``-1`` means the last point of
    the series is never used as a target (240 points, ``seq_len = 4`` → 235 windows, not 236). For
    ``horizon = k`` the same rule shifts the target ``k - 1`` steps further.

    Args:
        series: ``(T,)`` or ``(T, F)`` inputs (a 1-D series becomes ``F = 1``).
        seq_len: window length ``L >= 1``.
        target: optional ``(T,)`` or ``(T, G)`` series the targets are read from (NARMA: windows of
            the input ``u``, targets from ``y``); must have the same length ``T``.
        horizon: forecast horizon ``k >= 1``.

    Returns:
        ``(X, y)``: float64 arrays shaped ``(N, L, F)`` and ``(N, G)`` (``G = F`` without ``target``).

    Raises:
        ValueError: ``seq_len`` or ``horizon`` < 1, a series too short for one window, NaN/inf in
            ``series`` or ``target`` (the message gives the index), or mismatched lengths.
    """
    seq_len = check_count("seq_len", seq_len)
    horizon = check_count("horizon", horizon)
    s = _as_series("series", series)
    tgt = s if target is None else _as_series("target", target)
    if len(tgt) != len(s):
        raise ValueError(f"series and target must have the same length, got {len(s)} and {len(tgt)}")
    n = len(s) - seq_len - horizon
    if n < 1:
        raise ValueError(
            f"series too short: {len(s)} points give no window for seq_len={seq_len}, horizon={horizon} "
            f"(need at least seq_len + horizon + 1 = {seq_len + horizon + 1} points)"
        )
    start = np.arange(n)
    X = s[start[:, None] + np.arange(seq_len)[None, :]]
    y = tgt[start + seq_len + horizon - 1]
    return X, y


class Split(NamedTuple):
    """A chronological train / validation / test split of windows (:func:`chronological_split` with
    ``val``). Unpacks as ``X_train, y_train, X_val, y_val, X_test, y_test``; :attr:`train`,
    :attr:`val` and :attr:`test` give the ``(X, y)`` pairs."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def train(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X_train, y_train)``: what the weights are fitted on."""
        return self.X_train, self.y_train

    @property
    def val(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(X_val, y_val)``: what early stopping and model selection read; ``None`` when empty (``val=0``)."""
        return (self.X_val, self.y_val) if len(self.X_val) else None

    @property
    def test(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X_test, y_test)``: evaluated once, at the end."""
        return self.X_test, self.y_test

    def sizes(self) -> tuple[int, int, int]:
        """Windows in train, validation and test."""
        return len(self.X_train), len(self.X_val), len(self.X_test)


def _check_fraction(name: str, value, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (0.0 < value < 1.0 if low_open else 0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in {'(0, 1)' if low_open else '[0, 1)'}, got {value}")
    return value


@overload
def chronological_split(
    X, y, train_fraction: float = 0.67, *, val: None = None, test: None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


@overload
def chronological_split(X, y, train_fraction: None = None, *, val: float, test: float = 0.33) -> Split: ...


def chronological_split(X, y, train_fraction=None, *, val=None, test=None):
    """Split windows in time order: train, then (with ``val``) validation, then test. No shuffling.

    Without ``val``: the first ``int(train_fraction * N)`` windows train, the rest test (Chen's
    convention ``int(0.67 * len(x))``: 235 windows → 157 train / 78 test); returns
    ``(X_train, y_train, X_test, y_test)``.

    With ``val`` (a fraction of all ``N`` windows, ``0 <= val``) and ``test`` (default 0.33): the
    test windows are the last ``N - int((1 - test) * N)`` (for ``test=0.33`` the same windows as the
    two-way split, so test MSEs stay comparable with the papers'), the validation windows the
    ``int(val * N)`` before them, and training the rest; returns a :class:`Split`
    ``(X_train, y_train, X_val, y_val, X_test, y_test)``. 235 windows, ``val=0.1`` → 134 / 23 / 78.
    Fit on train; pick the epoch, stop early and tune on validation; evaluate test once at the end.
    ``val=0`` gives an empty validation part (train on everything before the test windows).

    Each part lies strictly after the previous one in time; its windows overlap the previous part's
    last targets by at most ``seq_len`` points, as in the papers.

    Args:
        X: ``(N, ...)`` windows.
        y: ``(N, ...)`` targets.
        train_fraction: in ``(0, 1)``; the two-way split only (default 0.67).
        val: validation fraction in ``[0, 1)``; asks for the three-way split.
        test: test fraction in ``(0, 1)``, with ``val`` only (default 0.33).

    Returns:
        ``(X_train, y_train, X_test, y_test)``, or a :class:`Split` when ``val`` is given.

    Raises:
        ValueError: mismatched ``N``, a fraction outside its range, ``val + test >= 1``, an empty
            train or test part (or an empty validation part for ``val > 0``), ``train_fraction``
            together with ``val``, or ``test`` without ``val``.
        TypeError: a fraction that is not a number.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of windows, got {len(X)} and {len(y)}")
    if val is None:
        if test is not None:
            raise ValueError(
                "test is the fraction of the three-way split: pass val too (e.g. val=0.1, test=0.33), "
                "or train_fraction alone for the two-way split"
            )
        train_fraction = _check_fraction("train_fraction", 0.67 if train_fraction is None else train_fraction, True)
        n_train = int(train_fraction * len(X))
        if n_train < 1 or n_train >= len(X):
            raise ValueError(f"{len(X)} windows with train_fraction={train_fraction} leave an empty train or test set")
        return X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    if train_fraction is not None:
        raise ValueError(
            "pass either train_fraction (two-way split) or val and test (three-way split), not both; "
            f"got train_fraction={train_fraction}, val={val}"
        )
    val = _check_fraction("val", val, low_open=False)
    test = _check_fraction("test", 0.33 if test is None else test, low_open=True)
    if val + test >= 1.0:
        raise ValueError(f"val + test must be < 1 to leave training windows, got val={val} + test={test}")
    n = len(X)
    n_before_test = int(round(1.0 - test, 12) * n)
    n_val = int(val * n)
    n_train = n_before_test - n_val
    if n_train < 1 or n_before_test >= n or (val > 0 and n_val < 1):
        raise ValueError(
            f"{n} windows with val={val}, test={test} leave an empty part: {max(n_train, 0)} train / "
            f"{n_val} validation / {n - n_before_test} test windows; use more data or other fractions"
        )
    train, val_part, test_part = slice(n_train), slice(n_train, n_before_test), slice(n_before_test, None)
    return Split(X[train], y[train], X[val_part], y[val_part], X[test_part], y[test_part])


class MinMaxScaler:
    """Per-feature affine map of ``[min, max]`` onto ``feature_range`` (sklearn-compatible formula).

    ``transform(x) = x * scale_ + min_`` with ``scale_ = (hi - lo) / (data_max_ - data_min_)`` and
    ``min_ = lo - data_min_ * scale_``: the same arithmetic as ``sklearn.preprocessing.MinMaxScaler``,
    without the dependency. Features are the last axis of the fitted array (a 1-D array is one
    feature); :meth:`transform` accepts any array whose last axis matches (or any shape for a
    single-feature scaler), e.g. windows ``(N, L, F)``.

    Chen's code fits the scaler on the **whole** series before splitting (test-range leakage
    included); the :data:`TASKS` reproduce that.

    Args:
        feature_range: ``(lo, hi)`` with ``lo < hi``.
    """

    def __init__(self, feature_range: tuple[float, float] = (-1.0, 1.0)):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(f"feature_range must be (lo, hi) with lo < hi, got {feature_range}")
        self.feature_range = (float(lo), float(hi))
        self.data_min_: np.ndarray | None = None

    def fit(self, data) -> MinMaxScaler:
        """Record per-feature min and max of ``data`` ``(T,)`` or ``(T, F)``.

        Raises:
            ValueError: empty data, NaN/inf, or a constant feature (it cannot be scaled).
        """
        arr = np.asarray(data, dtype=np.float64)
        if arr.size == 0:
            raise ValueError("cannot fit MinMaxScaler on an empty array")
        flat = arr.reshape(len(arr), -1) if arr.ndim > 1 else arr[:, None]
        bad = first_nonfinite(flat)
        if bad is not None:
            raise ValueError(f"cannot fit MinMaxScaler: non-finite value at index {bad}")
        dmin, dmax = flat.min(axis=0), flat.max(axis=0)
        const = np.flatnonzero(dmax == dmin)
        if const.size:
            raise ValueError(
                f"cannot scale a constant feature: feature(s) {const.tolist()} have min == max "
                f"(value {dmin[const[0]]!r})"
            )
        lo, hi = self.feature_range
        self._one_d = arr.ndim == 1
        self.n_features_ = flat.shape[1]
        self.data_min_, self.data_max_ = dmin, dmax
        self.scale_ = (hi - lo) / (dmax - dmin)
        self.min_ = lo - dmin * self.scale_
        return self

    def _params(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.data_min_ is None:
            raise RuntimeError("MinMaxScaler is not fitted; call fit() first")
        if self.n_features_ == 1:
            return self.scale_[0], self.min_[0]
        if arr.ndim == 0 or arr.shape[-1] != self.n_features_:
            raise ValueError(
                f"expected an array whose last axis has {self.n_features_} features, got shape {arr.shape}"
            )
        return self.scale_, self.min_

    def transform(self, data) -> np.ndarray:
        """Map ``data`` into ``feature_range`` (same shape, float64)."""
        arr = np.asarray(data, dtype=np.float64)
        scale, offset = self._params(arr)
        return arr * scale + offset

    def inverse_transform(self, data) -> np.ndarray:
        """Undo :meth:`transform` (same shape, float64), e.g. on model predictions."""
        arr = np.asarray(data, dtype=np.float64)
        scale, offset = self._params(arr)
        return (arr - offset) / scale

    def fit_transform(self, data) -> np.ndarray:
        """``fit(data).transform(data)``."""
        return self.fit(data).transform(data)

    def __repr__(self) -> str:
        return f"MinMaxScaler(feature_range={self.feature_range})"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


ColumnSpec = int | str | Sequence[int | str] | None


def load_csv(path, column: ColumnSpec = None, *, delimiter: str = ",", skip_header="auto") -> np.ndarray:
    """Load a numeric time series from a delimited text file (time runs down the rows).

    Blank lines and lines starting with ``#`` are ignored. Cells may be quoted and are stripped of
    surrounding whitespace; ``nan``/``inf`` parse as floats (:func:`windows` rejects them later, with
    the index). Every data row must have the same number of cells.

    Args:
        path: file path.
        column: which column(s) to return: ``None`` (all), an index (negative counts from the end),
            a header name, or a list of these.
        delimiter: cell separator (``","``; use ``"\\t"`` for TSV, ``";"`` for European CSV).
        skip_header: ``"auto"`` treats the first line as a header when any of its cells is not a
            number; ``True`` always, ``False`` never.

    Returns:
        float64 ``(T,)`` for a single column (a file with one column, an ``int``/``str`` ``column``),
        otherwise ``(T, k)``.

    Raises:
        FileNotFoundError: the file does not exist (the message gives the path).
        ValueError: empty file, no data rows, a non-numeric or empty cell, a ragged row (each with
            the line number and the offending text), an unknown column name / index, or a name the
            header gives to more than one column.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    if skip_header not in ("auto", True, False):
        raise ValueError(f"skip_header must be 'auto', True or False, got {skip_header!r}")
    rows: list[tuple[int, list[str]]] = []
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        for cells in reader:
            lineno = reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            rows.append((lineno, cells))
    if not rows:
        raise ValueError(f"{str(p)!r} is empty (no non-blank, non-comment lines)")

    header: list[str] | None = None
    first_line, first = rows[0]
    if skip_header is True or (skip_header == "auto" and not all(_is_number(c) for c in first)):
        header = first
        rows = rows[1:]
        if not rows:
            raise ValueError(f"{str(p)!r} has a header (line {first_line}) but no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    ref_line = first_line
    data = np.empty((len(rows), width))
    for r, (lineno, cells) in enumerate(rows):
        if len(cells) != width:
            raise ValueError(
                f"{str(p)!r} line {lineno}: ragged row with {len(cells)} cells, expected {width} "
                f"(as on line {ref_line}): {delimiter.join(cells)!r}"
            )
        for j, cell in enumerate(cells):
            try:
                data[r, j] = float(cell)
            except ValueError:
                what = "empty cell" if cell == "" else f"non-numeric cell {cell!r}"
                raise ValueError(f"{str(p)!r} line {lineno}, column {j}: {what}") from None

    def index_of(col) -> int:
        if isinstance(col, str):
            if header is None:
                raise ValueError(f"column {col!r} given by name but {str(p)!r} has no header line")
            if col not in header:
                raise ValueError(f"unknown column {col!r}; the header has {header}")
            places = [j for j, name in enumerate(header) if name == col]
            if len(places) > 1:
                raise ValueError(
                    f"column {col!r} is ambiguous: the header of {str(p)!r} (line {first_line}) names columns "
                    f"{places} {col!r}; select one by index (column={places[0]}) or rename the duplicates"
                )
            return places[0]
        if isinstance(col, bool) or not isinstance(col, (int, np.integer)):
            raise TypeError(f"column must be an int, a str or a list of them, got {col!r}")
        if not -width <= col < width:
            raise ValueError(f"column index {col} out of range for {width} column(s)")
        return int(col) % width

    if column is None:
        return data[:, 0].copy() if width == 1 else data
    if isinstance(column, (str, int, np.integer)):
        return data[:, index_of(column)].copy()
    return data[:, [index_of(c) for c in column]]

"""Naive baselines to report beside every model, on the same windows.

Several paper tasks are solved almost exactly by a 5-parameter linear autoregression (damped SHM:
test MSE ~1e-7 against ~3e-3 for persistence), so a table without :func:`persistence_baseline` and
:func:`linear_ar_baseline` says little about the model.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mse", "persistence_baseline", "linear_ar_baseline"]


def mse(a, b) -> float:
    """Mean squared error ``mean((a - b)²)`` of two arrays of the same shape.

    Shapes that differ only by size-1 axes (``(N, 1)`` vs ``(N,)``) are compared element by element;
    anything else raises instead of broadcasting (``(N, 1) - (N,)`` would silently give ``(N, N)``).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        if np.squeeze(a).shape != np.squeeze(b).shape:
            raise ValueError(f"mse needs arrays of the same shape, got {a.shape} and {b.shape}")
        a, b = a.reshape(-1), b.reshape(-1)
    return float(np.mean((a - b) ** 2))


def persistence_baseline(X, y=None, *, column: int | None = None) -> np.ndarray:
    """Last-value ("persistence", random-walk) forecast: ``ŷ_i = X[i, -1]``.

    Args:
        X: ``(N, L, F)`` (or ``(N, L)``) windows.
        y: optional targets ``(N, G)``; the prediction takes their shape. When ``G != F`` (e.g.
            Lorenz windows of ``(x, y, z)`` predicting ``x``) pass ``column``.
        column: which input feature to persist.

    Returns:
        Predictions shaped like ``y`` (``(N, F)`` without ``y``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 2:
        X = X[:, :, None]
    if X.ndim != 3:
        raise ValueError(f"X must be shaped (N, seq_len, features), got {X.shape}")
    last = X[:, -1, :] if column is None else X[:, -1, [column]]
    if y is None:
        return last
    y = np.asarray(y)
    if len(y) != len(X):
        raise ValueError(f"X and y must have the same number of windows, got {len(X)} and {len(y)}")
    g = 1 if y.ndim == 1 else int(np.prod(y.shape[1:]))
    if last.shape[1] != g:
        raise ValueError(
            f"windows have {last.shape[1]} feature(s) but targets have {g}; pass column= to choose the feature"
        )
    return last.reshape(y.shape)


def linear_ar_baseline(X_train, y_train, X_test) -> np.ndarray:
    """Linear autoregression on the flattened window plus a bias, fitted by least squares.

    ``ŷ = W · vec(X_i) + c`` with ``W, c`` from ``numpy.linalg.lstsq`` on the training windows
    (``L·F + 1`` parameters per target: 5 for a window of 4 scalars). Equivalent to an AR(L) model
    (ARX when ``X`` and ``y`` are different series, as in NARMA).

    Args:
        X_train: ``(N_train, L, F)`` (or ``(N_train, L)``) windows.
        y_train: ``(N_train,)`` or ``(N_train, G)`` targets.
        X_test: ``(N_test, L, F)`` windows.

    Returns:
        Test predictions ``(N_test, G)`` (or ``(N_test,)`` for 1-D ``y_train``).
    """
    Xtr = np.asarray(X_train, dtype=np.float64)
    Xte = np.asarray(X_test, dtype=np.float64)
    ytr = np.asarray(y_train, dtype=np.float64)
    if len(Xtr) != len(ytr):
        raise ValueError(f"X_train and y_train must have the same number of windows, got {len(Xtr)} and {len(ytr)}")
    A = np.hstack([Xtr.reshape(len(Xtr), -1), np.ones((len(Xtr), 1))])
    B = np.hstack([Xte.reshape(len(Xte), -1), np.ones((len(Xte), 1))])
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"train and test windows differ in size: {Xtr.shape[1:]} vs {Xte.shape[1:]}")
    coef, *_ = np.linalg.lstsq(A, ytr.reshape(len(ytr), -1), rcond=None)
    pred = B @ coef
    return pred.reshape(len(Xte), *ytr.shape[1:])

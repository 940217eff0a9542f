"""Fixture for the environment tests: gymnasium's checker, failing on the warnings it raises."""

from __future__ import annotations

import warnings

import pytest

# check_env says this of every env built by gymnasium.make (it is wrapped); the wrappers are the point
WRAPPED = "is different from the unwrapped version"


@pytest.fixture
def check_env():
    """``check_env(env, allow=(), **kw)`` runs gymnasium's checker and fails on any warning it raises
    except the wrapping notice and those containing a string of ``allow``."""
    checker = pytest.importorskip("gymnasium.utils.env_checker")

    def run(env, allow=(), **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            checker.check_env(env, **kwargs)
        unexpected = [str(w.message) for w in caught if not any(a in str(w.message) for a in (WRAPPED, *allow))]
        assert unexpected == []

    return run

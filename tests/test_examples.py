"""The scripts of examples/ run end to end in their --smoke mode (tiny budgets, a few seconds each)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def example(name: str):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _agg():
    matplotlib.use("Agg")


def test_every_example_is_smoke_tested():
    tested = {"time_series", "reservoir_vs_classical", "fake_ibm_device", "rl_qlstm_policy"}
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_time_series(tmp_path, capsys):
    out = example("time_series").main(["--smoke", "--out", str(tmp_path)])
    assert math.isfinite(out["test_mse"]) and out["best_epoch"] in (1, 2)
    assert (tmp_path / "test.png").stat().st_size > 0
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "loss.png").exists()
    assert "test MSE" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # a second run into the same directory is refused, not overwritten
        example("time_series").main(["--smoke", "--out", str(tmp_path)])


def test_reservoir_vs_classical(tmp_path):
    table = example("reservoir_vs_classical").main(["--smoke", "--out", str(tmp_path)])
    assert {"QLSTM reservoir (4 qubits)", "GRU reservoir", "linear AR (baseline)"} <= set(table)
    assert all(math.isfinite(v) and v >= 0 for v in table.values())
    assert (tmp_path / "reservoir.png").stat().st_size > 0


def test_fake_ibm_device_runs_what_was_estimated():
    pytest.importorskip("qiskit_ibm_runtime")
    out = example("fake_ibm_device").main(["--smoke"])
    assert (out["jobs"], out["circuits"]) == (out["estimate"].jobs, out["estimate"].circuits)
    assert out["estimate"].qpu_seconds > 0
    assert out["device"].shape == out["exact"].shape
    assert abs(out["device"] - out["exact"]).max() < 0.5  # noisy, 256 shots, but the same model


def test_rl_qlstm_policy(tmp_path):
    pytest.importorskip("gymnasium")
    out = example("rl_qlstm_policy").main(["--smoke", "--out", str(tmp_path)])
    assert len(out["returns"]) == 2 and (out["returns"] > 0).all()
    assert (tmp_path / "checkpoint.pt").exists()

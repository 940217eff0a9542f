"""Bad inputs across the public API and the CLI: each one is refused early with one clear message that
names the argument (or file) and what is wrong — never a traceback from inside a dependency, never a
silent answer. The table in ``docs/bad-inputs.md`` is generated from these cases and checked here, so it
always shows what the library says today::

    python tests/test_bad_inputs.py     # rewrite docs/bad-inputs.md from the cases
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple
from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

from qseq.backends import get
from qseq.backends.torch_engine import TorchBackend
from qseq.circuits import Operation, chen_vqc
from qseq.circuits.circuit import build
from qseq.data import chronological_split, get_task, load_csv
from qseq.models import QFWP, QLSTM, build_model
from qseq.reservoir import ReservoirRegressor
from qseq.rl import A2CConfig, PPOConfig
from qseq.train import TrainConfig, fit, load_checkpoint
from qseq.workflows.estimate import estimate

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-inputs.md"


class Case(NamedTuple):
    area: str
    what: str  # the bad input, as a user would write it
    call: Callable[[], object]
    error: type[BaseException]
    match: str  # a regular expression the message must contain: the argument's name and the fault


def _expval(groups):
    return TorchBackend().expval(chen_vqc(2, 1), groups)


def _build(n, ops):
    return build(n, [Operation(*op) for op in ops], [])


@contextlib.contextmanager
def _no_ibm_account() -> Iterator[None]:
    """No IBM Quantum credentials: no ``QISKIT_IBM_*`` variables and no saved account file."""
    variables = {k: v for k, v in os.environ.items() if not k.startswith("QISKIT_IBM_")}
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, variables, clear=True))
        if importlib.util.find_spec("qiskit_ibm_runtime") is not None:
            saved = "qiskit_ibm_runtime.accounts.management._DEFAULT_ACCOUNT_CONFIG_JSON_FILE"
            stack.enter_context(mock.patch(saved, "/nonexistent/qiskit-ibm.json"))
        yield


def _ibm_without_network():
    """``get("ibm:ibm_fez")`` with a token while the IBM host's name does not resolve."""
    import socket

    import requests

    def unresolvable(*args, **kwargs):
        url = "https://iam.cloud.ibm.com/identity/token"
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except socket.gaierror as err:
            raise requests.ConnectionError(err, request=requests.Request("POST", url).prepare()) from err

    with (
        mock.patch.dict(os.environ, {"QISKIT_IBM_TOKEN": "a-token-never-checked"}),
        mock.patch("qiskit_ibm_runtime.QiskitRuntimeService", unresolvable),
    ):
        return get("ibm:ibm_fez")


def _unknown_cloud_device():
    """An IBM account whose service has no device ``ibm_fezz``."""
    from qiskit.providers.exceptions import QiskitBackendNotFoundError

    from qseq.backends.ibm import IBMBackend

    class Service:
        def backend(self, name):
            raise QiskitBackendNotFoundError("No backend matches the criteria.")

    return IBMBackend("ibm_fezz", service=Service())


def _estimate_without_account(spec):
    with _no_ibm_account():
        return estimate("qlstm", "damped_shm", spec)


X = torch.randn(4, 2, 1)
W = torch.zeros(6)
CASES = [
    # models
    Case("models", "QLSTM(0, 3)", lambda: QLSTM(0, 3), ValueError, "input_size must be a positive integer"),
    Case("models", "QLSTM(1, 3, n_qubits=0)", lambda: QLSTM(1, 3, n_qubits=0), ValueError, "n_qubits must be"),
    Case(
        "models",
        "QLSTM(..., bidirectional=True)",
        lambda: QLSTM(1, 3, bidirectional=True),
        ValueError,
        "bidirectional=True is not supported",
    ),
    Case(
        "models",
        "QLSTM(..., dropout=1.5)",
        lambda: QLSTM(1, 3, dropout=1.5),
        ValueError,
        r"dropout must be in \[0, 1\)",
    ),
    Case(
        "models",
        "input of 2 features to QLSTM(1, 3)",
        lambda: QLSTM(1, 3)(torch.randn(4, 2, 2)),
        ValueError,
        "input must be .* H_in = 1",
    ),
    Case(
        "models",
        "a numpy array as input",
        lambda: QLSTM(1, 3)(np.zeros((4, 2, 1))),
        TypeError,
        "input must be a torch.Tensor",
    ),
    Case(
        "models",
        "NaN in the input",
        lambda: QLSTM(1, 3)(torch.full((4, 2, 1), float("nan"))),
        ValueError,
        "input contains NaN",
    ),
    Case("models", "an empty sequence", lambda: QLSTM(1, 3)(torch.zeros(0, 2, 1)), ValueError, "empty sequence"),
    Case(
        "models",
        "h_0 of the wrong shape",
        lambda: QLSTM(1, 3)(X, (torch.zeros(1, 2, 2), torch.zeros(1, 2, 4))),
        ValueError,
        r"h_0 must have shape \(1, 2, 3\)",
    ),
    Case(
        "models",
        "float64 input to a float32 model",
        lambda: QLSTM(1, 3)(X.double()),
        ValueError,
        "input dtype .* does not match",
    ),
    Case(
        "models",
        "QFWP(update='decay', decay=2.0)",
        lambda: QFWP(1, update="decay", decay=2.0),
        ValueError,
        r"decay must be a number in \[0, 1\)",
    ),
    Case(
        "models",
        "build_model('transformer')",
        lambda: build_model("transformer"),
        ValueError,
        "unknown model 'transformer'; known models",
    ),
    Case(
        "models",
        "init='scaled:-1'",
        lambda: QLSTM(1, 3, reservoir=True, init="scaled:-1"),
        ValueError,
        "the scale must be a positive",
    ),
    Case("models", "init='wide'", lambda: QLSTM(1, 3, init="wide"), ValueError, "init must be one of"),
    # backends
    Case(
        "backends",
        "get('aer:shot=64')",
        lambda: get("aer:shot=64"),
        ValueError,
        "unknown option 'shot' .*did you mean 'shots'",
    ),
    Case("backends", "get('nonexistent')", lambda: get("nonexistent"), ValueError, "unknown backend 'nonexistent'"),
    Case(
        "backends",
        "get('ibm:ibm_fez') with a token but no network (DNS fails)",
        _ibm_without_network,
        ConnectionError,
        "cannot reach the IBM Quantum service at iam.cloud.ibm.com .*the token was not checked.*DNS",
    ),
    Case(
        "backends",
        "an IBM device the account's service does not have",
        _unknown_cloud_device,
        ValueError,
        "unknown IBM device 'ibm_fezz': the service has no device of that name",
    ),
    Case("backends", "TorchBackend(diff='foo')", lambda: TorchBackend(diff="foo"), ValueError, "diff must be"),
    Case("backends", "TorchBackend(fuse='yes')", lambda: TorchBackend(fuse="yes"), ValueError, "fuse must be"),
    Case(
        "backends",
        "inputs of 5 angles for 4",
        lambda: _expval({"inputs": torch.zeros(3, 5), "weights": W}),
        ValueError,
        "'inputs' needs a last dimension of 4",
    ),
    Case(
        "backends",
        "an unknown parameter group",
        lambda: _expval({"inputs": torch.zeros(3, 4), "weights": W, "bias": torch.zeros(1)}),
        ValueError,
        r"unknown parameter group\(s\) \['bias'\]",
    ),
    Case(
        "backends",
        "a missing parameter group",
        lambda: _expval({"inputs": torch.zeros(3, 4)}),
        ValueError,
        r"missing parameter group\(s\) \['weights'\]",
    ),
    Case(
        "backends",
        "complex angles",
        lambda: _expval({"inputs": torch.zeros(3, 4, dtype=torch.complex64), "weights": W}),
        TypeError,
        "must hold real angles",
    ),
    Case(
        "backends",
        "NaN angles",
        lambda: _expval({"inputs": torch.full((3, 4), float("nan")), "weights": W}),
        ValueError,
        "'inputs' contains NaN",
    ),
    Case(
        "backends",
        "a string instead of a circuit",
        lambda: TorchBackend().expval("chen", {}),
        TypeError,
        "expected a qseq.circuits.Circuit",
    ),
    # circuits
    Case("circuits", "chen_vqc(0, 2)", lambda: chen_vqc(0, 2), ValueError, "n_qubits must be a positive integer"),
    Case(
        "circuits",
        "an unknown gate 'FOO'",
        lambda: _build(1, [("FOO", (0,))]),
        ValueError,
        "unknown gate 'FOO'; known gates",
    ),
    Case("circuits", "H on wire 3 of 1", lambda: _build(1, [("H", (3,))]), ValueError, "wire 3 is outside 0..0"),
    Case("circuits", "CNOT(0, 0)", lambda: _build(2, [("CNOT", (0, 0))]), ValueError, "wires must be distinct"),
    # data
    Case(
        "data",
        "get_task('dampd_shm')",
        lambda: get_task("dampd_shm"),
        ValueError,
        "unknown task 'dampd_shm'; known tasks",
    ),
    Case("data", "chronological_split(..., val=1.5)", lambda: _split(val=1.5), ValueError, r"val must be in \[0, 1\)"),
    Case("data", "load(seq_len=0)", lambda: get_task("damped_shm").load(seq_len=0), ValueError, "seq_len must be >= 1"),
    Case(
        "data",
        "load_csv of a missing file",
        lambda: load_csv("/nonexistent/series.csv"),
        FileNotFoundError,
        "/nonexistent/series.csv",
    ),
    # reservoir computing
    Case("reservoir", "features='all'", lambda: _regressor(features="all"), ValueError, "features must be one of"),
    Case(
        "reservoir",
        "features='observables' on a torch RNN",
        lambda: _regressor(features="observables"),
        ValueError,
        "RNN has none: use 'steps\\+state'",
    ),
    Case("reservoir", "alpha=-1", lambda: _regressor(alpha=-1), ValueError, "alpha must be a finite non-negative"),
    Case("reservoir", "washout=-1", lambda: _regressor(washout=-1), ValueError, "washout must be a non-negative"),
    Case(
        "reservoir",
        "a string as the reservoir",
        lambda: _regressor(reservoir="rnn"),
        TypeError,
        "reservoir must be a torch.nn.Module",
    ),
    Case(
        "reservoir",
        "10 windows and 9 targets",
        lambda: _regressor(alpha=1.0).fit(np.zeros((10, 4, 1)), np.zeros((9, 1))),
        ValueError,
        "X has 10 windows but y has 9 targets",
    ),
    # training
    Case("train", "fit(..., epochs=0)", lambda: _fit(epochs=0), ValueError, "epochs must be >= 1"),
    Case("train", "TrainConfig(lr=-1)", lambda: TrainConfig(lr=-1), ValueError, "lr must be finite and >= 0"),
    Case(
        "train",
        "TrainConfig(optimizer='foo')",
        lambda: TrainConfig(optimizer="foo"),
        ValueError,
        "optimizer must be one of",
    ),
    Case(
        "train",
        "NaN in the training windows",
        lambda: _fit(X=np.full((10, 4, 1), np.nan), epochs=1),
        ValueError,
        "train X contains 40 non-finite values",
    ),
    Case(
        "train",
        "load_checkpoint of a missing file",
        lambda: load_checkpoint("/nonexistent/checkpoint.pt"),
        FileNotFoundError,
        "no checkpoint at /nonexistent/checkpoint.pt",
    ),
    # cost estimates
    Case(
        "estimate",
        "estimate('qlstm', 'damped_shm', 'ibm:ibm_fezz') without an IBM account",
        lambda: _estimate_without_account("ibm:ibm_fezz"),
        ValueError,
        r"unknown IBM device 'ibm_fezz' \(did you mean ibm_fez.*\): no fake device or offline snapshot",
    ),
    Case(
        "estimate",
        "estimate('qlstm', 'damped_shm', 'ibm:fake_armonk'): 4 qubits on a 1-qubit device",
        lambda: estimate("qlstm", "damped_shm", "ibm:fake_armonk"),
        ValueError,
        "model 'qlstm' runs circuits of 4 qubits, but the device ibm:fake_armonk has 1",
    ),
    # reinforcement learning
    Case(
        "rl",
        "PPOConfig(model='transformer')",
        lambda: PPOConfig(model="transformer"),
        ValueError,
        "PPOConfig.model must be one of",
    ),
    Case(
        "rl", "PPOConfig(device='gpu')", lambda: PPOConfig(device="gpu"), ValueError, "PPOConfig.device must be 'cpu'"
    ),
    Case(
        "rl", "A2CConfig(gamma=1.5)", lambda: A2CConfig(gamma=1.5), ValueError, r"A2CConfig.gamma must be in \[0, 1\]"
    ),
    Case("rl", "PPOConfig(total_steps=0)", lambda: PPOConfig(total_steps=0), ValueError, "total_steps must be >= 1"),
    Case(
        "rl",
        "PPOConfig(n_envs=6, n_minibatches=4)",
        lambda: PPOConfig(n_envs=6, n_minibatches=4),
        ValueError,
        "multiple of n_minibatches",
    ),
]
CLI = [
    ("qseq train --model foo --task damped_shm --out runs/x", "invalid choice: 'foo'"),
    ("qseq train --model qlstm --task nosuch --out runs/x", "unknown task 'nosuch'"),
    ("qseq compare --task damped_shm --seeds 0", "--seeds"),
    ("qseq train --model qlstm --task damped_shm --epochs 0 --out runs/x", "--epochs"),
    ("qseq train --model qlstm --task damped_shm --val 1.5 --out runs/x", "--val"),
    ("qseq train --model qlstm --task damped_shm --reservoir --epochs 5 --out runs/x", "--epochs"),
    ("qseq train --model qlstm --task damped_shm --features observables --out runs/x", "--reservoir"),
    ("qseq train --model lstm --task damped_shm --reservoir --features observables --out runs/x", "observables"),
    ("qseq predict --checkpoint /nonexistent/run --backend torch", "/nonexistent/run"),
    ("qseq rl --env Nope-v1 --model qlstm --algo a2c --out runs/x", "Nope-v1"),
    ("qseq rl --env qseq/CartPoleNoVel-v1 --model qlstm --algo a2c --steps 0 --out runs/x", "--steps"),
    ("qseq train --model qlstm --task damped_shm --backend aer:shot=64 --out runs/x", "unknown option 'shot'"),
    ("qseq estimate --model qlstm --task damped_shm --backend ibm:nosuch", "unknown IBM device 'nosuch'"),
    ("qseq estimate --model qlstm --task damped_shm --backend ibm:fake_armonk", "4 qubits, but .*fake_armonk has 1"),
]


def _split(**kwargs):
    return chronological_split(np.zeros((10, 4, 1)), np.zeros((10, 1)), **kwargs)


def _regressor(reservoir=None, **kwargs):
    return ReservoirRegressor(nn.RNN(1, 2, batch_first=True) if reservoir is None else reservoir, **kwargs)


def _fit(X=None, **kwargs):
    X = np.zeros((10, 4, 1)) if X is None else X
    return fit(build_model("lstm"), (X, np.zeros((10, 1))), progress=False, plot=False, **kwargs)


def _message(case: Case) -> str:
    with pytest.raises(case.error) as caught:
        case.call()
    return str(caught.value).splitlines()[0]


def _cli(command: str, cwd: Path) -> tuple[int, str]:
    """``(exit code, stderr)`` of ``qseq ...`` run in-process from ``cwd``, without an IBM account."""
    from qseq.cli import main

    err = io.StringIO()
    with (
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.chdir(cwd),
        _no_ibm_account(),
    ):
        code = main(command.split()[1:])
    return code, err.getvalue()


@pytest.mark.parametrize("case", CASES, ids=[f"{c.area}:{c.what}" for c in CASES])
def test_a_bad_input_is_refused_with_a_message_naming_it(case):
    assert re.search(case.match, _message(case)), _message(case)


@pytest.mark.parametrize("command, match", CLI, ids=[c for c, _ in CLI])
def test_a_bad_command_line_ends_in_one_error_line(tmp_path, command, match):
    code, err = _cli(command, tmp_path)
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and re.search(match, lines[0]), err
    assert not any(tmp_path.iterdir()), "a refused command wrote files"


def markdown(tmp: Path) -> str:
    """The page ``docs/bad-inputs.md``: every case and what the library says to it."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def code_or_prose(what: str) -> str:
        return f"`{cell(what)}`" if any(ch in what for ch in "()=") else cell(what)

    rows = [f"| {c.area} | {code_or_prose(c.what)} | `{c.error.__name__}`: {cell(_message(c))} |" for c in CASES]
    cli_rows = []
    for command, _ in CLI:
        _, err = _cli(command, tmp)
        line = next(line for line in err.splitlines() if "error:" in line).split("error: ", 1)[1]
        cli_rows.append(f"| `{command}` | {cell(line)} |")
    return "\n".join(
        [
            "# Bad inputs and what qseq says",
            "",
            f"{len(CASES) + len(CLI)} bad inputs, each refused before any work with one message that names the",
            "argument or file (generated by `python tests/test_bad_inputs.py`, checked by the test suite:",
            "the messages below are today's).",
            "",
            "## The Python API",
            "",
            "| area | input | error |",
            "|---|---|---|",
            *rows,
            "",
            "## The command line",
            "",
            "Exit code 2 and one line on stderr, no traceback (`--debug` or `QSEQ_DEBUG=1` shows it); nothing",
            "is written.",
            "",
            "| command | error |",
            "|---|---|",
            *cli_rows,
            "",
        ]
    )


def test_the_documented_table_is_todays(tmp_path):
    assert DOC.read_text() == markdown(tmp_path), "run `python tests/test_bad_inputs.py` to rewrite the page"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        DOC.write_text(markdown(Path(tmp)))
    print(f"wrote {DOC}", file=sys.stderr)

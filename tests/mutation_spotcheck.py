"""Mutation spot-check: plausible one-line bugs, each applied to a fresh copy of the committed tree,
and the tests that should catch it run against that copy.

Run from the repository root (takes a few minutes; nothing in the working tree is touched)::

    python tests/mutation_spotcheck.py            # every mutant
    python tests/mutation_spotcheck.py chen rot   # those whose name contains a word given

A mutant is *killed* when its tests fail (or cannot be collected) and *survives* when they pass.
The copy is ``git archive HEAD``: uncommitted changes are not part of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]


class Mutant(NamedTuple):
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


REFS = "tests/circuits/test_independent_references.py"
MUTANTS = [
    # builders
    Mutant(
        "chen: distance-1 ring turned around",
        "circuits/library.py",
        'ops += [Operation("CNOT", (i, (i + 1) % n)) for i in range(n)]',
        'ops += [Operation("CNOT", ((i + 1) % n, i)) for i in range(n)]',
        (REFS,),
    ),
    Mutant(
        "chen: RZ encoding before RY",
        "circuits/library.py",
        'ops += [Operation("RY", (i,), (i,)), Operation("RZ", (i,), (n + i,))]',
        'ops += [Operation("RZ", (i,), (n + i,)), Operation("RY", (i,), (i,))]',
        (REFS,),
    ),
    Mutant(
        "chen: Rot angles reversed",
        "circuits/library.py",
        'ops.append(Operation("Rot", (i,), (first, first + 1, first + 2)))\n    return build(n, ops, [("inputs"',
        'ops.append(Operation("Rot", (i,), (first + 2, first + 1, first)))\n    return build(n, ops, [("inputs"',
        (REFS,),
    ),
    Mutant(
        "fwp: odd brick layer dropped at the edge",
        "circuits/library.py",
        "for i in range(1, n - 1, 2)]",
        "for i in range(1, n - 2, 2)]",
        (REFS,),
    ),
    Mutant(
        "fwp: fast-weight layout transposed",
        "circuits/library.py",
        "(n_inputs + k * n + q,)",
        "(n_inputs + q * depth + k,)",
        (REFS,),
    ),
    Mutant(
        "strongly_entangling: default range always 1",
        "circuits/library.py",
        "(layer % (n - 1)) + 1 if n > 1 else 0",
        "1 if n > 1 else 0",
        (REFS,),
    ),
    Mutant(
        "basic_entangler: two CNOTs on two wires",
        "circuits/library.py",
        'return [Operation("CNOT", (0, 1))]',
        'return [Operation("CNOT", (0, 1)), Operation("CNOT", (1, 0))]',
        (REFS,),
    ),
    # gates
    Mutant(
        "RZ: angle sign flipped",
        "circuits/gates.py",
        "e = _phase(-angles[..., 0] / 2, dtype)",
        "e = _phase(angles[..., 0] / 2, dtype)",
        ("tests/backends/test_torch_engine.py",),
    ),
    Mutant(
        "Rot: lower-left entry conjugated wrongly",
        "circuits/gates.py",
        "return _stack2x2(plus * c, -minus * s, minus.conj() * s, plus.conj() * c)",
        "return _stack2x2(plus * c, -minus * s, minus * s, plus.conj() * c)",
        ("tests/backends/test_torch_engine.py",),
    ),
    # resume
    Mutant(
        "resume: optimiser state not restored",
        "qseq/train/checkpoint.py",
        'optimizer.load_state_dict(checkpoint["optimizer_state"])',
        "pass",
        ("tests/test_resume_quantum.py",),
    ),
    Mutant(
        "resume: shuffle generator not restored",
        "qseq/train/checkpoint.py",
        'set_rng_state(checkpoint["rng"], {"shuffle": shuffle_gen})',
        'set_rng_state(checkpoint["rng"], {"shuffle": torch.Generator()})',
        ("tests/test_resume_quantum.py",),
    ),
    # data
    Mutant(
        "split: one window more for training",
        "qseq/data/windows.py",
        "n_train = int(train_fraction * len(X))",
        "n_train = int(train_fraction * len(X)) + 1",
        ("tests/data/test_data.py",),
    ),
    # cells
    Mutant(
        "QLSTM: cell update uses the output gate",
        "qseq/models/cells.py",
        "c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)",
        "c = torch.sigmoid(f) * c + torch.sigmoid(o) * torch.tanh(g)",
        ("tests/models/test_cells.py",),
    ),
    Mutant(
        "QGRU: candidate sees h instead of r*h",
        "qseq/models/cells.py",
        'bound["candidate"](inputs=self._angles(x, r * h))',
        'bound["candidate"](inputs=self._angles(x, h))',
        ("tests/models/test_cells.py",),
    ),
    # optimiser settings
    Mutant(
        "fit: RMSprop eps 1e-8 -> 1e-7",
        "qseq/train/loop.py",
        "eps=1e-8,",
        "eps=1e-7,",
        ("tests/test_optimiser_recipes.py",),
    ),
    Mutant(
        "fit: RMSprop centered",
        "qseq/train/loop.py",
        "centered=False,",
        "centered=True,",
        ("tests/test_optimiser_recipes.py",),
    ),
    Mutant(
        "sgd readout: alpha 0.99 -> 0.9",
        "qseq/reservoir.py",
        "lr=self.lr, alpha=0.99, eps=1e-8)",
        "lr=self.lr, alpha=0.9, eps=1e-8)",
        ("tests/test_optimiser_recipes.py",),
    ),
    Mutant(
        "RL: RMSprop eps 1e-5 -> 1e-8",
        "qseq/rl/optim.py",
        "alpha=0.99, eps=1e-5)",
        "alpha=0.99, eps=1e-8)",
        ("tests/test_optimiser_recipes.py",),
    ),
    # estimate
    Mutant(
        "estimate: rep_delay left out",
        "qseq/workflows/estimate.py",
        "rows * shots * (self.rep_delay + self.duration(c))",
        "rows * shots * self.duration(c)",
        ("tests/test_estimate_formula.py",),
    ),
    Mutant(
        "estimate: shortest measurement instead of longest",
        "qseq/workflows/estimate.py",
        'self.measure = max((p.duration or 0.0) for p in target["measure"].values() if p is not None)',
        'self.measure = min((p.duration or 0.0) for p in target["measure"].values() if p is not None)',
        ("tests/test_estimate_formula.py",),
    ),
    Mutant(
        "estimate: training extrapolated one epoch too far",
        "qseq/workflows/estimate.py",
        "a + (epochs - 1) * (b - a)",
        "a + epochs * (b - a)",
        ("tests/test_estimate_formula.py",),
    ),
    # Qiskit / IBM path, journal, credentials
    Mutant(
        "observables not laid out on the device's qubits",
        "qseq/backends/qiskit_estimator.py",
        "observables = [o.apply_layout(isa.layout) for o in observables]",
        "observables = [o.apply_layout(None, isa.num_qubits) for o in observables]",
        (REFS,),
    ),
    Mutant(
        "journal: a done job is not marked done",
        "qseq/backends/journal.py",
        "\"update jobs set status = 'done', finished",
        "\"update jobs set status = 'submitted', finished",
        ("tests/backends/test_journal.py", "tests/backends/test_ibm_backend.py"),
    ),
    Mutant(
        "IBM: the service is pickled with the backend",
        "qseq/backends/ibm.py",
        '_transient = (*QiskitEstimatorBackend._transient, "_service", "_device", "_mode_object")',
        '_transient = (*QiskitEstimatorBackend._transient, "_device", "_mode_object")',
        ("tests/backends/test_credentials_scan.py",),
    ),
]


def fresh_copy(dest: Path) -> None:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    # qseq.circuits and qseq.envs live at the top level; the editable install maps them to the
    # working tree, so point the copy's package at its own (mutated) folders instead.
    for name in ("circuits", "envs"):
        (dest / "qseq" / name).symlink_to(dest / name, target_is_directory=True)


def run(mutant: Mutant) -> tuple[str, float]:
    with tempfile.TemporaryDirectory(prefix="qseq-mutant-") as tmp:
        tree = Path(tmp)
        fresh_copy(tree)
        if mutant.path:
            path = tree / mutant.path
            text = path.read_text()
            if text.count(mutant.old) != 1:
                return "NOT APPLIED (the line is not there once)", 0.0
            path.write_text(text.replace(mutant.old, mutant.new))
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutant.tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        lines = proc.stdout.strip().splitlines() or ["(no output)"]
        if proc.returncode == 0:
            return f"SURVIVED ({lines[-1]})", seconds
        # the first failure of the short summary: which test, and why (an error is not a kill by a test)
        first = next((ln for ln in lines if ln.startswith(("FAILED", "ERROR"))), lines[-1])
        return f"killed ({first[:150]})", seconds


def main(words: list[str]) -> int:
    chosen = [m for m in MUTANTS if not words or any(w.lower() in m.name.lower() for w in words)]
    # the control: the unmutated copy passes every test the chosen mutants use
    tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    verdict, seconds = run(Mutant("control", "", "", "", tests))
    passed = not verdict.startswith("killed")
    outcome = verdict.replace("SURVIVED", "passes") if passed else verdict.replace("killed", "FAILS")
    print(f"{'control: the unmutated copy':55s} {outcome}  [{seconds:.0f} s]", flush=True)
    if not passed:
        return 2
    survived = 0
    for mutant in chosen:
        verdict, seconds = run(mutant)
        survived += not verdict.startswith("killed")
        print(f"{mutant.name:55s} {verdict}  [{seconds:.0f} s]", flush=True)
    print(f"{len(chosen) - survived}/{len(chosen)} killed")
    return 1 if survived else 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        sys.exit("needs git")
    sys.exit(main(sys.argv[1:]))

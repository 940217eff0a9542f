"""Every ```python block of README.md and docs/*.md runs.

The blocks of one page run in order in one namespace, in a fresh working directory, so a page may
build on its earlier blocks. Two HTML comments (invisible on the site) steer this:

- ``<!-- no-test: reason -->`` on the line before a block skips it (for hardware, credentials or a GPU);
- ``<!-- test-setup`` ... ``-->`` holds code run before the next blocks: the names a fragment takes
  for granted (``circuit``, ``X``, ``MyModel``), kept small so the page runs in seconds.

A ```text block right after a python block (blank lines between) is what that block prints, and is
checked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import tempfile
from pathlib import Path
from typing import NamedTuple

import matplotlib
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: Pages whose blocks train for the papers' 100 epochs (20-30 s on a busy 2-core CPU): marked slow.
SLOW = {"README.md"}

_FENCE = re.compile(r"^```(\w*)\s*$")
_SETUP = re.compile(r"^<!--\s*test-setup\s*$")
_NO_TEST = re.compile(r"^<!--\s*no-test\b.*-->\s*$")


class Block(NamedTuple):
    line: int
    code: str
    run: bool
    output: str | None = None  # a ```text block right after it: what it prints


def blocks(text: str) -> list[Block]:
    """The python blocks and hidden setups of a page, in order."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SETUP.match(line):
            end = lines.index("-->", i + 1)
            out.append(Block(i + 1, "\n".join(lines[i + 1 : end]), True))
            i = end + 1
            continue
        fence = _FENCE.match(line)
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            if fence.group(1) == "text" and out and out[-1].output is None and _only_blank(lines, out[-1], i):
                out[-1] = out[-1]._replace(output="\n".join(lines[i + 1 : end]))
            if fence.group(1) == "python":
                skip = i > 0 and _NO_TEST.match(lines[i - 1]) is not None
                out.append(Block(i + 1, "\n".join(lines[i + 1 : end]), not skip))
            i = end + 1
            continue
        i += 1
    return out


def _only_blank(lines: list[str], block: Block, fence: int) -> bool:
    """Whether only blank lines lie between the end of ``block``'s fence and line index ``fence``."""
    closing = block.line + block.code.count("\n") + 1  # index of the closing ``` of a python block
    return lines[closing].startswith("```") and all(not s.strip() for s in lines[closing + 1 : fence])


def test_markers_are_found():
    page = "<!-- test-setup\nx = 1\n-->\n```python\ny = x\n```\n<!-- no-test: a QPU -->\n```python\nz\n```\n"
    assert blocks(page) == [(1, "x = 1", True, None), (4, "y = x", True, None), (8, "z", False, None)]
    page = "```python\nprint(1)\n```\n\n```text\n1\n```\n```python\nx\n```\ntext\n```text\n2\n```\n"
    assert blocks(page) == [(1, "print(1)", True, "1"), (8, "x", True, None)]


@pytest.fixture
def workdir(monkeypatch):
    """A fresh working directory, memory-backed where the machine has one: training writes a
    checkpoint per epoch with fsync."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as path:
        monkeypatch.chdir(path)
        yield Path(path)
        monkeypatch.undo()


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in PAGES],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_python_blocks_run(page, workdir):
    found = blocks(page.read_text(encoding="utf-8"))
    if not any(block.run for block in found):
        pytest.skip("no python block")
    matplotlib.use("Agg")
    torch.manual_seed(0)
    namespace: dict = {"__name__": "__docs__"}
    for line, code, run, output in found:
        if not run:
            continue
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(code, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(ROOT)}, block at line {line}: {exc!r}") from exc
        if output is not None:
            shown = [s.rstrip() for s in output.strip("\n").splitlines()]
            assert [s.rstrip() for s in printed.getvalue().strip("\n").splitlines()] == shown, (
                f"{page.relative_to(ROOT)}, block at line {line} prints something else than the text block after it"
            )


def test_api_pages_read_the_docstrings_rst_as_markdown():
    pytest.importorskip("griffe")
    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "docs" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (
        "See :class:`~qseq.models.QLSTM` and :func:`qseq.circuits.chen_vqc`.\n\n"
        ".. math::\n\n    a &= b \\\\\n    c &= d\n\nEnd."
    )
    assert module.markdown(text) == (
        "See `QLSTM` and `qseq.circuits.chen_vqc`.\n\n"
        "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$\n\nEnd."
    )

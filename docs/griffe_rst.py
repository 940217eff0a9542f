"""Griffe extension for the API pages: the docstrings' reStructuredText bits in Markdown.

``:class:`~qseq.X``` and the other roles become code spans (the last name with ``~``), and a
``.. math::`` directive with its indented block becomes a ``$$ ... $$`` block, rendered by MathJax.
The docstrings themselves stay as they are.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
_MATH = re.compile(r"^( *)\.\. math::[ \t]*\n((?:\1[ \t]+.*\n|[ \t]*\n)+)", re.MULTILINE)


def _role(match: re.Match) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1]}`" if match.group(1) else f"`{target}`"


def _math(match: re.Match) -> str:
    indent, body = match.group(1), textwrap.dedent(match.group(2)).strip("\n")
    if "&" in body or "\\\\" in body:
        body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    return f"{indent}$$\n{textwrap.indent(body, indent)}\n{indent}$$\n\n"


def markdown(text: str) -> str:
    """``text`` with the roles and math directives rewritten."""
    return _ROLE.sub(_role, _MATH.sub(_math, text + "\n")).rstrip("\n")


class RstToMarkdown(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _rewrite(pkg)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = markdown(obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _rewrite(member)

"""Errors a kernel author can act on, each naming the kernel line that caused it."""

from __future__ import annotations

import linecache
import os
import sys
from pathlib import Path

_PACKAGE_DIRS = (str(Path(__file__).resolve().parent) + os.sep,
                 str(Path(__file__).resolve().parents[2] / "nki") + os.sep)

#: The files of the kernels being run (innermost last), so errors point into them.
_kernel_files: list[str] = []
_resolved: dict[str, str] = {}


class TileError(Exception):
    """Base of the tile emulator's errors: one sentence a user can act on."""


class KernelError(TileError):
    """A kernel broke a hardware rule or misused the API.

    Attributes
    ----------
    rule : str
        Short identifier of the rule, e.g. ``"partition-dimension"``.
    detail : str
        What is wrong and what to do, without the location.
    filename, lineno : str, int
        The kernel line that issued the failing call (``""`` and 0 when unknown).
    """

    def __init__(self, rule: str, detail: str) -> None:
        self.rule = rule
        self.detail = detail
        self.filename, self.lineno = kernel_location()
        source = linecache.getline(self.filename, self.lineno).strip() if self.lineno else ""
        where = f"{self.filename}:{self.lineno}: " if self.lineno else ""
        text = f"{where}error: [{rule}] {detail}"
        if source:
            text += f"\n    {source}"
        super().__init__(text)

    @property
    def one_line(self) -> str:
        """The message without the quoted source line, for command-line output."""
        return str(self).splitlines()[0]


class UsageError(TileError):
    """A command-line or configuration mistake (missing file, bad shapes, unknown type)."""


def push_kernel_file(filename: str) -> None:
    """Record the file of the kernel about to run (nested launches stack)."""
    _kernel_files.append(_resolve(filename))


def pop_kernel_file() -> None:
    _kernel_files.pop()


def _resolve(filename: str) -> str:
    resolved = _resolved.get(filename)
    if resolved is None:
        resolved = _resolved[filename] = str(Path(filename).resolve())
    return resolved


def kernel_location() -> tuple[str, int]:
    """The innermost frame in the running kernel's file, else the innermost outside the
    emulator; ``("", 0)`` when neither exists."""
    frame = sys._getframe(1)
    fallback: tuple[str, int] | None = None
    kernel_file = _kernel_files[-1] if _kernel_files else None
    while frame is not None:
        filename = _resolve(frame.f_code.co_filename)
        if filename == kernel_file:
            return frame.f_code.co_filename, frame.f_lineno
        if fallback is None and not filename.startswith(_PACKAGE_DIRS):
            fallback = (frame.f_code.co_filename, frame.f_lineno)
        frame = frame.f_back
    return fallback if fallback is not None else ("", 0)


def kernel_line() -> int:
    """Line number of the kernel call being executed (0 when unknown); cheap enough to call
    for every instruction."""
    return kernel_location()[1]

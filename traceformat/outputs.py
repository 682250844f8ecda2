"""Safe input and output paths: what every command checks before it starts its work.

Outputs are written temp-then-rename, which *replaces* whatever the name pointed to: run as
root, `--out /dev/null` used to turn the system's /dev/null into a regular file. So an output
must be a new path or an existing regular file (replaced only with `--force`), never one
of the command's inputs, and its folder must be writable, all checked before a long run
rather than after it. Inputs must be regular files: opening a FIFO with no writer blocks
forever (and PEP 475 retries the open after SIGTERM's handler returns).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from agentload.base.errors import ConfigError, FormatError

__all__ = ["check_input", "check_output", "check_output_dir", "describe", "refuse_special"]


def describe(mode: int) -> str:
    """What a non-regular file is, for a message."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def check_input(path: str | os.PathLike[str]) -> Path:
    """`path` when it is an existing regular file (symlinks followed), else FormatError."""
    source = Path(path)
    try:
        mode = os.stat(source).st_mode
    except OSError as exc:
        raise FormatError(f"{source}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise FormatError(f"{source}: is {describe(mode)}; expected a regular file")
    return source


def refuse_special(target: Path, where: str | None = None) -> None:
    """ConfigError when `target` exists and is not a regular file: the last guard before a
    rename would replace a device, FIFO or directory (checked again at write time)."""
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"{where or target}: cannot write: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise ConfigError(
            f"{where or target}: is {describe(mode)}; expected a regular file or a new path"
        )


def check_output(
    path: str | os.PathLike[str] | None,
    option: str,
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    force: bool = False,
) -> Path | None:
    """`path` once it is safe to write there (None passes through): not a device, FIFO or
    directory, not one of `inputs`, not an existing file unless `force`, and its folder
    (created if missing, as the writers do) accepts a new file. ConfigError otherwise."""
    if path is None:
        return None
    if not str(path):
        raise ConfigError(f"{option}: empty path; expected a file name")
    target = Path(path)
    where = f"{target} ({option})"
    refuse_special(target, where)
    if target.exists():
        if any(_same(target, Path(p)) for p in inputs):
            raise ConfigError(f"{where}: is also an input; expected another file")
        if not force:
            raise ConfigError(f"{where}: already exists; pass --force to replace it")
    _probe_folder(target.parent, where)
    return target


def check_output_dir(path: str | os.PathLike[str] | None, option: str) -> Path | None:
    """A folder output: an existing directory or a new path whose parent accepts it."""
    if path is None:
        return None
    if not str(path):
        raise ConfigError(f"{option}: empty path; expected a folder name")
    target = Path(path)
    where = f"{target} ({option})"
    if target.exists() and not target.is_dir():
        mode = os.stat(target).st_mode
        raise ConfigError(f"{where}: is {describe(mode)}; expected a folder or a new path")
    _probe_folder(target, where)
    return target


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _probe_folder(folder: Path, where: str) -> None:
    """Create `folder` if missing and write (then remove) an empty temp file in it: the only
    reliable test (access() says yes for root under /proc, and no for nothing on a
    read-only mount until the write)."""
    folder = folder if str(folder) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".agentload-probe.", dir=folder)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot write there: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(name)

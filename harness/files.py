"""Writing into an output directory safely: modes from the user's umask, no following of planted
symlinks, names that stay inside the directory, and storage failures as one-line errors."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from harness.errors import HarnessError, StorageError

#: what a task name or language code may contain when it becomes part of a path
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
#: errors of the storage rather than of the harness: read-only, no permission, full disk or quota
STORAGE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def share_like_umask(root: Path) -> None:
    """Temp dirs are created 0700 and temp files 0600: give ``root`` (a file or a tree) the modes the
    user's umask gives everything else, so a team sharing a runs directory can reuse what it holds."""
    mask = current_umask()
    root = Path(root)
    for path in [root, *(root.rglob("*") if root.is_dir() else [])]:
        os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~mask, follow_symlinks=False)


def safe_name(value: str, what: str) -> str:
    """A name used as a path component: a conservative character set, never ``..`` or a separator."""
    if not isinstance(value, str) or not SAFE_NAME.fullmatch(value) or ".." in value:
        raise HarnessError(f"{what} {str(value)[:80]!r} cannot be used in a file name (allowed: letters, "
                           f"digits and . _ + -, starting with a letter or digit)")
    return value


def inside(root: Path, path: Path) -> Path:
    """``path`` when it resolves inside ``root``; an error otherwise (a planted symlink, ``..``)."""
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(root).resolve()):
        raise HarnessError(f"refusing to write {path}: it resolves to {resolved}, outside {root}")
    return Path(path)


def open_nofollow(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` that refuses a symlink at ``path`` (one planted to clobber another file)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HarnessError(f"refusing to open {path}: it is a symbolic link") from None
        raise


def storage_error(exc: OSError) -> StorageError | None:
    """A one-line error for a read-only directory or a full disk (None for other OS errors)."""
    if exc.errno not in STORAGE_ERRNOS:
        return None
    where = exc.filename or "the output directory"
    return StorageError(f"cannot write {where}: {exc.strerror or os.strerror(exc.errno)}; nothing already "
                        f"written was lost (free space or fix permissions, then rerun the same command)")

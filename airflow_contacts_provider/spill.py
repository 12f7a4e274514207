"""Files in a temporary directory instead of memory, for state a sync holds to its end."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path


class SpillDirectory:
    """A temporary directory of this object's, removed with it, for numpy arrays and other files.

    For what a sync keeps for every contact until later (the duplicate check's full runs as
    ``.npy`` files, SendGrid's import files while their jobs run): memory then follows a
    chunk, not the table. Read an array back with ``np.load`` (``mmap_mode="r"`` maps it
    without a copy).

    :param prefix: the directory's name prefix, to tell whose files they are.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._names = itertools.count()

    @property
    def directory(self) -> Path | None:
        """Where the files are, once a path has been given out."""
        return None if self._directory is None else Path(self._directory.name)

    def new_path(self, suffix: str = ".npy") -> Path:
        """A path for a new file in the directory, for a file written piece by piece."""
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix=self._prefix)
        return Path(self._directory.name, f"{next(self._names):06d}{suffix}")

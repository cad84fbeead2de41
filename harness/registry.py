"""A name -> entry table that loads its built-in entries on a miss: what the format and metric
registries share. A lookup of an unknown name is an :class:`~harness.errors.UnknownNameError` with
the closest known name as a hint."""
from __future__ import annotations

from typing import Callable, Generic, Iterable, TypeVar

from harness.errors import UnknownNameError

T = TypeVar("T")


class NameTable(Generic[T]):
    """Entries by name. ``builtins`` yields ``(name, entry)`` pairs; they are loaded on a miss (and
    before listing) and never replace an entry registered under the same name."""

    def __init__(self, what: str, builtins: Callable[[], Iterable[tuple[str, T]]]):
        self.what, self._builtins = what, builtins
        self.entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        self.entries[name] = entry
        return entry

    def load_builtins(self) -> None:
        for name, entry in self._builtins():
            self.entries.setdefault(name, entry)

    def get(self, name: str) -> T:
        if name not in self.entries:
            self.load_builtins()
        if name not in self.entries:
            raise UnknownNameError(self.what, name, self.entries)
        return self.entries[name]

    def known(self) -> list[str]:
        self.load_builtins()
        return sorted(self.entries)

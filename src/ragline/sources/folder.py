"""Local folder source: recursive walk with include/exclude globs and a symlink policy.

    listing = FolderSource(Path("corpus"), include=["**/*.md"], exclude=["drafts/*"]).list()
    print(len(listing.items), listing.complete, listing.skipped)

A ``Source`` (``list``/``read``) that ``ExpandsRecords``: its ``*.jsonl`` files are containers
whose records the ingest runner streams through ``JsonlSource`` (``records_in``).

Every entry of the folder ends up in exactly one place: ``items`` (regular files to ingest),
``skipped`` (not ingestible, with the reason: FIFOs, sockets, devices, dangling links, link loops,
links leading out of the folder) or ``errors`` (could not be examined; the listing is then
incomplete, so nothing under the folder is deleted from the store). Hidden entries, the store's
own folder and what the include/exclude globs leave out are not listed at all: that is the
caller's choice, not a property of the files.

Symlinks: a file reached through a link is listed under the link's own path (its URI names the
link, so the document goes away when the link does). By default a link is followed only when it
resolves inside the folder given; with ``follow_symlinks=True`` every link is followed. A folder
reached twice (a loop, or a second link to it) is walked once and the second way is reported.

File names are bytes to the OS; a name that is not valid UTF-8 keeps a stable, exact URI (its
bytes percent-encoded) and a readable ``path`` metadata value (undecodable bytes as ``\\xNN``).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ragline.errors import SourceError
from ragline.records import FailedItem, SourceItem
from ragline.sources.base import Listing
from ragline.sources.jsonl import JsonlSource, jsonl_records_in

__all__ = ["FolderSource", "Listing", "display_path", "file_uri", "path_uri"]


def file_uri(path: Path) -> str:
    """The URI of a path given by a user: absolute, with every symlink resolved."""
    return Path(os.path.realpath(path)).as_uri()


def path_uri(path: Path) -> str:
    """The URI of a path as reached (symlinks in it are kept): what a listed file is called."""
    return Path(os.path.abspath(path)).as_uri()


def display_path(path: str | Path) -> str:
    """Valid text for a file name of any bytes: undecodable bytes become ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _matches(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        target = rel if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern):
            return True
        # "**/x" also matches "x" at the top level.
        if pattern.startswith("**/") and fnmatch.fnmatchcase(rel, pattern[3:]):
            return True
    return False


def _within(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip("/") + "/")


_SPECIAL = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
            (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _not_regular(mode: int) -> str:
    for test, name in _SPECIAL:
        if test(mode):
            return f"not a regular file: {name}"
    return "not a regular file"


@dataclass
class FolderSource:
    root: Path
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    skip_hidden: bool = True
    # Paths never to ingest, e.g. the store's own directory when it lives inside the corpus.
    ignore_paths: tuple[Path, ...] = ()
    # Follow symlinks that lead outside ``root`` (links inside it are always followed).
    follow_symlinks: bool = False

    def list(self) -> Listing:
        root = self.root
        try:
            st = root.stat()
        except OSError as exc:
            if root.is_symlink():  # a dangling or looping link given as the source itself
                listing = Listing(root_uri=path_uri(root), source=self)
                listing.skipped.append(FailedItem(path_uri(root), "list", _link_problem(exc)))
                return listing
            if exc.errno == errno.ENOENT:
                raise SourceError(f"source path does not exist: {display_path(root)}") from exc
            raise SourceError(f"cannot read source path {display_path(root)}: {exc.strerror}") from exc
        if not stat.S_ISDIR(st.st_mode):
            listing = Listing(root_uri=file_uri(root), source=self)
            self._add_file(listing, Path(os.path.realpath(root)), root.name, st)
            return listing
        real_root = os.path.realpath(root)
        listing = Listing(root_uri=Path(real_root).as_uri().rstrip("/") + "/", source=self)
        ignored = {os.path.realpath(p) for p in self.ignore_paths}
        self._walk(listing, Path(real_root), "", real_root, {(st.st_dev, st.st_ino)}, ignored)
        listing.items.sort(key=lambda item: item.uri)
        listing.skipped.sort(key=lambda item: item.uri)
        return listing

    def read(self, item: SourceItem) -> BinaryIO:
        """The listed file, opened for reading (checked to still be a regular file)."""
        return item.open()

    def records_in(self, item: SourceItem, *, max_record_bytes: int | None = None) -> JsonlSource | None:
        return jsonl_records_in(item, max_record_bytes=max_record_bytes)

    def _walk(self, listing: Listing, directory: Path, rel_dir: str, real_root: str,
              seen_dirs: set[tuple[int, int]], ignored: set[str]) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            listing.errors.append(FailedItem(path_uri(directory) + "/", "list",
                                             f"cannot list directory: {exc.strerror or exc}"))
            return
        for entry in entries:
            if self.skip_hidden and entry.name.startswith("."):
                continue
            rel = f"{rel_dir}{entry.name}"
            path = Path(entry.path)
            uri = path_uri(path)
            if ignored and os.path.realpath(path) in ignored:
                continue
            is_link = False
            try:
                is_link = entry.is_symlink()
                st = os.stat(path)  # follows links
            except OSError as exc:
                if exc.errno == errno.ENOENT and not is_link:
                    continue  # vanished since the directory was read: not part of this run
                if is_link:
                    listing.skipped.append(FailedItem(uri, "list", _link_problem(exc)))
                else:  # e.g. a folder without execute permission: cannot even stat
                    listing.errors.append(FailedItem(uri, "list", f"cannot stat: {exc.strerror or exc}"))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if is_dir and self.exclude and _matches(
                    rel + "/", [p.rstrip("*") for p in self.exclude if p.endswith("/*")]):
                continue
            if not is_dir and ((self.include and not _matches(rel, self.include))
                               or (self.exclude and _matches(rel, self.exclude))):
                continue
            if is_link and not self.follow_symlinks and not _within(os.path.realpath(path), real_root):
                listing.skipped.append(FailedItem(
                    uri + ("/" if is_dir else ""), "list",
                    "symbolic link to a path outside the source folder, not followed "
                    "(--follow-symlinks follows it)"))
                continue
            if is_dir:
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs:
                    listing.skipped.append(FailedItem(
                        uri + "/", "list", "folder already walked through another path "
                        "(a symlink loop or a second link to it); not walked twice"))
                    continue
                seen_dirs.add(key)
                self._walk(listing, path, rel + "/", real_root, seen_dirs, ignored)
                continue
            self._add_file(listing, path, rel, st)

    def _add_file(self, listing: Listing, path: Path, rel: str, st: os.stat_result) -> None:
        uri = path_uri(path)
        if not stat.S_ISREG(st.st_mode):
            listing.skipped.append(FailedItem(uri, "list", _not_regular(st.st_mode)))
            return
        listing.items.append(SourceItem(
            uri=uri, path=path, size=st.st_size, mtime_ns=st.st_mtime_ns,
            stat_key=f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}", metadata={"path": display_path(rel)},
        ))


def _link_problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "dangling symbolic link: its target does not exist"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link leads back to itself"
    return f"symbolic link cannot be followed: {exc.strerror or exc}"

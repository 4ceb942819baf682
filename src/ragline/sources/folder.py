"""Local folder source: recursive walk with include/exclude globs and symlink-loop protection.

    listing = FolderSource(Path("corpus"), include=["**/*.md"], exclude=["drafts/*"]).list()
    print(len(listing.items), listing.complete)
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ragline.errors import SourceError
from ragline.records import FailedItem, SourceItem


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()


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


@dataclass
class Listing:
    root_uri: str
    items: list[SourceItem] = field(default_factory=list)
    errors: list[FailedItem] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when no directory failed to list, so absent files really are gone."""
        return not self.errors


@dataclass
class FolderSource:
    root: Path
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    skip_hidden: bool = True
    # Paths never to ingest, e.g. the store's own directory when it lives inside the corpus.
    ignore_paths: tuple[Path, ...] = ()

    def list(self) -> Listing:
        root = self.root
        if not root.exists():
            raise SourceError(f"source path does not exist: {root}")
        if root.is_file():
            listing = Listing(root_uri=file_uri(root))
            self._add_file(listing, root, root.name)
            return listing
        listing = Listing(root_uri=file_uri(root).rstrip("/") + "/")
        ignored = {p.resolve() for p in self.ignore_paths}
        seen_dirs: set[tuple[int, int]] = set()
        self._walk(listing, root, "", seen_dirs, ignored)
        listing.items.sort(key=lambda item: item.uri)
        return listing

    def _walk(self, listing: Listing, directory: Path, rel_dir: str,
              seen_dirs: set[tuple[int, int]], ignored: set[Path]) -> None:
        try:
            st = directory.stat()
        except OSError as exc:
            listing.errors.append(FailedItem(file_uri(directory), "list", f"cannot stat directory: {exc}"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:  # a symlink loop, or the same directory reached twice
            return
        seen_dirs.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            listing.errors.append(FailedItem(file_uri(directory), "list", f"cannot list directory: {exc}"))
            return
        for entry in entries:
            if self.skip_hidden and entry.name.startswith("."):
                continue
            rel = f"{rel_dir}{entry.name}"
            path = Path(entry.path)
            if ignored and path.resolve() in ignored:
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if self.exclude and _matches(rel + "/", [p.rstrip("*") for p in self.exclude if p.endswith("/*")]):
                    continue
                self._walk(listing, path, rel + "/", seen_dirs, ignored)
                continue
            if self.include and not _matches(rel, self.include):
                continue
            if self.exclude and _matches(rel, self.exclude):
                continue
            self._add_file(listing, path, rel)

    def _add_file(self, listing: Listing, path: Path, rel: str) -> None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return  # vanished between listing and stat: it is simply not part of this run
        except OSError as exc:
            listing.items.append(SourceItem(uri=file_uri(path), path=path, metadata={"path": rel},
                                            stat_key=f"error:{exc.errno}"))
            return
        if not stat.S_ISREG(st.st_mode):
            return  # sockets, fifos, devices
        listing.items.append(SourceItem(
            uri=file_uri(path), path=path, size=st.st_size, mtime_ns=st.st_mtime_ns,
            stat_key=f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}", metadata={"path": rel},
        ))

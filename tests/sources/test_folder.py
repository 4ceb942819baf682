"""The folder source over hostile folders: every entry is ingested or reported, nothing stops a run."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
from pathlib import Path

import pytest
from rich.console import Console

from ragline.progress import print_report
from ragline.sources.folder import FolderSource, display_path, path_uri

TEXT = b"Flat is better than nested. Sparse is better than dense. Readability counts.\n"


def _hostile_folder(root: Path, outside: Path) -> dict[str, str]:
    """A folder holding one of every kind of entry; returns {name: what the run must do}."""
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"Outside the source folder: never ingested by default.\n")
    (root / "plain.txt").write_bytes(TEXT)
    (root / "sub").mkdir()
    (root / "sub" / "inner.md").write_bytes(b"# Inner\n\nErrors should never pass silently.\n")
    expect = {"plain.txt": "new", "sub/inner.md": "new"}
    # Symlinks of every kind.
    (root / "self-link.txt").symlink_to("self-link.txt")
    (root / "loop-a.txt").symlink_to("loop-b.txt")
    (root / "loop-b.txt").symlink_to("loop-a.txt")
    (root / "dangling.txt").symlink_to("no-such-file.txt")
    (root / "sub" / "up").symlink_to("..", target_is_directory=True)         # a loop to an ancestor
    (root / "alias-dir").symlink_to("sub", target_is_directory=True)         # a link to a dir inside
    (root / "alias.txt").symlink_to("plain.txt")                             # a link to a file inside
    (root / "out.txt").symlink_to(outside / "secret.txt")                    # leads outside
    (root / "out-dir").symlink_to(outside, target_is_directory=True)         # leads outside
    expect.update({"self-link.txt": "skipped", "loop-a.txt": "skipped", "loop-b.txt": "skipped",
                   "dangling.txt": "skipped", "out.txt": "skipped", "out-dir/": "skipped"})
    # Entries are taken in name order: "alias-dir" is walked before "sub" (so "sub", reached a
    # second time, is reported, and the loop is met as "alias-dir/up"), and "alias.txt" comes
    # before "plain.txt" (which is then the duplicate).
    expect.update({"alias-dir/inner.md": "new", "sub/": "skipped", "alias-dir/up/": "skipped",
                   "alias.txt": "new", "plain.txt": "duplicate"})
    del expect["sub/inner.md"]
    # Special files.
    os.mkfifo(root / "pipe.txt")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(root / "sock.txt"))
    server.close()
    expect.update({"pipe.txt": "skipped", "sock.txt": "skipped"})
    if os.geteuid() == 0:
        os.mknod(root / "null.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        expect["null.txt"] = "skipped"
    # Names that are any bytes the OS allows: not UTF-8, control characters, markup.
    for raw in (b"caf\xe9-latin1.txt", b"bad-\xff\xfe-bytes.md", b"new\nline\ttab.txt", b"[red]x[bold].txt",
                b"\xe2\x80\xae-rtl-override.txt"):
        name = os.fsdecode(raw)
        (root / name).write_bytes(TEXT.replace(b"Flat", raw.replace(b"\n", b" ").decode("latin-1").encode()))
        expect[name] = "new"
    return expect


def _outcomes(report, root: Path) -> dict[str, str]:
    """{name relative to root: outcome} from a report's uris."""
    base = path_uri(root).rstrip("/") + "/"
    result: dict[str, str] = {}
    for item in report.skipped:
        result[_rel(item.uri, base)] = "skipped"
    for item in report.failed:
        result[_rel(item.uri, base)] = "failed"
    for uri in report.duplicates:
        result[_rel(uri, base)] = "duplicate"
    return result


def _rel(uri: str, base: str) -> str:
    from urllib.parse import unquote_to_bytes

    assert uri.startswith(base), (uri, base)
    return os.fsdecode(unquote_to_bytes(uri[len(base):]))


def test_hostile_folder_every_entry_ingested_or_reported(tmp_path, engine_factory):
    root, outside = tmp_path / "corpus", tmp_path / "outside"
    expect = _hostile_folder(root, outside)
    with engine_factory() as engine:
        report = engine.ingest([root])
        outcomes = _outcomes(report, root)
        docs = {_rel(d.uri, path_uri(root) + "/"): d for d in engine.ledger.all_documents()}
        for name, what in expect.items():
            if what == "new":
                assert name in docs and name not in outcomes, name
            else:
                assert outcomes.get(name) == what, (name, outcomes.get(name))
        assert not any("secret" in d for d in docs) and "secret.txt" not in json.dumps(report.to_dict())
        assert report.counts["skipped"] == sum(v == "skipped" for v in expect.values())
        assert not report.failed
        # The report survives every name: JSON (exact) and the printed form.
        data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
        assert len(data["skipped"]) == len(report.skipped)
        printed = io.StringIO()
        print_report(Console(file=printed, width=200), report)
        assert "skipped" in printed.getvalue()
        # Names that are not UTF-8 keep an exact uri and a readable path.
        latin = docs[os.fsdecode(b"caf\xe9-latin1.txt")]
        assert latin.uri.endswith("caf%E9-latin1.txt")
        meta = json.loads(engine.store.db.execute("SELECT metadata FROM documents WHERE doc_id = ?",
                                                  (latin.doc_id,)).fetchone()[0])
        assert meta["path"] == "caf\\xe9-latin1.txt"
        assert engine.verify()["drift"] == 0
        # The skipped entries are dead-lettered once, with their reason.
        letters = {uri for uri, _stage, _reason in engine.ledger.dead_letters(1000)}
        assert path_uri(root / "pipe.txt") in letters
        ids = {d.doc_id: d.uri for d in engine.ledger.all_documents()}
    with engine_factory() as engine:
        again = engine.ingest([root])
        # A second run is a no-op that reports the same entries again, and ids are stable.
        assert again.chunks_embedded == again.chunks_written == again.chunks_deleted == 0
        assert again.counts["new"] == again.counts["changed"] == again.counts["deleted"] == 0
        # (duplicates are reported when found, unchanged ones are simply unchanged)
        assert _outcomes(again, root) == {k: v for k, v in outcomes.items() if v != "duplicate"}
        assert {d.doc_id: d.uri for d in engine.ledger.all_documents()} == ids
        assert len(engine.ledger.dead_letters(1000)) == len(letters)
        assert engine.verify()["drift"] == 0


def test_follow_symlinks_opts_in(tmp_path, engine_factory):
    root, outside = tmp_path / "corpus", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(TEXT)
    (root / "out.txt").symlink_to(outside / "secret.txt")
    (root / "out-dir").symlink_to(outside, target_is_directory=True)
    (root / "back").symlink_to(root, target_is_directory=True)  # loops stay protected
    with engine_factory() as engine:
        default = engine.ingest([root])
        assert default.counts["new"] == 0 and default.counts["skipped"] == 3
        followed = engine.ingest([root], follow_symlinks=True)
        uris = sorted(d.uri for d in engine.ledger.all_documents())
        assert uris == [path_uri(root / "out-dir" / "secret.txt"), path_uri(root / "out.txt")]
        assert followed.counts["new"] == 1 and followed.counts["duplicate"] == 1
        assert [s.uri for s in followed.skipped] == [path_uri(root / "back") + "/"]
        assert engine.verify()["drift"] == 0


def test_file_reached_through_a_link_goes_with_the_link(tmp_path, engine_factory):
    root = tmp_path / "corpus"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.txt").write_bytes(TEXT)
    (root / "link.txt").symlink_to(root / "real" / "a.txt")
    (root / "linkdir").symlink_to(root / "real", target_is_directory=True)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"Now is better than never. Although never is often better than right now.\n")
    with engine_factory(near_dup_threshold=0) as engine:
        engine.ingest([root])
        uris = {d.uri for d in engine.ledger.all_documents()}
        assert path_uri(root / "link.txt") in uris
        (root / "link.txt").unlink()
        report = engine.ingest([root])
        assert report.counts["deleted"] == 1
        assert path_uri(root / "link.txt") not in {d.uri for d in engine.ledger.all_documents()}
        # A link now leading outside the folder is skipped, and what it served is dropped.
        (root / "link.txt").symlink_to(root / "real" / "a.txt")
        engine.ingest([root])
        (root / "link.txt").unlink()
        (root / "link.txt").symlink_to(outside)
        report = engine.ingest([root])
        assert path_uri(root / "link.txt") in {s.uri for s in report.skipped}
        assert path_uri(root / "link.txt") not in {d.uri for d in engine.ledger.all_documents()}
        assert report.counts["deleted"] == 1
        # A file that becomes a FIFO is dropped too.
        target = root / "real" / "a.txt"
        target.unlink()
        os.mkfifo(target)
        report = engine.ingest([root])
        assert path_uri(root / "linkdir" / "a.txt") in {s.uri for s in report.skipped}  # walked first
        assert not engine.ledger.all_documents()
        assert engine.store.count() == 0 and engine.verify()["drift"] == 0


def test_unreadable_entries_are_failed_not_fatal(tmp_path, engine_factory):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "ok.txt").write_bytes(TEXT)
    # /proc/self/mem reads fail with EIO even for root: a real unreadable regular file.
    (root / "mem.txt").symlink_to("/proc/self/mem")
    locked = root / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_bytes(TEXT)
    locked.chmod(0)
    try:
        with engine_factory() as engine:
            report = engine.ingest([root], follow_symlinks=True)
            failed = {f.uri: f.reason for f in report.failed}
            assert "cannot read file" in failed[path_uri(root / "mem.txt")]
            if os.geteuid() != 0:  # root reads any folder
                assert "cannot list directory" in failed[path_uri(locked) + "/"]
                assert path_uri(locked) + "/" in {u for u, _s, _r in engine.ledger.dead_letters()}
            assert report.counts["new"] >= 1
            assert path_uri(root / "mem.txt") in {u for u, _s, _r in engine.ledger.dead_letters()}
            assert engine.verify()["drift"] == 0
    finally:
        locked.chmod(0o755)


def test_root_given_as_a_dangling_link_is_reported(tmp_path):
    (tmp_path / "gone").symlink_to(tmp_path / "nothing")
    listing = FolderSource(tmp_path / "gone").list()
    assert not listing.items and "dangling" in listing.skipped[0].reason


def test_display_path_is_valid_text():
    name = os.fsdecode(b"a\xff\xfeb.txt")
    assert display_path(name) == "a\\xff\\xfeb.txt"
    display_path(name).encode("utf-8")


@pytest.mark.integration
def test_cli_follow_symlinks_and_json_with_hostile_names(tmp_path):
    import subprocess
    import sys

    root, outside = tmp_path / "corpus", tmp_path / "outside"
    _hostile_folder(root, outside)
    store = f"local:{tmp_path / 'store'}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ragline.cli", "ingest", str(root), "--store", store,
                               "--embedder", "hashing:64", "--parse-workers", "0", *args],
                              capture_output=True, env=env, timeout=300, check=False)

    printed = run()
    assert printed.returncode == 0, printed.stderr.decode(errors="replace")
    assert b"skipped" in printed.stdout
    as_json = run("--json", "--follow-symlinks")
    assert as_json.returncode == 0, as_json.stderr.decode(errors="replace")
    data = json.loads(as_json.stdout)
    assert any(s["uri"].endswith("/pipe.txt") for s in data["skipped"])
    assert data["documents"]["new"] == 1  # outside/secret.txt, now followed


def test_fifo_swapped_in_after_listing_does_not_hang(tmp_path, engine_factory):
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "a.txt").write_bytes(TEXT)
    (root / "b.txt").write_bytes(b"Simple is better than complex. Complex is better than complicated.\n")

    def swap(_total: int) -> None:  # between the listing and the read
        (root / "a.txt").unlink()
        os.mkfifo(root / "a.txt")

    with engine_factory() as engine:
        report = engine.ingest([root], on_listed=swap)
        assert [s.uri for s in report.skipped] == [path_uri(root / "a.txt")]
        assert "not a regular file" in report.skipped[0].reason and report.counts["new"] == 1


def test_size_limit_checked_from_stat_before_reading(tmp_path, engine_factory, monkeypatch):
    from ragline.records import SourceItem

    root = tmp_path / "corpus"
    root.mkdir()
    with (root / "huge.txt").open("wb") as handle:
        handle.truncate(3 * 2**30)  # a sparse 3 GiB file: reading it would be the bug
    (root / "small.txt").write_bytes(TEXT)
    opened: list[str] = []
    original = SourceItem.open
    monkeypatch.setattr(SourceItem, "open", lambda self: opened.append(self.uri) or original(self))
    with engine_factory(max_file_bytes=2**20) as engine:
        report = engine.ingest([root])
        (failure,) = report.failed
        assert failure.uri == path_uri(root / "huge.txt") and failure.stage == "too_large"
        assert "3072.0 MiB > limit 1.0 MiB" in failure.reason and "--max-file-size" in failure.reason
        assert opened == [path_uri(root / "small.txt")]
        again = engine.ingest([root])  # reported again, still unread
        assert [f.uri for f in again.failed] == [failure.uri] and len(opened) == 1


def test_unlistable_folder_is_reported_and_blocks_deletes(tmp_path, engine_factory, monkeypatch):
    """A folder that cannot be listed is a failure in the report and (once) in the dead letters,
    and nothing under it is deleted that run. Root lists any folder, so there the OS refusal is
    simulated at ``os.scandir`` for that one folder."""
    root = tmp_path / "corpus"
    locked = root / "locked"
    locked.mkdir(parents=True)
    (root / "ok.txt").write_bytes(TEXT)
    (locked / "inside.txt").write_bytes(b"Namespaces are one honking great idea.\n")
    with engine_factory() as engine:
        assert engine.ingest([root]).counts["new"] == 2
        if os.geteuid() == 0:
            from ragline.sources import folder

            real_scandir = os.scandir

            def scandir(path):  # type: ignore[no-untyped-def]
                if Path(path) == locked:
                    raise PermissionError(13, "Permission denied", str(path))
                return real_scandir(path)

            monkeypatch.setattr(folder.os, "scandir", scandir)
        locked.chmod(0)
        try:
            for _ in range(2):
                report = engine.ingest([root])
                assert [(f.uri, f.reason) for f in report.failed] == [
                    (path_uri(locked) + "/", "cannot list directory: Permission denied")]
                assert report.counts["deleted"] == 0  # the listing is incomplete: nothing deleted
                assert len(engine.ledger.all_documents()) == 2
            assert [u for u, _s, _r in engine.ledger.dead_letters()] == [path_uri(locked) + "/"]
        finally:
            locked.chmod(0o755)

"""sst.io: atomic file and directory replacement, a kill at the critical moment, and the key/value files."""
from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sst.io import (DataDirError, aside_path, atomic_open, atomic_path, existing_dir, read_kv, recover_dir,
                    replace_dir, temp_path, write_kv, write_text)


def test_atomic_open_replaces_only_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "hyp"
    write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["hyp"]  # no temporary file left behind
    with atomic_open(path, "wb") as f:
        f.write(b"new\n")
    assert path.read_bytes() == b"new\n"


def test_atomic_path_renames_what_another_writer_wrote(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    with atomic_path(path) as tmp:
        assert tmp == temp_path(path) == tmp_path / f"model.pth.{os.getpid()}.tmp"
        tmp.write_bytes(b"weights")
        assert not path.exists()
    assert path.read_bytes() == b"weights" and not tmp.exists()


def package(path: Path, content: str) -> Path:
    path.mkdir(parents=True)
    (path / "model.pth").write_text(content)
    (path / "config.yaml").write_text(content)
    return path


def test_replace_dir_swaps_a_directory(tmp_path: Path) -> None:
    target = package(tmp_path / "packed", "old")
    replace_dir(package(tmp_path / "packed.new", "new"), target)
    assert (target / "model.pth").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed"]
    replace_dir(package(tmp_path / "first", "first"), tmp_path / "fresh")  # nothing to replace
    assert (tmp_path / "fresh" / "config.yaml").read_text() == "first"


def test_a_crash_between_the_two_renames_leaves_the_old_directory_findable_and_recovered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = package(tmp_path / "packed", "old")
    new = package(tmp_path / "packed.new", "new")
    rename = os.rename

    def killed_before_the_second(src: str | Path, dst: str | Path) -> None:
        if Path(src) == new:
            raise KeyboardInterrupt("killed")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", killed_before_the_second)
    with pytest.raises(KeyboardInterrupt):
        replace_dir(new, target)
    monkeypatch.undo()
    assert not target.exists()
    assert (existing_dir(target) / "model.pth").read_text() == "old"  # readers find the old one aside
    recover_dir(target)
    assert (target / "model.pth").read_text() == "old" and not aside_path(target).exists()
    replace_dir(new, target)
    assert (target / "model.pth").read_text() == "new"


def test_recovery_deletes_an_aside_copy_and_dead_processes_temporaries(tmp_path: Path) -> None:
    target = package(tmp_path / "packed", "new")
    package(aside_path(target), "old")  # killed after the second rename, before the delete
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    package(tmp_path / f"packed.{dead.pid}.tmp", "half")
    package(tmp_path / f"packed.{os.getpid()}.tmp", "mine, still being written")
    recover_dir(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed", f"packed.{os.getpid()}.tmp"]
    assert (target / "model.pth").read_text() == "new"


SWAP_FOREVER = """
import sys
from pathlib import Path
from sst.io import replace_dir
root = Path(sys.argv[1])
for n in range(1, 1000000):
    new = root / "building"
    new.mkdir()
    for name in ("model.pth", "config.yaml", "package.json"):
        (new / name).write_text(str(n))
    replace_dir(new, root / "packed")
    print(n, flush=True)
"""


@pytest.mark.parametrize("swaps", [1, 3, 7])
def test_a_sigkill_at_any_moment_leaves_a_complete_directory(tmp_path: Path, swaps: int) -> None:
    """A process replacing a directory over and over is killed with SIGKILL; whatever it was doing, the
    directory is found complete (all files of one version) and put back in place by recover_dir."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen([sys.executable, "-c", SWAP_FOREVER, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True, env=env)
    for _ in range(swaps):
        process.stdout.readline()
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = existing_dir(tmp_path / "packed")
    versions = {(found / name).read_text() for name in ("model.pth", "config.yaml", "package.json")}
    assert len(versions) == 1
    recover_dir(tmp_path / "packed")
    assert {(tmp_path / "packed" / name).read_text() for name in ("model.pth", "config.yaml")} == versions
    assert not aside_path(tmp_path / "packed").exists()


def test_key_value_files_round_trip_and_name_the_faulty_line(tmp_path: Path) -> None:
    path = tmp_path / "utt2lang"
    write_kv(path, {"b": "fr", "a": "de", "c": ""})
    assert path.read_text() == "a de\nb fr\nc \n"
    assert read_kv(path) == {"a": "de", "b": "fr", "c": ""}
    with pytest.raises(DataDirError, match="whitespace"):
        write_kv(path, {"a b": "x"})
    assert read_kv(path) == {"a": "de", "b": "fr", "c": ""}  # a failed write leaves the file as it was
    path.write_text("a de\nc fr\nb en\n")
    with pytest.raises(DataDirError, match=r"utt2lang:3: keys not sorted \(b after c\)"):
        read_kv(path)
    path.write_text("a de\na fr\n")
    with pytest.raises(DataDirError, match=r"utt2lang:2: duplicate key a"):
        read_kv(path)
    path.write_bytes(b"a de\nb \xff\n")
    with pytest.raises(DataDirError, match=r"utt2lang:2: not valid UTF-8"):
        read_kv(path)


def test_key_value_file_saved_with_a_bom_and_crlf_reads_as_its_text(tmp_path: Path) -> None:
    path = tmp_path / "utt2lang"
    path.write_bytes(codecs.BOM_UTF8 + b"a de\r\nb fr\r\n")
    assert read_kv(path) == {"a": "de", "b": "fr"}
    path.write_bytes(codecs.BOM_UTF8 + b"b de\r\na fr\r\n")
    with pytest.raises(DataDirError, match=r"utt2lang:2: keys not sorted \(a after b\)"):
        read_kv(path)

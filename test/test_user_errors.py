"""The user-error boundary of sst/errors.py, by type: a UserError and the operating-system errors a user
causes are one ``ERROR:`` line; a bug inside the toolkit keeps its traceback on the console. Stage 2 on a
full disk stops in one line naming the file, and a rerun with space ends with the uninterrupted dump."""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from sst.bin import dump_audio
from sst.data.audio import AudioDecodeError, load_audio
from sst.data.corpus import CorpusError
from sst.data.europarl_st import read_lines
from sst.errors import ConfigError, UserError, run_main
from sst.io import DataDirError, read_kv
from sst.models.hub import ModelNotFoundError, locate_model
from sst.models.packing import PackageError
from sst.tasks.trainer import TornCheckpointError, check_checkpoint
from sst.testing.corpora import REPO, write_dump_config
from sst.testing.faults import disk_full_after


def console(step: Callable[[], object], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
            tmp_path: Path) -> tuple[list[str], Path]:
    """stderr lines of ``run_main(step)`` run as an entry point outside tools/dispatch.sh (it must exit 1),
    and the file its traceback went to."""
    monkeypatch.delenv("SST_LOG", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(SystemExit) as exit_code:
        run_main(step)
    assert exit_code.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    kept = list(tmp_path.glob("sst_*.traceback"))
    assert len(kept) == 1 and "Traceback (most recent call last)" in kept[0].read_text()
    return lines, kept[0]


# ---------------------------------------------------------------- every user error is one line

def _config_error(tmp_path: Path) -> None:
    (tmp_path / "dump.yaml").write_text("sample_rat: 16000\n")
    dump_audio.load_config(tmp_path / "dump.yaml", {})


def _yaml_error(tmp_path: Path) -> None:
    (tmp_path / "dump.yaml").write_text("sample_rate: 16000\n  max_duration: [30\n")
    dump_audio.load_config(tmp_path / "dump.yaml", {})


def _latin1_config(tmp_path: Path) -> None:
    (tmp_path / "dump.yaml").write_bytes(b"# r\xe9glages\nsample_rate: 16000\n")
    dump_audio.load_config(tmp_path / "dump.yaml", {})


def _data_dir_error(tmp_path: Path) -> None:
    (tmp_path / "utt2spk").write_text("b s1\na s2\n")
    read_kv(tmp_path / "utt2spk")


def _corpus_error(tmp_path: Path) -> None:
    read_lines(tmp_path / "segments.fr")


def _audio_decode_error(tmp_path: Path) -> None:
    (tmp_path / "clip.flac").write_bytes(b"")
    load_audio(tmp_path / "clip.flac")


def _model_not_found(tmp_path: Path) -> None:
    locate_model(str(tmp_path / "exp" / "samu" / "encoder_hf"), "--encoder_model")


def _torn_checkpoint(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(1000)}, tmp_path / "checkpoint.pth")
    data = (tmp_path / "checkpoint.pth").read_bytes()
    (tmp_path / "checkpoint.pth").write_bytes(data[: len(data) // 2])
    check_checkpoint(tmp_path / "checkpoint.pth")


def _package_error(tmp_path: Path) -> None:
    raise PackageError(f"{tmp_path}/packed: the decoder base is not the one this package was trained on; "
                       "repack the experiment with --pack full")


USER_ERRORS = [
    (_config_error, ConfigError, r"dump\.yaml: unknown key\(s\) sample_rat"),
    (_yaml_error, ConfigError, r"dump\.yaml: not valid YAML: .*line 2"),
    (_latin1_config, ConfigError, r"dump\.yaml: not valid UTF-8"),
    (_data_dir_error, DataDirError, r"utt2spk:2: keys not sorted"),
    (_corpus_error, CorpusError, r"segments\.fr: missing"),
    (_audio_decode_error, AudioDecodeError, r"clip\.flac"),
    (_model_not_found, ModelNotFoundError, r"--encoder_model .*encoder_hf: no such directory"),
    (_torn_checkpoint, TornCheckpointError, r"checkpoint\.pth: unreadable"),
    (_package_error, PackageError, r"packed: the decoder base"),
]


@pytest.mark.parametrize("raise_it, kind, message", USER_ERRORS,
                         ids=[raise_it.__name__.strip("_") for raise_it, _, _ in USER_ERRORS])
def test_each_user_error_is_one_line(raise_it: Callable[[Path], None], kind: type[UserError], message: str,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(kind):
        raise_it(tmp_path)
    lines, kept = console(lambda: raise_it(tmp_path), monkeypatch, capsys, tmp_path)
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and lines[0].endswith(f" (traceback: {kept})")
    assert re.search(message, lines[0]), lines[0]


@pytest.mark.parametrize("code, happened, to_do", [
    (errno.ENOSPC, "no space left on device", "free space or write elsewhere"),
    (errno.EDQUOT, "disk quota exceeded", "free space or write elsewhere"),
    (errno.EACCES, "permission denied", "check the path's owner and permissions"),
    (errno.EPERM, "operation not permitted", "check the path's owner and permissions"),
    (errno.EROFS, "read-only file system", "write elsewhere"),
])
def test_an_os_error_the_user_causes_is_one_line_naming_the_path(code: int, happened: str, to_do: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "dump" / "wav.scp"

    def write() -> None:
        raise OSError(code, os.strerror(code), str(target))
    lines, _ = console(write, monkeypatch, capsys, tmp_path)
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {target}: {happened}; {to_do}")


def test_a_missing_file_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "conf" / "dump.yaml"
    lines, _ = console(lambda: dump_audio.main(["--data_dir", str(tmp_path / "data"), "--output_dir",
                                                str(tmp_path / "dump"), "--config", str(missing)]),
                       monkeypatch, capsys, tmp_path)
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: {missing}: no such file or directory; check the path")


# ---------------------------------------------------------------- a bug keeps its traceback

BUGGY_STAGE2 = """
import sys
from sst.data import audio

def cut_recording(task, todo=None):
    utt, start = task.utts[0]  # a wrong tuple unpacking: (utt, start, end)

audio.cut_recording = cut_recording
import runpy
sys.argv = ["dump_audio", *sys.argv[1:]]
runpy.run_module("sst.bin.dump_audio", run_name="__main__")
"""


def entry_point_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SST_LOG"}
    return {**env, "PYTHONPATH": str(REPO), "TMPDIR": str(tmp_path)}


def test_a_value_error_inside_the_toolkit_shows_its_traceback(covost2_data: Path, tmp_path: Path) -> None:
    """A ValueError of the toolkit's own code (here a wrong tuple unpacking in stage 2) is a bug, not the
    user's: Python's traceback on the console, no ERROR line."""
    (tmp_path / "buggy_stage2.py").write_text(BUGGY_STAGE2)
    result = subprocess.run([sys.executable, str(tmp_path / "buggy_stage2.py"), "--data_dir",
                             str(covost2_data / "dev_fr_en"), "--output_dir", str(tmp_path / "dump")],
                            capture_output=True, text=True, env=entry_point_env(tmp_path), timeout=120)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "utt, start = task.utts[0]" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == "ValueError: too many values to unpack (expected 2)"
    assert "ERROR:" not in result.stderr and not list(tmp_path.glob("sst_*.traceback"))


@pytest.mark.parametrize("bug", [KeyError("utt"), ValueError("shape mismatch"), RuntimeError("internal"),
                                 OSError("internal state")])
def test_other_exceptions_are_not_shortened(bug: Exception) -> None:
    def main() -> None:
        raise bug
    with pytest.raises(type(bug)):
        run_main(main)


# ---------------------------------------------------------------- stage 2 on a full disk

def dump_files(out: Path, written_as: Path | None = None) -> dict[str, bytes]:
    """Every file of a dump dir but its provenance records, with the dir's own path (``written_as``
    when it was written elsewhere and copied) taken out."""
    own = str((written_as or out).resolve()).encode()
    return {str(p.relative_to(out)): p.read_bytes().replace(own, b"<out>")
            for p in sorted(out.rglob("*")) if p.is_file() and ".provenance" not in p.parts}


@pytest.mark.parametrize("audio_format, files, written", [
    ("flac", 3, r"\S+\.flac"),  # the list of utterances and two FLACs fit
    ("flac.ark", 1, r"audio\.00000\.ark"),  # the list of utterances fits, the archive does not
])
def test_stage2_on_a_full_disk_is_one_line_and_a_rerun_with_space_loses_nothing(
        audio_format: str, files: int, written: str, covost2_data: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    config = write_dump_config(tmp_path / "dump.yaml")
    config.write_text(config.read_text() + f"audio_format: {audio_format}\n")

    def stage2(out: Path) -> None:
        dump_audio.main(["--data_dir", str(covost2_data / "train_fr_en"), "--output_dir", str(out),
                         "--config", str(config)])
    stage2(tmp_path / "reference" / "train_fr_en")
    reference = dump_files(tmp_path / "reference" / "train_fr_en")

    out, tracebacks = tmp_path / "full" / "train_fr_en", tmp_path / "tracebacks"
    tracebacks.mkdir()
    capsys.readouterr()
    with disk_full_after(files):
        lines, _ = console(lambda: stage2(out), monkeypatch, capsys, tracebacks)
    assert "Traceback" not in "\n".join(lines)
    lines = [line for line in lines if line.startswith("ERROR")]  # beside the progress bar
    assert len(lines) == 1, lines
    named = re.match(rf"ERROR: {re.escape(str(out.resolve() / 'audio'))}/({written}): no space left on device; "
                     "free space or write elsewhere", lines[0])
    assert named, lines[0]
    left = {p.name for p in (out / "audio").iterdir()}
    assert not any(name.endswith(".tmp") for name in left) and not (out / "wav.scp").exists()
    if audio_format == "flac":  # the FLACs written before the disk filled stay, the one cut short does not
        assert left and named.group(1) not in left and left < {Path(n).name for n in reference if n.endswith(".flac")}
    stage2(out)
    assert dump_files(out) == reference


def tmpfs_works() -> bool:
    """Whether this machine lets a test mount a small tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*UNSHARE, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs counts whole pages
UNSHARE = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]


@pytest.mark.skipif(not tmpfs_works(), reason="needs a tmpfs mount in a private mount namespace (root or user "
                                               "namespaces); the full disk is injected in the test above")
def test_stage2_on_a_real_small_tmpfs(covost2_data: Path, tmp_path: Path) -> None:
    """The same on a real file system: a tmpfs too small for the dump, then grown and the command rerun."""
    config = write_dump_config(tmp_path / "dump.yaml")
    command = [sys.executable, "-m", "sst.bin.dump_audio", "--data_dir", str(covost2_data / "train_fr_en"),
               "--config", str(config), "--output_dir"]
    subprocess.run([*command, str(tmp_path / "reference" / "train_fr_en")], check=True, capture_output=True,
                   env=entry_point_env(tmp_path), timeout=120)
    reference = dump_files(tmp_path / "reference" / "train_fr_en")
    # Room for the list of utterances (a page, written first), the first FLAC and one page more.
    first_flac = reference[min(name for name in reference if name.endswith(".flac"))]
    size = PAGE * (1 + -(-len(first_flac) // PAGE) + 1)
    disk, out = tmp_path / "disk", tmp_path / "disk" / "train_fr_en"
    disk.mkdir()
    script = (f"mount -t tmpfs -o size={size} tmpfs {disk} && "
              f"{' '.join(command)} {out} 2> {tmp_path / 'full.err'}; echo $? > {tmp_path / 'full.rc'}; "
              f"ls {out / 'audio'} > {tmp_path / 'kept.txt'}; mount -o remount,size=64m {disk} && "
              f"{' '.join(command)} {out} && mkdir {tmp_path / 'rerun'} && cp -a {out} {tmp_path / 'rerun'}")
    subprocess.run([*UNSHARE, "sh", "-c", script], check=True, capture_output=True, env=entry_point_env(tmp_path),
                   timeout=240)
    lines = (tmp_path / "full.err").read_text().splitlines()
    assert (tmp_path / "full.rc").read_text().strip() == "1"
    errors = [line for line in lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and errors == lines[-1:] and "Traceback" not in "\n".join(lines)
    assert f"{out.resolve()}/" in errors[0] and ": no space left on device; free space or write elsewhere" in errors[0]
    assert (tmp_path / "kept.txt").read_text().split()  # finished FLACs were kept for the rerun
    assert dump_files(tmp_path / "rerun" / "train_fr_en", written_as=out) == reference

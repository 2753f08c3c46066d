"""A corpus of bad inputs (bad audio, rows, encodings, options, configs, models, a full disk) and what each must yield.

Every fault is run on a private copy of the fixture corpora of corpora.py and must end in either a
counted skip (its reason in skip_report.txt / dump_report.txt) or one clear line (the ``ERROR: ...`` a
user sees, see sst/errors.py) naming the file and line, option or key at fault. test/test_bad_inputs.py
runs each one; tools/bench/bench_bad_inputs.py counts how many are handled for the report. The option
faults run the recipe scripts of a source checkout (egs/, tools/).
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from unittest import mock

from sst.testing.corpora import REPO, Covost2Corpus, make_covost2_corpus, make_europarl_st_corpus, write_dump_config


@dataclass
class Outcome:
    """What a fault led to: the console line of an error, or the skip counts of the reports written."""

    error: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """One bad input: ``run(bench, work_dir)`` feeds it to the toolkit; ``expect`` must match the skip
    reason (kind ``skip``) or the error line (kind ``error``)."""

    name: str
    group: str
    kind: str
    expect: str
    run: Callable[[FaultBench, Path], Outcome]


def handled(fault: Fault, outcome: Outcome) -> bool:
    """Whether the outcome is the counted skip or the one clear line the fault must yield."""
    if fault.kind == "skip":
        return any(re.search(fault.expect, reason) and n > 0 for reason, n in outcome.skipped.items())
    return (outcome.error is not None and "\n" not in outcome.error and "Traceback" not in outcome.error
            and re.search(fault.expect, outcome.error) is not None)


def attempt(step: Callable[[], object]) -> Outcome:
    """Run a step in-process; a user error becomes its console line (as sst.errors.run_main prints it)."""
    from sst.errors import is_user_error, one_line

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            step()
    except Exception as error:
        if not is_user_error(error):
            raise  # a bug: its traceback, as on the console
        return Outcome(error=one_line(error))
    except SystemExit:
        return Outcome(error=stderr.getvalue().strip())
    return Outcome()


@contextlib.contextmanager
def disk_full_after(files: int) -> Iterator[None]:
    """Within the block, the file system fills up after ``files`` files: every later ``os.fsync`` (which
    each atomic write of sst.io calls before its rename) fails as on a full disk, ``[Errno 28] No space
    left on device`` naming no file."""
    fsync, written = os.fsync, [0]

    def full_fsync(fd: int) -> None:
        if written[0] >= files:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)
        written[0] += 1

    with mock.patch.object(os, "fsync", full_fsync):
        yield


def reports(*dirs: Path) -> Outcome:
    """The skip counts of the skip/dump reports in ``dirs``."""
    from sst.data.datadir import read_report

    skipped: dict[str, int] = {}
    for path in dirs:
        for name in ("skip_report.txt", "dump_report.txt"):
            if (path / name).is_file():
                for reason, n in read_report(path / name).items():
                    if reason not in ("kept", "skipped"):
                        skipped[reason] = skipped.get(reason, 0) + n
    return Outcome(skipped=skipped)


def shell(script: str, *args: str, cwd: Path = REPO) -> Outcome:
    """Run a recipe script; its stderr is the console line (it must stop at once, exit 1)."""
    result = subprocess.run([str(REPO / script), *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    return Outcome(error=result.stderr.strip() if result.returncode == 1 and not result.stdout else None)


class FaultBench:
    """The pristine fixture corpora (built once into ``root``) and the stage runners the faults use."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @cached_property
    def covost(self) -> Covost2Corpus:
        return make_covost2_corpus(self.root / "covost")

    @cached_property
    def europarl(self) -> Path:
        return make_europarl_st_corpus(self.root / "europarl").europarl_dir

    @cached_property
    def dump_config(self) -> Path:
        return write_dump_config(self.root / "dump.yaml")

    @cached_property
    def covost_data(self) -> Path:
        """Stage 1 of the pristine CoVoST-2 fr->en corpus."""
        out = self.root / "covost_data"
        self.prepare_covost(self.covost, out)
        return out

    @cached_property
    def europarl_data(self) -> Path:
        out = self.root / "europarl_data"
        self.prepare_europarl(self.europarl, out)
        return out

    def covost_copy(self, work: Path) -> Covost2Corpus:
        shutil.copytree(self.covost.covost_dir.parent, work / "covost")
        return Covost2Corpus(work / "covost" / "covost", work / "covost" / "commonvoice", self.covost.expected)

    def europarl_copy(self, work: Path) -> Path:
        shutil.copytree(self.europarl, work / "europarl")
        return work / "europarl"

    @staticmethod
    def prepare_covost(corpus: Covost2Corpus, out: Path, *splits: str) -> None:
        from sst.bin import prepare_covost2

        prepare_covost2.main(["--covost_dir", str(corpus.covost_dir), "--commonvoice_dir", str(corpus.commonvoice_dir),
                              "--src_lang", "fr", "--tgt_lang", "en", "--output_dir", str(out),
                              *(["--splits", *splits] if splits else [])])

    @staticmethod
    def prepare_europarl(europarl_dir: Path, out: Path, *splits: str) -> None:
        from sst.bin import prepare_europarl_st

        prepare_europarl_st.main(["--europarl_dir", str(europarl_dir), "--src_lang", "fr", "--tgt_lang", "en",
                                  "--output_dir", str(out), *(["--splits", *splits] if splits else [])])

    def dump(self, data_dir: Path, out: Path) -> None:
        from sst.bin import dump_audio

        dump_audio.main(["--data_dir", str(data_dir), "--output_dir", str(out), "--config", str(self.dump_config)])

    def validate(self, *dirs: Path) -> None:
        from sst.bin import validate_data_dir

        validate_data_dir.main([str(d) for d in dirs])


def _edit_bytes(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert old in data, (path, old)
    path.write_bytes(data.replace(old, new, 1))


# ------------------------------------------------------------------------------------------ the faults
# Stage 1 and 2 of the pristine corpora already hold several bad clips and rows (see corpora.py).

def _stage1_covost(b: FaultBench, work: Path) -> Outcome:
    return reports(*(b.covost_data / s for s in ("train_fr_en", "dev_fr_en", "test_fr_en")))


def _stage2_covost(b: FaultBench, work: Path) -> Outcome:
    for name in ("train_fr_en", "dev_fr_en"):
        b.dump(b.covost_data / name, work / name)
    return reports(work / "train_fr_en", work / "dev_fr_en")


def _stage1_europarl(b: FaultBench, work: Path) -> Outcome:
    return reports(b.europarl_data / "train_fr_en")


def _stage2_europarl(b: FaultBench, work: Path) -> Outcome:
    b.dump(b.europarl_data / "train_fr_en", work / "train_fr_en")
    return reports(work / "train_fr_en")


def _no_clips_dir(b: FaultBench, work: Path) -> Outcome:
    corpus = b.covost_copy(work)
    shutil.rmtree(corpus.commonvoice_dir / "fr" / "clips")
    return attempt(lambda: b.prepare_covost(corpus, work / "data"))


def _covost_tsv_edit(edit: Callable[[Path], None], then_validate: bool = False) -> Callable[[FaultBench, Path], Outcome]:
    def run(b: FaultBench, work: Path) -> Outcome:
        corpus = b.covost_copy(work)
        edit(corpus.covost_dir / "covost_v2.fr_en.tsv")

        def stage1() -> None:
            b.prepare_covost(corpus, work / "data", "train")
            if then_validate:
                b.validate(work / "data" / "train_fr_en")
        outcome = attempt(stage1)
        return outcome if outcome.error else reports(work / "data" / "train_fr_en")
    return run


def _duplicate_row(tsv: Path) -> None:
    lines = tsv.read_text(encoding="utf-8").splitlines(keepends=True)
    tsv.write_text("".join(lines[:2] + lines[1:2] + lines[2:]), encoding="utf-8")


def _short_row(tsv: Path) -> None:
    lines = tsv.read_text(encoding="utf-8").splitlines(keepends=True)
    tsv.write_text("".join(lines[:2] + ["common_voice_fr_100099.mp3\tun\tone\n"] + lines[2:]), encoding="utf-8")


def _header_only(tsv: Path) -> None:
    tsv.write_text(tsv.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")


def _latin1_tsv(tsv: Path) -> None:
    _edit_bytes(tsv, "à tous".encode(), b"\xe0 tous")


def _latin1_validated(b: FaultBench, work: Path) -> Outcome:
    corpus = b.covost_copy(work)
    _edit_bytes(corpus.commonvoice_dir / "fr" / "validated.tsv", "Phrase inutilisée".encode(), b"Phrase inutilis\xe9e")
    return attempt(lambda: b.prepare_covost(corpus, work / "data", "train"))


def _europarl_edit(file: str, old: str, new: bytes) -> Callable[[FaultBench, Path], Outcome]:
    """A fault in one file of the Europarl-ST test split (first occurrence of ``old`` replaced)."""
    def run(b: FaultBench, work: Path) -> Outcome:
        root = b.europarl_copy(work)
        _edit_bytes(root / "v1.1" / "fr" / "en" / "test" / file, old.encode(), new)
        outcome = attempt(lambda: b.prepare_europarl(root, work / "data", "test"))
        return outcome if outcome.error else reports(work / "data" / "test_fr_en")
    return run


def _data_dir_latin1(b: FaultBench, work: Path) -> Outcome:
    shutil.copytree(b.covost_data / "train_fr_en", work / "train_fr_en")
    _edit_bytes(work / "train_fr_en" / "text.fr", "à tous".encode(), b"\xe0 tous")
    return attempt(lambda: b.validate(work / "train_fr_en"))


def _dump_config(text: str) -> Callable[[FaultBench, Path], Outcome]:
    def run(b: FaultBench, work: Path) -> Outcome:
        from sst.bin import dump_audio

        config = work / "dump.yaml"
        config.write_text(text, encoding="utf-8")
        return attempt(lambda: dump_audio.load_config(config, {}))
    return run


def _model_conf(conf: dict) -> Callable[[FaultBench, Path], Outcome]:
    def run(b: FaultBench, work: Path) -> Outcome:
        from sst.models.speech_translation import SpeechTranslationModel
        from sst.tasks.base import check_model_conf

        return attempt(lambda: check_model_conf(SpeechTranslationModel, conf))
    return run


def _decode_config(b: FaultBench, work: Path) -> Outcome:
    from sst.inference import options

    config = work / "decode_st.yaml"
    config.write_text("beam_size: 3\nbeam_width: 5\n", encoding="utf-8")
    args = argparse.Namespace(config=config, **{key: None for key in options.DECODE_DEFAULTS})
    return attempt(lambda: options.decode_options(args))


def _too_many_gpus(b: FaultBench, work: Path) -> Outcome:
    from sst.tasks.launch import require_gpus

    return attempt(lambda: require_gpus(["--config", "x.yaml", "--ngpu", "99"]))


def _hub_id_offline(b: FaultBench, work: Path) -> Outcome:
    from huggingface_hub import constants

    from sst.models.hub import locate_model

    (work / "hf_cache").mkdir()
    with mock.patch.object(constants, "HF_HUB_CACHE", str(work / "hf_cache")), \
            mock.patch.object(constants, "ENDPOINT", "http://127.0.0.1:9"):
        return attempt(lambda: locate_model("sentence-transformers/LaBSE", "--teacher_model"))


def _missing_model_dir(b: FaultBench, work: Path) -> Outcome:
    from sst.models.hub import locate_model

    return attempt(lambda: locate_model(str(work / "exp" / "samu" / "encoder_hf"), "--encoder_model"))


def _torn_checkpoint(b: FaultBench, work: Path) -> Outcome:
    import torch

    from sst.tasks.trainer import check_checkpoint

    torch.save({"model": {"w": torch.zeros(1000)}}, work / "checkpoint.pth")
    data = (work / "checkpoint.pth").read_bytes()
    (work / "checkpoint.pth").write_bytes(data[: len(data) // 2])
    return attempt(lambda: check_checkpoint(work / "checkpoint.pth"))


def _disk_full_in_stage2(b: FaultBench, work: Path) -> Outcome:
    with disk_full_after(3):
        return attempt(lambda: b.dump(b.covost_data / "train_fr_en", work / "train_fr_en"))


MINI_ST = "egs/mini_st/run.sh"
FAULTS = [
    # bad audio
    Fault("zero-byte clip", "audio", "skip", r"^zero-byte clip$", _stage1_covost),
    Fault("clip file missing", "audio", "skip", r"^clip missing$", _stage1_covost),
    Fault("undecodable clip (garbage bytes)", "audio", "skip", r"^undecodable audio$", _stage2_covost),
    Fault("clip shorter than min_duration", "audio", "skip", r"^too short$", _stage2_covost),
    Fault("Europarl-ST speech audio missing", "audio", "skip", r"^audio missing$", _stage1_europarl),
    Fault("segment past the end of its speech", "audio", "skip", r"^segment past end$", _stage2_europarl),
    Fault("Common Voice folder without clips/", "audio", "error", r"fr/clips: missing; --commonvoice_dir",
          _no_clips_dir),
    # bad rows
    Fault("empty translation", "rows", "skip", r"^empty translation$", _stage1_covost),
    Fault("empty transcript", "rows", "skip", r"^empty transcript$", _stage1_covost),
    Fault("row not in validated.tsv", "rows", "skip", r"^not in validated.tsv$", _stage1_covost),
    Fault("duplicate CoVoST-2 row", "rows", "skip", r"^duplicate utterance id$", _covost_tsv_edit(_duplicate_row)),
    Fault("CoVoST-2 row with too few fields", "rows", "error", r"covost_v2\.fr_en\.tsv:3: 3 fields",
          _covost_tsv_edit(_short_row)),
    Fault("header-only CoVoST-2 TSV (empty set)", "rows", "error",
          r"train_fr_en: no utterances left \(skipped 0, see .*skip_report\.txt\)",
          _covost_tsv_edit(_header_only, then_validate=True)),
    Fault("nan segment time", "rows", "skip", r"^bad times", _europarl_edit("segments.lst", " 0.50 1.50", b" nan 1.50")),
    Fault("inf segment time", "rows", "skip", r"^bad times", _europarl_edit("segments.lst", " 0.50 1.50", b" 0.50 inf")),
    Fault("segment end before start", "rows", "skip", r"^bad times",
          _europarl_edit("segments.lst", " 0.50 1.50", b" 1.50 0.50")),
    Fault("segments.lst line without end time", "rows", "error", r"segments\.lst:1: expected 'speech_id start end'",
          _europarl_edit("segments.lst", " 0.50 1.50", b" 0.50")),
    Fault("Europarl-ST files not line-aligned", "rows", "error", r"not line-aligned .*segments\.en: 3 lines",
          _europarl_edit("segments.en", "Yes.\n", b"Yes.\nOne more.\n")),
    # bad encodings
    Fault("non-UTF-8 byte in the CoVoST-2 TSV", "encoding", "error", r"covost_v2\.fr_en\.tsv:\d+: not valid UTF-8",
          _covost_tsv_edit(_latin1_tsv)),
    Fault("non-UTF-8 byte in validated.tsv", "encoding", "error", r"validated\.tsv:\d+: not valid UTF-8",
          _latin1_validated),
    Fault("non-UTF-8 byte in segments.fr", "encoding", "error", r"segments\.fr:1: not valid UTF-8",
          _europarl_edit("segments.fr", "séance", "s\xe9ance".encode("latin-1"))),
    Fault("non-UTF-8 byte in a data dir text file", "encoding", "error", r"text\.fr:\d+: not valid UTF-8",
          _data_dir_latin1),
    # bad options
    Fault("--stage one", "options", "error", r"^run\.sh: option --stage takes a whole number .*'one'$",
          lambda b, w: shell(MINI_ST, "--stage", "one", cwd=REPO / "egs" / "mini_st")),
    Fault("--nj -1", "options", "error", r"^run\.sh: option --nj takes a whole number .*'-1'$",
          lambda b, w: shell(MINI_ST, "--nj=-1", cwd=REPO / "egs" / "mini_st")),
    Fault("unknown option", "options", "error", r"^run\.sh: unknown option --src_lang ",
          lambda b, w: shell(MINI_ST, "--src_lang", "fr", cwd=REPO / "egs" / "mini_st")),
    Fault("boolean option given 'yes'", "options", "error", r"option --gpu_inference takes true or false, not 'yes'",
          lambda b, w: shell("tools/st.sh", "--gpu_inference", "yes")),
    Fault("--ngpu above the machine's GPUs", "options", "error", r"^--ngpu 99, but this machine has \d+ CUDA GPU",
          _too_many_gpus),
    # bad configs
    Fault("unknown key in dump.yaml", "config", "error", r"dump\.yaml: unknown key\(s\) sample_rat",
          _dump_config("sample_rat: 16000\n")),
    Fault("max_duration <= min_duration", "config", "error", r"bad dump settings .*min_duration < max_duration",
          _dump_config("min_duration: 5\nmax_duration: 1\n")),
    Fault("dump.yaml that is not YAML", "config", "error", r"dump\.yaml.*line 2",
          _dump_config("sample_rate: 16000\n  max_duration: [30\n")),
    Fault("model_conf value of the wrong type", "config", "error", r"model_conf: encoder_adapter_dim must be a whole",
          _model_conf({"encoder_adapter_dim": "big"})),
    Fault("unknown model_conf key", "config", "error", r"model_conf: unknown key 'adapter_dim'",
          _model_conf({"adapter_dim": 16})),
    Fault("unknown decoding setting", "config", "error", r"decode_st\.yaml: unknown decoding settings \['beam_width'\]",
          _decode_config),
    # models and checkpoints
    Fault("hub id not cached, hub unreachable", "model", "error",
          r"^--teacher_model sentence-transformers/LaBSE: not a local directory.*pass --teacher_model DIR$",
          _hub_id_offline),
    Fault("model directory missing", "model", "error", r"^--encoder_model .*encoder_hf: no such directory$",
          _missing_model_dir),
    Fault("torn checkpoint.pth", "model", "error", r"checkpoint\.pth: unreadable .*rm .*checkpoint\.pth$",
          _torn_checkpoint),
    # the machine
    Fault("disk full during stage 2", "disk", "error",
          r"^\S+/train_fr_en/audio/\S+\.flac: no space left on device; free space or write elsewhere",
          _disk_full_in_stage2),
]

"""What the benchmark scripts share: model sizes, timing, peak-memory probes and machine facts.

Every bench script runs as ``tools/venv/bin/python tools/bench/<script>.py``; this module sits next
to them and is imported by name (Python puts a script's own folder first on its path). What the tests
share with the benches (fixture corpora, tiny models, small packed models) is in ``sst.testing``. Models are built with random weights from configs saved with
``save_pretrained`` and read through ``sst.models.pretrained`` (``pretrained=False``): nothing is
loaded from a hub.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import torch

from sst.testing.machine import cpu_model

if TYPE_CHECKING:
    from sst.models.speech_translation import SpeechTranslationModel

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]
PYTHON = sys.executable

# Medium size for CPU: XLS-R / mBART-50 geometry with 6 layers of width 256 on each side. The CNN keeps
# XLS-R's strides and kernels (320 samples per frame) with 64 channels, so its share of the encoder's
# forward FLOPs (~12%) is close to XLS-R-300M's (512 channels against 24 x 1024-wide layers: ~13%);
# the vocabulary (25k) keeps the LM head a little costlier per token than all decoder layers together,
# as in mBART-50 (250k x 1024: 1.45x its 12 layers; here 1.16x).
MEDIUM_ENCODER = dict(
    hidden_size=256, num_hidden_layers=6, num_attention_heads=4, intermediate_size=1024, hidden_act="gelu",
    feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True, feat_extract_activation="gelu",
    conv_dim=(64,) * 7, conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_kernel=(10, 3, 3, 3, 3, 2, 2),
    num_conv_pos_embeddings=128, num_conv_pos_embedding_groups=16,
    hidden_dropout=0.1, attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.0,
    layerdrop=0.0, mask_time_prob=0.0, apply_spec_augment=True,
)
MEDIUM_DECODER = dict(
    vocab_size=25000, d_model=256, decoder_layers=6, decoder_attention_heads=4, decoder_ffn_dim=1024,
    encoder_layers=1, encoder_attention_heads=4, encoder_ffn_dim=1024,  # the text encoder is dropped
    max_position_embeddings=1024, scale_embedding=True, activation_function="gelu", dropout=0.1,
    attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    decoder_start_token_id=2, forced_eos_token_id=2,
)
MEDIUM_ADAPTER_DIM = 192  # 0.75 x width, the paper's 768 for 1024

# Full size (GPU only): XLS-R-300M (facebook/wav2vec2-xls-r-300m) and mBART-50
# (facebook/mbart-large-50-many-to-many-mmt), their config.json as packaged in sst/models/configs; no
# layer drop, masking or feature-projection dropout, so that every timed step does the same work.
def packaged_config(hub_id: str, **overrides) -> dict:
    """The packaged config.json of a real checkpoint as a dict, with ``overrides``."""
    from sst.models.architectures import config_source

    return {**json.loads((Path(config_source(hub_id)) / "config.json").read_text(encoding="utf-8")), **overrides}


XLSR_300M = packaged_config("facebook/wav2vec2-xls-r-300m", layerdrop=0.0, mask_time_prob=0.0, feat_proj_dropout=0.0)
MBART50 = packaged_config("facebook/mbart-large-50-many-to-many-mmt")
FULL_ADAPTER_DIM = 768
# A language-code id inside the medium vocabulary, used as the forced first target token.
LANG_TOKEN_ID = 24990


def write_models(out_dir: Path, encoder: dict, decoder: dict) -> tuple[str, str]:
    """Save the encoder and decoder configs (config.json only, no weights) into ``out_dir``.

    ``SpeechTranslationModel(..., pretrained=False)`` builds random weights from them.
    """
    from transformers import MBartConfig, Wav2Vec2Config

    enc_dir, dec_dir = out_dir / "encoder", out_dir / "decoder"
    Wav2Vec2Config(**encoder).save_pretrained(enc_dir)
    MBartConfig(**decoder).save_pretrained(dec_dir)
    return str(enc_dir), str(dec_dir)


def set_threads(threads: int) -> None:
    """Intra-op threads for this process."""
    torch.set_num_threads(threads)


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def clock_for(threads: int) -> str:
    """The clock a CPU bench times with: the process's CPU time when it runs on one thread, wall time otherwise.

    Single-threaded, CPU time is the step's own work: it leaves out the time other jobs on the machine
    hold the core, which wall time counts and which differs from step to step. With more threads CPU
    time adds the threads up, so only wall time is the step time.
    """
    return "cpu" if threads == 1 else "wall"


def _summary(times: list[float], wall: list[float], clock: str) -> dict[str, object]:
    return {"clock": clock, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "steps": len(times), "times_s": [round(t, 4) for t in times], "wall_times_s": [round(t, 4) for t in wall]}


def time_side_by_side(steps: dict[str, Callable[[], object]], warmup: int, rounds: int,
                      clock: str = "wall") -> dict[str, dict]:
    """Time several step functions side by side in this process, on ``clock`` (see CLOCKS, clock_for).

    Each runs ``warmup`` times untimed, then ``rounds`` rounds call every step once, the order rotated
    each round, so a change in machine load during the run hits every step alike. Per name: median,
    min and max seconds and every timed step (wall times too).
    """
    names = list(steps)
    for _ in range(warmup):
        for name in names:
            steps[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}
    timer = CLOCKS[clock]
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            _sync()
            start, wall = timer(), time.perf_counter()
            steps[name]()
            _sync()
            times[name].append(timer() - start)
            walls[name].append(time.perf_counter() - wall)
    return {name: _summary(times[name], walls[name], clock) for name in names}


def ratio(slow: dict, fast: dict) -> dict[str, float]:
    """``slow`` / ``fast`` step time as the ratio of minima (the figure: other jobs on the machine only
    ever add time, so the fastest step is the best estimate of a step's own cost) and of medians."""
    return {"median": slow["median_s"] / fast["median_s"], "min": slow["min_s"] / fast["min_s"]}


def make_speech_batch(batch_size: int, seconds: tuple[float, float], seed: int = 0) -> dict[str, torch.Tensor]:
    """Padded 16 kHz noise waveforms (zeros past each length), lengths spread evenly over ``seconds``."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.linspace(seconds[1], seconds[0], batch_size).mul(16000).long()
    speech = torch.randn(batch_size, int(lengths.max()), generator=gen) * 0.1
    speech *= torch.arange(speech.size(1))[None, :] < lengths[:, None]
    return {"speech": speech, "speech_lengths": lengths}


def make_st_batch(batch_size: int, seconds: tuple[float, float], tokens: tuple[int, int], vocab: int,
                  seed: int = 0) -> dict[str, torch.Tensor]:
    """A padded batch like the ST task's collate output: speech (see make_speech_batch) and
    ``<lang> tokens </s>`` targets padded with -1, lengths spread evenly over ``tokens``."""
    batch = make_speech_batch(batch_size, seconds, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    text_lengths = torch.linspace(tokens[1], tokens[0], batch_size).long()
    text = torch.randint(4, vocab - 100, (batch_size, int(text_lengths.max())), generator=gen)
    text[:, 0] = LANG_TOKEN_ID
    for row, n in enumerate(text_lengths.tolist()):
        text[row, n - 1] = 2
        text[row, n:] = -1
    return {**batch, "text": text, "text_lengths": text_lengths}


def build_st_model(encoder: dict, decoder: dict, adapter_dim: int, freeze: list[str]) -> SpeechTranslationModel:
    """A SpeechTranslationModel with random weights from the given configs, adapters in every layer."""
    from sst.models.speech_translation import SpeechTranslationModel

    with tempfile.TemporaryDirectory() as tmp:
        encoder_dir, decoder_dir = write_models(Path(tmp), encoder, decoder)
        return SpeechTranslationModel(encoder_dir, decoder_dir, pretrained=False, encoder_adapter_dim=adapter_dim,
                                      decoder_adapter_dim=adapter_dim, freeze=freeze)


def count_flops(function: Callable[[], object]) -> int:
    """FLOPs of one call (matmuls, convolutions, attention; forward and backward), by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        function()
    return counter.get_total_flops()


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class PeakRss:
    """Peak resident memory of this process above the level at ``reset()`` (Linux).

    ``reset()`` sets the kernel's high-water mark (VmHWM) to the current RSS by writing 5 to
    ``/proc/self/clear_refs``; ``peak_mb()`` is VmHWM minus the RSS at reset. Where clear_refs is not
    writable it falls back to ``ru_maxrss`` (then the peak before reset may mask a smaller one after).
    """

    def __init__(self) -> None:
        self.base_kb = 0
        self.method = "VmHWM after clear_refs"

    def reset(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            self.method = "ru_maxrss (clear_refs not writable)"
        self.base_kb = _status_kb("VmRSS")

    def peak_mb(self) -> float:
        peak = (_status_kb("VmHWM") if self.method.startswith("VmHWM")
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return (peak - self.base_kb) / 1024

    @staticmethod
    def rss_mb() -> float:
        return _status_kb("VmRSS") / 1024


# Set for memory-measuring child processes: glibc then serves every allocation of 64 KiB or more with
# its own mmap and unmaps it when freed, so RSS follows the live tensors instead of what malloc kept
# cached from earlier steps (its default threshold moves up as large blocks are freed).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def run_json(args: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """Run ``python <args>`` (a bench script in a fresh process, ``env`` added to the environment)
    and parse the JSON of its last stdout line."""
    proc = subprocess.run([PYTHON, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine_info() -> dict[str, object]:
    """CPU, core count, torch/transformers versions, GPU (if any) and the date, for the report."""
    import transformers

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def git_revision() -> str:
    """The checked-out commit (with ``+dirty`` when the tree has changes), or ``unknown``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line(script: str, argv: list[str]) -> str:
    """The command that reproduces a bench run: the venv python, the script, its options but ``--json``."""
    return " ".join(["tools/venv/bin/python", f"tools/bench/{Path(script).name}", *drop_option(argv, "--json")])


def drop_option(argv: list[str], option: str) -> list[str]:
    """``argv`` without ``option`` and its value (both ``--opt v`` and ``--opt=v`` forms)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            out.append(arg)
    return out


def add_fullsize_options(parser, work_dir: str) -> None:
    """The options of the full-size benches: ``--work_dir``, ``--report`` (REPORT_fullsize.md), ``--json`` and
    ``--render`` (only rewrite the report from a run's JSON)."""
    parser.add_argument("--work_dir", type=Path, default=Path(work_dir))
    parser.add_argument("--report", type=Path, default=BENCH_DIR / "REPORT_fullsize.md")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--render", type=Path, default=None, help="only rewrite the report from this run's JSON")


def disk_mb(paths: list[Path]) -> float:
    """Bytes on disk under ``paths`` (files counted once, links not followed), in MB."""
    total = 0
    for root in paths:
        for path in [root] if root.is_file() else root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return round(total / 1e6, 3)


def emit(result: dict, json_path: Path | None) -> None:
    """Print ``result`` as one JSON line (what ``run_json`` reads) and optionally save it."""
    text = json.dumps(result)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(text)

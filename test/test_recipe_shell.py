"""The recipe shell: option parsing, the job dispatcher (local and a faked slurm), the recipes' run.sh
(help, option errors, the wiring of stages 2-6 in tools/st.sh, stage 0-1 on fixture corpora) and the
stage-0 downloader (without network)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import soundfile as sf

from sst.testing.corpora import Covost2Corpus, EuroparlStCorpus, make_commonvoice_release
from sst.testing.recipes import recipe_copy
from sst.bin import download_corpus
from sst.data.langs import MBART50_CODES
from sst.data.datadir import read_report
from sst.io import read_kv

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
RECIPES = ("covost2", "europarl_st")
STAGE_TABLE = [
    ("0", "download what can be downloaded; print exact manual steps for what cannot", "downloads/"),
    ("1", "corpus -> Kaldi-style data dirs", "data/<set>/"),
    ("2", "feature prep: decode, resample 16 kHz mono, dump audio + shapes; teacher", "dump/"),
    ("3", "SAMU distillation", "exp/samu_*/"),
    ("4", "adapter ST training", "exp/st_*/"),
    ("5", "decoding (batched beam search)", "exp/st_*/decode_*/"),
    ("6", "scoring", "exp/st_*/RESULTS.md"),
]


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command, capturing text output."""
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------------------------------- parse_options

def bash_script(path: Path, body: str) -> Path:
    """An executable bash script (set -euo pipefail) at path."""
    path.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\n{body}")
    path.chmod(0o755)
    return path


@pytest.fixture()
def options_script(tmp_path: Path) -> Path:
    """A script declaring a few options and printing them after parse_options.sh."""
    return bash_script(tmp_path / "opts.sh", f"""nj=4
use_gpu=false
src_langs="fr de"
name=x
help_message="Usage: opts.sh [options] <dir>
  --nj N   number of jobs"
. {TOOLS}/parse_options.sh
echo "nj=$nj|use_gpu=$use_gpu|src_langs=$src_langs|name=$name|rest=$*"
""")


def test_parse_options_sets_declared_variables(options_script: Path, tmp_path: Path) -> None:
    result = run([str(options_script), "--nj", "8", "--use-gpu", "true", "--src_langs", "es it", "--name=a b",
                  "pos1", "--nj", "3"], tmp_path)
    assert result.returncode == 0, result.stderr
    # parsing stops at the first positional argument
    assert result.stdout.strip() == "nj=8|use_gpu=true|src_langs=es it|name=a b|rest=pos1 --nj 3"


def test_parse_options_config_file(options_script: Path, tmp_path: Path) -> None:
    config = tmp_path / "opts.conf"
    config.write_text('# a comment\n--nj 7\n\n  --src-langs "ca zh"\n--use_gpu=true\n')
    result = run([str(options_script), "--config", str(config), "--nj", "9"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nj=9|use_gpu=true|src_langs=ca zh|name=x|rest="


@pytest.mark.parametrize("args, message", [
    (["--foo-bar", "1"], "unknown option --foo-bar"),
    (["--use_gpu", "yes"], "option --use_gpu takes true or false, not 'yes'"),
    (["--nj"], "option --nj needs a value"),
    (["--config", "/nonexistent.conf"], "--config /nonexistent.conf: no such file"),
])
def test_parse_options_errors(options_script: Path, tmp_path: Path, args: list[str], message: str) -> None:
    result = run([str(options_script), *args], tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_parse_options_help(options_script: Path, tmp_path: Path, flag: str) -> None:
    result = run([str(options_script), "--nj", "2", flag], tmp_path)
    assert result.returncode == 0
    assert result.stdout == "Usage: opts.sh [options] <dir>\n  --nj N   number of jobs\n"


@pytest.fixture()
def forwarding_script(tmp_path: Path) -> Path:
    """A script declaring one option and passing the others on to a command that prints its arguments."""
    bash_script(tmp_path / "next.sh", 'printf "<%s>" "$@"\necho " (next: $OPTIONS_SCRIPT)"\n')
    return bash_script(tmp_path / "fwd.sh", f"""nj=4
forward_to=({tmp_path / "next.sh"} --first 1)
help_message="Usage: fwd.sh [options]"
. {TOOLS}/parse_options.sh
echo "nj=$nj|rest=$*"
"${{forward_to[@]}}"
""")


def test_parse_options_forwards_undeclared_options(forwarding_script: Path, tmp_path: Path) -> None:
    config = tmp_path / "fwd.conf"
    config.write_text('--nj 7\n--from_config "a b"\n')
    result = run([str(forwarding_script), "--foo", "x y", "--nj", "2", "--bar=1", "--config", str(config), "--foo", "z",
                  "pos"], tmp_path)
    assert result.returncode == 0, result.stderr
    # in order, so the command sees the later --foo last; messages of the next script name the one the user ran
    assert result.stdout.splitlines() == [
        "nj=7|rest=pos", "<--first><1><--foo><x y><--bar><1><--from_config><a b><--foo><z> (next: fwd.sh)"]
    result = run([str(forwarding_script), "--foo", "x", "--help", "--nj", "3"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Usage: fwd.sh [options]\n<--first><1><--foo><x><--help> (next: fwd.sh)\n"


# ---------------------------------------------------------------------------------------------- dispatch.sh

DISPATCH = str(TOOLS / "dispatch.sh")


def test_dispatch_local_job_array(tmp_path: Path) -> None:
    result = run([DISPATCH, "JOB=1:3", "log/echo.JOB.log", "bash", "-c", "echo output of job JOB"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "log").iterdir()) == ["echo.1.log", "echo.2.log", "echo.3.log"]
    for job in (1, 2, 3):
        lines = (tmp_path / f"log/echo.{job}.log").read_text().splitlines()
        assert lines[0] == rf"# bash -c echo\ output\ of\ job\ {job}"
        assert lines[1].startswith("# Started at ")
        assert lines[2] == f"output of job {job}"
        assert lines[3].startswith("# Accounting: time=")
        assert lines[4].startswith("# Ended (code 0) at ")


def test_dispatch_local_failure_names_the_log(tmp_path: Path) -> None:
    result = run([DISPATCH, "JOB=1:3", "log/x.JOB.log", "bash", "-c", "echo job JOB; exit $((JOB == 2 ? 3 : 0))"],
                 tmp_path)
    assert result.returncode == 1
    assert "1 of 3 job(s) failed" in result.stderr
    assert "log/x.2.log" in result.stderr and "log/x.1.log" not in result.stderr
    assert "# Ended (code 3)" in (tmp_path / "log/x.2.log").read_text()
    assert "# Ended (code 0)" in (tmp_path / "log/x.3.log").read_text()


def test_dispatch_local_max_jobs_run(tmp_path: Path) -> None:
    """With --max_jobs_run 1 the jobs run one after the other (job 1 is the slowest)."""
    cmd = "sleep $((JOB == 1)); echo JOB >> order.txt"
    result = run([DISPATCH, "--max_jobs_run", "1", "JOB=1:3", "log/o.JOB.log", "bash", "-c", cmd], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "order.txt").read_text().split() == ["1", "2", "3"]


def test_dispatch_single_job_and_usage_errors(tmp_path: Path) -> None:
    result = run([DISPATCH, "exp/a/train.log", "echo", "a b"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "exp/a/train.log").read_text().splitlines()[0] == r"# echo a\ b"
    result = run([DISPATCH, "JOB=1:2", "log/same.log", "true"], tmp_path)
    assert result.returncode == 1 and "the log name must contain JOB" in result.stderr
    result = run([DISPATCH, "--backend", "pbs", "log/x.log", "true"], tmp_path)
    assert result.returncode == 1 and "unknown --backend pbs" in result.stderr


@pytest.fixture()
def fake_slurm(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A fake sbatch on PATH: records its arguments, then runs the batch script once per array task."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    record = tmp_path / "sbatch_args.txt"
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$@" > {record}
script="${{@: -1}}"
array=$(printf '%s\\n' "$@" | sed -n 's/^--array=\\([0-9]*\\)-\\([0-9]*\\).*/\\1 \\2/p')
rc=0
if [ -n "$array" ]; then
    for i in $(seq $array); do SLURM_ARRAY_TASK_ID=$i bash "$script" || rc=1; done
else
    bash "$script" || rc=1
fi
echo "Submitted batch job 42"
exit $rc
""")
    sbatch.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    return env, record


def test_dispatch_slurm_array(tmp_path: Path, fake_slurm: tuple[dict[str, str], Path]) -> None:
    env, record = fake_slurm
    result = run([DISPATCH, "--backend", "slurm", "--gpu", "4", "--mem", "64G", "--time", "1:00:00",
                  "--sbatch_args", "--account=abc --qos=high", "--gpu", "2",  # a later option wins
                  "JOB=1:3", "exp/log/dump.JOB.log", "bash", "-c", "echo task JOB of 3"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    args = record.read_text().splitlines()
    script = tmp_path / "exp/log/q/dump.sh"
    assert args == ["--wait", "--job-name=dump", "--array=1-3%3", "--output=exp/log/q/dump.%A_%a.out", "--gres=gpu:2", "--mem=64G", "--time=1:00:00",
                    "--account=abc", "--qos=high", "exp/log/q/dump.sh"]
    assert script.is_file()
    for job in (1, 2, 3):
        log = (tmp_path / f"exp/log/dump.{job}.log").read_text().splitlines()
        assert f"task {job} of 3" in log and log[-1].startswith("# Ended (code 0)")


def test_dispatch_slurm_single_job_failure(tmp_path: Path, fake_slurm: tuple[dict[str, str], Path]) -> None:
    env, record = fake_slurm
    result = run([DISPATCH, "--backend", "slurm", "exp/st/train.log", "bash", "-c", "echo boom; exit 2"],
                 tmp_path, env)
    assert result.returncode == 1
    args = record.read_text().splitlines()
    assert not any(a.startswith(("--array", "--gres")) for a in args)  # one job, no GPU asked for
    assert "--output=exp/st/q/train.%j.out" in args
    assert "exp/st/train.log" in result.stderr and "boom" in result.stderr
    assert "# Ended (code 2)" in (tmp_path / "exp/st/train.log").read_text()



def test_dispatch_slurm_multi_node_runs_the_command_under_srun(tmp_path: Path,
                                                              fake_slurm: tuple[dict[str, str], Path]) -> None:
    env, record = fake_slurm
    srun = Path(env["PATH"].split(":")[0]) / "srun"
    srun.write_text('#!/usr/bin/env bash\necho "srun $*"\n')
    srun.chmod(0o755)
    result = run([DISPATCH, "--backend", "slurm", "--gpu", "4", "--num_nodes", "2", "exp/st/train.log",
                  "python", "-m", "sst.bin.st_train", "--ngpu", "4"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    args = record.read_text().splitlines()
    assert "--nodes=2" in args and "--ntasks-per-node=1" in args and "--gres=gpu:4" in args
    log = (tmp_path / "exp/st/train.log").read_text()
    assert "srun --nodes=2 --ntasks-per-node=1 --kill-on-bad-exit=1 python -m sst.bin.st_train --ngpu 4" in log
    result = run([DISPATCH, "--num_nodes", "2", "exp/st/train.log", "true"], tmp_path)
    assert result.returncode == 1 and "--num_nodes 2 needs --backend slurm" in result.stderr


# ---------------------------------------------------------------------------------------------- run.sh

def test_an_option_added_to_st_sh_reaches_every_recipe(tmp_path: Path) -> None:
    """A new option declared in tools/st.sh (its default and help line there only) is in every recipe's
    --help and reaches st.sh from every recipe's command line and --config file, with no other edit."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for entry in TOOLS.iterdir():
        if entry.name != "st.sh":
            (tools / entry.name).symlink_to(entry)
    (tmp_path / "setup.py").symlink_to(ROOT / "setup.py")  # mini_st's install.sh: the environment is up to date
    st_sh = (TOOLS / "st.sh").read_text()
    parse = '. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"\n'
    for old, new in (("\nstage=0\n", "\nstage=0\nnew_option=default\n"),
                     ("\nHELP\n}", "\n  --new_option X             a new option [${new_option}]\nHELP\n}"),
                     (parse, parse + 'echo "st.sh got new_option=${new_option}" >&2\n')):
        assert st_sh.count(old) == 1, old
        st_sh = st_sh.replace(old, new)
    (tools / "st.sh").write_text(st_sh)
    (tools / "st.sh").chmod(0o755)
    config = tmp_path / "new.conf"
    config.write_text("--new_option from_config\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for name in ("covost2", "europarl_st", "mini_st"):
        recipe = recipe_copy(tmp_path, name)
        help_text = run(["./run.sh", "--new_option", "shown", "--help"], recipe, env).stdout
        assert "  --new_option X             a new option [shown]" in help_text.splitlines(), name
        for options, value in ((["--new_option", "given"], "given"), (["--config", str(config)], "from_config"),
                               ([], "default")):
            # stage 7: st.sh checks the options and makes its plan, and no stage runs
            result = run(["./run.sh", "--stage", "7", *options], recipe, env)
            assert result.returncode == 0, result.stdout + result.stderr
            got = [line for line in result.stderr.splitlines() if line.startswith("st.sh got")]
            assert got and set(got) == {f"st.sh got new_option={value}"}, (name, result.stderr)


@pytest.mark.parametrize("recipe", RECIPES)
def test_run_help_prints_stages_and_options(recipe: str) -> None:
    result = run(["./run.sh", "--help"], ROOT / "egs" / recipe)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for stage, does, writes in STAGE_TABLE:
        row = next((line for line in lines if line.strip().startswith(f"{stage} ")), None)
        assert row is not None and does in row and writes in row, f"stage {stage} row missing: {row}"
    for option in ("--stage", "--stop_stage", "--nj", "--ngpu", "--src_langs", "--train_langs", "--test_langs",
                   "--samu_config", "--st_config", "--decode_config", "--encoder_model", "--teacher_model",
                   "--decoder_model", "--samu_exp", "--st_exp", "--st_encoder", "--samu_args", "--st_args",
                   "--inference_args"):
        assert f"  {option} " in result.stdout or f"  {option}," in result.stdout or f", {option} " in result.stdout
    assert "--tgt_langs " in result.stdout


@pytest.mark.parametrize("recipe", RECIPES)
def test_run_rejects_bad_options(recipe: str) -> None:
    result = run(["./run.sh", "--stage", "1", "--no-such-option", "1"], ROOT / "egs" / recipe)
    assert result.returncode == 1
    assert "unknown option --no-such-option" in result.stderr
    result = run(["./run.sh", "--stage", "9", "--src_langs", "fr", "--train_langs", "de"], ROOT / "egs" / recipe)
    assert result.returncode == 1
    assert "language de is not in --src_langs (fr)" in result.stderr


ENTRY_POINTS = ("check_langs", "dump_audio", "embed_teacher", "tokenize_targets", "target_vocab", "combine_data",
                "samu_train",
                "samu_eval", "st_train", "st_inference", "score", "longform_decode", "translate")


@pytest.fixture()
def recorded_calls(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A stand-in sst package (first on PYTHONPATH) whose entry points only record their arguments."""
    package = tmp_path / "fake" / "sst" / "bin"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    calls = tmp_path / "calls.jsonl"
    for name in ENTRY_POINTS:
        (package / f"{name}.py").write_text(
            "import json, os, sys\n"
            f"with open(os.environ['SST_CALLS'], 'a') as f:\n"
            f"    f.write(json.dumps([{name!r}] + sys.argv[1:]) + '\\n')\n"
            # mini_st prints the head of the subtitles sst.bin.translate writes
            + ("open(sys.argv[sys.argv.index('--output') + 1], 'w').close()\n" if name == "translate" else ""))
    # and a stand-in torch for tools/st.sh's check that the machine has the --ngpu GPUs: it "has" 8
    (tmp_path / "fake" / "torch.py").write_text("class cuda:\n    device_count = staticmethod(lambda: 8)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"), SST_CALLS=str(calls))
    return env, calls


def calls_of(path: Path) -> list[list[str]]:
    """The recorded entry-point calls, in order."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_st_stages_wiring_covost2(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """Zero-shot on CoVoST-2: train on fr+de, test on fr+de+es; what stages 2-6 call, with which flags."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "2", "--src_langs", "fr de es", "--train_langs", "fr de", "--nj", "3",
                  "--ngpu", "2", "--st_args", "--max_epoch 2 --use_amp true", "--samu_args", "--seed 3",
                  "--pack", "full", "--inference_args", "--beam_size 10"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_of(calls_file)
    by_name: dict[str, list[list[str]]] = {}
    for call in calls:
        by_name.setdefault(call[0], []).append(call[1:])

    # es is zero-shot for ST, but SAMU is distilled on every source language, so train_es_en is dumped too
    all_sets = [f"{s}_{l}_en" for s in ("dev", "test", "train") for l in ("de", "es", "fr")]
    assert by_name["dump_audio"] == [["--data_dir", *(f"data/{s}" for s in all_sets),
                                      "--output_dir", *(f"dump/{s}" for s in all_sets),
                                      "--config", "conf/dump.yaml", "--nj", "3"]]
    # teacher embeddings for SAMU training/validation and the retrieval check (dev of the test languages)
    assert by_name["embed_teacher"] == [["--dump_dirs", "dump/dev_de_en", "dump/dev_es_en", "dump/dev_fr_en",
                                         "dump/train_de_en", "dump/train_es_en", "dump/train_fr_en",
                                         "--teacher_model", "sentence-transformers/LaBSE"]]
    assert by_name["tokenize_targets"] == [["--dump_dirs", "dump/dev_de_en", "dump/dev_fr_en", "dump/train_de_en",
                                            "dump/train_fr_en", "--decoder_model",
                                            "facebook/mbart-large-50-many-to-many-mmt"]]
    assert by_name["combine_data"] == [
        ["--output_dir", "dump/samu_train_fr.de.es-en", "dump/train_fr_en", "dump/train_de_en", "dump/train_es_en"],
        ["--output_dir", "dump/samu_dev_fr.de.es-en", "dump/dev_fr_en", "dump/dev_de_en", "dump/dev_es_en"],
        ["--output_dir", "dump/st_train_fr.de-en", "dump/train_fr_en", "dump/train_de_en"],
        ["--output_dir", "dump/st_dev_fr.de-en", "dump/dev_fr_en", "dump/dev_de_en"]]
    assert by_name["samu_train"] == [[
        "--config", "conf/tuning/train_samu.yaml", "--train_dump", "dump/samu_train_fr.de.es-en", "--valid_dump",
        "dump/samu_dev_fr.de.es-en", "--output_dir", "exp/samu_train_samu_fr.de.es-en", "--encoder_model",
        "facebook/wav2vec2-xls-r-300m",
        "--ngpu", "2", "--multiprocessing_distributed", "true", "--seed", "3"]]
    assert by_name["samu_eval"] == [["--model_dir", "exp/samu_train_samu_fr.de.es-en", "--teacher_model",
                                     "sentence-transformers/LaBSE", "--dump_dirs", "dump/dev_fr_en",
                                     "dump/dev_de_en", "dump/dev_es_en"]]
    assert by_name["st_train"] == [[
        "--config", "conf/tuning/train_st_samu_adapter.yaml", "--train_dump", "dump/st_train_fr.de-en", "--valid_dump",
        "dump/st_dev_fr.de-en", "--output_dir", "exp/st_train_st_samu_adapter_fr.de-en", "--encoder_model",
        "exp/samu_train_samu_fr.de.es-en/encoder_hf", "--decoder_model", "facebook/mbart-large-50-many-to-many-mmt",
        "--pack", "full", "--ngpu", "2", "--multiprocessing_distributed", "true", "--max_epoch", "2", "--use_amp", "true"]]
    decode = "exp/st_train_st_samu_adapter_fr.de-en/decode_st_beam_size10"
    assert by_name["st_inference"] == [[
        "--model_dir", "exp/st_train_st_samu_adapter_fr.de-en", "--dump_dir", "dump/test_fr_en", "dump/test_de_en",
        "dump/test_es_en", "--output_dir", f"{decode}/test_fr_en", f"{decode}/test_de_en", f"{decode}/test_es_en",
        "--config", "conf/decode_st.yaml", "--nj", "3", "--ngpu", "0", "--beam_size", "10"]]
    assert by_name["score"] == [["--exp_dir", "exp/st_train_st_samu_adapter_fr.de-en", "--decode_dirs",
                                 f"{decode}/test_fr_en", f"{decode}/test_de_en", f"{decode}/test_es_en",
                                 "--corpus", "covost2", "--seen_langs", "fr de", "--lid_langs", "fr de es en"]]
    # stage order, and the logs the dispatcher wrote
    assert [c[0] for c in calls].index("score") == len(calls) - 1
    assert "# Ended (code 0)" in (recipe / "exp/st_train_st_samu_adapter_fr.de-en/train.log").read_text()
    assert (recipe / f"{decode}/logs/decode.log").is_file()
    assert (recipe / "dump/logs/dump_audio.log").is_file()
    assert (recipe / "dump/logs/embed_teacher.log").is_file()


def test_teacher_prefix_reaches_stage2(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """An e5-style teacher: its prefix, spaces and all, is an option of the teacher embeddings."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "2", "--stop_stage", "2", "--src_langs", "fr", "--teacher_model",
                  "intfloat/multilingual-e5-large", "--teacher_prefix", "query: "], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    embed = [call[1:] for call in calls_of(calls_file) if call[0] == "embed_teacher"]
    assert embed == [["--dump_dirs", "dump/dev_fr_en", "dump/train_fr_en", "--teacher_model",
                      "intfloat/multilingual-e5-large", "--teacher_prefix", "query: "]]


def test_mini_st_wiring_two_encoders(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """The demo's stages 3-5: the xlsr pass skips SAMU, the samu pass distils then trains on its encoder;
    both train with the demo's seed and decode the long recordings too."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "mini_st")
    result = run(["./run.sh", "--stage", "3", "--stop_stage", "5", "--src_langs", "fr de pt", "--train_langs", "fr de"],
                 recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name: dict[str, list[list[str]]] = {}
    for call in calls_of(calls_file):
        by_name.setdefault(call[0], []).append(call[1:])
    (samu_train,) = by_name["samu_train"]
    assert samu_train == [
        "--config", "conf/tuning/train_samu.yaml", "--train_dump", "dump/samu_train_fr.de.pt-en", "--valid_dump",
        "dump/samu_dev_fr.de.pt-en", "--output_dir", "exp/samu_train_samu_fr.de.pt-en", "--encoder_model",
        "models/wav2vec2", "--ngpu", "0", "--seed", "0"]
    trainings = [(call[call.index("--output_dir") + 1], call[call.index("--encoder_model") + 1], call[-2:])
                 for call in by_name["st_train"]]
    assert trainings == [("exp/st_xlsr_adapter", "models/wav2vec2", ["--seed", "0"]),
                         ("exp/st_samu_adapter", "exp/samu_train_samu_fr.de.pt-en/encoder_hf", ["--seed", "0"])]
    assert {call[call.index("--train_dump") + 1] for call in by_name["st_train"]} == {"dump/st_train_fr.de-en"}
    longform = ["data/longform_test_fr_en", "data/longform_test_de_en", "data/longform_test_pt_en"]
    assert [call[call.index("--data_dir") + 1:call.index("--output_dir")]
            for call in by_name["longform_decode"]] == [longform, longform]


def test_mini_st_wiring_ctc_control(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """--encoders "xlsr samu ctc": stage 3 twice, the semantic objective and the CTC control, each in its own
    experiment; the ctc pass trains the samu pass's ST config on the control's encoder. Without samu, stage 2
    embeds no teacher; an unknown objective is refused before any stage runs."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "mini_st")
    base = ["./run.sh", "--stage", "2", "--stop_stage", "5", "--src_langs", "fr de pt", "--train_langs", "fr de"]
    result = run([*base, "--encoders", "xlsr samu ctc"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name: dict[str, list[list[str]]] = {}
    for call in calls_of(calls_file):
        by_name.setdefault(call[0], []).append(call[1:])
    assert len(by_name["embed_teacher"]) == 1
    samu = "exp/samu_train_samu_fr.de.pt-en"
    assert [call[call.index("--output_dir") + 1:] for call in by_name["samu_train"]] == [
        [samu, "--encoder_model", "models/wav2vec2", "--ngpu", "0", "--seed", "0"],
        [f"{samu}_ctc", "--encoder_model", "models/wav2vec2", "--ngpu", "0", "--objective", "ctc", "--seed", "0"]]
    assert {call[call.index("--train_dump") + 1] for call in by_name["samu_train"]} == {"dump/samu_train_fr.de.pt-en"}
    assert [call[call.index("--model_dir") + 1] for call in by_name["samu_eval"]] == [samu]
    trainings = [(call[call.index("--config") + 1], call[call.index("--output_dir") + 1],
                  call[call.index("--encoder_model") + 1]) for call in by_name["st_train"]]
    assert trainings == [
        ("conf/tuning/train_st_xlsr_adapter.yaml", "exp/st_xlsr_adapter", "models/wav2vec2"),
        ("conf/tuning/train_st_samu_adapter.yaml", "exp/st_samu_adapter", f"{samu}/encoder_hf"),
        ("conf/tuning/train_st_samu_adapter.yaml", "exp/st_ctc_adapter", f"{samu}_ctc/encoder_hf")]

    calls_file.unlink()
    result = run([*base, "--stop_stage", "3", "--encoders", "xlsr ctc"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_of(calls_file)
    assert "dump_audio" in [call[0] for call in calls] and "embed_teacher" not in [call[0] for call in calls]
    assert [call[call.index("--output_dir") + 1] for call in calls if call[0] == "samu_train"] == [f"{samu}_ctc"]

    calls_file.unlink()
    result = run([*base, "--samu_objective", "contrastive"], recipe, env)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("ERROR: --samu_objective must be semantic or ctc, not 'contrastive'")
    assert not calls_file.exists()


def mini_st_experiments(recipe: Path, env: dict[str, str], calls_file: Path, *options: str) -> dict[str, list[str]]:
    """mini_st's stages 4-6 with these options: each pass's training dir and stage-6 baseline, the long
    recording's model and the dirs of the side-by-side table."""
    calls_file.unlink(missing_ok=True)
    result = run(["./run.sh", "--stage", "4", "--src_langs", "fr de", "--train_langs", "fr", *options], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_of(calls_file)
    scores = [call[1:] for call in calls if call[0] == "score"]
    (side_by_side,) = [call for call in scores if "--side_by_side" in call]
    return {
        "trained": [call[call.index("--output_dir") + 1] for call in calls if call[0] == "st_train"],
        "scored": [call[call.index("--exp_dir") + 1] for call in scores if "--exp_dir" in call],
        "baselines": [call[call.index("--baseline_exp_dir") + 1] for call in scores if "--baseline_exp_dir" in call],
        "subtitles": [call[call.index("--model_dir") + 1] for call in calls if call[0] == "translate"],
        "side_by_side": side_by_side[1:side_by_side.index("--output")],
    }


def test_mini_st_final_table_reads_the_experiments_of_this_run(tmp_path: Path,
                                                                 recorded_calls: tuple[dict[str, str], Path]) -> None:
    """--target_vocab true trains exp/st_<encoder>_adapter_trimmed, and the samu pass's baseline, the subtitles
    and the side-by-side table read those, not the untrimmed experiments (and without it the untrimmed ones);
    one encoder takes --st_exp, two would share it and are refused before any stage runs."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "mini_st")
    for options, suffix in (((), ""), (("--target_vocab", "true"), "_trimmed")):
        xlsr, samu = f"exp/st_xlsr_adapter{suffix}", f"exp/st_samu_adapter{suffix}"
        assert mini_st_experiments(recipe, env, calls_file, *options) == {
            "trained": [xlsr, samu], "scored": [xlsr, samu], "baselines": [xlsr], "subtitles": [samu],
            "side_by_side": [xlsr, samu]}, options
    assert mini_st_experiments(recipe, env, calls_file, "--encoders", "xlsr samu ctc") == {
        "trained": ["exp/st_xlsr_adapter", "exp/st_samu_adapter", "exp/st_ctc_adapter"],
        "scored": ["exp/st_xlsr_adapter", "exp/st_samu_adapter", "exp/st_ctc_adapter"],
        "baselines": ["exp/st_xlsr_adapter", "exp/st_xlsr_adapter"], "subtitles": ["exp/st_ctc_adapter"],
        "side_by_side": ["exp/st_xlsr_adapter", "exp/st_samu_adapter", "exp/st_ctc_adapter"]}
    assert mini_st_experiments(recipe, env, calls_file, "--encoders", "samu", "--st_exp", "exp/mine") == {
        "trained": ["exp/mine"], "scored": ["exp/mine"], "baselines": [], "subtitles": ["exp/mine"],
        "side_by_side": ["exp/mine"]}
    calls_file.unlink()
    result = run(["./run.sh", "--stage", "4", "--src_langs", "fr de", "--train_langs", "fr", "--st_exp", "exp/mine"],
                 recipe, env)
    assert result.returncode == 1
    assert result.stderr.strip().endswith('ERROR: the passes of --encoders "xlsr samu" would share an experiment '
                                          'dir (exp/mine exp/mine); leave out --st_exp')
    assert not calls_file.exists()


def test_mini_st_sweep_tag_names_each_pass_experiment(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """--st_tag T (what sst.bin.sweep gives each run) trains exp/st_<encoder>_adapter_T for every encoder, and
    stage 6 compares and tables those, so the runs of a sweep sit side by side in one recipe folder."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "mini_st")
    xlsr, samu = "exp/st_xlsr_adapter_dim_8", "exp/st_samu_adapter_dim_8"
    assert mini_st_experiments(recipe, env, calls_file, "--st_tag", "dim_8") == {
        "trained": [xlsr, samu], "scored": [xlsr, samu], "baselines": [xlsr], "subtitles": [samu],
        "side_by_side": [xlsr, samu]}
    xlsr, samu = f"{xlsr}_trimmed", f"{samu}_trimmed"
    assert mini_st_experiments(recipe, env, calls_file, "--st_tag", "dim_8", "--target_vocab", "true") == {
        "trained": [xlsr, samu], "scored": [xlsr, samu], "baselines": [xlsr], "subtitles": [samu],
        "side_by_side": [xlsr, samu]}


def test_target_vocab_wiring(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """--target_vocab true: stage 2 collects the vocabulary of the training sets and trims the train and valid
    targets; stage 4 trains a separate experiment with it; the default (false) calls neither."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "2", "--stop_stage", "4", "--src_langs", "fr de", "--ngpu", "0",
                  "--st_encoder", "xlsr", "--target_vocab", "true", "--target_vocab_extra", "a.txt b.txt"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name = {call[0]: call[1:] for call in calls_of(calls_file)}
    assert by_name["target_vocab"] == ["--train_dump_dirs", "dump/train_fr_en", "dump/train_de_en", "--dump_dirs",
                                       "dump/dev_de_en", "dump/dev_fr_en", "dump/train_de_en", "dump/train_fr_en",
                                       "--output", "dump/target_vocab_fr.de-en.txt", "--decoder_model",
                                       "facebook/mbart-large-50-many-to-many-mmt", "--extra_text", "a.txt", "b.txt"]
    st_train = by_name["st_train"]
    assert st_train[st_train.index("--output_dir") + 1] == "exp/st_train_st_samu_adapter_fr.de-en_trimmed"
    assert st_train[st_train.index("--target_vocabulary") + 1] == "dump/target_vocab_fr.de-en.txt"
    calls_file.unlink()
    assert run(["./run.sh", "--stage", "2", "--stop_stage", "4", "--src_langs", "fr", "--ngpu", "0", "--st_encoder",
                "xlsr"], recipe, env).returncode == 0
    assert not any(call[0] == "target_vocab" or "--target_vocabulary" in call for call in calls_of(calls_file))


def test_quantize_wiring(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """--quantize int8 reaches stage 5, which decodes into its own decode_<tag>_int8 dirs; the default passes nothing."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    common = ["./run.sh", "--stage", "5", "--stop_stage", "5", "--src_langs", "fr", "--ngpu", "0"]
    result = run([*common, "--quantize", "int8"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    (decode,) = [call[1:] for call in calls_of(calls_file) if call[0] == "st_inference"]
    assert decode[decode.index("--quantize") + 1] == "int8"
    assert decode[decode.index("--output_dir") + 1] == "exp/st_train_st_samu_adapter_fr-en/decode_st_int8/test_fr_en"
    calls_file.unlink()
    assert run(common, recipe, env).returncode == 0
    (decode,) = [call[1:] for call in calls_of(calls_file) if call[0] == "st_inference"]
    assert "--quantize" not in decode
    assert decode[decode.index("--output_dir") + 1] == "exp/st_train_st_samu_adapter_fr-en/decode_st/test_fr_en"


@pytest.mark.parametrize("recipe", RECIPES)
def test_zero_shot_samu_defaults_to_every_source_language(recipe: str, tmp_path: Path,
                                                          recorded_calls: tuple[dict[str, str], Path]) -> None:
    """SAMU-XLS-R is one encoder distilled on every prepared language: a zero-shot ST run (--train_langs fr)
    still distils it on all of --src_langs, unless --samu_langs says otherwise."""
    env, calls_file = recorded_calls
    recipe_dir = recipe_copy(tmp_path, recipe)
    target = ["--tgt_langs", "en"] if recipe == "europarl_st" else []
    command = ["./run.sh", "--stage", "3", "--stop_stage", "3", "--src_langs", "fr de es", "--train_langs", "fr",
               *target]
    result = run(command, recipe_dir, env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_of(calls_file)
    assert [c[1:] for c in calls if c[0] == "combine_data"] == [
        ["--output_dir", "dump/samu_train_fr.de.es-en", "dump/train_fr_en", "dump/train_de_en", "dump/train_es_en"],
        ["--output_dir", "dump/samu_dev_fr.de.es-en", "dump/dev_fr_en", "dump/dev_de_en", "dump/dev_es_en"]]
    (samu_train,) = [c for c in calls if c[0] == "samu_train"]
    assert samu_train[samu_train.index("--train_dump") + 1] == "dump/samu_train_fr.de.es-en"
    calls_file.unlink()
    result = run([*command, "--samu_langs", "fr de"], recipe_dir, env)
    assert result.returncode == 0, result.stdout + result.stderr
    (samu_train,) = [c for c in calls_of(calls_file) if c[0] == "samu_train"]
    assert samu_train[samu_train.index("--train_dump") + 1] == "dump/samu_train_fr.de-en"
    help_text = run(["./run.sh", "--help"], recipe_dir).stdout
    assert "--samu_langs" in help_text and "[--src_langs]" in help_text.split("--samu_langs", 1)[1].splitlines()[0]


def test_covost2_one_to_many_wiring(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """En->X with two targets: one ST model trained on both directions, both decoded and scored; SAMU on the
    English speech once, combined into dumps of its own: rerunning stage 3 leaves the ST training data alone."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "3", "--src_langs", "en", "--tgt_langs", "de ja"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name: dict[str, list[list[str]]] = {}
    for call in calls_of(calls_file):
        by_name.setdefault(call[0], []).append(call[1:])
    assert by_name["check_langs"] == [["--corpus", "covost2", "--src_langs", "en", "--tgt_langs", "de ja"]]
    assert by_name["combine_data"] == [
        ["--output_dir", "dump/samu_train_en-de.ja", "dump/train_en_de"],
        ["--output_dir", "dump/samu_dev_en-de.ja", "dump/dev_en_de"],
        ["--output_dir", "dump/st_train_en-de.ja", "dump/train_en_de", "dump/train_en_ja"],
        ["--output_dir", "dump/st_dev_en-de.ja", "dump/dev_en_de", "dump/dev_en_ja"]]
    (samu_train,) = by_name["samu_train"]
    (st_train,) = by_name["st_train"]
    samu_dumps = {samu_train[samu_train.index(flag) + 1] for flag in ("--train_dump", "--valid_dump")}
    st_dumps = {st_train[st_train.index(flag) + 1] for flag in ("--train_dump", "--valid_dump")}
    assert samu_dumps == {"dump/samu_train_en-de.ja", "dump/samu_dev_en-de.ja"}
    assert st_dumps == {"dump/st_train_en-de.ja", "dump/st_dev_en-de.ja"}
    (st_inference,) = by_name["st_inference"]
    assert st_inference[st_inference.index("--dump_dir") + 1:st_inference.index("--output_dir")] == [
        "dump/test_en_de", "dump/test_en_ja"]
    (score_call,) = by_name["score"]
    decode = "exp/st_train_st_samu_adapter_en-de.ja/decode_st"
    assert score_call[score_call.index("--decode_dirs") + 1:][:2] == [f"{decode}/test_en_de", f"{decode}/test_en_ja"]


@pytest.mark.parametrize("targets", ["ca", "de cy"])
def test_covost2_targets_without_mbart_code_are_refused(targets: str) -> None:
    result = run(["./run.sh", "--stage", "9", "--src_langs", "en", "--tgt_langs", targets], ROOT / "egs" / "covost2",
                 dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 1 and result.stdout == ""
    lacking = targets.split()[-1]
    assert result.stderr == (f"ERROR: --tgt_langs: mBART-50 has no language code for {lacking}, so its decoder "
                             f"cannot be forced to write it; leave {lacking} out of --tgt_langs (targets with a "
                             f"code: {' '.join(sorted(MBART50_CODES))})\n")


def test_a_second_run_in_the_same_recipe_dir_stops(tmp_path: Path,
                                                    recorded_calls: tuple[dict[str, str], Path]) -> None:
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    first = subprocess.Popen(["flock", ".st.lock", "sleep", "30"], cwd=recipe)  # a run holding the lock
    try:
        for _ in range(100):
            if subprocess.run(["flock", "-n", ".st.lock", "true"], cwd=recipe).returncode != 0:
                break
            time.sleep(0.05)
        second = run(["./run.sh", "--stage", "2", "--src_langs", "fr", "--train_langs", "fr"], recipe, env)
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 1
    errors = second.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].endswith(
        f"ERROR: another run of st.sh is working in {recipe} (it holds .st.lock); wait for it to end")
    assert [call[0] for call in calls_of(calls_file)] == ["check_langs"]  # the option check only: no stage ran


def test_europarl_longform_decodes_whole_speeches_and_scores_both(tmp_path: Path,
                                                                  recorded_calls: tuple[dict[str, str], Path]) -> None:
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "europarl_st")
    result = run(["./run.sh", "--stage", "5", "--src_langs", "fr de", "--tgt_langs", "en", "--longform", "true",
                  "--longform_args", "--vad_max_segment 15"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name = {call[0]: call[1:] for call in calls_of(calls_file)}
    decode = "exp/st_train_st_samu_adapter_fr.de-en/decode_st"
    assert by_name["longform_decode"] == [
        "--model_dir", "exp/st_train_st_samu_adapter_fr.de-en", "--data_dir", "data/test_fr_en", "data/test_de_en",
        "--output_dir", f"{decode}_longform/test_fr_en", f"{decode}_longform/test_de_en",
        "--config", "conf/decode_st.yaml", "--vad_max_segment", "15"]
    score = by_name["score"]
    assert score[score.index("--decode_dirs") + 1:score.index("--decode_dirs") + 5] == [
        f"{decode}/test_fr_en", f"{decode}/test_de_en", f"{decode}_longform/test_fr_en", f"{decode}_longform/test_de_en"]


def test_st_stages_wiring_europarl_xlsr(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """Europarl-ST many-to-many: SAMU on one set per source language; the XLS-R baseline skips stage 3."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "europarl_st")
    result = run(["./run.sh", "--stage", "2", "--stop_stage", "3", "--src_langs", "fr de", "--tgt_langs", "fr en"],
                 recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = calls_of(calls_file)
    assert [c[2:6] for c in calls if c[0] == "embed_teacher"] == [["dump/dev_de_fr", "dump/dev_fr_en",
                                                                   "dump/train_de_fr", "dump/train_fr_en"]]
    assert [c[1:] for c in calls if c[0] == "combine_data"] == [
        ["--output_dir", "dump/samu_train_fr.de-fr.en", "dump/train_fr_en", "dump/train_de_fr"],
        ["--output_dir", "dump/samu_dev_fr.de-fr.en", "dump/dev_fr_en", "dump/dev_de_fr"]]
    calls_file.unlink()

    result = run(["./run.sh", "--stage", "3", "--stop_stage", "5", "--src_langs", "fr de", "--tgt_langs", "en fr",
                  "--st_config", "conf/tuning/train_st_xlsr_adapter.yaml", "--st_encoder", "xlsr", "--ngpu", "1",
                  "--gpu_inference", "true", "--st_exp", "exp/st_baseline"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Stage 3: skipped, --st_encoder xlsr" in result.stdout
    by_name: dict[str, list[list[str]]] = {}
    for call in calls_of(calls_file):
        by_name.setdefault(call[0], []).append(call[1:])
    assert set(by_name) == {"check_langs", "combine_data", "st_train", "st_inference"}
    assert by_name["combine_data"] == [
        ["--output_dir", "dump/st_train_fr.de-en.fr", "dump/train_fr_en", "dump/train_de_en", "dump/train_de_fr"],
        ["--output_dir", "dump/st_dev_fr.de-en.fr", "dump/dev_fr_en", "dump/dev_de_en", "dump/dev_de_fr"]]
    (st_train,) = by_name["st_train"]
    assert st_train[st_train.index("--encoder_model") + 1] == "facebook/wav2vec2-xls-r-300m"
    assert st_train[st_train.index("--output_dir") + 1] == "exp/st_baseline"
    assert "--multiprocessing_distributed" not in st_train
    assert st_train[st_train.index("--pack") + 1] == "adapters"  # the default package kind
    (st_inference,) = by_name["st_inference"]
    dumps = st_inference[st_inference.index("--dump_dir") + 1:st_inference.index("--output_dir")]
    assert dumps == ["dump/test_fr_en", "dump/test_de_en", "dump/test_de_fr"]
    assert st_inference[st_inference.index("--ngpu") + 1] == "1"
    calls_file.unlink()

    # scoring groups Europarl-ST by language, not by CoVoST-2's resource groups
    result = run(["./run.sh", "--stage", "6", "--src_langs", "fr de", "--tgt_langs", "en fr"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    (score_call,) = [c[1:] for c in calls_of(calls_file) if c[0] == "score"]
    assert score_call[score_call.index("--corpus") + 1] == "europarl_st"


def test_stage_0_1_covost2_fixture(tmp_path: Path, covost2_corpus: Covost2Corpus) -> None:
    """Stage 0 finds the corpus in place (no network needed); stage 1 writes and validates the data dirs."""
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "0", "--stop_stage", "1", "--src_langs", "fr de",
                  "--covost2", str(covost2_corpus.covost_dir), "--commonvoice", str(covost2_corpus.commonvoice_dir)],
                 recipe)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (recipe / "data").iterdir()) == sorted(covost2_corpus.expected)
    for name, expected in covost2_corpus.expected.items():
        assert sorted(read_kv(recipe / "data" / name / "wav.scp")) == sorted(expected.stage1)
    assert "data/test_de_en: OK" in result.stderr


@pytest.mark.parametrize("recipe", RECIPES)
def test_stages_1_2_on_fixture_corpora_then_rerun_skips(recipe: str, tmp_path: Path, covost2_corpus: Covost2Corpus,
                                                       europarl_st_corpus: EuroparlStCorpus, tiny_teacher: Path,
                                                       tiny_mbart: Path) -> None:
    """What a user runs for stages 1-2 (with local teacher and decoder dirs in place of the hub ids):
    validated data dirs, 16 kHz dumps with skip reports, teacher embeddings and targets; a second run
    of the same command redoes nothing."""
    copy = recipe_copy(tmp_path, recipe)
    if recipe == "covost2":
        corpus, options = covost2_corpus, ["--src_langs", "fr de", "--tgt_langs", "en", "--covost2",
                                           str(covost2_corpus.covost_dir), "--commonvoice",
                                           str(covost2_corpus.commonvoice_dir)]
    else:
        corpus, options = europarl_st_corpus, ["--src_langs", "fr", "--tgt_langs", "en",
                                               "--europarl_st", str(europarl_st_corpus.europarl_dir)]
    command = ["./run.sh", "--stage", "1", "--stop_stage", "2", "--nj", "2", *options,
               "--teacher_model", str(tiny_teacher), "--decoder_model", str(tiny_mbart)]
    result = run(command, copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for name, expected in corpus.expected.items():
        dump = copy / "dump" / name
        counts = read_report(dump / "dump_report.txt")
        assert counts["kept"] == len(expected.num_samples), name
        assert sorted(read_kv(dump / "utt2num_samples")) == sorted(expected.num_samples)
        assert all(sf.info(path).samplerate == 16000 for path in read_kv(dump / "wav.scp").values())
        if name.startswith(("train", "dev")):  # the test sets are only decoded
            assert sorted(read_kv(dump / "teacher_embed.scp")) == sorted(expected.num_samples)
            assert sorted(read_kv(dump / "text_int")) == sorted(expected.num_samples)
    stamps = {path: path.stat().st_mtime_ns for path in (copy / "dump").rglob("*") if path.is_file()
              and "logs" not in path.parts}
    again = run(command, copy)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    logs = (copy / "dump" / "logs" / "dump_audio.log").read_text() + again.stderr
    assert "already done" in logs


def test_stage_1_commonvoice_samu_data(tmp_path: Path) -> None:
    """--samu_data commonvoice: stage 1 also writes one SAMU data dir per --samu_langs language (pl: a language
    CoVoST-2 lacks), with no CoVoST-2 dev/test clip and at most --samu_hours hours each."""
    release = make_commonvoice_release(tmp_path / "corpus")
    recipe = recipe_copy(tmp_path, "covost2")
    hours = "0.0005"  # 1.8 s
    result = run(["./run.sh", "--stage", "1", "--stop_stage", "1", "--src_langs", "fr de", "--samu_data",
                  "commonvoice", "--samu_langs", "fr pl", "--samu_hours", hours, "--seed", "1",
                  "--covost2", str(release.covost_dir), "--commonvoice", str(release.commonvoice_dir)], recipe)
    assert result.returncode == 0, result.stdout + result.stderr
    for lang in ("fr", "pl"):
        clips = {Path(p).name for p in read_kv(recipe / "data" / f"commonvoice_{lang}_{hours}h" / "wav.scp").values()}
        assert clips and clips <= set(release.usable[lang]) and not clips & release.held_out.get(lang, set())
        assert sum(release.usable[lang][clip] for clip in clips) <= float(hours) * 3600
        assert f"data/commonvoice_{lang}_{hours}h: OK" in result.stderr
    assert "Common Voice fr: selected" in result.stderr


def test_commonvoice_samu_wiring(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path]) -> None:
    """Stages 2-3 with --samu_data commonvoice: the Common Voice sets are dumped, embedded and combined into the
    SAMU training dump; SAMU is validated on the CoVoST-2 dev sets of its languages CoVoST-2 has here."""
    env, calls_file = recorded_calls
    recipe = recipe_copy(tmp_path, "covost2")
    result = run(["./run.sh", "--stage", "2", "--stop_stage", "3", "--src_langs", "fr de", "--samu_data",
                  "commonvoice", "--samu_langs", "fr pl", "--samu_hours", "10"], recipe, env)
    assert result.returncode == 0, result.stdout + result.stderr
    by_name: dict[str, list[list[str]]] = {}
    for call in calls_of(calls_file):
        by_name.setdefault(call[0], []).append(call[1:])
    (dump_call,) = by_name["dump_audio"]
    assert {"data/commonvoice_fr_10h", "data/commonvoice_pl_10h"} <= set(dump_call)
    assert {"dump/commonvoice_fr_10h", "dump/commonvoice_pl_10h"} <= set(by_name["embed_teacher"][0])
    assert by_name["combine_data"][:2] == [
        ["--output_dir", "dump/samu_train_commonvoice_fr.pl_10h", "dump/commonvoice_fr_10h", "dump/commonvoice_pl_10h"],
        ["--output_dir", "dump/samu_dev_commonvoice_fr.pl_10h", "dump/dev_fr_en"]]
    (samu_train,) = by_name["samu_train"]
    assert samu_train[samu_train.index("--output_dir") + 1] == "exp/samu_train_samu_commonvoice_fr.pl_10h"
    for options, message in ((["--samu_hours", "10"], "--samu_hours needs --samu_data commonvoice"),
                             (["--samu_data", "commonvoice", "--samu_langs", "pl"], "no CoVoST-2 dev set"),
                             (["--samu_data", "cv"], "--samu_data: covost or commonvoice, not 'cv'"),
                             (["--samu_data", "commonvoice", "--samu_hours", "0"], "a positive number of hours")):
        result = run(["./run.sh", "--stage", "2", "--src_langs", "fr de", *options], recipe, env)
        assert result.returncode == 1 and message in result.stderr, result.stderr
    result = run(["./run.sh", "--stage", "2", "--src_langs", "fr", "--tgt_langs", "en", "--samu_data", "commonvoice"],
                 recipe_copy(tmp_path, "europarl_st"), env)
    assert result.returncode == 1 and "only a CoVoST-2 recipe (egs/covost2) prepares Common Voice" in result.stderr


def test_stage_1_europarl_st_fixture(tmp_path: Path, europarl_st_corpus: EuroparlStCorpus) -> None:
    recipe = recipe_copy(tmp_path, "europarl_st")
    result = run(["./run.sh", "--stage", "1", "--stop_stage", "1", "--src_langs", "fr", "--tgt_langs", "en",
                  "--europarl_st", str(europarl_st_corpus.europarl_dir)], recipe)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (recipe / "data").iterdir()) == sorted(europarl_st_corpus.expected)
    for name, expected in europarl_st_corpus.expected.items():
        assert sorted(read_kv(recipe / "data" / name / "text.en")) == sorted(expected.stage1)


# ---------------------------------------------------------------------------------------------- download_corpus

def refuse(url: str, timeout: float) -> None:
    """An urlopen for a machine without network."""
    raise urllib.error.URLError("Network is unreachable")


def test_download_covost2_offline_prints_manual_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(SystemExit) as exit_info:
        download_corpus.main(["--corpus", "covost2", "--output_dir", str(tmp_path), "--src_langs", "fr zh"])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "Network is unreachable" in out
    assert "wget https://dl.fbaipublicfiles.com/covost/covost_v2.fr_en.tsv.tar.gz" in out
    assert "wget https://dl.fbaipublicfiles.com/covost/covost_v2.zh-CN_en.tsv.tar.gz" in out
    assert f"tar -xzf <archive> -C {tmp_path / 'covost2'}" in out
    assert "Common Voice Corpus 4 (cv-corpus-4-2019-12-10)" in out
    assert str(tmp_path / "commonvoice" / "zh-CN" / "validated.tsv") in out
    assert str(tmp_path / "commonvoice" / "fr" / "clips") in out
    assert "COVOST2 in db.sh" in out and "COMMONVOICE in db.sh" in out
    assert not list((tmp_path / "covost2").glob("*")), "an unreachable download left a file behind"


def test_download_covost2_present_needs_no_network(covost2_corpus: Covost2Corpus, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("tried the network"))
    download_corpus.main(["--corpus", "covost2", "--output_dir", str(tmp_path), "--src_langs", "fr", "de",
                          "--covost_dir", str(covost2_corpus.covost_dir),
                          "--commonvoice_dir", str(covost2_corpus.commonvoice_dir)])


def test_download_covost2_fetches_and_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture) -> None:
    """The TSV archive is downloaded and extracted; Common Voice still needs the manual step."""
    archive = io.BytesIO()
    payload = b"path\tsentence\ttranslation\tclient_id\tsplit\n"
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("covost_v2.fr_en.tsv")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    urls = []

    class Response(io.BytesIO):
        headers = {"Content-Length": str(len(archive.getvalue()))}

    def fake_urlopen(url: str, timeout: float) -> Response:
        urls.append(url)
        return Response(archive.getvalue())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    with pytest.raises(SystemExit) as exit_info:
        download_corpus.main(["--corpus", "covost2", "--output_dir", str(tmp_path), "--src_langs", "fr"])
    assert exit_info.value.code == 1
    assert urls == ["https://dl.fbaipublicfiles.com/covost/covost_v2.fr_en.tsv.tar.gz"]
    assert (tmp_path / "covost2" / "covost_v2.fr_en.tsv").read_bytes() == payload
    assert sorted(p.name for p in (tmp_path / "covost2").iterdir()) == ["covost_v2.fr_en.tsv"]
    out = capsys.readouterr().out
    assert "1 manual step(s)" in out and "Common Voice Corpus 4" in out and "wget" not in out


def test_download_europarl_st_offline_and_present(tmp_path: Path, europarl_st_corpus: EuroparlStCorpus,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    with pytest.raises(SystemExit) as exit_info:
        download_corpus.main(["--corpus", "europarl_st", "--output_dir", str(tmp_path)])
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert "wget https://www.mllp.upv.es/europarl-st/v1.1.tar.gz" in out
    assert f"tar -xzf v1.1.tar.gz -C {tmp_path / 'europarl_st'}" in out
    assert "EUROPARL_ST in db.sh" in out
    # the fixture holds fr->en only: present for that direction, no network needed
    download_corpus.main(["--corpus", "europarl_st", "--europarl_dir", str(europarl_st_corpus.europarl_dir),
                          "--src_langs", "fr", "--tgt_langs", "en"])


def test_multi_node_training_wiring(tmp_path: Path, recorded_calls: tuple[dict[str, str], Path],
                                    fake_slurm: tuple[dict[str, str], Path]) -> None:
    """./run.sh --num_nodes 2 --ngpu 4: one srun task per node, ESPnet's slurm launcher, a rendezvous file."""
    env, calls_file = recorded_calls
    slurm_env, record = fake_slurm
    srun = Path(slurm_env["PATH"].split(":")[0]) / "srun"
    srun.write_text('#!/usr/bin/env bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')  # one node here
    srun.chmod(0o755)
    recipe = recipe_copy(tmp_path, "covost2")
    args = ["./run.sh", "--stage", "4", "--stop_stage", "4", "--src_langs", "fr", "--num_nodes", "2", "--ngpu", "4"]
    result = run(args, recipe, env)
    assert result.returncode == 1 and "--num_nodes 2 needs --backend slurm" in result.stderr

    (recipe / "cmd.sh").unlink()
    (recipe / "cmd.sh").write_text('train_cmd="../../tools/dispatch.sh --backend slurm"\n'
                                   'decode_cmd="../../tools/dispatch.sh --backend local"\n')
    result = run(args, recipe, {**env, "PATH": slurm_env["PATH"]})
    assert result.returncode == 0, result.stdout + result.stderr
    (st_train,) = [call[1:] for call in calls_of(calls_file) if call[0] == "st_train"]
    assert st_train[-8:] == ["--ngpu", "4", "--multiprocessing_distributed", "true", "--dist_launcher", "slurm",
                             "--dist_init_method", f"file://{recipe}/exp/st_train_st_samu_adapter_fr-en/.dist_init"]
    sbatch = record.read_text().splitlines()
    assert {"--nodes=2", "--ntasks-per-node=1", "--gres=gpu:4"} <= set(sbatch)

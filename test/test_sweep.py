"""Sweeps (sst.eval.sweep, sst.bin.sweep): the runs they plan, the table and plot they write from each run's
results.json, and a sweep run twice over a recipe whose second run redoes nothing."""
from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from sst.bin import sweep as sweep_cli
from sst.eval.sweep import Run, collect, plan_runs, sweep_name, write_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plan_runs_one_experiment_per_value_and_seed() -> None:
    runs = plan_runs("samu_hours", ["0.1", "0.3"], ["--stage", "2", "--nj", "2"], seeds=["0", "1"])
    assert runs == [
        Run("0.1", "0", "samu_hours_0.1_seed0", ("./run.sh", "--stage", "2", "--nj", "2", "--samu_hours", "0.1",
                                                 "--st_tag", "samu_hours_0.1_seed0", "--seed", "0")),
        Run("0.1", "1", "samu_hours_0.1_seed1", ("./run.sh", "--stage", "2", "--nj", "2", "--samu_hours", "0.1",
                                                 "--st_tag", "samu_hours_0.1_seed1", "--seed", "1")),
        Run("0.3", "0", "samu_hours_0.3_seed0", ("./run.sh", "--stage", "2", "--nj", "2", "--samu_hours", "0.3",
                                                 "--st_tag", "samu_hours_0.3_seed0", "--seed", "0")),
        Run("0.3", "1", "samu_hours_0.3_seed1", ("./run.sh", "--stage", "2", "--nj", "2", "--samu_hours", "0.3",
                                                 "--st_tag", "samu_hours_0.3_seed1", "--seed", "1"))]
    # without seeds: one run per value, the recipe's own seed; a value with spaces is one argument
    (xlsr_samu, samu) = plan_runs("--encoders", ["xlsr samu", "samu"], [])
    assert xlsr_samu.command == ("./run.sh", "--encoders", "xlsr samu", "--st_tag", "encoders_xlsr_samu")
    assert samu.tag == "encoders_samu" and samu.seed is None


def test_plan_runs_puts_a_value_inside_the_recipe_options_st_args() -> None:
    """A templated value is appended to the --st_args the recipe options already give (the last of them,
    which is the one the recipe reads); the tag is named after the template."""
    template = "--model_conf encoder_adapter_dim={}"
    assert sweep_name("st_args", template) == "model_conf_encoder_adapter_dim"
    runs = plan_runs("st_args", ["8", "128"], ["--st_args", "--max_epoch 1", "--stage", "4",
                                               "--st_args=--max_epoch 2"], template=template)
    assert [run.command for run in runs] == [
        ("./run.sh", "--stage", "4", "--st_args", "--max_epoch 2 --model_conf encoder_adapter_dim=8",
         "--st_tag", "model_conf_encoder_adapter_dim_8"),
        ("./run.sh", "--stage", "4", "--st_args", "--max_epoch 2 --model_conf encoder_adapter_dim=128",
         "--st_tag", "model_conf_encoder_adapter_dim_128")]
    (run,) = plan_runs("st_args", ["16"], [], template=template, name="adapter")
    assert run.command == ("./run.sh", "--st_args", "--model_conf encoder_adapter_dim=16", "--st_tag", "adapter_16")


@pytest.mark.parametrize(("args", "message"), [
    ((["--st_tag", "mine"], []), "the recipe options set --st_tag, which the sweep sets for each run"),
    ((["--st_exp", "exp/x"], []), "the recipe options set --st_exp"),
    ((["--samu_hours=2"], []), "the recipe options set --samu_hours"),
    ((["--seed", "3"], ["0", "1"]), "the recipe options set --seed"),
])
def test_plan_runs_refuses_options_the_sweep_owns(args: tuple[list[str], list[str]], message: str) -> None:
    recipe_args, seeds = args
    with pytest.raises(ValueError, match=message):
        plan_runs("samu_hours", ["1", "2"], recipe_args, seeds=seeds)


def test_plan_runs_refuses_values_that_share_a_tag() -> None:
    with pytest.raises(ValueError, match="share the experiment tag encoders_xlsr_samu: give distinct --values"):
        plan_runs("encoders", ["xlsr samu", "xlsr_samu"], [])
    with pytest.raises(ValueError, match="no {} for the value"):
        plan_runs("st_args", ["8"], [], template="--model_conf encoder_adapter_dim=8")


def fake_results(exp_dir: Path, seen: tuple[float, float, float] | None, zero_shot: tuple[float, float, float],
                 ) -> None:
    """A results.json as stage 6 writes it: (BLEU, chrF++, off-target %) of the seen and zero-shot averages of
    decode_st (without ``seen``: one average over all, no seen split), and a longform tag the sweep does not read."""
    def average(values: tuple[float, float, float]) -> dict:
        bleu, chrf, off_target = values
        return {"n_directions": 2, "BLEU": bleu, "chrF++": chrf,
                "diagnostics": {"off_target": off_target, "source_language": 1.0}}
    averages = {"avg seen": average(seen), "avg zero-shot": average(zero_shot)} if seen else {}
    averages["avg all"] = average(zero_shot)
    exp_dir.mkdir(parents=True)
    (exp_dir / "results.json").write_text(json.dumps({"tags": {
        "decode_st": {"directions": {}, "averages": averages},
        "decode_st_longform": {"directions": {}, "averages": {"avg all": average((1.0, 2.0, 3.0))}}}}))


def test_table_and_plot_from_each_runs_results(tmp_path: Path) -> None:
    """Two passes (mini_st's encoders) x two adapter sizes x two seeds: mean ± std per column, the other
    sweep's and the longform results left out."""
    exp = tmp_path / "exp"
    runs = plan_runs("st_args", ["8", "32"], [], seeds=["0", "1"], template="--x {}", name="dim")
    scores = {("xlsr_adapter", "8"): [(40.0, 60.0, 2.0), (20.0, 30.0, 10.0)],
              ("xlsr_adapter", "32"): [(44.0, 64.0, 1.0), (42.0, 62.0, 3.0)],
              ("samu_adapter", "8"): [(50.0, 70.0, 0.0), (52.0, 72.0, 0.0)],
              ("samu_adapter", "32"): [(56.0, 76.0, 0.0), (58.0, 78.0, 2.0)]}
    for (experiment, value), per_seed in scores.items():
        for seed, zero_shot in enumerate(per_seed):
            seen = tuple(score + 20.0 for score in zero_shot)
            suffix = "_trimmed" if experiment == "samu_adapter" else ""
            fake_results(exp / f"st_{experiment}_dim_{value}_seed{seed}{suffix}", seen, zero_shot)
    fake_results(exp / "st_xlsr_adapter_dim_3_seed0", None, (0.0, 0.0, 0.0))  # a value this sweep does not run
    points = collect(runs, exp)
    assert [(point.experiment, point.value, point.seeds) for point in points] == [
        ("samu_adapter", "8", ["0", "1"]), ("samu_adapter", "32", ["0", "1"]),
        ("xlsr_adapter", "8", ["0", "1"]), ("xlsr_adapter", "32", ["0", "1"])]
    paths = write_outputs(points, "dim", "python -m sst.bin.sweep ...", tmp_path / "out")

    table = json.loads(paths["json"].read_text())
    assert table["command"] == "python -m sst.bin.sweep ..." and table["option"] == "dim"
    rows = {(row["experiment"], row["value"]): row["scores"] for row in table["rows"]}
    xlsr_8 = rows["xlsr_adapter", "8"]
    assert list(xlsr_8) == ["seen BLEU", "seen chrF++", "seen off-target %", "zero-shot BLEU", "zero-shot chrF++",
                            "zero-shot off-target %"]
    assert xlsr_8["zero-shot BLEU"] == {"mean": 30.0, "std": pytest.approx(statistics.stdev([40.0, 20.0])),
                                        "values": [40.0, 20.0]}
    assert xlsr_8["seen BLEU"]["mean"] == 50.0
    assert xlsr_8["zero-shot off-target %"]["mean"] == 6.0
    assert rows["samu_adapter", "32"]["zero-shot chrF++"]["values"] == [76.0, 78.0]

    markdown = paths["md"].read_text()
    assert "Made by `python -m sst.bin.sweep ...`." in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| experiment"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == [
        "experiment", "dim", "seeds", "seen BLEU", "seen chrF++", "seen off-target %", "zero-shot BLEU",
        "zero-shot chrF++", "zero-shot off-target %"]
    row = next(line for line in markdown.splitlines() if line.startswith("| xlsr_adapter | 8 "))
    assert [cell.strip() for cell in row.strip("|").split("|")] == [
        "xlsr_adapter", "8", "0 1", "50.0 ± 14.1", "65.0 ± 21.2", "26.0 ± 5.7", "30.0 ± 14.1", "45.0 ± 21.2",
        "6.0 ± 5.7"]

    assert paths["png"].read_bytes().startswith(PNG_MAGIC)
    image = matplotlib.image.imread(paths["png"])
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 3 * 400  # three panels side by side


def test_table_without_seen_split_or_seeds_reads_avg_all(tmp_path: Path) -> None:
    exp = tmp_path / "exp"
    runs = plan_runs("encoders", ["xlsr", "samu"], [])
    fake_results(exp / "st_encoders_xlsr", None, (10.0, 20.0, 5.0))
    fake_results(exp / "st_encoders_samu", None, (15.0, 25.0, 4.0))
    paths = write_outputs(collect(runs, exp), "encoders", "sweep", tmp_path / "out")
    rows = json.loads(paths["json"].read_text())["rows"]
    assert [(row["experiment"], row["value"], row["seeds"]) for row in rows] == [("", "xlsr", [""]), ("", "samu", [""])]
    assert rows[1]["scores"]["all BLEU"] == {"mean": 15.0, "std": None, "values": [15.0]}
    row = next(line for line in paths["md"].read_text().splitlines() if line.startswith("| samu "))
    assert [cell.strip() for cell in row.strip("|").split("|")] == ["samu", "-", "15.0", "25.0", "4.0"]
    assert matplotlib.image.imread(paths["png"]).ndim == 3


def test_a_run_without_results_is_named(tmp_path: Path) -> None:
    runs = plan_runs("encoders", ["xlsr"], ["--stop_stage", "4"])
    with pytest.raises(FileNotFoundError, match=r"no st_\*encoders_xlsr/results.json; did `./run.sh --stop_stage 4 "
                                                r"--encoders xlsr --st_tag encoders_xlsr` run to stage 6\?"):
        collect(runs, tmp_path / "exp")


# A stand-in recipe: it scores real decode dirs with sst.bin.score (stage 6) into exp/st_<st_tag>, their quality
# set by the adapter size of --st_args and the seed, and, as the real recipe's provenance records do, keeps an
# experiment made from the same options (logging "kept") and makes it again otherwise ("trained").
STUB_RECIPE = r'''#!PYTHON
import json, os, subprocess, sys
from pathlib import Path
from sst.testing.decode_dirs import write_decode_dir
from sst.testing.sentences import SENTENCES

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
exp = Path("exp") / f"st_{args['--st_tag']}"
made_from = exp / "made_from.json"
with open("calls.log", "a") as log:
    if made_from.is_file() and json.loads(made_from.read_text()) == sys.argv[1:] and (exp / "results.json").is_file():
        log.write(f"kept {exp.name}\n")
        sys.exit(0)
    log.write(f"trained {exp.name}\n")
dim = int(args["--st_args"].split("encoder_adapter_dim=")[1])
correct = min(12, dim // 4 + int(args["--seed"]))  # of the 12 sentences, translated; the others copy the source
decode_dirs = []
for src, shift in (("fr", 0), ("de", 2)):  # fr is seen, de zero-shot (two sentences fewer)
    hyps = [SENTENCES["en"][i] if i < correct - shift else SENTENCES[src][i] for i in range(12)]
    decode_dirs.append(str(write_decode_dir(exp / "decode_st" / f"test_{src}_en", src, "en", hyps,
                                            SENTENCES["en"][:12])))
subprocess.run([sys.executable, "-m", "sst.bin.score", "--exp_dir", str(exp), "--decode_dirs", *decode_dirs,
                "--seen_langs", "fr", "--corpus", "none"], check=True,
               stdout=subprocess.DEVNULL)
made_from.write_text(json.dumps(sys.argv[1:]))
'''


@pytest.mark.slow
def test_sweep_over_two_values_writes_table_and_plot_and_a_second_run_redoes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """python -m sst.bin.sweep over two adapter sizes x two seeds of a stand-in recipe scored by the real stage
    6: the table holds each run's results.json averages (mean, std over the seeds) and off-target rates, the
    plot is a PNG, and a second sweep gives the recipe the very same commands, so its provenance keeps every
    experiment (nothing trained, no results.json rewritten) and the table is the same.

    That the real recipe skips an unchanged experiment given the same command is shown by its steps' own
    tests: test_recipe_shell.py::test_stages_1_2_on_fixture_corpora_then_rerun_skips (stages 1-2 through
    run.sh), test_entry_points.py::test_samu_train_rerun_does_nothing (stage 3),
    ::test_st_train_with_another_pack_repacks_without_training and
    ::test_training_into_an_experiment_of_other_data_stops_in_one_line (stage 4: an experiment is never
    retrained, nor reused for other options), ::test_st_inference_killed_midway_resumes_with_only_the_missing_
    utterances (stage 5); test_recipe_shell.py::test_mini_st_sweep_tag_names_each_pass_experiment (mini_st
    gives each run its own experiments)."""
    recipe = tmp_path / "recipe"
    recipe.mkdir()
    run_sh = recipe / "run.sh"
    run_sh.write_text(STUB_RECIPE.replace("PYTHON", sys.executable))
    run_sh.chmod(0o755)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(sweep_cli.__file__).parents[2]),
                                                                   os.environ.get("PYTHONPATH")])))
    argv = ["--recipe", str(recipe), "--option", "st_args", "--template", "--model_conf encoder_adapter_dim={}",
            "--values", "8", "32", "--seeds", "0", "1", "--name", "adapter", "--", "--st_args", "--max_epoch 1"]
    sweep_cli.main(argv)
    printed = capsys.readouterr().out
    tags = ["st_adapter_8_seed0", "st_adapter_8_seed1", "st_adapter_32_seed0", "st_adapter_32_seed1"]
    assert (recipe / "calls.log").read_text().split("\n") == [f"trained {tag}" for tag in tags] + [""]
    out = recipe / "exp" / "sweep_adapter"
    assert sorted(path.name for path in (out / "logs").iterdir()) == sorted(f"{tag[3:]}.log" for tag in tags)
    assert printed == (out / "sweep.md").read_text()
    assert f"Made by `python -m sst.bin.sweep {shlex.join(argv)}`." in printed
    assert json.loads((recipe / "exp" / tags[0] / "made_from.json").read_text()) == [
        "--st_args", "--max_epoch 1 --model_conf encoder_adapter_dim=8", "--st_tag", "adapter_8_seed0", "--seed", "0"]

    table = json.loads((out / "sweep.json").read_text())
    assert [(row["value"], row["seeds"]) for row in table["rows"]] == [("8", ["0", "1"]), ("32", ["0", "1"])]
    for row in table["rows"]:
        results = [json.loads((recipe / "exp" / f"st_adapter_{row['value']}_seed{seed}" / "results.json").read_text())
                   ["tags"]["decode_st"]["averages"] for seed in row["seeds"]]
        for label in ("seen", "zero-shot"):
            bleu = [averages[f"avg {label}"]["BLEU"] for averages in results]
            assert row["scores"][f"{label} BLEU"] == {"mean": pytest.approx(statistics.mean(bleu)),
                                                      "std": pytest.approx(statistics.stdev(bleu)), "values": bleu}
            chrf = [averages[f"avg {label}"]["chrF++"] for averages in results]
            assert row["scores"][f"{label} chrF++"]["values"] == chrf
    # 8: 2 (seed 0) or 3 (seed 1) of 12 seen hypotheses are English, the others French; zero-shot two fewer
    off_target = {row["value"]: row["scores"]["seen off-target %"]["mean"] for row in table["rows"]}
    assert off_target["8"] == pytest.approx(100 * (10 + 9) / 2 / 12, abs=100 / 12)
    assert off_target["32"] == pytest.approx(100 * (4 + 3) / 2 / 12, abs=100 / 12)
    zero_shot_bleu = {row["value"]: row["scores"]["zero-shot BLEU"]["mean"] for row in table["rows"]}
    assert zero_shot_bleu["32"] > zero_shot_bleu["8"]
    assert matplotlib.image.imread(out / "sweep.png").ndim == 3

    stamps = {path: path.stat().st_mtime_ns for path in (recipe / "exp").rglob("*")
              if path.is_file() and "sweep_adapter" not in path.parts}
    sweep_cli.main(argv)
    assert capsys.readouterr().out == printed
    assert (recipe / "calls.log").read_text().split("\n") == (
        [f"trained {tag}" for tag in tags] + [f"kept {tag}" for tag in tags] + [""])
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps
    assert json.loads((out / "sweep.json").read_text()) == table


# mini_st's run.sh as local/sweep_adapters.sh sees it: it records its options and, for a run of stage 4 on,
# writes a results.json per encoder pass, BLEU = adapter size / 4 + seed (xlsr) and 10 more (samu).
MINI_ST_STUB = r'''#!PYTHON
import json, sys
from pathlib import Path

with open("calls.jsonl", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\n")
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
if "--st_tag" in args:
    bleu = int(args["--st_args"].split("encoder_adapter_dim=")[1]) / 4 + int(args["--seed"])
    for encoder, gain in (("xlsr", 0), ("samu", 10)):
        exp = Path("exp") / f"st_{encoder}_adapter_{args['--st_tag']}"
        exp.mkdir(parents=True, exist_ok=True)
        averages = {label: {"BLEU": bleu + gain - shift, "chrF++": 2 * bleu}
                    for label, shift in (("avg seen", 0), ("avg zero-shot", 5))}
        (exp / "results.json").write_text(json.dumps({"tags": {"decode_st": {"averages": averages}}}))
'''


@pytest.mark.slow
def test_mini_st_sweep_adapters_runs_stages_0_3_once_then_each_size_and_seed(tmp_path: Path) -> None:
    """local/sweep_adapters.sh: stages 0-3 once, then stages 4-6 per size and seed, each with its own --st_tag
    and the size inside --st_args, the run.sh options after -- given to every run; the table names the
    script's command and holds both encoders."""
    recipe = tmp_path / "egs" / "mini_st"
    (recipe / "local").mkdir(parents=True)
    script = Path(sweep_cli.__file__).parents[2] / "egs" / "mini_st" / "local" / "sweep_adapters.sh"
    (recipe / "local" / script.name).write_bytes(script.read_bytes())
    (recipe / "local" / script.name).chmod(0o755)
    (recipe / "db.sh").write_text("")
    (recipe / "path.sh").write_text("")
    (recipe / "run.sh").write_text(MINI_ST_STUB.replace("PYTHON", sys.executable))
    (recipe / "run.sh").chmod(0o755)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(script.parents[3]))
    result = subprocess.run(["local/sweep_adapters.sh", "--sizes", "8 32", "--seeds", "0 1", "--", "--nj", "1"],
                            cwd=recipe, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [json.loads(line) for line in (recipe / "calls.jsonl").read_text().splitlines()]
    assert calls[0] == ["--stop_stage", "3", "--nj", "1"]
    assert calls[1:] == [["--stage", "4", "--nj", "1", "--st_args", f"--model_conf encoder_adapter_dim={size}",
                          "--st_tag", f"encoder_adapter_dim_{size}_seed{seed}", "--seed", seed]
                         for size in ("8", "32") for seed in ("0", "1")]
    markdown = (recipe / "local" / "sweep_adapters" / "sweep.md").read_text()
    assert result.stdout == markdown
    assert ('Made by `cd egs/mini_st && local/sweep_adapters.sh --sizes "8 32" --seeds "0 1" '
            "--output local/sweep_adapters -- --nj 1`.") in markdown
    rows = {(row["experiment"], row["value"]): row["scores"] for row in
            json.loads((recipe / "local" / "sweep_adapters" / "sweep.json").read_text())["rows"]}
    assert list(rows) == [("samu_adapter", "8"), ("samu_adapter", "32"), ("xlsr_adapter", "8"), ("xlsr_adapter", "32")]
    assert rows["samu_adapter", "32"]["zero-shot BLEU"]["values"] == [13.0, 14.0]
    assert rows["xlsr_adapter", "8"]["seen BLEU"]["mean"] == 2.5
    assert (recipe / "local" / "sweep_adapters" / "sweep.png").read_bytes().startswith(PNG_MAGIC)

"""A recipe over the values of one option, each value (and seed) in its own experiment, then one table
(Markdown and JSON) and one PNG plot of the seen / zero-shot BLEU, chrF++ and off-target rate against it.

    python -m sst.bin.sweep --recipe egs/mini_st --option samu_hours --values 0.1 0.3 [--seeds 0 1 2] \
        [--out DIR] [--decode_tag decode_st] -- <more run.sh options>
    python -m sst.bin.sweep --recipe egs/mini_st --option st_args \
        --template "--model_conf encoder_adapter_dim={}" --values 8 32 128 -- --stage 4

Each run is ``./run.sh <more options> --<option> <value> --st_tag <name>_<value>[_seed<S>] [--seed S]`` in
the recipe folder (logs: ``<recipe>/exp/sweep_<name>/logs/<tag>.log``); an ``*_args`` option gets the
template with the value appended to its own value among the run.sh options. Run again, the same commands run again and the
recipe skips every finished step by its provenance records. Writes ``<out>/sweep.md``, ``sweep.json`` and
``sweep.png`` (default out: ``<recipe>/exp/sweep_<name>``) and prints the Markdown table.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

from sst.eval.sweep import execute, plan_runs, summarize, sweep_name


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    own, recipe_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", type=Path, required=True, help="recipe folder (with run.sh)")
    parser.add_argument("--option", required=True, help="run.sh option to sweep, without '--' (e.g. samu_hours)")
    parser.add_argument("--values", nargs="+", required=True, help="its values, one run each")
    parser.add_argument("--template", default="{}",
                        help='what the option gets, {} standing for the value, e.g. "--model_conf encoder_adapter_dim={}" '
                             "for --option st_args [{}]")
    parser.add_argument("--name", default=None,
                        help="name of the swept quantity in tags and table [the option, or the template's text]")
    parser.add_argument("--seeds", nargs="+", default=[], help="run each value once per seed (run.sh --seed)")
    parser.add_argument("--out", type=Path, default=None, help="table and plot folder [<recipe>/exp/sweep_<name>]")
    parser.add_argument("--command", default=None,
                        help="the command the table names as its maker [this python -m sst.bin.sweep command]")
    parser.add_argument("--decode_tag", default=None,
                        help="the results.json decode tag to read [the first, e.g. decode_st]")
    args = parser.parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not (args.recipe / "run.sh").is_file():
        raise FileNotFoundError(f"--recipe {args.recipe}: no run.sh there")
    name = sweep_name(args.option, args.template, args.name)
    sweep_dir = args.recipe / "exp" / f"sweep_{name}"
    runs = plan_runs(args.option, args.values, recipe_args, args.seeds, args.template, name)
    execute(runs, args.recipe, sweep_dir / "logs")
    out = args.out or sweep_dir
    command = args.command or shlex.join(["python", "-m", "sst.bin.sweep", *argv])
    paths = summarize(runs, args.recipe / "exp", name, command, out, args.decode_tag)
    print(paths["md"].read_text(encoding="utf-8"), end="")
    logging.info("wrote %s", ", ".join(str(path) for path in paths.values()))


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

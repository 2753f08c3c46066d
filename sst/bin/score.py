"""Stage 6: score decode dirs with sacreBLEU and write RESULTS.md + results.json into the experiment dir.

    python -m sst.bin.score --exp_dir exp/st_x --decode_dirs exp/st_x/decode_test/test_fr_en ... \
        [--seen_langs "fr de es ca"] [--corpus covost2] [--baseline_exp_dir exp/st_baseline] [--bootstrap_samples 1000]
        [--lid_langs "fr de es ca en"]
    python -m sst.bin.score --side_by_side exp/st_samu exp/st_xlsr [--output FILE] [--metrics BLEU chrF++ off_target]

The first form prints the Markdown tables and writes ``<exp_dir>/RESULTS.md`` and ``<exp_dir>/results.json``
(and the model card ``<exp_dir>/packed/README.md`` again, with the results);
the second reads the experiments' results.json and prints (and with --output writes) their BLEU (or the
--metrics, scores and diagnostics) side by side.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
import shlex
import sys
from pathlib import Path

import sacrebleu

from sst.eval.diagnostics import DIAGNOSTICS
from sst.eval.scoring import CORPUS_GROUPS, METRICS, results_markdown, score_experiment, side_by_side_markdown
from sst.models.model_card import refresh_model_card


def _split_langs(values: list[str] | None) -> list[str] | None:
    """``--seen_langs "fr de"`` and ``--seen_langs fr de`` both give ["fr", "de"]."""
    return None if values is None else [lang for value in values for lang in value.split()]


def _experiment_names(exp_dirs: list[Path]) -> list[str]:
    """Column names: the folder names, or the full paths when two folder names clash."""
    names = [path.name for path in exp_dirs]
    return names if len(set(names)) == len(names) else [str(path) for path in exp_dirs]


def side_by_side(exp_dirs: list[Path], output: Path | None, metrics: list[str]) -> str:
    """Markdown comparing ``metrics`` of the results.json of several experiments; written to ``output`` if given."""
    experiments = {}
    for name, exp_dir in zip(_experiment_names(exp_dirs), exp_dirs):
        path = exp_dir / "results.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run `python -m sst.bin.score --exp_dir {exp_dir} "
                                    f"--decode_dirs ...` first")
        experiments[name] = json.loads(path.read_text(encoding="utf-8"))
    markdown = side_by_side_markdown(experiments, metrics)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(markdown, encoding="utf-8")
        logging.info("wrote %s", output)
    return markdown


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--exp_dir", type=Path, help="experiment dir that receives RESULTS.md and results.json")
    mode.add_argument("--side_by_side", type=Path, nargs="+", metavar="EXP",
                      help="experiment dirs (each with results.json) to compare")
    parser.add_argument("--decode_dirs", type=Path, nargs="+", help="decode dirs (hyp, ref, utt2lang, utt2tgt_lang)")
    parser.add_argument("--seen_langs", nargs="+", default=None,
                        help='source languages seen in training, e.g. "fr de es ca" (default: all seen)')
    parser.add_argument("--corpus", choices=list(CORPUS_GROUPS), default="covost2",
                        help="how the averages group the directions: covost2 = the paper's high / mid / low "
                             "resource groups of X->En (and TRFGap); europarl_st = per source and per target "
                             "language; none = seen / zero-shot and all only [covost2]")
    parser.add_argument("--baseline_exp_dir", type=Path, default=None,
                        help="experiment with the same decode dirs, compared by paired bootstrap on BLEU")
    parser.add_argument("--bootstrap_samples", type=int, default=1000, help="paired bootstrap resamples")
    parser.add_argument("--lid_langs", nargs="+", default=None,
                        help='languages the diagnostics\' language identifier chooses among, e.g. the recipe\'s '
                             'sources and targets "fr de es ca en" (the scored directions\' languages are added; '
                             'default: all py3langid knows)')
    parser.add_argument("--output", type=Path, default=None, help="with --side_by_side: also write it here")
    parser.add_argument("--metrics", nargs="+", default=["BLEU"], choices=[*METRICS, *DIAGNOSTICS],
                        help="with --side_by_side: the scores and diagnostics compared [BLEU]")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.side_by_side:
        if args.decode_dirs or args.baseline_exp_dir or args.seen_langs or args.lid_langs:
            parser.error("--side_by_side only takes experiment dirs (and --output)")
        print(side_by_side(args.side_by_side, args.output, args.metrics), end="")
        return
    if not args.decode_dirs:
        parser.error("--exp_dir needs --decode_dirs")
    if args.output:
        parser.error("--output goes with --side_by_side; --exp_dir writes <exp_dir>/RESULTS.md")

    command = "python -m sst.bin.score " + shlex.join(sys.argv[1:] if argv is None else argv)
    results = score_experiment(args.decode_dirs, seen_langs=_split_langs(args.seen_langs),
                               baseline_exp_dir=args.baseline_exp_dir, bootstrap_samples=args.bootstrap_samples,
                               corpus=args.corpus, lid_langs=_split_langs(args.lid_langs))
    markdown = results_markdown(results, command)
    info = {"exp_dir": str(args.exp_dir), "command": command,
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "python_version": platform.python_version(), "sacrebleu_version": sacrebleu.__version__,
            "averaging": "plain unweighted mean of per-direction scores"}
    args.exp_dir.mkdir(parents=True, exist_ok=True)
    (args.exp_dir / "RESULTS.md").write_text(markdown, encoding="utf-8")
    (args.exp_dir / "results.json").write_text(json.dumps({**info, **results}, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    logging.info("wrote %s and %s", args.exp_dir / "RESULTS.md", args.exp_dir / "results.json")
    card = refresh_model_card(args.exp_dir)  # the packed model's card carries the results
    if card is not None:
        logging.info("wrote %s", card)
    print(markdown, end="")


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

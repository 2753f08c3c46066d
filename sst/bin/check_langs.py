"""Option check of a recipe's languages, before any stage runs: every direction of --src_langs x
--tgt_langs (source != target) exists in the corpus, and the mBART-50 decoder has a language code for
every target. Prints one line naming the option at fault and exits 1 otherwise.

    python -m sst.bin.check_langs --corpus covost2 --src_langs en --tgt_langs "de ja zh"
"""
from __future__ import annotations

import argparse
import sys
from itertools import product

from sst.data import covost2, europarl_st, langs
from sst.errors import ConfigError

DIRECTION_CHECKS = {"covost2": covost2.direction, "europarl_st": europarl_st.check_langs}


def check(corpus: str, src_langs: list[str], tgt_langs: list[str]) -> None:
    """ConfigError with one line if a direction is not in the corpus or a target has no mBART-50 code."""
    for src, tgt in product(src_langs, tgt_langs):
        if langs.normalize(src) != langs.normalize(tgt):
            DIRECTION_CHECKS[corpus](src, tgt)
    langs.check_targets(tgt_langs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=sorted(DIRECTION_CHECKS), required=True)
    parser.add_argument("--src_langs", required=True, help='source languages, e.g. "fr de"')
    parser.add_argument("--tgt_langs", required=True, help='target languages, e.g. "en" or "de ja"')
    args = parser.parse_args(argv)
    try:
        check(args.corpus, args.src_langs.split(), args.tgt_langs.split())
    except ConfigError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

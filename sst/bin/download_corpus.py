"""Stage 0: download what is public of a corpus; print the exact manual steps for what is not.

    python -m sst.bin.download_corpus --corpus covost2 --output_dir downloads --src_langs "fr de" --tgt_langs en
    python -m sst.bin.download_corpus --corpus europarl_st --output_dir downloads

CoVoST-2: the translation TSVs ``covost_v2.<src>_<tgt>.tsv`` come from dl.fbaipublicfiles.com; the audio is
Common Voice, which always needs a manual download (its terms are accepted on the Common Voice site).
CoVoST-2 was built on Common Voice Corpus 4, which is hard to get today; any later release works too (it
holds the same clips; the few it lacks are skipped and counted in stage 1). Europarl-ST v1.1 is one public archive. What is already in place is never downloaded again. The
exit status is 0 when everything is in place and 1 when something must still be done by hand (the steps
are printed).
"""
from __future__ import annotations

import argparse
import logging
import sys
import tarfile
import urllib.request
from itertools import product
from pathlib import Path

from tqdm import tqdm

from sst.data import covost2, europarl_st, langs
from sst.errors import ConfigError
from sst.io import atomic_open

COVOST_URL = "https://dl.fbaipublicfiles.com/covost/covost_v2.{src}_{tgt}.tsv.tar.gz"
EUROPARL_ST_URL = "https://www.mllp.upv.es/europarl-st/v1.1.tar.gz"
COMMONVOICE_VERSION = "Common Voice Corpus 4 (cv-corpus-4-2019-12-10) or any later release"
COMMONVOICE_SITE = "https://commonvoice.mozilla.org/en/datasets"


def download_and_extract(url: str, dest_dir: Path, timeout: float) -> None:
    """Download a .tar.gz archive into dest_dir, extract it there and delete it; OSError if that fails."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    archive = dest_dir / url.rsplit("/", 1)[1]
    logging.info("downloading %s", url)
    with urllib.request.urlopen(url, timeout=timeout) as response, atomic_open(archive, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=archive.name) as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
    logging.info("extracting %s into %s", archive, dest_dir)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest_dir, filter="data")
    except tarfile.TarError as error:
        raise OSError(f"{archive}: not a valid .tar.gz archive ({error})") from error
    archive.unlink()


def try_download(url: str, dest_dir: Path, timeout: float) -> str | None:
    """download_and_extract, returning None on success or the reason it failed."""
    try:
        download_and_extract(url, dest_dir, timeout)
    except OSError as error:
        logging.warning("could not download %s: %s", url, error)
        return str(error)
    return None


def covost2_steps(covost_dir: Path, commonvoice_dir: Path, src_langs: list[str], tgt_langs: list[str],
                  timeout: float) -> list[str]:
    """Fetch the missing CoVoST-2 TSVs; returns the manual steps still needed (TSVs, Common Voice clips)."""
    steps = []
    directions = [covost2.direction(s, t) for s, t in product(src_langs, tgt_langs) if s != t]
    failed, reason = [], None
    for src, tgt in directions:
        tsv = covost_dir / f"covost_v2.{src}_{tgt}.tsv"
        if tsv.is_file():
            logging.info("%s: already present", tsv)
            continue
        url = COVOST_URL.format(src=src, tgt=tgt)
        if reason is None:  # after one failure the network is taken to be unreachable
            reason = try_download(url, covost_dir, timeout)
            if reason is None and not tsv.is_file():
                reason = f"the archive has no {tsv.name}"
        if reason is not None:
            failed.append(url)
    if failed:
        steps.append(f"CoVoST-2 translations: the download failed ({reason}). Fetch these archives by hand:\n"
                     + "".join(f"    wget {url}\n" for url in failed)
                     + f"  and extract each into {covost_dir.resolve()}:\n"
                     + f"    tar -xzf <archive> -C {covost_dir.resolve()}\n"
                     + "  (the files are covost_v2.<src>_<tgt>.tsv; to keep them elsewhere set COVOST2 in db.sh "
                       "or pass --covost2 DIR to run.sh)")

    missing = []
    for src in sorted({src for src, _ in directions}):
        lang_dir = commonvoice_dir / src
        if (lang_dir / "validated.tsv").is_file() and (lang_dir / "clips").is_dir():
            logging.info("%s: Common Voice clips of %s present", lang_dir, src)
        else:
            missing.append(src)
    if missing:
        root = commonvoice_dir.resolve()
        steps.append(f"{COMMONVOICE_VERSION}, language(s) {' '.join(missing)}: CoVoST-2 is built on "
                     f"Common Voice 4, which must be downloaded by hand.\n"
                     f"  Get it from {COMMONVOICE_SITE} (\"Common Voice Corpus 4\" if it is still offered, "
                     f"else any later release, e.g. the newest: it holds the same clips and stage 1 skips and "
                     f"counts the few it lacks; accept the terms; one archive per language)\n"
                     f"  and extract each language so that these exist:\n"
                     + "".join(f"    {root / lang / 'validated.tsv'}\n    {root / lang / 'clips'}/  (the mp3 clips)\n"
                               for lang in missing)
                     + "  (to keep them elsewhere set COMMONVOICE in db.sh or pass --commonvoice DIR to run.sh)")
    return steps


def europarl_st_steps(europarl_dir: Path, src_langs: list[str], tgt_langs: list[str], timeout: float) -> list[str]:
    """Fetch Europarl-ST v1.1 unless it is present; returns the manual steps still needed."""
    directions = [europarl_st.check_langs(s, t) for s, t in product(src_langs, tgt_langs) if s != t]

    def missing() -> list[str]:
        root = europarl_st.release_dir(europarl_dir)
        return [f"{src}->{tgt}" for src, tgt in directions
                if not ((root / src / "audios").is_dir() and (root / src / tgt).is_dir())]

    if not missing():
        logging.info("%s: Europarl-ST v1.1 present", europarl_dir)
        return []
    if (europarl_dir / "v1.1").is_dir():  # never download the whole release again for a few directions
        why = f"{europarl_dir / 'v1.1'} lacks {' '.join(missing())} (an incomplete extraction?)"
    else:
        reason = try_download(EUROPARL_ST_URL, europarl_dir, timeout)
        if not missing():
            return []
        why = f"the download failed ({reason})" if reason else f"the archive lacks {' '.join(missing())}"
    root = europarl_dir.resolve()
    return [f"Europarl-ST v1.1: {why}. Fetch it by hand:\n"
            f"    wget {EUROPARL_ST_URL}\n"
            f"    tar -xzf v1.1.tar.gz -C {root}\n"
            f"  so that {root / 'v1.1' / '<src>' / 'audios'}/ and {root / 'v1.1' / '<src>' / '<tgt>'}/ exist "
            f"(needed: {' '.join(missing())})\n"
            "  (to keep it elsewhere set EUROPARL_ST in db.sh or pass --europarl_st DIR to run.sh)"]


def split_langs(values: list[str]) -> list[str]:
    """Language lists given either as several arguments or as one quoted string ("fr de"), normalized."""
    return [langs.normalize(code) for value in values for code in value.split()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=["covost2", "europarl_st"], required=True)
    parser.add_argument("--output_dir", type=Path, default=Path("downloads"),
                        help="where the corpora go: <output_dir>/covost2, /commonvoice, /europarl_st")
    parser.add_argument("--src_langs", nargs="+", default=None,
                        help='source languages, e.g. "fr de" (default: all of the corpus)')
    parser.add_argument("--tgt_langs", nargs="+", default=None,
                        help="target languages (default: en for covost2, all for europarl_st)")
    parser.add_argument("--covost_dir", type=Path, default=None, help="default: <output_dir>/covost2")
    parser.add_argument("--commonvoice_dir", type=Path, default=None, help="default: <output_dir>/commonvoice")
    parser.add_argument("--europarl_dir", type=Path, default=None, help="default: <output_dir>/europarl_st")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a silent connection fails")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    try:
        if args.corpus == "covost2":
            src = split_langs(args.src_langs or list(langs.COVOST2_X_TO_EN))
            tgt = split_langs(args.tgt_langs or ["en"])
            steps = covost2_steps(args.covost_dir or args.output_dir / "covost2",
                                  args.commonvoice_dir or args.output_dir / "commonvoice", src, tgt, args.timeout)
        else:
            src = split_langs(args.src_langs or list(langs.EUROPARL_ST_LANGS))
            tgt = split_langs(args.tgt_langs or list(langs.EUROPARL_ST_LANGS))
            steps = europarl_st_steps(args.europarl_dir or args.output_dir / "europarl_st", src, tgt, args.timeout)
    except ConfigError as error:
        parser.error(str(error))
    if steps:
        print(f"\n{args.corpus}: {len(steps)} manual step(s) needed, then run stage 0 again to check:\n")
        for number, step in enumerate(steps, 1):
            print(f"{number}. {step}\n")
        sys.exit(1)
    logging.info("%s: everything is in place", args.corpus)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

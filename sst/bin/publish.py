"""Publish a packed model on the Hugging Face hub: one hub-ready folder per repo, then the push.

    python -m sst.bin.publish --package exp/st_train_st_samu_adapter/packed --repo_id user/sst-mini \
        --encoder_repo_id user/samu-xlsr-mini [--output_dir publish] [--dry_run]

Writes ``<output_dir>/<repo_id>/``: the package with its model card (whose ``model-index`` carries BLEU and
chrF++ per direction from the experiment's results.json, so the hub shows the scores). An adapter-only
package whose encoder base is a local SAMU export needs ``--encoder_repo_id``: the export gets a folder
(and card) of its own, ``<output_dir>/<encoder_repo_id>/``, and the package names it by that id. Hub-id
bases (mBART-50) stay as they are. Without ``--dry_run`` each folder is pushed (``huggingface_hub``,
after ``hf auth login``), the encoder first. A published folder, or its hub id, loads with
``sst.Translator.from_pretrained`` and ``sst.bin.translate --model_dir``.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from sst.models.publishing import push_folders, write_publish_folders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, required=True, help="exp/<st_exp>/packed (or the experiment dir)")
    parser.add_argument("--repo_id", required=True, help="hub repo of the package, user/name")
    parser.add_argument("--encoder_repo_id", default=None,
                        help="hub repo for a local encoder base (the SAMU export) of an adapter-only package")
    parser.add_argument("--output_dir", type=Path, default=Path("publish"),
                        help="the folders go to <output_dir>/<repo_id> [publish]")
    parser.add_argument("--dry_run", action="store_true", help="write the folders only, push nothing")
    parser.add_argument("--private", action="store_true", help="create the repos private")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for option in ("repo_id", "encoder_repo_id"):
        value = getattr(args, option)
        if value is not None and (value.count("/") != 1 or value.startswith(".")):
            parser.error(f"--{option} {value}: give a hub repo id, user/name")

    folders = write_publish_folders(args.package, args.repo_id, args.output_dir, args.encoder_repo_id)
    for repo_id, folder in folders.items():
        logging.info("wrote %s for %s", folder, repo_id)
    if not args.dry_run:
        push_folders(folders, args.private)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

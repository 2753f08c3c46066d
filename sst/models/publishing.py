"""A packed model as hub-ready folders, one per Hugging Face repo (what ``sst.bin.publish`` writes and pushes).

The package's folder is the package (configs, tokenizer, ``model.pth``, ``package.json``) with its model card
(``README.md``, sst.models.model_card, with a ``model-index`` of the experiment's scores) and without what
only makes sense on this machine (``source.txt``, the checkpoint's path). An adapter-only package must name
its bases by hub id: a hub id stays; a local SAMU encoder (``exp/samu_x/encoder_hf``, a trained artifact
that exists nowhere else) becomes a folder of its own, with its own card, for ``encoder_repo_id``, and the
package names it by that id (digest unchanged: the same files). Another local base is refused in one line.
Offline, a published package loads once its repos are in the Hugging Face cache (``hf download <id>`` where
there is network, then copy the cache): a hub id is looked up there first (sst.models.hub).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import yaml

from sst.io import replace_dir, temp_path, write_text
from sst.models.model_card import CARD, MANIFEST, write_model_card
from sst.models.packing import located_base, package_dir, package_kind

# Files of a package or an encoder export that name paths of this machine.
LOCAL_FILES = ("source.txt", "sst_export.txt")


def _copy(source: Path, folder: Path) -> Path:
    """``source`` copied to a temporary sibling of ``folder`` without LOCAL_FILES; returns the copy."""
    tmp = temp_path(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns(*LOCAL_FILES))
    return tmp


def encoder_card(encoder: Path, encoder_repo_id: str, package_repo_id: str) -> str:
    """The card of a SAMU encoder published beside the package that uses it (Hugging Face front matter)."""
    from huggingface_hub import ModelCardData

    samu_config = encoder.parent / "config.yaml"  # the SAMU experiment that exported it (exp/samu_x)
    started = (yaml.safe_load(samu_config.read_text(encoding="utf-8")).get("model_conf") or {}).get(
        "encoder_model") if samu_config.is_file() else None
    data = ModelCardData(library_name="transformers", license="other", base_model=started,
                         tags=["sst", "samu-xls-r", "wav2vec2", "speech", "feature-extraction"])
    return "\n".join([
        "---", data.to_yaml(), "---", "", f"# {encoder_repo_id.split('/')[-1]}", "",
        "A SAMU-XLS-R speech encoder: a Wav2Vec2 / XLS-R model"
        + (f" (from `{started}`)" if started else "")
        + " distilled with the sst toolkit so that its attention-pooled utterance embedding matches a "
          "multilingual sentence encoder's embedding of the transcript (SAMU). It is the frozen encoder base of "
          f"the speech-translation adapters [`{package_repo_id}`](https://huggingface.co/{package_repo_id}), "
          "which record a digest of its weights and load it by this id.", "",
        "```python", "from transformers import Wav2Vec2Model", "",
        f'encoder = Wav2Vec2Model.from_pretrained("{encoder_repo_id}")', "```", ""])


def write_publish_folders(package: Path, repo_id: str, output_dir: Path, encoder_repo_id: str | None = None
                          ) -> dict[str, Path]:
    """Write the hub-ready folder of ``package`` (an experiment dir or its ``packed``) for ``repo_id`` into
    ``output_dir/<repo_id>``, and that of its local encoder base for ``encoder_repo_id``; returns repo id ->
    folder, the encoder first (the package names it). See the module doc."""
    packed = package_dir(Path(package))
    kind = package_kind(packed)
    if kind is None:
        raise FileNotFoundError(f"{package} holds no packed model (model.pth): run stage 4 to the end")
    folders: dict[str, Path] = {}
    tmp = _copy(packed, output_dir / repo_id)
    if kind == "adapters":
        manifest = json.loads((packed / MANIFEST).read_text(encoding="utf-8"))
        config = yaml.safe_load((packed / "config.yaml").read_text(encoding="utf-8"))
        for part, base in manifest["bases"].items():
            source = Path(located_base(base["from"], packed))
            if not source.is_dir():  # a hub id: the hub has it
                continue
            if part != "encoder" or not encoder_repo_id:
                shutil.rmtree(tmp)
                fix = ("give --encoder_repo_id user/name to publish it as its own repo" if part == "encoder"
                       else "publish a full package (stage 4 with --pack full) or train on a hub base")
                raise ValueError(f"{packed}: its {part} base {source} is a local directory the hub cannot name; {fix}")
            encoder = output_dir / encoder_repo_id
            encoder_tmp = _copy(source, encoder)
            write_text(encoder_tmp / CARD, encoder_card(source, encoder_repo_id, repo_id))
            replace_dir(encoder_tmp, encoder)
            folders[encoder_repo_id] = encoder
            base["from"] = config["model_conf"][base["option"]] = encoder_repo_id
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    if encoder_repo_id and encoder_repo_id not in folders:
        logging.warning("--encoder_repo_id %s unused: %s names no local encoder base", encoder_repo_id, packed)
    write_model_card(tmp, packed.parent, model_dir=Path(repo_id))
    replace_dir(tmp, output_dir / repo_id)
    folders[repo_id] = output_dir / repo_id
    return folders


def push_folders(folders: dict[str, Path], private: bool = False) -> None:
    """Create each repo (if needed) and upload its folder, in order, with huggingface_hub."""
    from huggingface_hub import HfApi

    api = HfApi()
    for repo_id, folder in folders.items():
        api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Upload with sst.bin.publish")
        logging.info("pushed %s to https://huggingface.co/%s", folder, repo_id)

"""A web page to try a trained (packed) speech-translation model in a browser.

    python -m sst.bin.serve --model_dir exp/st_train_st_samu_adapter             # http://127.0.0.1:7860
    python -m sst.bin.serve --model_dir exp/st_x --host 0.0.0.0 --port 8080 --beam_size 5

Upload a recording (any format and length) or record one with the microphone, choose the target language
and read the translation; long input also gives SRT and VTT subtitles to download. The model is loaded once
and requests are served one at a time from a queue. Decoding options are those of sst.bin.translate.
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from sst.inference.options import add_decode_options, decode_options
from sst.inference.quantize import add_quantize_option, decoding_device
from sst.inference.translator import Translator, package_path
from sst.inference.vad import add_vad_options, vad_config
from sst.inference.web import TranslationPage, build_app, card_languages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True,
                        help="experiment dir holding packed/, a package dir, or a published package's hub id")
    parser.add_argument("--tgt_lang", default="en", help="the target language selected at first [en]")
    parser.add_argument("--tgt_langs", nargs="+", default=None,
                        help="target languages offered (default: the languages of the package's model card)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on [7860]")
    add_vad_options(parser)
    add_decode_options(parser)
    add_quantize_option(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine unasked

    package = package_path(args.model_dir)
    device = decoding_device(args.quantize)
    translator = Translator.from_pretrained(package, device=device, quantize=args.quantize, **decode_options(args))
    languages = args.tgt_langs or card_languages(package) or [args.tgt_lang]
    if args.tgt_lang not in languages:
        languages = [args.tgt_lang, *languages]
    out_root = Path(tempfile.mkdtemp(prefix="sst_serve_"))
    page = TranslationPage(translator, vad_config(args), out_root)
    app = build_app(page, languages, args.tgt_lang, title=f"sst: {Path(str(args.model_dir)).name}")
    logging.info("serving %s on http://%s:%d (stop with Ctrl-C)", package, args.host, args.port)
    app.launch(server_name=args.host, server_port=args.port, allowed_paths=[str(out_root)], quiet=True)


if __name__ == "__main__":
    from sst.errors import run_main

    run_main(main)

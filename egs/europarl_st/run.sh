#!/usr/bin/env bash
# Europarl-ST v1.1 many-to-many speech translation: SAMU-XLS-R encoder + mBART-50 decoder, frozen, with
# adapters. Stages 0-1 (download, data dirs) are Europarl-ST's own, here; stages 2-6 and their options are
# ../../tools/st.sh's, which gets every option this script does not know.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
[ -f ./path.sh ] || die "run me from my folder: cd egs/europarl_st && ./run.sh"
. ./db.sh

europarl_st="${EUROPARL_ST}"
# The corpus settings: what st.sh is given before the command line's options (a later option wins). The test
# sets are whole speeches (m4a) cut by segments: --longform true translates them whole, too.
forward_to=(../../tools/st.sh --corpus europarl_st --src_langs "en fr de it es pt pl ro nl"
            --tgt_langs "en fr de it es pt pl ro nl" --longform_split test)
help_message="Usage: ./run.sh [options]
Europarl-ST v1.1 many-to-many speech translation with a SAMU-XLS-R encoder and an mBART-50 decoder
(frozen, with adapters).

Stages 0-1 (this recipe; --stage N --stop_stage M):
  stage  does                                                                      writes
  0      download what can be downloaded; print exact manual steps for what cannot downloads/
  1      corpus -> Kaldi-style data dirs (wav.scp, segments, text.<lang>, utt2spk,  data/<set>/
         utt2lang)

Options of this recipe [default]:
  --europarl_st D            Europarl-ST, the folder holding v1.1/ (db.sh EUROPARL_ST) [${europarl_st}]
  --config F                 read options from F (lines '--opt value'), these and st.sh's

Examples:
  ./run.sh --stage 0 --stop_stage 2 --src_langs \"fr de\" --tgt_langs \"en es\" --nj 16
  ./run.sh --stage 3 --stop_stage 4 --ngpu 4 --st_config conf/tuning/train_st_samu_adapter.yaml
  ./run.sh --train_langs \"en fr de es\" --st_exp exp/st_zero_shot     # zero-shot: test on all src_langs
  ./run.sh --stage 4 --st_config conf/tuning/train_st_xlsr_adapter.yaml --st_encoder xlsr
  ./run.sh --stage 5 --longform true      # also the whole speeches, VAD-segmented, scored as IWSLT does
"
. ../../tools/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument '$1' (see ./run.sh --help)"
plan="$("${forward_to[@]}" plan)"  # every option checked before stage 0: stages, languages, set names
eval "${plan}"
. ./path.sh
python -m sst.bin.check_langs --corpus europarl_st --src_langs "${src_langs}" --tgt_langs "${tgt_langs}"

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "Stage 0: Europarl-ST v1.1 into ${europarl_st}"
    python -m sst.bin.download_corpus --corpus europarl_st --output_dir downloads \
        --src_langs "${src_langs}" --tgt_langs "${tgt_langs}" --europarl_dir "${europarl_st}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data dirs data/{train,dev,test}_<src>_<tgt>"
    for src in ${src_langs}; do
        for tgt in ${tgt_langs}; do
            [ "${src}" = "${tgt}" ] || python -m sst.bin.prepare_europarl_st --europarl_dir "${europarl_st}" \
                --src_lang "${src}" --tgt_lang "${tgt}" --output_dir data
        done
    done
    python -m sst.bin.validate_data_dir $(printf 'data/%s ' ${data_sets})
fi

"${forward_to[@]}"

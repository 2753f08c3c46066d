#!/usr/bin/env bash
# CoVoST-2 speech translation (X->En by default, En->X one-to-many): SAMU-XLS-R encoder + mBART-50 decoder, frozen,
# with adapters. Stages 0-1 (download, data dirs) are CoVoST-2's own, here; stages 2-6 and their options are
# ../../tools/st.sh's, which gets every option this script does not know.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
[ -f ./path.sh ] || die "run me from my folder: cd egs/covost2 && ./run.sh"
. ./db.sh

covost2="${COVOST2}"
commonvoice="${COMMONVOICE}"
# The corpus settings: what st.sh is given before the command line's options (a later option wins).
forward_to=(../../tools/st.sh --corpus covost2
            --src_langs "fr de es ca it ru zh pt fa et mn nl tr ar sv lv sl ta ja id cy" --tgt_langs en)
help_message="Usage: ./run.sh [options]
CoVoST-2 speech translation with a SAMU-XLS-R encoder and an mBART-50 decoder (frozen, with adapters).
CoVoST-2 has X->en (many-to-one) and en->X (one-to-many: --src_langs en --tgt_langs \"de ja zh ...\"); ca and
cy cannot be targets (mBART-50 has no language code for them). Language codes are two-letter (zh, sv).

Stages 0-1 (this recipe; --stage N --stop_stage M):
  stage  does                                                                      writes
  0      download what can be downloaded; print exact manual steps for what cannot downloads/
  1      corpus -> Kaldi-style data dirs (wav.scp, segments, text.<lang>, utt2spk,  data/<set>/
         utt2lang)

Options of this recipe [default]:
  --covost2 D                CoVoST-2 TSVs (db.sh COVOST2) [${covost2}]
  --commonvoice D            Common Voice 4 or any later release (db.sh COMMONVOICE) [${commonvoice}]
  --config F                 read options from F (lines '--opt value'), these and st.sh's

Examples:
  ./run.sh --stage 0 --stop_stage 2 --src_langs \"fr de\" --nj 16
  ./run.sh --src_langs en --tgt_langs \"de ja zh fa et mn tr ar sv lv sl ta id\"   # En->X, one model
  ./run.sh --stage 3 --stop_stage 4 --ngpu 4 --st_config conf/tuning/train_st_samu_adapter.yaml
  ./run.sh --train_langs \"fr de es ca\" --st_exp exp/st_zero_shot       # zero-shot: test on all src_langs
  ./run.sh --stage 4 --st_config conf/tuning/train_st_xlsr_adapter.yaml --st_encoder xlsr
  ./run.sh --samu_data commonvoice --samu_hours 100   # SAMU on Common Voice (the paper's data), 100 h per language
"
. ../../tools/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument '$1' (see ./run.sh --help)"
plan="$("${forward_to[@]}" plan)"  # every option checked before stage 0: stages, languages, set names
eval "${plan}"
. ./path.sh
python -m sst.bin.check_langs --corpus covost2 --src_langs "${src_langs}" --tgt_langs "${tgt_langs}"

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "Stage 0: CoVoST-2 TSVs into ${covost2}, Common Voice (release 4 or later) check in ${commonvoice}"
    python -m sst.bin.download_corpus --corpus covost2 --output_dir downloads \
        --src_langs "${src_langs}" --tgt_langs "${tgt_langs}" --covost_dir "${covost2}" --commonvoice_dir "${commonvoice}"
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data dirs data/{train,dev,test}_<src>_<tgt>"
    for src in ${src_langs}; do
        for tgt in ${tgt_langs}; do
            [ "${src}" = "${tgt}" ] || python -m sst.bin.prepare_covost2 --covost_dir "${covost2}" \
                --commonvoice_dir "${commonvoice}" --src_lang "${src}" --tgt_lang "${tgt}" --output_dir data
        done
    done
    samu_data_sets=""
    if [ "${samu_data}" = commonvoice ]; then
        log "Stage 1: SAMU data from Common Voice: data/{${samu_train_sets// /,}}"
        samu_data_sets="${samu_train_sets}"
        read -r -a samu_lang_list <<< "${samu_langs}"
        i=0
        for set in ${samu_train_sets}; do
            python -m sst.bin.prepare_commonvoice --commonvoice_dir "${commonvoice}" --covost_dir "${covost2}" \
                --lang "${samu_lang_list[i]}" --output_dir "data/${set}" ${samu_hours:+--hours "${samu_hours}"} \
                ${seed:+--seed "${seed}"}
            i=$((i + 1))
        done
    fi
    python -m sst.bin.validate_data_dir $(printf 'data/%s ' ${data_sets} ${samu_data_sets})
fi

"${forward_to[@]}"

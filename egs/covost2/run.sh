#!/usr/bin/env bash
# CoVoST-2 speech translation (X->En by default, En->X one-to-many): SAMU-XLS-R encoder + mBART-50 decoder, frozen, with
# adapters. Stages 0-1 (download, data dirs) are CoVoST-2's own; stages 2-6 are ../../tools/st.sh.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
[ -f ./path.sh ] || die "run me from my folder: cd egs/covost2 && ./run.sh"
. ./db.sh

stage=0
stop_stage=6
nj=4
ngpu=1
num_nodes=1
src_langs="fr de es ca it ru zh pt fa et mn nl tr ar sv lv sl ta ja id cy"
tgt_langs=en
train_langs=""
test_langs=""
samu_langs=""
train_tag=""
samu_tag=""
dump_config=conf/dump.yaml
samu_config=conf/tuning/train_samu.yaml
st_config=conf/tuning/train_st_samu_adapter.yaml
decode_config=conf/decode_st.yaml
encoder_model=facebook/wav2vec2-xls-r-300m
teacher_model=sentence-transformers/LaBSE
decoder_model=facebook/mbart-large-50-many-to-many-mmt
samu_exp=""
st_exp=""
st_encoder=samu
samu_args=""
st_args=""
pack=adapters
inference_args=""
inference_nj=""
gpu_inference=false
inference_tag=""
baseline_exp=""
target_vocab=false
target_vocab_extra=""
covost2="${COVOST2}"
commonvoice="${COMMONVOICE}"
help_message="Usage: ./run.sh [options]
CoVoST-2 speech translation with a SAMU-XLS-R encoder and an mBART-50 decoder (frozen, with adapters).

Stages (--stage N --stop_stage M):
  stage  does                                                                      writes
  0      download what can be downloaded; print exact manual steps for what cannot downloads/
  1      corpus -> Kaldi-style data dirs (wav.scp, segments, text.<lang>, utt2spk,  data/<set>/
         utt2lang)
  2      feature prep: decode, resample 16 kHz mono, dump audio + shapes; teacher    dump/
         embeddings; target tokenisation
  3      SAMU distillation                                                         exp/samu_*/
  4      adapter ST training                                                       exp/st_*/
  5      decoding (batched beam search)                                            exp/st_*/decode_*/
  6      scoring                                                                   exp/st_*/RESULTS.md
Directions: every <src>-><tgt> of --src_langs x --tgt_langs with src != tgt; CoVoST-2 has X->en (many-to-one)
and en->X (one-to-many: --src_langs en --tgt_langs \"de ja zh ...\"), one model for all of them.
Sets are <split>_<src>_<tgt> (train_fr_en, dev_fr_en, test_en_de); language codes are two-letter (zh, sv).

Options [default]:
  --stage N, --stop_stage M  first and last stage to run [${stage}, ${stop_stage}]
  --nj N                     parallel processes of stage 2 and of decoding [${nj}]
  --ngpu N                   GPUs for training (several: DDP on one node; 0: CPU; more than the
                             machine has stops the run before stage 2) [${ngpu}]
  --num_nodes N              nodes for training, --ngpu GPUs each (needs the slurm backend in cmd.sh) [${num_nodes}]
  --src_langs \"L ...\"        source languages prepared, dumped (and by default trained and tested)
                             [${src_langs}]
  --tgt_langs \"L ...\"        target languages [${tgt_langs}]; ca and cy are refused: mBART-50 has no
                             language code for them, so its decoder cannot be forced to write them
  --train_langs \"L ...\"      ST training languages [--src_langs]; a subset of them = zero-shot scenario
  --test_langs \"L ...\"       languages decoded and scored [--src_langs]
  --samu_langs \"L ...\"       SAMU distillation languages [--src_langs]: one encoder distilled on
                             every prepared language, also in a zero-shot run (--train_langs only limits ST)
  --train_tag T, --samu_tag T  ST / SAMU training data: dump/train_<T> + dump/dev_<T>, combined from the
                             sets of the languages [the languages joined with '.', e.g. fr.de]
  --dump_config F            stage 2 audio settings [${dump_config}]
  --samu_config F            SAMU training config [${samu_config}]
  --st_config F              ST training config [${st_config}]; others in conf/tuning/:
                             train_st_xlsr_adapter.yaml, train_st_samu_full_ft.yaml, train_st_xlsr_lna.yaml
  --decode_config F          decoding config [${decode_config}]
  --encoder_model M          XLS-R the SAMU training starts from (hub id or dir) [${encoder_model}]
  --teacher_model M          sentence-embedding teacher [${teacher_model}]
  --decoder_model M          mBART-50 decoder and tokenizer [${decoder_model}]
  --samu_exp D, --st_exp D   experiment dirs [exp/samu_<samu config name>_<samu tag>, exp/st_<st config name>_<train tag>]
                             (an experiment made from other data or config is never reused)
  --st_encoder E             stage 4 encoder: samu = <samu_exp>/encoder_hf, xlsr = --encoder_model
                             (stage 3 is then skipped), or any HF dir/id [${st_encoder}]
  --samu_args \"...\"          more options of sst.bin.samu_train (ESPnet trainer options), verbatim
  --st_args \"...\"            more options of sst.bin.st_train, e.g. \"--max_epoch 20 --use_amp true\"
  --pack K                   stage 4 package: adapters = trained tensors + the bases' ids/paths and
                             digests (~1/10 of the size; loading needs the bases), full = every
                             weight, self-contained (offline clusters) [${pack}]
  --inference_args \"...\"     more options of sst.bin.st_inference, e.g. \"--beam_size 10\"
  --inference_nj N           decoding processes per test set [--nj]
  --gpu_inference BOOL       decode on --ngpu GPUs [${gpu_inference}]
  --inference_tag T          decode dirs are <st_exp>/decode_<T>/<set> [decode config name minus decode_, then --inference_args]
  --baseline_exp D           experiment dir RESULTS.md compares with
  --target_vocab BOOL        trim mBART-50's output layer to the tokens of the training translations (+ special
                             tokens, language codes): stage 2 writes dump/target_vocab_<train tag>.txt, stage 4
                             trains with it (default --st_exp gets _trimmed); hypotheses stay ordinary text [${target_vocab}]
  --target_vocab_extra \"F ...\" plain-text files whose pieces the trimmed vocabulary keeps too []
  --covost2 D                CoVoST-2 TSVs (db.sh COVOST2) [${covost2}]
  --commonvoice D            Common Voice 4 or any later release (db.sh COMMONVOICE) [${commonvoice}]
  --config F                 read options from F (lines '--opt value')

Examples:
  ./run.sh --stage 0 --stop_stage 2 --src_langs \"fr de\" --nj 16
  ./run.sh --src_langs en --tgt_langs \"de ja zh fa et mn tr ar sv lv sl ta id\"   # En->X, one model
  ./run.sh --stage 3 --stop_stage 4 --ngpu 4 --st_config conf/tuning/train_st_samu_adapter.yaml
  ./run.sh --train_langs \"fr de es ca\" --st_exp exp/st_zero_shot       # zero-shot: test on all src_langs
  ./run.sh --stage 4 --st_config conf/tuning/train_st_xlsr_adapter.yaml --st_encoder xlsr"
. ../../tools/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument '$1' (see ./run.sh --help)"
. ./path.sh
. ./cmd.sh

python -m sst.bin.check_langs --corpus covost2 --src_langs "${src_langs}" --tgt_langs "${tgt_langs}"
train_langs="${train_langs:-${src_langs}}"
test_langs="${test_langs:-${src_langs}}"
# SAMU-XLS-R is distilled on every language prepared; zero-shot is about the ST training languages.
samu_langs="${samu_langs:-${src_langs}}"
for lang in ${train_langs} ${test_langs} ${samu_langs}; do
    [[ " ${src_langs} " == *" ${lang} "* ]] || die "language ${lang} is not in --src_langs (${src_langs})"
done
# The combined sets are named after the languages, e.g. dump/train_fr.de (dump/train_en-de.ja for en->de+ja).
lang_tag() { echo "$*" | tr -s ' ' '.'; }
suffix=""
[ "${tgt_langs}" = en ] || suffix="-$(lang_tag ${tgt_langs})"
train_tag="${train_tag:-$(lang_tag ${train_langs})${suffix}}"
samu_tag="${samu_tag:-$(lang_tag ${samu_langs})${suffix}}"

. ../../tools/set_names.sh  # sets, samu_sets

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
    python -m sst.bin.validate_data_dir $(printf 'data/%s ' $(sets train ${src_langs}) $(sets dev ${src_langs}) \
        $(sets test ${src_langs}))
fi

if [ "${stop_stage}" -ge 2 ]; then
    ../../tools/st.sh --stage "${stage}" --stop_stage "${stop_stage}" --nj "${nj}" --ngpu "${ngpu}" --num_nodes "${num_nodes}" \
        --train_sets "$(sets train ${train_langs})" --valid_sets "$(sets dev ${train_langs})" \
        --samu_train_sets "$(samu_sets train ${samu_langs})" --samu_valid_sets "$(samu_sets dev ${samu_langs})" \
        --samu_eval_sets "$(samu_sets dev ${test_langs})" --test_sets "$(sets test ${test_langs})" \
        --train_tag "${train_tag}" --samu_tag "${samu_tag}" --seen_langs "${train_langs}" \
        --dump_config "${dump_config}" --samu_config "${samu_config}" --st_config "${st_config}" \
        --decode_config "${decode_config}" --encoder_model "${encoder_model}" \
        --teacher_model "${teacher_model}" --decoder_model "${decoder_model}" \
        --samu_exp "${samu_exp}" --st_exp "${st_exp}" --st_encoder "${st_encoder}" \
        --samu_args "${samu_args}" --st_args "${st_args}" --pack "${pack}" --inference_args "${inference_args}" \
        --inference_nj "${inference_nj}" --gpu_inference "${gpu_inference}" \
        --inference_tag "${inference_tag}" --baseline_exp "${baseline_exp}" \
        --target_vocab "${target_vocab}" --target_vocab_extra "${target_vocab_extra}"
fi

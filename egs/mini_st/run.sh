#!/usr/bin/env bash
# mini_st: every stage of the toolkit on a tiny synthetic corpus (shipped in corpus/), on a CPU in
# minutes. Tiny stand-ins for XLS-R, LaBSE and mBART-50 are built locally in stage 0, so nothing is
# downloaded; the ST stages run twice, on the SAMU-distilled and on the plain encoder, and the last
# stage prints both side by side. The first run also installs the environment (../../tools/install.sh).
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
[ -f ./db.sh ] || die "run me from my folder: cd egs/mini_st && ./run.sh"
. ./db.sh

stage=0
stop_stage=6
nj=2
src_langs="fr de es it pt nl"
train_langs="fr de es it"
test_langs=""
samu_langs=""
encoders="xlsr samu"
tiny_args=""
samu_args=""
st_args=""
pack=adapters
inference_args=""
longform=true
target_vocab=false
target_vocab_extra=""
seed=0
help_message="Usage: ./run.sh [options]
The whole pipeline on the mini_st demo corpus (six source languages -> English, espeak-ng speech):
ST is trained on --train_langs and tested on every language, so pt and nl are zero-shot directions.

Stages (--stage N --stop_stage M):
  stage  does                                                                      writes
  0      build the tiny stand-in models (Wav2Vec2, sentence teacher, mBART-50)      models/
  1      corpus -> Kaldi-style data dirs (wav.scp, text.<lang>, utt2spk, utt2lang)  data/<set>/
         and one long recording per test set: its clips joined with pauses         data/longform_<set>/
  2      feature prep: decode, resample 16 kHz mono, dump audio + shapes; teacher    dump/
         embeddings; target tokenisation
  3      SAMU distillation (on the transcripts of every --samu_langs language)      exp/samu_train_samu_<langs>/
  4      adapter ST training, once per --encoders entry                            exp/st_<encoder>_adapter/
  5      decoding (batched beam search); long-form: each long recording translated  exp/st_*/decode_st/
         whole (VAD segments), re-segmented to its clips by minimum WER             .../decode_st_longform/
  6      scoring (gold and VAD segmentation side by side); the first long recording  exp/st_*/RESULTS.md,
         as subtitles; prints the encoders side by side                            exp/*.srt, exp/RESULTS.md

Options [default]:
  --stage N, --stop_stage M  first and last stage to run [${stage}, ${stop_stage}]
  --nj N                     parallel processes of stage 2 and of decoding [${nj}]
  --src_langs \"L ...\"        source languages prepared and dumped [${src_langs}]
  --train_langs \"L ...\"      ST training languages [${train_langs}]
  --test_langs \"L ...\"       languages decoded and scored [--src_langs]
  --samu_langs \"L ...\"       SAMU training languages (transcripts only) [--src_langs]
  --encoders \"E ...\"         ST encoders to train and compare, the first is the baseline of the
                             others: xlsr, samu [${encoders}]
  --tiny_args \"...\"          more options of sst.demo.make_tiny_models, e.g. \"--mbart_steps 800\"
  --samu_args \"...\"          more options of sst.bin.samu_train, e.g. \"--max_epoch 3\"
  --st_args \"...\"            more options of sst.bin.st_train, e.g. \"--max_epoch 3\"
  --pack K                   stage 4 package: adapters = trained tensors + the bases' ids/paths and
                             digests (~1/10 of the size; loading needs the bases), full = every
                             weight, self-contained (offline clusters) [${pack}]
  --inference_args \"...\"     more options of sst.bin.st_inference, e.g. \"--beam_size 1\"
  --longform BOOL            long-form translation of the joined test clips (stages 1, 5, 6) [${longform}]
  --target_vocab BOOL        trim mBART-50's output layer to the tokens of the training translations (+ special
                             tokens, language codes): stage 2 writes dump/target_vocab_<train tag>.txt, stage 4
                             trains exp/st_<encoder>_adapter_trimmed with it; hypotheses stay ordinary text [${target_vocab}]
  --target_vocab_extra \"F ...\" plain-text files whose pieces the trimmed vocabulary keeps too []
  --seed N                   seed of every random step: the tiny models (stage 0), the pauses of the long
                             recordings (stage 1), SAMU and ST training (ESPnet's --seed) [${seed}]; the
                             same seed on the same machine gives the same tables. Another seed needs
                             fresh models/ and exp/ (a finished step made with another seed is refused)
  --config F                 read options from F (lines '--opt value')"
. ../../tools/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument '$1' (see ./run.sh --help)"

../../tools/install.sh
. ./path.sh
. ./cmd.sh

test_langs="${test_langs:-${src_langs}}"
samu_langs="${samu_langs:-${src_langs}}"
for lang in ${train_langs} ${test_langs} ${samu_langs}; do
    [[ " ${src_langs} " == *" ${lang} "* ]] || die "language ${lang} is not in --src_langs (${src_langs})"
done
lang_tag() { echo "$*" | tr -s ' ' '.'; }
sets() { local split="$1" src; shift; for src in "$@"; do printf '%s ' "${split}_${src}_en"; done; }

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "Stage 0: tiny stand-in models into models/ (log: models/make_tiny_models.log)"
    mkdir -p models
    python -m sst.demo.make_tiny_models --corpus_dir corpus --output_dir models --mt_langs ${train_langs} \
        --seed "${seed}" ${tiny_args} 2>&1 | tee models/make_tiny_models.log
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data dirs data/{train,dev,test}_<src>_en"
    for src in ${src_langs}; do
        python -m sst.bin.prepare_covost2 --covost_dir "${COVOST2}" --commonvoice_dir "${COMMONVOICE}" \
            --src_lang "${src}" --tgt_lang en --output_dir data
    done
    python -m sst.bin.validate_data_dir $(printf 'data/%s ' $(sets train ${src_langs}) $(sets dev ${src_langs}) \
        $(sets test ${src_langs}))
    if [ "${longform}" = true ]; then
        log "Stage 1: the clips of each test set joined with pauses into data/longform_test_<src>_en"
        python -m sst.demo.make_long_recording --data_dir $(printf 'data/%s ' $(sets test ${test_langs})) \
            --output_dir $(printf 'data/%s ' $(sets longform_test ${test_langs})) --seed "${seed}"
    fi
fi
longform_sets=""
[ "${longform}" = false ] || longform_sets="$(sets longform_test ${test_langs})"

baseline=""
trimmed=""
[ "${target_vocab}" = false ] || trimmed=_trimmed
for encoder in ${encoders}; do
    [ "${stop_stage}" -ge 2 ] || break
    first="${stage}"
    # Stage 2 does not depend on the ST encoder: the first pass does it for all (stage 3 runs in the
    # samu pass only).
    [ "${encoder}" = "${encoders%% *}" ] || first=$(( stage > 3 ? stage : 3 ))
    [ "${first}" -le "${stop_stage}" ] || continue
    log "Stages ${first}-${stop_stage} with the ${encoder} encoder"
    ../../tools/st.sh --stage "$(( first > 2 ? first : 2 ))" --stop_stage "${stop_stage}" --nj "${nj}" --ngpu 0 \
        --train_sets "$(sets train ${train_langs})" --valid_sets "$(sets dev ${train_langs})" \
        --samu_train_sets "$(sets train ${samu_langs})" --samu_valid_sets "$(sets dev ${samu_langs})" \
        --samu_eval_sets "$(sets dev ${test_langs})" --test_sets "$(sets test ${test_langs})" \
        --train_tag "$(lang_tag ${train_langs})" --samu_tag "$(lang_tag ${samu_langs})" \
        --seen_langs "${train_langs}" --encoder_model models/wav2vec2 --teacher_model models/teacher \
        --decoder_model models/mbart --samu_config conf/tuning/train_samu.yaml \
        --st_config "conf/tuning/train_st_${encoder}_adapter.yaml" --st_exp "exp/st_${encoder}_adapter${trimmed}" \
        --st_encoder "${encoder}" --samu_args "--seed ${seed} ${samu_args}" --st_args "--seed ${seed} ${st_args}" \
        --pack "${pack}" --inference_args "${inference_args}" --baseline_exp "${baseline}" \
        --longform_sets "${longform_sets}" --target_vocab "${target_vocab}" --target_vocab_extra "${target_vocab_extra}"
    baseline="exp/st_${encoder}_adapter${trimmed}"
done

if [ "${longform}" = true ] && [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    set="${longform_sets%% *}"
    log "Stage 6: data/${set}/${set}.flac translated by ${baseline} into subtitles exp/${set}.srt"
    python -m sst.bin.translate --model_dir "${baseline}" --tgt_lang en --config conf/decode_st.yaml \
        --format srt --output "exp/${set}.srt" "data/${set}/${set}.flac"
    head -n 12 "exp/${set}.srt"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: the encoders side by side (exp/RESULTS.md); per-experiment tables in exp/st_*/RESULTS.md"
    python -m sst.bin.score --side_by_side $(for encoder in ${encoders}; do echo "exp/st_${encoder}_adapter"; done) \
        --output exp/RESULTS.md --metrics BLEU chrF++
fi
log "Successfully finished stages ${stage}-${stop_stage}"

#!/usr/bin/env bash
# mini_st: every stage of the toolkit on a tiny synthetic corpus (shipped in corpus/), on a CPU in
# minutes. Tiny stand-ins for XLS-R, LaBSE and mBART-50 are built locally in stage 0, so nothing is
# downloaded; the ST stages run twice, on the SAMU-distilled and on the plain encoder, and the last
# stage prints both side by side. The first run also installs the environment (../../tools/install.sh).
# Stages 0-1 and the comparison are here; stages 2-6 and their options are ../../tools/st.sh's, which gets
# every option this script does not know.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') (run.sh) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }
[ -f ./db.sh ] || die "run me from my folder: cd egs/mini_st && ./run.sh"
. ./db.sh

encoders="xlsr samu"
st_tag=""
tiny_args=""
# The corpus settings: what st.sh is given before the command line's options (a later option wins). ST is
# trained on four languages and tested on all six, so pt and nl are zero-shot directions.
forward_to=(../../tools/st.sh --corpus covost2 --src_langs "fr de es it pt nl" --tgt_langs en
            --train_langs "fr de es it" --nj 2 --ngpu 0 --seed 0 --longform true --longform_split longform_test
            --encoder_model models/wav2vec2 --teacher_model models/teacher --decoder_model models/mbart)
help_message="Usage: ./run.sh [options]
The whole pipeline on the mini_st demo corpus (six source languages -> English, espeak-ng speech).

Stages 0-1 (this recipe; --stage N --stop_stage M):
  stage  does                                                                      writes
  0      build the tiny stand-in models (Wav2Vec2, sentence teacher, mBART-50)      models/
  1      corpus -> Kaldi-style data dirs (wav.scp, text.<lang>, utt2spk, utt2lang)  data/<set>/
         and, with --longform true, one long recording per test set: its clips     data/longform_<set>/
         joined with pauses
Stages 3-6 run once per --encoders entry (exp/st_<encoder>_adapter/, with --target_vocab true
exp/st_<encoder>_adapter_trimmed/; stage 3 in the samu and ctc passes only); stage 6 then translates the
first long recording into subtitles (exp/*.srt) and prints the encoders side by side (exp/RESULTS.md: BLEU,
chrF++ and the off-target and source-language rates, beside the language identifier's error on the
references). --seed also
seeds the tiny models (stage 0) and the pauses (stage 1): the same seed on the same machine gives the same
tables. Another seed needs fresh models/ and exp/ (a finished step made with another seed is refused).

Options of this recipe [default]:
  --encoders \"E ...\"         ST encoders to train and compare, the first is the baseline of the
                             others: xlsr, samu, ctc (the control without semantics: stage 3 with
                             --samu_objective ctc, then the samu pass's ST config on its encoder) [${encoders}]
  --st_tag T                 names each pass's experiment exp/st_<encoder>_adapter_T (a sweep's runs
                             side by side) [${st_tag:-none: exp/st_<encoder>_adapter}]
  --tiny_args \"...\"          more options of sst.demo.make_tiny_models, e.g. \"--mbart_steps 800\"
  --config F                 read options from F (lines '--opt value'), these and st.sh's
"
. ../../tools/parse_options.sh
[ $# -eq 0 ] || die "unexpected argument '$1' (see ./run.sh --help)"
plan="$("${forward_to[@]}" plan)"  # every option checked before stage 0: stages, languages, set names
eval "${plan}"

# st_pass E [ARG ...]: tools/st.sh for the pass with encoder E (after the command line's options, so these
# win), then ARG ...; its experiment is exp/st_E_adapter[_<st_tag>], with st.sh's suffix (_trimmed for
# --target_vocab). The ctc pass is the samu pass with stage 3's other objective.
st_pass() {
    local encoder="$1" st_encoder="$1" objective=semantic
    shift
    [ "${encoder}" != ctc ] || { st_encoder=samu; objective=ctc; }
    "${forward_to[@]}" --st_config "conf/tuning/train_st_${st_encoder}_adapter.yaml" \
        --st_tag "${encoder}_adapter${st_tag:+_${st_tag}}" --st_encoder "${st_encoder}" \
        --samu_objective "${objective}" "$@"
}
# Each pass's experiment dir as its plan names it: the passes train into these, the first is the baseline
# of the others, and the side-by-side table reads them.
read -ra encoder_list <<< "${encoders}"
[ "${#encoder_list[@]}" -gt 0 ] || die "--encoders is empty (see ./run.sh --help)"
st_exps=()
for encoder in "${encoder_list[@]}"; do
    st_exps+=("$(eval "$(st_pass "${encoder}" plan)" && echo "${st_exp}")")
done
[ "$(printf '%s\n' "${st_exps[@]}" | sort -u | wc -l)" -eq "${#st_exps[@]}" ] \
    || die "the passes of --encoders \"${encoders}\" would share an experiment dir (${st_exps[*]}); leave out --st_exp"

../../tools/install.sh
. ./path.sh

if [ "${stage}" -le 0 ] && [ "${stop_stage}" -ge 0 ]; then
    log "Stage 0: tiny stand-in models into models/ (log: models/make_tiny_models.log)"
    mkdir -p models
    python -m sst.demo.make_tiny_models --corpus_dir corpus --output_dir models --mt_langs ${train_langs} \
        --seed "${seed}" ${tiny_args} 2>&1 | tee models/make_tiny_models.log
fi

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: data dirs data/{train,dev,test}_<src>_<tgt>"
    for src in ${src_langs}; do
        for tgt in ${tgt_langs}; do
            [ "${src}" = "${tgt}" ] || python -m sst.bin.prepare_covost2 --covost_dir "${COVOST2}" \
                --commonvoice_dir "${COMMONVOICE}" --src_lang "${src}" --tgt_lang "${tgt}" --output_dir data
        done
    done
    python -m sst.bin.validate_data_dir $(printf 'data/%s ' ${data_sets})
    if [ -n "${longform_sets}" ]; then
        log "Stage 1: the clips of each test set joined with pauses into data/longform_test_<src>_<tgt>"
        python -m sst.demo.make_long_recording --data_dir $(printf 'data/%s ' ${test_sets}) \
            --output_dir $(printf 'data/%s ' ${longform_sets}) --seed "${seed}"
    fi
fi

# Stage 2 does not depend on the ST encoder: one call does it for every pass, with the teacher embeddings
# unless no pass distils toward the teacher (ctc without samu). Stage 3 runs in the samu and ctc passes only.
if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    stage2_objective=semantic
    [[ " ${encoders} " != *" ctc "* || " ${encoders} " == *" samu "* ]] || stage2_objective=ctc
    log "Stage 2 for every encoder"
    st_pass "${encoder_list[0]}" --stage 2 --stop_stage 2 --samu_objective "${stage2_objective}"
fi
first=$(( stage > 3 ? stage : 3 ))
for i in "${!encoder_list[@]}"; do
    [ "${first}" -le "${stop_stage}" ] || break
    baseline_exp=""
    [ "${i}" -eq 0 ] || baseline_exp="${st_exps[0]}"
    log "Stages ${first}-${stop_stage} with the ${encoder_list[i]} encoder into ${st_exps[i]}"
    st_pass "${encoder_list[i]}" --stage "${first}" --baseline_exp "${baseline_exp}"
done

if [ -n "${longform_sets}" ] && [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    set="${longform_sets%% *}"
    log "Stage 6: data/${set}/${set}.flac translated by ${st_exps[-1]} into subtitles exp/${set}.srt"
    python -m sst.bin.translate --model_dir "${st_exps[-1]}" --tgt_lang en --config conf/decode_st.yaml \
        --format srt --output "exp/${set}.srt" "data/${set}/${set}.flac"
    head -n 12 "exp/${set}.srt"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: the encoders side by side (exp/RESULTS.md); per-experiment tables in exp/st_*/RESULTS.md"
    python -m sst.bin.score --side_by_side "${st_exps[@]}" --output exp/RESULTS.md \
        --metrics BLEU chrF++ off_target ref_lid_error source_language
fi
log "Successfully finished stages ${stage}-${stop_stage}"

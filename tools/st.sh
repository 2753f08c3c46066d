#!/usr/bin/env bash
# Stages 2-6 shared by every recipe (what ESPnet's asr.sh is to its recipes): feature prep, SAMU
# distillation, adapter ST training, decoding and scoring. This script owns every option of those stages,
# its default and its help line, and makes the set names and tags of every recipe. A recipe's run.sh holds
# its corpus settings and its stages 0-1 and passes every option it does not know on to this script:
#
#   forward_to=(../../tools/st.sh --corpus covost2 --src_langs "fr de" --tgt_langs en)  # its corpus settings
#   . ../../tools/parse_options.sh     # its own options; the others are appended to forward_to
#   plan="$("${forward_to[@]}" plan)"  # every option checked before stage 0 (no Python needed); prints the
#   eval "${plan}"                     # stages, languages and set names (shell assignments) stages 0-1 need
#   ... stages 0-1 ...
#   "${forward_to[@]}"                 # stages 2-6
#
# Each stage calls python -m sst.bin.<step>; those skip work that is already done, so every stage
# can be run again. Heavy steps go through $train_cmd / $decode_cmd of the recipe's cmd.sh.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0")) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }

stage=0
stop_stage=6
nj=4
ngpu=1
num_nodes=1
corpus=covost2
src_langs=""
tgt_langs=""
train_langs=""
test_langs=""
samu_langs=""
samu_data=covost
samu_hours=""
train_tag=""
samu_tag=""
seed=""
dump_config=conf/dump.yaml
samu_config=conf/tuning/train_samu.yaml
st_config=conf/tuning/train_st_samu_adapter.yaml
decode_config=conf/decode_st.yaml
encoder_model=facebook/wav2vec2-xls-r-300m
teacher_model=sentence-transformers/LaBSE
teacher_prefix=""
decoder_model=facebook/mbart-large-50-many-to-many-mmt
samu_exp=""
st_exp=""
st_tag=""
st_encoder=samu
samu_args=""
samu_objective=semantic
st_args=""
pack=adapters
target_vocab=false
target_vocab_extra=""
inference_args=""
quantize=none
inference_nj=""
gpu_inference=false
inference_tag=""
longform=false
longform_split=test
longform_args=""
baseline_exp=""
usage() {
    cat <<HELP
Stages 2-6 (../../tools/st.sh, the same for every recipe):
  stage  does                                                                      writes
  2      feature prep: decode, resample 16 kHz mono, dump audio + shapes; teacher    dump/<set>/
         embeddings; target tokenisation
  3      SAMU distillation on dump/samu_{train,dev}_<samu tag> (combined sets)      exp/samu_*/
  4      adapter ST training on dump/st_{train,dev}_<train tag> (combined sets)     exp/st_*/
  5      decoding (batched beam search)                                            exp/st_*/decode_*/
  6      scoring                                                                   exp/st_*/RESULTS.md
Sets are <split>_<src>_<tgt> (data/<set>, dump/<set>; e.g. train_fr_en, test_en_de), one per direction of
--src_langs x --tgt_langs with src != tgt. A tag names the languages of combined sets: the sources, then the
targets, each joined with '.' (fr.de-en, en-de.ja). "../../tools/st.sh [options] plan" (from a recipe folder)
checks the options and prints the plan (stages, languages, sets, tags, dumps, experiment dirs) as shell
assignments, running nothing.

Options of the stages [default]:
  --stage N, --stop_stage M  first and last stage to run (0-1 are the recipe's) [${stage}, ${stop_stage}]
  --nj N                     parallel processes of stage 2 and of decoding [${nj}]
  --ngpu N                   GPUs for training (several: DDP on one node; 0: CPU; more than the
                             machine has stops the run before stage 2) [${ngpu}]
  --num_nodes N              nodes for training, --ngpu GPUs each (needs the slurm backend in cmd.sh) [${num_nodes}]
  --corpus C                 how scoring groups the directions: covost2 (resource groups), europarl_st, none
                             [${corpus}]
  --src_langs "L ..."        source languages: every direction <src>-><tgt> of --src_langs x --tgt_langs with
                             src != tgt is prepared, dumped and by default trained and tested, one model for
                             all of them [${src_langs}]
  --tgt_langs "L ..."        target languages [${tgt_langs}]
  --train_langs "L ..."      ST training source languages [${train_langs:---src_langs}]; a subset of them = zero-shot scenario
  --test_langs "L ..."       source languages decoded and scored [${test_langs:---src_langs}]
  --samu_langs "L ..."       SAMU distillation source languages [${samu_langs:---src_langs}]: one encoder distilled on
                             every prepared language, also in a zero-shot run (--train_langs only limits ST);
                             one set each, into its first other target language
  --samu_data D              what SAMU is distilled on: covost = the train sets of --samu_langs (CoVoST-2's);
                             commonvoice = the transcribed speech of the Common Voice release (validated.tsv), as
                             in the paper, for any language it has, without CoVoST-2's dev/test clips and other
                             readings of their sentences: data/commonvoice_<lang>[_<H>h], made in stage 1 [${samu_data}]
  --samu_hours H             with --samu_data commonvoice: at most H hours per language, the clips chosen by
                             --seed [${samu_hours:-all}]
  --train_tag T, --samu_tag T  tags of the combined ST / SAMU training data [${train_tag:-<train langs>-<tgt langs>},
                             ${samu_tag:-<samu langs>-<tgt langs>, commonvoice_<samu langs>[_<H>h]}]
  --seed N                   seed of SAMU and ST training (ESPnet's --seed) and of the recipe's own random
                             steps [${seed:-as in the training configs}]
  --dump_config F            stage 2 audio settings [${dump_config}]
  --samu_config F            SAMU training config [${samu_config}]
  --st_config F              ST training config [${st_config}]; others in conf/tuning/:
                             train_st_xlsr_adapter.yaml, train_st_samu_full_ft.yaml, train_st_xlsr_lna.yaml
  --decode_config F          decoding config [${decode_config}]
  --encoder_model M          speech encoder the SAMU training starts from (hub id or dir): wav2vec 2.0 / XLS-R /
                             MMS, HuBERT, WavLM, data2vec-audio or w2v-BERT 2.0 [${encoder_model}]
  --teacher_model M          sentence-embedding teacher, any sentence-transformers model [${teacher_model}]
  --teacher_prefix P         text put before every transcript the teacher embeds ("query: " for e5) [${teacher_prefix:-none}]
  --decoder_model M          mBART-50 decoder and tokenizer [${decoder_model}]
  --samu_exp D, --st_exp D   experiment dirs [${samu_exp:-exp/samu_<samu config name>_<samu tag>},
                             ${st_exp:-exp/st_<st tag>}]
                             (an experiment made from other data or config is never reused)
  --st_tag T                 names the default --st_exp: exp/st_<T>, then _trimmed with --target_vocab true
                             [${st_tag:-<st config name>_<train tag>}]
  --st_encoder E             stage 4 encoder: samu = <samu_exp>/encoder_hf, xlsr = --encoder_model
                             (stage 3 is then skipped), or any HF dir/id [${st_encoder}]
  --samu_objective O         stage 3 objective: semantic = SAMU distillation toward the teacher, ctc = the control
                             without semantics: the same student, data and transcripts, trained with CTC on the
                             transcripts' characters (no teacher embeddings; default --samu_exp gets _ctc)
                             [${samu_objective}]
  --samu_args "..."          more options of sst.bin.samu_train (ESPnet trainer options), verbatim [${samu_args}]
  --st_args "..."            more options of sst.bin.st_train, e.g. "--max_epoch 20 --use_amp true" [${st_args}]
  --pack K                   stage 4 package (<st_exp>/packed): adapters = trained tensors + the bases' ids/paths
                             and digests (~1/10 of the size; loading needs the bases), full = every
                             weight, self-contained (offline clusters) [${pack}]
  --target_vocab BOOL        trim mBART-50's output layer to the tokens of the training translations (+ special
                             tokens, language codes): stage 2 writes dump/target_vocab_<train tag>.txt, stage 4
                             trains with it (default --st_exp gets _trimmed); hypotheses stay ordinary text [${target_vocab}]
  --target_vocab_extra "F ..." plain-text files whose pieces the trimmed vocabulary keeps too [${target_vocab_extra}]
  --inference_args "..."     more options of sst.bin.st_inference, e.g. "--beam_size 10" [${inference_args}]
  --quantize Q               none, or int8: stage 5 (long-form too) decodes on the CPU with int8 linear
                             layers (sst.inference.quantize); the default --inference_tag gets _int8 [${quantize}]
  --inference_nj N           decoding processes per test set [${inference_nj:---nj}]
  --gpu_inference BOOL       decode on --ngpu GPUs [${gpu_inference}]
  --inference_tag T          decode dirs are <st_exp>/decode_<T>/<set> [${inference_tag:-decode config name minus decode_, then --inference_args}]
  --longform BOOL            also translate the recordings of the <longform_split>_<src>_<tgt> data dirs of the
                             test languages whole (VAD-segmented, sst.bin.longform_decode) and score them
                             re-segmented to their references by minimum WER, as IWSLT does:
                             <st_exp>/decode_<tag>_longform/<set> beside the gold segmentation [${longform}]
  --longform_split S         the split of those data dirs (with segments) [${longform_split}]
  --longform_args "..."      more options of sst.bin.longform_decode, e.g. "--vad_max_segment 15" [${longform_args}]
  --baseline_exp D           experiment dir RESULTS.md compares with [${baseline_exp}]
HELP
}
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
[ $# -eq 0 ] || [ "$*" = plan ] || die "unexpected argument '$1' (see --help)"
[ -f ./path.sh ] && [ -f ./cmd.sh ] || die "run from a recipe folder (with path.sh and cmd.sh)"

# The plan: languages, set names, tags, combined dumps and experiment dirs.
[ -n "${src_langs}" ] && [ -n "${tgt_langs}" ] || die "--src_langs and --tgt_langs are required (see --help)"
[[ "${samu_objective}" =~ ^(semantic|ctc)$ ]] || die "--samu_objective must be semantic or ctc, not '${samu_objective}'"
train_langs="${train_langs:-${src_langs}}"
test_langs="${test_langs:-${src_langs}}"
# SAMU-XLS-R is distilled on every language prepared; zero-shot is about the ST training languages.
samu_langs="${samu_langs:-${src_langs}}"
case "${samu_data}" in
    covost) [ -z "${samu_hours}" ] || die "--samu_hours needs --samu_data commonvoice" ;;
    commonvoice) [[ -z "${samu_hours}" || ( "${samu_hours}" =~ ^[0-9]*\.?[0-9]+$ && "${samu_hours}" =~ [1-9] ) ]] || \
        die "--samu_hours: a positive number of hours, not '${samu_hours}'"
        [ "${corpus}" = covost2 ] || \
            die "--samu_data commonvoice: only a CoVoST-2 recipe (egs/covost2) prepares Common Voice" ;;
    *) die "--samu_data: covost or commonvoice, not '${samu_data}'" ;;
esac
# Common Voice has languages CoVoST-2 lacks: SAMU may be distilled on them.
for lang in ${train_langs} ${test_langs} $([ "${samu_data}" = commonvoice ] || echo "${samu_langs}"); do
    [[ " ${src_langs} " == *" ${lang} "* ]] || die "language ${lang} is not in --src_langs (${src_langs})"
done

# sets SPLIT LANG...: the sets of these source languages into every target language, e.g.
# "train_fr_en train_fr_es train_de_en train_de_es" (a language into itself is left out).
sets() {
    local split="$1" src tgt names=()
    shift
    for src in "$@"; do
        for tgt in ${tgt_langs}; do
            [ "${src}" = "${tgt}" ] || names+=("${split}_${src}_${tgt}")
        done
    done
    echo "${names[*]}"
}

# samu_sets SPLIT LANG...: one set per source language, into its first other target language: SAMU
# learns from the speech and its transcript, which every target language's set repeats.
samu_sets() {
    local split="$1" src tgt names=()
    shift
    for src in "$@"; do
        for tgt in ${tgt_langs}; do
            if [ "${src}" != "${tgt}" ]; then names+=("${split}_${src}_${tgt}"); break; fi
        done
    done
    echo "${names[*]}"
}

# tag SRC_LANGS: the tag of combined sets from these source languages into --tgt_langs, e.g. fr.de-en.
tag() { echo "$(echo $1 | tr ' ' '.')-$(echo ${tgt_langs} | tr ' ' '.')"; }

data_sets="$(sets train ${src_langs}) $(sets dev ${src_langs}) $(sets test ${src_langs})"  # what stage 1 writes
train_sets="$(sets train ${train_langs})"
valid_sets="$(sets dev ${train_langs})"
test_sets="$(sets test ${test_langs})"
if [ "${samu_data}" = covost ]; then
    samu_train_sets="$(samu_sets train ${samu_langs})"
    samu_valid_sets="$(samu_sets dev ${samu_langs})"
else  # validated on the CoVoST-2 dev sets of those languages CoVoST-2 has here
    samu_train_sets="$(for lang in ${samu_langs}; do
        printf '%s ' "commonvoice_${lang}${samu_hours:+_${samu_hours}h}"; done)"
    samu_train_sets="${samu_train_sets% }"
    samu_valid_sets="$(samu_sets dev $(for lang in ${samu_langs}; do
        if [[ " ${src_langs} " == *" ${lang} "* ]]; then echo "${lang}"; fi; done))"
    [ -n "${samu_valid_sets}" ] || die "--samu_data commonvoice: none of --samu_langs (${samu_langs}) is in" \
        "--src_langs, so no CoVoST-2 dev set validates SAMU"
fi
samu_eval_sets="$(samu_sets dev ${test_langs})"  # the retrieval check
longform_sets=""
[ "${longform}" = false ] || longform_sets="$(sets "${longform_split}" ${test_langs})"
train_tag="${train_tag:-$(tag "${train_langs}")}"
if [ "${samu_data}" = covost ]; then
    samu_tag="${samu_tag:-$(tag "${samu_langs}")}"
else
    samu_tag="${samu_tag:-commonvoice_$(echo ${samu_langs} | tr ' ' '.')${samu_hours:+_${samu_hours}h}}"
fi
# SAMU and ST training data are different sets, so they never share a name.
samu_train_dump="dump/samu_train_${samu_tag}"
samu_valid_dump="dump/samu_dev_${samu_tag}"
st_train_dump="dump/st_train_${train_tag}"
st_valid_dump="dump/st_dev_${train_tag}"
target_vocab_file="dump/target_vocab_${train_tag}.txt"
objective_suffix=""
[ "${samu_objective}" = semantic ] || objective_suffix="_${samu_objective}"
samu_exp="${samu_exp:-exp/samu_$(basename "${samu_config}" .yaml)_${samu_tag}${objective_suffix}}"
trimmed=""
[ "${target_vocab}" = false ] || trimmed=_trimmed
st_tag="${st_tag:-$(basename "${st_config}" .yaml)_${train_tag}}"
st_exp="${st_exp:-exp/st_${st_tag}${trimmed}}"
inference_nj="${inference_nj:-${nj}}"
if [ -z "${inference_tag}" ]; then  # as ESPnet's asr.sh names its decode dirs
    inference_tag="$(basename "${decode_config}" .yaml)$(echo "${inference_args}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')"
    inference_tag="${inference_tag#decode_}"
    [ "${quantize}" = none ] || inference_tag="${inference_tag}_${quantize}"
fi
decode_dir="${st_exp}/decode_${inference_tag}"

if [ "$*" = plan ]; then
    declare -p stage stop_stage nj seed src_langs tgt_langs train_langs test_langs samu_langs samu_data samu_hours \
        data_sets train_sets \
        valid_sets test_sets samu_train_sets samu_valid_sets samu_eval_sets longform_sets train_tag samu_tag \
        samu_train_dump samu_valid_dump st_train_dump st_valid_dump target_vocab target_vocab_file samu_exp st_exp \
        decode_dir
    exit 0
fi

# One run per recipe folder at a time: a second one stops here (the lock goes with this process).
exec 9> .st.lock
flock -n 9 || die "another run of $(basename "$0") is working in $(pwd) (it holds .st.lock); wait for it to end"
. ./path.sh
. ./cmd.sh
# --ngpu GPUs must be there before any work is done (jobs on slurm nodes check on their node).
if [ "${ngpu}" -gt 0 ] && [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 3 ] && [[ "${train_cmd}" != *"--backend slurm"* ]]; then
    python -c "import sys, torch; sys.exit(torch.cuda.device_count() < ${ngpu})" || \
        die "--ngpu ${ngpu}, but this machine has fewer CUDA GPUs (torch.cuda.device_count()); run with --ngpu 0 to train on the CPU"
fi
# ESPnet trains on several GPUs of one node with one process per GPU only when asked to. On several
# nodes the dispatcher starts one srun task per node (--num_nodes), ESPnet reads the slurm variables
# (--dist_launcher slurm) and spawns --ngpu processes in each; they meet through a file in the exp dir.
dist_args=""
[ "${ngpu}" -le 1 ] || dist_args="--multiprocessing_distributed true"
# train_dist EXP: the distributed options of a training into EXP.
train_dist() {
    [ "${num_nodes}" -gt 1 ] || { echo "${dist_args}"; return; }
    mkdir -p "$1"
    rm -f "$1/.dist_init"
    echo "--multiprocessing_distributed true --dist_launcher slurm --dist_init_method file://$(pwd)/$1/.dist_init"
}
seed_args="${seed:+--seed ${seed}}"

# dumps SETS...: the dump dirs of the sets.
dumps() { local set; for set in "$@"; do printf 'dump/%s ' "${set}"; done; }

# combine OUT SETS...: combine the dump dirs of SETS into OUT.
combine() {
    local out="$1"
    shift
    [ $# -gt 0 ] || die "no sets to combine into ${out}"
    python -m sst.bin.combine_data --output_dir "${out}" $(dumps "$@")
}

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: feature prep"
    st_sets="$(echo ${train_sets} ${valid_sets} | tr ' ' '\n' | sort -u)"
    samu_sets="$(echo ${samu_train_sets} ${samu_valid_sets} ${samu_eval_sets} | tr ' ' '\n' | sort -u)"
    all_sets="$(echo ${st_sets} ${samu_sets} ${test_sets} | tr ' ' '\n' | sort -u)"
    log "dumping audio of $(echo ${all_sets}) into dump/ (log: dump/logs/dump_audio.log)"
    ${decode_cmd} --gpu 0 --cpus "${nj}" dump/logs/dump_audio.log \
        python -m sst.bin.dump_audio --data_dir $(for set in ${all_sets}; do echo "data/${set}"; done) \
        --output_dir $(dumps ${all_sets}) --config "${dump_config}" --nj "${nj}"
    # One process each for all sets: the teacher and the tokenizer load once.
    if [ "${samu_objective}" = semantic ]; then
        log "teacher embeddings of $(echo ${samu_sets}) (${teacher_model}; log: dump/logs/embed_teacher.log)"
        ${decode_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" dump/logs/embed_teacher.log \
            python -m sst.bin.embed_teacher --dump_dirs $(dumps ${samu_sets}) --teacher_model "${teacher_model}" \
            ${teacher_prefix:+--teacher_prefix "${teacher_prefix}"}
    else
        log "no teacher embeddings: --samu_objective ${samu_objective} does not use the teacher"
    fi
    log "target tokenisation of $(echo ${st_sets}) (${decoder_model}; log: dump/logs/tokenize_targets.log)"
    ${decode_cmd} --gpu 0 dump/logs/tokenize_targets.log \
        python -m sst.bin.tokenize_targets --dump_dirs $(dumps ${st_sets}) --decoder_model "${decoder_model}"
    if [ "${target_vocab}" = true ]; then
        log "target vocabulary of $(echo ${train_sets}) into ${target_vocab_file} (log: dump/logs/target_vocab.log)"
        ${decode_cmd} --gpu 0 dump/logs/target_vocab.log \
            python -m sst.bin.target_vocab --train_dump_dirs $(dumps ${train_sets}) --dump_dirs $(dumps ${st_sets}) \
            --output "${target_vocab_file}" --decoder_model "${decoder_model}" \
            ${target_vocab_extra:+--extra_text ${target_vocab_extra}}
    fi
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    if [ "${st_encoder}" != samu ]; then
        log "Stage 3: skipped, --st_encoder ${st_encoder} does not use the SAMU encoder"
    else
        log "Stage 3: SAMU training (${samu_objective} objective) into ${samu_exp} (log: ${samu_exp}/train.log)"
        combine "${samu_train_dump}" ${samu_train_sets}
        combine "${samu_valid_dump}" ${samu_valid_sets}
        ${train_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${samu_exp}/train.log" \
            python -m sst.bin.samu_train --config "${samu_config}" --train_dump "${samu_train_dump}" \
            --valid_dump "${samu_valid_dump}" --output_dir "${samu_exp}" --encoder_model "${encoder_model}" \
            --ngpu "${ngpu}" $(train_dist "${samu_exp}") ${objective_suffix:+--objective ${samu_objective}} \
            ${seed_args} ${samu_args}
        if [ "${samu_objective}" = semantic ]; then
            log "SAMU retrieval check on ${samu_eval_sets} (log: ${samu_exp}/samu_eval.log)"
            ${decode_cmd} --gpu 0 "${samu_exp}/samu_eval.log" \
                python -m sst.bin.samu_eval --model_dir "${samu_exp}" --teacher_model "${teacher_model}" \
                --dump_dirs $(dumps ${samu_eval_sets})
        else
            log "no retrieval check: the ${samu_objective} encoder has no embeddings in the teacher's space"
        fi
    fi
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    case "${st_encoder}" in
        samu) encoder="${samu_exp}/encoder_hf" ;;
        xlsr) encoder="${encoder_model}" ;;
        *) encoder="${st_encoder}" ;;
    esac
    vocab_args=""
    [ "${target_vocab}" = false ] || vocab_args="--target_vocabulary ${target_vocab_file}"
    log "Stage 4: ST training into ${st_exp} with encoder ${encoder} (log: ${st_exp}/train.log)"
    combine "${st_train_dump}" ${train_sets}
    combine "${st_valid_dump}" ${valid_sets}
    ${train_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${st_exp}/train.log" \
        python -m sst.bin.st_train --config "${st_config}" --train_dump "${st_train_dump}" \
        --valid_dump "${st_valid_dump}" --output_dir "${st_exp}" --encoder_model "${encoder}" \
        --decoder_model "${decoder_model}" --pack "${pack}" --ngpu "${ngpu}" $(train_dist "${st_exp}") ${vocab_args} \
        ${seed_args} ${st_args}
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    log "Stage 5: decoding into ${decode_dir}"
    if [ "${gpu_inference}" = true ]; then inference_ngpu="${ngpu}"; else inference_ngpu=0; fi
    quantize_args=""
    [ "${quantize}" = none ] || quantize_args="--quantize ${quantize}"
    log "decoding $(echo ${test_sets}) (log: ${decode_dir}/logs/decode.log)"
    ${decode_cmd} --gpu "${inference_ngpu}" --cpus "${inference_nj}" "${decode_dir}/logs/decode.log" \
        python -m sst.bin.st_inference --model_dir "${st_exp}" --dump_dir $(dumps ${test_sets}) \
        --output_dir $(for set in ${test_sets}; do echo "${decode_dir}/${set}"; done) \
        --config "${decode_config}" --nj "${inference_nj}" --ngpu "${inference_ngpu}" ${quantize_args} ${inference_args}
    if [ -n "${longform_sets}" ]; then
        log "long-form decoding $(echo ${longform_sets}) (log: ${decode_dir}_longform/logs/decode.log)"
        ${decode_cmd} --gpu "${inference_ngpu}" --cpus 1 "${decode_dir}_longform/logs/decode.log" \
            python -m sst.bin.longform_decode --model_dir "${st_exp}" --data_dir $(printf 'data/%s ' ${longform_sets}) \
            --output_dir $(printf "${decode_dir}_longform/%s " ${longform_sets}) --config "${decode_config}" ${quantize_args} ${longform_args}
    fi
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: scoring into ${st_exp}/RESULTS.md (and the model card ${st_exp}/packed/README.md)"
    score_args=(--corpus "${corpus}" --seen_langs "${train_langs}" --lid_langs "${src_langs} ${tgt_langs}")
    [ -z "${baseline_exp}" ] || score_args+=(--baseline_exp_dir "${baseline_exp}")
    python -m sst.bin.score --exp_dir "${st_exp}" --decode_dirs $(for set in ${test_sets}; do echo "${decode_dir}/${set}"; done) \
        $(for set in ${longform_sets}; do echo "${decode_dir}_longform/${set}"; done) "${score_args[@]}"
fi
log "Successfully finished stages ${stage}-${stop_stage}"

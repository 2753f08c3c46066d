#!/usr/bin/env bash
# Stages 2-6 shared by every recipe (what ESPnet's asr.sh is to its recipes): feature prep, SAMU
# distillation, adapter ST training, decoding and scoring. A recipe's run.sh prepares data/<set>/
# (stages 0-1) and calls this script from the recipe folder with the set lists, e.g.
#
#   ../../tools/st.sh --train_sets "train_fr_en train_de_en" --valid_sets "dev_fr_en dev_de_en" \
#       --test_sets "test_fr_en test_de_en" --train_tag fr.de --samu_tag fr.de ...
#
# Each stage calls python -m sst.bin.<step>; those skip work that is already done, so every stage
# can be run again. Heavy steps go through $train_cmd / $decode_cmd of the recipe's cmd.sh.
set -euo pipefail

log() { echo "$(date '+%Y-%m-%dT%H:%M:%S') ($(basename "$0")) $*"; }
die() { log "ERROR: $*" >&2; exit 1; }

stage=2                  # first stage to run (2-6)
stop_stage=6             # last stage to run
nj=4                     # parallel processes of stage 2
ngpu=1                   # GPUs for training (and for decoding with --gpu_inference true); 0: CPU. More than the
                         # machine has stops the run before stage 2 (ESPnet's default of 1 is kept, not guessed)
num_nodes=1              # nodes for training, --ngpu GPUs each (slurm: one srun task per node)
train_sets=""            # ST training sets (names of data/<set>, dump/<set>)
valid_sets=""            # ST validation sets
test_sets=""             # sets decoded and scored in stages 5-6
samu_train_sets=""       # SAMU training sets (default: --train_sets)
samu_valid_sets=""       # SAMU validation sets (default: --valid_sets)
samu_eval_sets=""        # sets of the SAMU retrieval check (default: --valid_sets)
train_tag=""             # ST training data = dump/train_<tag> + dump/dev_<tag>, combined from the sets
samu_tag=""              # SAMU training data = dump/train_<tag> + dump/dev_<tag> (default: --train_tag)
dump_config=conf/dump.yaml
samu_config=conf/tuning/train_samu.yaml
st_config=conf/tuning/train_st_samu_adapter.yaml
decode_config=conf/decode_st.yaml
encoder_model=facebook/wav2vec2-xls-r-300m
teacher_model=sentence-transformers/LaBSE
decoder_model=facebook/mbart-large-50-many-to-many-mmt
samu_exp=""              # default: exp/samu_<samu_config name>_<samu_tag>
st_exp=""                # default: exp/st_<st_config name>_<train_tag>
st_encoder=samu          # stage 4 encoder: samu (= <samu_exp>/encoder_hf), xlsr (= --encoder_model), or a HF dir/id
samu_args=""             # more options of sst.bin.samu_train (ESPnet trainer options), verbatim
st_args=""               # more options of sst.bin.st_train, verbatim
pack=adapters            # stage 4 package (<st_exp>/packed): adapters = trained tensors + the bases' ids/paths and
                         # digests (~1/10 of the size; loading needs the bases), full = every weight, self-contained
inference_args=""        # more options of sst.bin.st_inference, verbatim
inference_nj=""          # decoding processes per test set (default: --nj)
gpu_inference=false      # decode on --ngpu GPUs
inference_tag=""         # decode dir: <st_exp>/decode_<tag>/<set> (default: decode config name without
                         # "decode_", then the --inference_args, e.g. st_beam_size8)
seen_langs=""            # source languages seen in ST training (scoring tells seen and unseen apart)
corpus=covost2           # how scoring groups the directions: covost2 (resource groups), europarl_st, none
baseline_exp=""          # an experiment dir to compare with in RESULTS.md
longform_sets=""         # data dirs (with segments) also translated whole, VAD-segmented, re-segmented to their
                         # references (sst.bin.longform_decode) into <decode dir>_longform/<set> and scored
longform_args=""         # more options of sst.bin.longform_decode, e.g. "--vad_max_segment 15"
target_vocab=false       # trim mBART's output layer to the tokens of the training translations (stage 2 writes
                         # dump/target_vocab_<train_tag>.txt and text_int_trimmed, stage 4 trains with them)
target_vocab_extra=""    # plain-text files (one sentence a line) whose pieces the trimmed vocabulary keeps too
help_message="Usage: $(basename "$0") [options]   (run from a recipe folder; run.sh calls it)
Stages:
  2  feature prep: decode, resample 16 kHz mono, dump audio + shapes; teacher embeddings; target tokenisation  -> dump/
  3  SAMU distillation                  -> exp/samu_*/
  4  adapter ST training                -> exp/st_*/
  5  decoding (batched beam search)     -> exp/st_*/decode_*/
  6  scoring                            -> exp/st_*/RESULTS.md
Options (see the top of $(basename "$0") for each): --stage --stop_stage --nj --ngpu --num_nodes --train_sets --valid_sets
  --test_sets --samu_train_sets --samu_valid_sets --samu_eval_sets --train_tag --samu_tag --dump_config
  --samu_config --st_config --decode_config --encoder_model --teacher_model --decoder_model --samu_exp
  --st_exp --st_encoder --samu_args --st_args --pack --inference_args --inference_nj --gpu_inference
  --inference_tag --seen_langs --corpus --baseline_exp --longform_sets --longform_args --target_vocab
  --target_vocab_extra"
. "$(dirname "${BASH_SOURCE[0]}")/parse_options.sh"
[ $# -eq 0 ] || die "unexpected argument '$1' (see --help)"
[ -f ./path.sh ] && [ -f ./cmd.sh ] || die "run from a recipe folder (with path.sh and cmd.sh)"
. ./path.sh
. ./cmd.sh

[ -n "${train_tag}" ] || die "--train_tag is required"
samu_train_sets="${samu_train_sets:-${train_sets}}"
samu_valid_sets="${samu_valid_sets:-${valid_sets}}"
samu_eval_sets="${samu_eval_sets:-${valid_sets}}"
samu_tag="${samu_tag:-${train_tag}}"
samu_exp="${samu_exp:-exp/samu_$(basename "${samu_config}" .yaml)_${samu_tag}}"
trimmed=""
[ "${target_vocab}" = false ] || trimmed=_trimmed
st_exp="${st_exp:-exp/st_$(basename "${st_config}" .yaml)_${train_tag}${trimmed}}"
target_vocab_file="dump/target_vocab_${train_tag}.txt"
inference_nj="${inference_nj:-${nj}}"
if [ -z "${inference_tag}" ]; then  # as ESPnet's asr.sh names its decode dirs
    inference_tag="$(basename "${decode_config}" .yaml)$(echo "${inference_args}" | sed -e 's/--/_/g' -e 's/[ |=/]//g')"
    inference_tag="${inference_tag#decode_}"
fi
# One run per recipe folder at a time: a second one stops here (the lock goes with this process).
exec 9> .st.lock
flock -n 9 || die "another run of $(basename "$0") is working in $(pwd) (it holds .st.lock); wait for it to end"
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

# dumps SETS...: the dump dirs of the sets.
dumps() { local set; for set in "$@"; do printf 'dump/%s ' "${set}"; done; }

# combine SPLIT TAG SETS...: combine the dump dirs of SETS into dump/<SPLIT>_<TAG>.
combine() {
    local out="dump/$1_$2"
    shift 2
    [ $# -gt 0 ] || die "no sets to combine into ${out}"
    [[ " $* " != *" ${out#dump/} "* ]] || die "${out} would overwrite one of its inputs; choose another tag"
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
    log "teacher embeddings of $(echo ${samu_sets}) (${teacher_model}; log: dump/logs/embed_teacher.log)"
    ${decode_cmd} --gpu "$(( ngpu > 0 ? 1 : 0 ))" dump/logs/embed_teacher.log \
        python -m sst.bin.embed_teacher --dump_dirs $(dumps ${samu_sets}) --teacher_model "${teacher_model}"
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
        log "Stage 3: SAMU distillation into ${samu_exp} (log: ${samu_exp}/train.log)"
        combine train "${samu_tag}" ${samu_train_sets}
        combine dev "${samu_tag}" ${samu_valid_sets}
        ${train_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${samu_exp}/train.log" \
            python -m sst.bin.samu_train --config "${samu_config}" --train_dump "dump/train_${samu_tag}" \
            --valid_dump "dump/dev_${samu_tag}" --output_dir "${samu_exp}" --encoder_model "${encoder_model}" \
            --ngpu "${ngpu}" $(train_dist "${samu_exp}") ${samu_args}
        log "SAMU retrieval check on ${samu_eval_sets} (log: ${samu_exp}/samu_eval.log)"
        ${decode_cmd} --gpu 0 "${samu_exp}/samu_eval.log" \
            python -m sst.bin.samu_eval --model_dir "${samu_exp}" --teacher_model "${teacher_model}" \
            --dump_dirs $(dumps ${samu_eval_sets})
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
    combine train "${train_tag}" ${train_sets}
    combine dev "${train_tag}" ${valid_sets}
    ${train_cmd} --gpu "${ngpu}" --num_nodes "${num_nodes}" "${st_exp}/train.log" \
        python -m sst.bin.st_train --config "${st_config}" --train_dump "dump/train_${train_tag}" \
        --valid_dump "dump/dev_${train_tag}" --output_dir "${st_exp}" --encoder_model "${encoder}" \
        --decoder_model "${decoder_model}" --pack "${pack}" --ngpu "${ngpu}" $(train_dist "${st_exp}") ${vocab_args} \
        ${st_args}
fi

decode_dir="${st_exp}/decode_${inference_tag}"
if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    log "Stage 5: decoding into ${decode_dir}"
    if [ "${gpu_inference}" = true ]; then inference_ngpu="${ngpu}"; else inference_ngpu=0; fi
    log "decoding $(echo ${test_sets}) (log: ${decode_dir}/logs/decode.log)"
    ${decode_cmd} --gpu "${inference_ngpu}" --cpus "${inference_nj}" "${decode_dir}/logs/decode.log" \
        python -m sst.bin.st_inference --model_dir "${st_exp}" --dump_dir $(dumps ${test_sets}) \
        --output_dir $(for set in ${test_sets}; do echo "${decode_dir}/${set}"; done) \
        --config "${decode_config}" --nj "${inference_nj}" --ngpu "${inference_ngpu}" ${inference_args}
    if [ -n "${longform_sets}" ]; then
        log "long-form decoding $(echo ${longform_sets}) (log: ${decode_dir}_longform/logs/decode.log)"
        ${decode_cmd} --gpu "${inference_ngpu}" --cpus 1 "${decode_dir}_longform/logs/decode.log" \
            python -m sst.bin.longform_decode --model_dir "${st_exp}" --data_dir $(printf 'data/%s ' ${longform_sets}) \
            --output_dir $(printf "${decode_dir}_longform/%s " ${longform_sets}) --config "${decode_config}" ${longform_args}
    fi
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    log "Stage 6: scoring into ${st_exp}/RESULTS.md (and the model card ${st_exp}/packed/README.md)"
    score_args=(--corpus "${corpus}")
    [ -z "${seen_langs}" ] || score_args+=(--seen_langs "${seen_langs}")
    [ -z "${baseline_exp}" ] || score_args+=(--baseline_exp_dir "${baseline_exp}")
    python -m sst.bin.score --exp_dir "${st_exp}" --decode_dirs $(for set in ${test_sets}; do echo "${decode_dir}/${set}"; done) \
        $(for set in ${longform_sets}; do echo "${decode_dir}_longform/${set}"; done) ${score_args[@]+"${score_args[@]}"}
fi
log "Successfully finished stages ${stage}-${stop_stage}"

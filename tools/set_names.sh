# Set names of the many-to-many recipes (egs/covost2, egs/europarl_st), sourced by their run.sh after the
# options are parsed; they read ${tgt_langs}. A set is <split>_<src>_<tgt>, e.g. train_fr_en.

# sets SPLIT LANG...: the sets of these source languages into every target language, e.g.
# "train_fr_en train_fr_es train_de_en train_de_es" (a language into itself is left out).
sets() {
    local split="$1" src tgt
    shift
    for src in "$@"; do
        for tgt in ${tgt_langs}; do
            [ "${src}" = "${tgt}" ] || printf '%s ' "${split}_${src}_${tgt}"
        done
    done
}

# samu_sets SPLIT LANG...: one set per source language, into the first other target language: SAMU
# learns from the speech and its transcript, which every target language's set repeats.
samu_sets() {
    local split="$1" src tgt
    shift
    for src in "$@"; do
        for tgt in ${tgt_langs}; do
            if [ "${src}" != "${tgt}" ]; then printf '%s ' "${split}_${src}_${tgt}"; break; fi
        done
    done
}

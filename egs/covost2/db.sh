# Where the corpora are. An environment variable of the same name wins over these defaults, and the
# run.sh options --covost2, --commonvoice and --europarl_st win over both. Stage 0 fills the defaults
# (or prints what to download by hand).

# CoVoST-2 translations: covost_v2.<src>_<tgt>.tsv (https://github.com/facebookresearch/covost)
COVOST2=${COVOST2:-downloads/covost2}
# Common Voice Corpus 4 (cv-corpus-4-2019-12-10) or any later release: <lang>/validated.tsv, <lang>/clips/*.mp3
COMMONVOICE=${COMMONVOICE:-downloads/commonvoice}
# Europarl-ST v1.1 (https://www.mllp.upv.es/europarl-st/): v1.1/<src>/audios/, v1.1/<src>/<tgt>/<split>/
EUROPARL_ST=${EUROPARL_ST:-downloads/europarl_st}

# The demo corpus ships with the recipe (CoVoST-2 + Common Voice 4 layout, see local/README.md).
COVOST2=${COVOST2:-corpus/covost}
COMMONVOICE=${COMMONVOICE:-corpus/commonvoice}

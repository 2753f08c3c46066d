"""Language codes: corpus codes, mBART-50 codes and the resource groups used in result tables."""
from __future__ import annotations

from collections.abc import Sequence

from sst.errors import ConfigError

# mBART-50's language codes, keyed by the two-letter code the corpora use.
MBART50_CODES: dict[str, str] = {
    "ar": "ar_AR", "cs": "cs_CZ", "de": "de_DE", "en": "en_XX", "es": "es_XX", "et": "et_EE",
    "fi": "fi_FI", "fr": "fr_XX", "gu": "gu_IN", "hi": "hi_IN", "it": "it_IT", "ja": "ja_XX",
    "kk": "kk_KZ", "ko": "ko_KR", "lt": "lt_LT", "lv": "lv_LV", "my": "my_MM", "ne": "ne_NP",
    "nl": "nl_XX", "ro": "ro_RO", "ru": "ru_RU", "si": "si_LK", "tr": "tr_TR", "vi": "vi_VN",
    "zh": "zh_CN", "af": "af_ZA", "az": "az_AZ", "bn": "bn_IN", "fa": "fa_IR", "he": "he_IL",
    "hr": "hr_HR", "id": "id_ID", "ka": "ka_GE", "km": "km_KH", "mk": "mk_MK", "ml": "ml_IN",
    "mn": "mn_MN", "mr": "mr_IN", "pl": "pl_PL", "ps": "ps_AF", "pt": "pt_XX", "sv": "sv_SE",
    "sw": "sw_KE", "ta": "ta_IN", "te": "te_IN", "th": "th_TH", "tl": "tl_XX", "uk": "uk_UA",
    "ur": "ur_PK", "xh": "xh_ZA", "gl": "gl_ES", "sl": "sl_SI",
}

# CoVoST-2 source languages (X->En) and targets (En->X), in CoVoST's spelling.
COVOST2_X_TO_EN = ("fr", "de", "es", "ca", "it", "ru", "zh-CN", "pt", "fa", "et", "mn", "nl",
                   "tr", "ar", "sv-SE", "lv", "sl", "ta", "ja", "id", "cy")
COVOST2_EN_TO_X = ("de", "ca", "zh-CN", "fa", "et", "mn", "tr", "ar", "sv-SE", "lv", "sl", "ta",
                   "ja", "id", "cy")
EUROPARL_ST_LANGS = ("en", "fr", "de", "it", "es", "pt", "pl", "ro", "nl")

# Resource groups of the CoVoST-2 X->En directions, as the paper reports them.
RESOURCE_GROUPS: dict[str, tuple[str, ...]] = {
    "high": ("fr", "de", "es", "ca"),
    "mid": ("fa", "it", "ru", "pt", "zh"),
}

# Targets scored with sacreBLEU's character-level tokenisation.
CHARACTER_LEVEL_TARGETS = ("zh", "ja")


def normalize(code: str) -> str:
    """Map a corpus language code ("zh-CN", "sv-SE", "fr") to its two-letter form ("zh", "sv", "fr")."""
    return code.split("-")[0].split("_")[0].lower()


def covost2_code(lang: str) -> str:
    """The spelling CoVoST-2 and Common Voice use for a language ("zh" -> "zh-CN")."""
    for code in set(COVOST2_X_TO_EN) | set(COVOST2_EN_TO_X) | {"en"}:
        if normalize(code) == normalize(lang):
            return code
    raise ConfigError(f"unknown CoVoST-2 language code {lang!r}; known: "
                      f"{' '.join(sorted(set(COVOST2_X_TO_EN) | {'en'}))}")


def mbart_code(lang: str) -> str:
    """The mBART-50 language token for a language ("fr" -> "fr_XX"); a clear error if it has none."""
    short = normalize(lang)
    if short not in MBART50_CODES:
        raise ConfigError(f"language {lang!r} has no mBART-50 language code, so the mBART-50 "
                          f"decoder cannot be forced to produce it")
    return MBART50_CODES[short]


def check_targets(tgt_langs: Sequence[str], option: str = "--tgt_langs") -> None:
    """ConfigError, one line saying why and what to do, if a target language has no mBART-50 code.

    The decoder is told what to write by its forced language token; mBART-50 has none for e.g.
    Catalan and Welsh (CoVoST-2 en->ca, en->cy), so such targets are refused rather than trained on
    another language's token.
    """
    lacking = [lang for lang in tgt_langs if normalize(lang) not in MBART50_CODES]
    if lacking:
        raise ConfigError(f"{option}: mBART-50 has no language code for {' '.join(lacking)}, so its decoder "
                          f"cannot be forced to write {'it' if len(lacking) == 1 else 'them'}; leave "
                          f"{' '.join(lacking)} out of {option} (targets with a code: "
                          f"{' '.join(sorted(MBART50_CODES))})")


def resource_group(lang: str) -> str:
    """"high", "mid" or "low" for a CoVoST-2 source language."""
    short = normalize(lang)
    for group, members in RESOURCE_GROUPS.items():
        if short in members:
            return group
    return "low"

#!/usr/bin/env bash
# Build the project's virtualenv at tools/venv with the pinned stack; idempotent.
# A second run with an unchanged setup.py returns in seconds.
#   PYTHON=python3.11 tools/install.sh      # choose the interpreter (default: python3)
set -euo pipefail

root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"  # -P: through a linked tools/ too
venv="${root}/tools/venv"
stamp="${venv}/.sst-installed"
python="${PYTHON:-python3}"

want="$(cat "${root}/setup.py" | sha256sum | cut -d' ' -f1)"
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${want}" ]; then
    echo "sst: environment up to date (${venv})"
    exit 0
fi

if ! "${python}" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 12) else 1)'; then
    echo "sst: ${python} is $("${python}" --version 2>&1); Python 3.10 or 3.11 is required (set PYTHON=...)" >&2
    exit 1
fi

[ -x "${venv}/bin/python" ] || "${python}" -m venv "${venv}"
# pip >= 25 refuses ci_sdr, an espnet dependency.
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "pip>=24,<25"
echo "sst: installing the pinned stack into ${venv} (first run downloads a few GB)"
"${venv}/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
    -e "${root}[test]" 2>&1 | grep -vE "^(Requirement already satisfied|  Using cached|  Downloading)" || true
"${venv}/bin/python" -c "import sst, espnet2, transformers, sentence_transformers, torchaudio" \
    || { echo "sst: installation failed, see the pip output above" >&2; exit 1; }
echo "${want}" > "${stamp}"
echo "sst: environment ready (${venv})"

# Environment of the recipe scripts: the project's virtualenv, byte-order sorting, unbuffered Python logs.
sst_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ ! -f "${sst_root}/tools/venv/bin/activate" ]; then
    echo "path.sh: no virtualenv at ${sst_root}/tools/venv; install it with: (cd ${sst_root} && tools/install.sh)" >&2
    return 1
fi
. "${sst_root}/tools/venv/bin/activate"
export LC_ALL=C            # sort keys by bytes, as the Kaldi-style files are
export PYTHONUNBUFFERED=1  # progress shows up in the logs as it happens

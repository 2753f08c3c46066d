#!/usr/bin/env bash
# Install the environment if needed (tools/install.sh), then run the test suite.
#   tools/test.sh                 # everything, the mini_st demo recipe end to end included
#   tools/test.sh -k covost2 -x   # arguments go to pytest
#   tools/test.sh -m "not slow"   # the fast loop: without the demo run, DDP and kill-and-rerun tests
set -euo pipefail
root="$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"  # -P: through a linked tools/ too
"${root}/tools/install.sh"
"${root}/tools/install_browser.sh"
cd "${root}"
exec "${root}/tools/venv/bin/python" -m pytest test "$@"

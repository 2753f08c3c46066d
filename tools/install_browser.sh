#!/usr/bin/env bash
# Install the headless browser the web-page test drives (Debian's chromium and chromium-driver), if missing.
# Needs root or password-less sudo; the test names this script when the browser is not there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get > /dev/null; then
    echo "sst: the web-page test needs chromium and chromedriver at /usr/bin; install them with your package manager" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo -n"
fi
echo "sst: installing chromium and chromium-driver (Debian packages) for the web-page test"
${sudo} apt-get update -qq
DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq chromium chromium-driver > /dev/null

#!/usr/bin/env bash
# Make sure the browser tests have Debian's Chromium (/usr/bin/chromium), which
# playwright-core drives headless with WebGPU on SwiftShader. Never a
# downloaded browser: the package comes from the machine's own Debian archive.
#
# Idempotent: if Chromium is there (or CHROMIUM_PATH names one), it does
# nothing. Otherwise, on Debian as root, it installs the `chromium` package;
# elsewhere it prints what to install and exits non-zero.
set -euo pipefail

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then exit 0; fi

if ! { [ -r /etc/os-release ] && grep -q '^ID=debian' /etc/os-release; }; then
  echo "setup-browser: no Chromium at $chromium. Install Chromium (or Chrome) and set CHROMIUM_PATH to it." >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-browser: run as root, or install Debian's chromium package yourself (apt-get install chromium)." >&2
  exit 1
fi
echo "setup-browser: installing Debian's chromium (browser tests and the demo page)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "setup-browser: installed $("$chromium" --version 2>/dev/null || echo chromium)"

#!/usr/bin/env bash
# Installs Debian's chromium (for the browser test) when it is missing. Needs root (CI is root).
set -euo pipefail
command -v chromium >/dev/null && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null

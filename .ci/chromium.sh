#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (e2e/browser_test.go) when
# /usr/bin/chromium is missing. Needs root (or sudo) and the Debian archive.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
	/usr/bin/chromium --version 2>/dev/null || true
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "chromium.sh: /usr/bin/chromium is missing and we are not root; install Debian's chromium" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version

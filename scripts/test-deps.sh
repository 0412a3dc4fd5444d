#!/usr/bin/env bash
# Installs what `make test` needs besides Go and MariaDB (scripts/db.sh installs that):
# systemd-analyze (the unit files are verified) and Chromium (the dashboard is tested in
# a headless browser). As root with apt, it installs what is missing; otherwise it says
# what to install, and the tests that need it fail with the same advice.
set -euo pipefail

missing=()
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: installing ${missing[*]}" >&2
	apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "${missing[@]}" >&2
else
	echo "test-deps: missing ${missing[*]}: install them (e.g. sudo apt-get install ${missing[*]}); the tests that need them will fail" >&2
fi

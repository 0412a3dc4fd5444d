#!/usr/bin/env bash
# scripts/chaos.sh — build iactq and run the fault-injection scenarios (package chaos).
#
# usage: scripts/chaos.sh [--short] [--scenario crash,away,contention,badinput,privilege,galera] [--dir DIR]
#
# The scenarios start their own private MariaDB servers with scripts/db.sh
# (.iactq/chaos, .iactq/chaos-away) and remove them afterwards. Exit status 1 when a
# scenario fails; the summary table is printed either way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
go build -o bin/iactq ./cmd/iactq
exec go run ./chaos/cmd --bin bin/iactq --root . "$@"

#!/usr/bin/env bash
# scripts/version.sh — iactq's version from git, as a Debian version (it sorts the way
# releases do). From `git describe --tags --always --dirty`:
#   tag v1.4.0 on HEAD            1.4.0
#   3 commits after v1.4.0        1.4.0+git20261203161500.3.1a2b3c4d5e6f
#   no tag yet                    0.0~git20261203161500.1a2b3c4d5e6f
# (the commit time, UTC, keeps later commits later) and "+dirty" or ".dirty" for a work
# tree with uncommitted changes. Outside git: 0.0~unknown.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
desc=$(git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null) || { echo 0.0~unknown; exit 0; }
dirty=''
case $desc in *-dirty) dirty=1; desc=${desc%-dirty} ;; esac
when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S HEAD)
hash=$(git rev-parse --short=12 HEAD)
if [[ $desc =~ ^v([0-9][0-9A-Za-z.~+]*)-([0-9]+)-g[0-9a-f]+$ ]]; then
	v="${BASH_REMATCH[1]}+git$when.${BASH_REMATCH[2]}.$hash"
elif [[ $desc =~ ^v([0-9][0-9A-Za-z.~+]*)$ ]]; then
	v=${BASH_REMATCH[1]}
else
	v="0.0~git$when.$hash"
fi
if [ -n "$dirty" ]; then
	case $v in *+*) v="$v.dirty" ;; *) v="$v+dirty" ;; esac
fi
echo "$v"

#!/usr/bin/env bash
# scripts/check-restrictions.sh [DIR] — the IACT platform's critical restrictions.
#
#   1. No Redis: no Redis client (go-redis, redigo, rueidis, any import path naming redis)
#      imported by Go code or required in go.mod; no Redis in Django settings.
#   2. No e-mail: no mail-sending package (net/smtp, gomail, go-mail, go-simple-mail,
#      jordan-wright/email, go-smtp, mail-service SDKs) imported by Go code or required in
#      go.mod, and no "sendmail" in Go code; no SMTP EMAIL_BACKEND in Django settings.
#   3. Django sessions live in the database: every settings*.py (and every .py in a
#      settings/ package) that sets SESSION_ENGINE sets it to
#      'django.contrib.sessions.backends.db' (Django's default, so leaving it unset is fine).
#
# Checks DIR (default: the repository root), skipping .git/, .iactq/, vendor/,
# node_modules/, testdata/ (not compiled by Go) and this script. Prints every violation as
# file:line and exits 1; prints "restrictions: ok" and exits 0 otherwise.
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
TARGET=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
[[ -d $TARGET ]] || {
	echo "check-restrictions: $TARGET is not a directory" >&2
	exit 2
}
cd "$TARGET"

violations=()
add() { violations+=("$1"); } # "file:line: reason: text"

# Prints NUL-separated paths below . matching the find predicates given, pruning what
# is not ours to check.
files() {
	find . \( -name .git -o -name .iactq -o -name vendor -o -name node_modules -o -name testdata \) \
		-prune -o -type f \( "$@" \) -print0
}

is_self() {
	local abs
	abs=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	[[ $abs == "$SELF" ]]
}

# Import paths that are a Redis client, or send e-mail.
REDIS_RE='redis|redigo|rueidis'
MAIL_RE='(^|/)net/smtp$|smtp|gomail|go-mail|simple-mail|jordan-wright/email|sendmail|sendgrid|mailgun|postmark|mailjet|sparkpost|/service/sesv?2?$'

# An import spec alone on its line: `import "p"`, `import x "p"`, or `x "p"` / `"p"` inside
# an import block, optionally followed by a comment.
IMPORT_RE='^[[:space:]]*(import[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*[[:space:]]+|[._][[:space:]]+)?"([^"]+)"[[:space:]]*(//.*)?$'

check_go_file() {
	local f=$1 n=0 line path code in_block=0 in_comment=0
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		# Skip /* ... */ comment blocks (good enough for real code).
		if ((in_comment)); then
			[[ $line == *'*/'* ]] && in_comment=0
			continue
		fi
		if [[ $line =~ ^[[:space:]]*/\* && $line != *'*/'* ]]; then
			in_comment=1
			continue
		fi
		[[ $line =~ ^[[:space:]]*// ]] && continue
		if [[ $line =~ ^[[:space:]]*import[[:space:]]*\( ]]; then
			in_block=1
			continue
		fi
		if ((in_block)) && [[ $line =~ ^[[:space:]]*\) ]]; then
			in_block=0
			continue
		fi
		if [[ $line =~ ^[[:space:]]*import[[:space:]] ]] || ((in_block)); then
			if [[ $line =~ $IMPORT_RE ]]; then
				path=${BASH_REMATCH[3]}
				if [[ ${path,,} =~ $REDIS_RE ]]; then
					add "$f:$n: Redis client import (no Redis on the IACT platform): $path"
				elif [[ ${path,,} =~ $MAIL_RE ]]; then
					add "$f:$n: e-mail sending import (no e-mail on the IACT platform; use internal_messages): $path"
				fi
			fi
			continue
		fi
		code=${line%%//*}
		if [[ ${code,,} == *sendmail* ]]; then
			add "$f:$n: sendmail in Go code (no e-mail on the IACT platform): $(trim "$line")"
		fi
	done <"$f"
}

check_go_mod() {
	local f=$1 n=0 line code
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		code=${line%%//*}
		[[ $code =~ ^[[:space:]]*(module|go|toolchain)[[:space:]] ]] && continue
		if [[ ${code,,} =~ $REDIS_RE ]]; then
			add "$f:$n: Redis client in go.mod (no Redis on the IACT platform): $(trim "$line")"
		elif [[ ${code,,} =~ (smtp|gomail|go-mail|simple-mail|jordan-wright/email|sendmail|sendgrid|mailgun|postmark|mailjet|sparkpost|service/sesv?2?[[:space:]]) ]]; then
			add "$f:$n: e-mail sending module in go.mod (no e-mail on the IACT platform): $(trim "$line")"
		fi
	done <"$f"
}

SESSION_DB='django.contrib.sessions.backends.db'
check_settings_py() {
	local f=$1 n=0 line code value
	while IFS= read -r line || [[ -n $line ]]; do
		n=$((n + 1))
		code=${line%%#*}
		if [[ $code =~ ^[[:space:]]*SESSION_ENGINE[[:space:]]*(:[^=]*)?= ]]; then
			if [[ $code =~ =[[:space:]]*[\"\']([^\"\']*)[\"\'][[:space:]]*$ ]]; then
				value=${BASH_REMATCH[1]}
				if [[ $value != "$SESSION_DB" ]]; then
					add "$f:$n: Django sessions must be stored in the database (SESSION_ENGINE = '$SESSION_DB'), found '$value'"
				fi
			else
				add "$f:$n: SESSION_ENGINE must be the literal '$SESSION_DB': $(trim "$line")"
			fi
		fi
		if [[ ${code,,} == *redis* ]]; then
			add "$f:$n: Redis in Django settings (no Redis on the IACT platform): $(trim "$line")"
		fi
		if [[ $code =~ ^[[:space:]]*EMAIL_BACKEND[[:space:]]*(:[^=]*)?= && $code == *smtp* ]]; then
			add "$f:$n: SMTP e-mail backend in Django settings (no e-mail on the IACT platform): $(trim "$line")"
		fi
	done <"$f"
}

trim() {
	local s=$1
	s=${s#"${s%%[![:space:]]*}"}
	printf '%s' "${s:0:160}"
}

# Only files that mention a suspicious word at all are read line by line.
SUSPECT_RE='redis|redigo|rueidis|smtp|mail|sendgrid|postmark|sparkpost|service/ses'
while IFS= read -r -d '' f; do
	is_self "$f" && continue
	grep -qiE "$SUSPECT_RE" "$f" || continue
	check_go_file "$f"
done < <(files -name '*.go')

while IFS= read -r -d '' f; do
	check_go_mod "$f"
done < <(files -name go.mod)

while IFS= read -r -d '' f; do
	is_self "$f" && continue
	check_settings_py "$f"
done < <(files -name 'settings*.py' -o -path '*/settings/*.py')

if ((${#violations[@]} > 0)); then
	echo "restrictions: FAILED — the IACT platform forbids Redis and e-mail, and keeps Django sessions in the database:" >&2
	for v in "${violations[@]}"; do
		printf '  %s\n' "${v#./}" >&2
	done
	exit 1
fi
echo "restrictions: ok"

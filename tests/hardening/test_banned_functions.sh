#!/usr/bin/env bash
# provisions: 5.6-9
# Rejects calls to functions the project bans (conventions.md, after curl's
# checksrc): unbounded copies and formatting (strcpy, strcat, sprintf,
# vsprintf, gets), stateful or unchecked parsing (strtok, sscanf, atoi, atol,
# atoll), strncpy (no guaranteed NUL), and the non-cryptographic rand/srand.
# Use snprintf, memcpy with checked lengths, strtol/strtoull with end checks,
# and hearth_random. Also requires secrets to be compared with
# hearth_ct_equal: memcmp on a variable whose name says key/token/hash/mac/
# password/secret/tag is refused.
set -euo pipefail
S=${HEARTH_SOURCE_DIR:?}
cd "$S"
dirs=()
for d in src daemon boot tools fetch services include; do [ -d "$d" ] && dirs+=("$d"); done
banned='(?<![\w>.])(strcpy|strcat|sprintf|vsprintf|gets|strtok|sscanf|atoi|atol|atoll|strncpy|rand|srand)\s*\('
hits=$(grep -rnP --include='*.c' --include='*.h' "$banned" "${dirs[@]}" || true)
secret_cmp='memcmp\s*\([^;]*(key|token|hash|mac|passw|secret|tag)[a-z_]*\s*[,)]'
hits2=$(grep -rniP --include='*.c' "$secret_cmp" "${dirs[@]}" | grep -viE 'key_id|magic' || true)
n=$(find "${dirs[@]}" -name '*.[ch]' | wc -l)
status=0
# Positive controls: the patterns do find what they ban (an unusable grep or
# a broken pattern would otherwise report "no hits" on any tree), and there
# are sources to look at.
[ "${#dirs[@]}" -gt 0 ] && [ "$n" -gt 0 ] || { echo "FAIL: no source files found under $S"; status=1; }
printf 'x = strcpy(d, s);\n' | grep -qP "$banned" || { echo "FAIL: the banned-call pattern misses strcpy("; status=1; }
printf '  y = hearth_strcpy(d, s);\n' | grep -qP "$banned" && { echo "FAIL: the banned-call pattern hits hearth_strcpy("; status=1; }
printf 'if (memcmp(a, token, 32))\n' | grep -qiP "$secret_cmp" || { echo "FAIL: the secret-compare pattern misses memcmp on a token"; status=1; }
if [ -n "$hits" ]; then echo "FAIL: banned functions:"; echo "$hits"; status=1; fi
if [ -n "$hits2" ]; then echo "FAIL: memcmp on what looks like a secret (use hearth_ct_equal):"; echo "$hits2"; status=1; fi
[ $status -eq 0 ] && echo "ok: no banned calls and no memcmp on secrets in $n source files"
exit $status

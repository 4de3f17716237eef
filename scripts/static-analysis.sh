#!/usr/bin/env bash
# Static analysis with zero findings (docs/static-analysis.md): cppcheck and
# clang-tidy over every C file of src daemon boot fetch tools apps ports, at
# the configuration in the repository (.clang-tidy, .cppcheck-suppressions,
# the options below), using the compile commands of a build directory (its
# include paths, defines and language standard). Any finding fails.
# Usage: scripts/static-analysis.sh [-B BUILD_DIR] [-p DB_DIR] [-j N]
#                                   cppcheck|clang-tidy|all [FILE...]
#   -B  build directory (default build/; configured and built when it has no
#       compile_commands.json, because generated headers are needed)
#   -p  directory holding the compile_commands.json to use (default BUILD_DIR)
#   -j  parallel jobs (default: nproc)
#   FILE...  check only these files (each must be in the compile database);
#       default: every file of the database under the directories above.
# Exit status: 0 no finding, 1 findings (printed), 2 usage or tool error.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build db="" jobs=$(nproc)
while getopts "B:p:j:" o; do
  case $o in
    B) build=$OPTARG ;;
    p) db=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
tool=${1:-}
[ $# -gt 0 ] && shift
case $tool in cppcheck|clang-tidy|all) ;; *) sed -n '7,16p' "$0" >&2; exit 2 ;; esac

dirs=(src daemon boot fetch tools apps ports)
if [ -z "$db" ]; then
  db=$build
  if [ ! -f "$build/compile_commands.json" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$build" -j "$jobs" >/dev/null
  fi
fi
[ -f "$db/compile_commands.json" ] || { echo "static-analysis: no $db/compile_commands.json" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The compile database restricted to the files to check (clang-tidy and
# cppcheck both read it; tests/ and bench/ are not part of the product).
python3 - "$db/compile_commands.json" "$work/compile_commands.json" "$root" "${dirs[*]}" "$@" <<'EOF'
import json, os, sys
src, dst, root, dirs, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(), sys.argv[5:]
entries = json.load(open(src))
def path(e):
    return os.path.realpath(os.path.join(e["directory"], e["file"]))
if files:
    want = {os.path.realpath(f) for f in files}
    keep = [e for e in entries if path(e) in want]
    missing = want - {path(e) for e in keep}
    if missing:
        print("static-analysis: not in the compile database: " + " ".join(sorted(missing)), file=sys.stderr)
        sys.exit(2)
else:
    prefixes = tuple(os.path.join(os.path.realpath(root), d) + "/" for d in dirs)
    keep = [e for e in entries if path(e).startswith(prefixes)]
json.dump(keep, open(dst, "w"), indent=1)
EOF
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/compile_commands.json")
[ "$n" -gt 0 ] || { echo "static-analysis: no files to check" >&2; exit 2; }

status=0
header_re="^$root/(include/hearth|$(IFS='|'; echo "${dirs[*]}"))/"

run_cppcheck() {
  local out=$work/cppcheck.txt rc=0
  # warning,style,performance,portability: every class except information
  # (which reports missing system headers cppcheck does not need). The
  # libraries describe the APIs the code calls (allocation/ownership, NULL
  # and buffer-size rules) so that misuse is found across the calls.
  # cppcheck does not know the compiler's predefined macros: give it the
  # target architecture's, so architecture-specific code is checked and an
  # #error for unknown architectures is not taken.
  local arch
  arch=$(cc -dM -E - </dev/null | sed -n 's/^#define \(__\(x86_64\|i386\|aarch64\|arm\)__\) .*/-D\1/p')
  # shellcheck disable=SC2086
  cppcheck --project="$work/compile_commands.json" -j "$jobs" --quiet $arch \
    --enable=warning,style,performance,portability --std=c11 \
    --library=posix,gnu,openssl,libcurl \
    --inline-suppr --suppressions-list="$root/.cppcheck-suppressions" \
    --error-exitcode=1 \
    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
    2>"$out" || rc=$?
  if [ "$rc" -ne 0 ] || [ -s "$out" ]; then
    cat "$out"
    echo "cppcheck $(cppcheck --version | sed 's/^Cppcheck //'): FAIL: $(grep -c '\[[A-Za-z0-9_]*\]$' "$out" || true) finding(s) in $n files (exit $rc)"
    status=1
  else
    echo "cppcheck $(cppcheck --version | sed 's/^Cppcheck //'): $n files, 0 findings"
  fi
}

run_clang_tidy() {
  local out=$work/clang-tidy.txt rc=0 ct=clang-tidy-14
  command -v "$ct" >/dev/null || ct=clang-tidy
  # One clang-tidy per file, $jobs at a time. The configuration is
  # $root/.clang-tidy (WarningsAsErrors: a finding makes clang-tidy exit
  # non-zero); headers of the project are checked where they are included.
  # The build may use gcc: options clang does not know are not findings.
  python3 -c 'import json,sys; [print(e["file"]) for e in json.load(open(sys.argv[1]))]' \
      "$work/compile_commands.json" |
    xargs -d '\n' -P "$jobs" -n 1 "$ct" -p "$work" --quiet \
      --config-file="$root/.clang-tidy" --header-filter="$header_re" \
      --extra-arg=-Wno-unknown-warning-option >"$out" 2>"$work/clang-tidy.err" || rc=$?
  # clang-tidy prints "N warnings generated/treated as errors" on stderr
  # even with --quiet; keep anything else (tool errors) visible.
  grep -vE '^[0-9]+ (warnings?|errors?) (generated|treated as errors?)\.$|^Error while processing ' \
    "$work/clang-tidy.err" >>"$out" || true
  local nf
  nf=$(grep -cE '^[^ ].*:[0-9]+:[0-9]+: (warning|error):' "$out" || true)
  if [ "$rc" -ne 0 ] || [ "$nf" -gt 0 ] || [ -s "$out" ]; then
    cat "$out"
    echo "$("$ct" --version | sed -n 's/.*LLVM version /clang-tidy /p'): FAIL: $nf finding(s) in $n files (exit $rc)"
    status=1
  else
    echo "$("$ct" --version | sed -n 's/.*LLVM version /clang-tidy /p'): $n files, 0 findings"
  fi
}

case $tool in
  cppcheck) run_cppcheck ;;
  clang-tidy) run_clang_tidy ;;
  all) run_cppcheck; run_clang_tidy ;;
esac
exit $status

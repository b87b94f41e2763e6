#!/usr/bin/env bash
# Checks one page of tessel's help and runs its examples.
#
#   check_help.sh TESSEL REPO PAGE
#
# PAGE is a command (its page is `tessel PAGE --help`), "overview"
# (`tessel --help`) or "unknown-command". A command's page must
#   - be what `tessel help PAGE` and `tessel PAGE -h` print too, exit 0;
#   - name every flag tools/tessel/<Page>Command.cpp reads (FLAGS_x, and the
#     flags of the shared helpers it calls), each of which exists
#     (`tessel --helpfull` lists it);
#   - have an "Examples:" section, every line of which (but # comments) runs,
#     in order, with exit 0, in a fresh directory where examples/ and tests/
#     are links to the repository's, so whatever an example writes lands there.
set -uo pipefail

tessel=$(realpath "$1")
repo=$(realpath "$2")
page=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL ($page): $*" >&2
  exit 1
}

if [ "$page" = unknown-command ]; then
  "$tessel" no-such-command >"$work/out" 2>"$work/err"
  rc=$?
  [ "$rc" = 2 ] || fail "'tessel no-such-command' exited $rc, expected 2"
  [ "$(wc -l <"$work/err")" = 1 ] || fail "expected one line on stderr, got: $(cat "$work/err")"
  grep -q "unknown command 'no-such-command'.*run, compile" "$work/err" ||
    fail "the error does not list the commands: $(cat "$work/err")"
  "$tessel" help no-such-command 2>/dev/null
  rc=$?
  [ "$rc" = 2 ] || fail "'tessel help no-such-command' exited $rc, expected 2"
  echo "ok: unknown commands exit 2 with one line listing the commands"
  exit 0
fi

# The page, and its other spellings.
if [ "$page" = overview ]; then
  spellings=("--help" "help" "-h")
else
  spellings=("$page --help" "help $page" "$page -h")
fi
for spelling in "${spellings[@]}"; do
  # shellcheck disable=SC2086 # the spelling is several words on purpose
  "$tessel" $spelling >"$work/page-now" 2>"$work/page-err"
  rc=$?
  [ "$rc" = 0 ] || fail "'tessel $spelling' exited $rc: $(cat "$work/page-err")"
  [ -s "$work/page-now" ] || fail "'tessel $spelling' printed nothing on stdout"
  if [ -f "$work/page" ]; then
    cmp -s "$work/page" "$work/page-now" || fail "'tessel $spelling' differs from 'tessel ${spellings[0]}'"
  else
    mv "$work/page-now" "$work/page"
  fi
done
grep -q '^Examples:$' "$work/page" || fail "no 'Examples:' section"

if [ "$page" = overview ]; then
  # Every command (tools/tessel/<Name>Command.cpp) has its line.
  for source in "$repo"/tools/tessel/*Command.cpp; do
    name=$(basename "$source" Command.cpp | tr '[:upper:]' '[:lower:]')
    grep -qE "^  $name +[a-z]" "$work/page" || fail "the overview does not list '$name'"
  done
  grep -q "tessel help COMMAND" "$work/page" || fail "the overview does not say how to get a command's page"
else
  # The flags the page lists exist...
  "$tessel" --helpfull >"$work/helpfull" 2>&1
  sed -n '/^Flags:$/,/^Examples:$/p' "$work/page" | grep -oE '^  --?[a-z0-9_]+' |
    sed -E 's/^ +-+//' | sort -u >"$work/listed"
  [ -s "$work/listed" ] || fail "no flags listed under 'Flags:'"
  while read -r flag; do
    grep -qE -- "^ +--$flag \(" "$work/helpfull" || fail "the page lists --$flag, which is not a flag"
  done <"$work/listed"
  # ... and include every flag the command's source reads.
  source="$repo/tools/tessel/${page^}Command.cpp"
  [ -f "$source" ] || fail "no $source"
  {
    grep -oE 'FLAGS_[a-z0-9_]+' "$source" | sed 's/^FLAGS_//'
    # Shared helpers (Flags.cpp, LogitsCommand.cpp) read flags for their callers.
    if grep -q 'cpuOptionsFromFlags\|evaluatorFromFlags' "$source"; then echo attention; fi
    if grep -q 'evaluatorFromFlags' "$source"; then echo no_cache; fi
  } | sort -u >"$work/read"
  missing=$(comm -23 "$work/read" "$work/listed" | tr '\n' ' ')
  [ -z "$missing" ] || fail "$(basename "$source") reads flags the page does not list: $missing"
  echo "ok: the page lists $(wc -l <"$work/listed") flags, all defined, all $(wc -l <"$work/read") the command reads"
fi

# Run the examples, in order, as a user would from the repository root.
mkdir -p "$work/bin" "$work/run"
ln -s "$tessel" "$work/bin/tessel"
ln -s "$repo/examples" "$work/run/examples"
ln -s "$repo/tests" "$work/run/tests"
sed -n '/^Examples:$/,$p' "$work/page" | tail -n +2 | sed -n 's/^  //p' | grep -v '^#' >"$work/examples"
[ -s "$work/examples" ] || fail "the Examples: section is empty"
count=0
while IFS= read -r example; do
  case "$example" in
  tessel\ *) ;;
  *) fail "example is not a tessel command: $example" ;;
  esac
  start=$(date +%s.%N)
  (cd "$work/run" && PATH="$work/bin:$PATH" timeout 120 bash -o pipefail -c "$example") \
    >"$work/example-out" 2>&1 </dev/null
  rc=$?
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  if [ "$rc" != 0 ]; then
    echo "FAIL ($page): example exited $rc: $example" >&2
    echo "--- its output:" >&2
    tail -n 40 "$work/example-out" >&2
    exit 1
  fi
  printf 'ok (%.2f s): %s\n' "$seconds" "$example"
  count=$((count + 1))
done <"$work/examples"
echo "ok: $count examples ran"

#!/bin/sh
# as_owner.sh PROGRAM ARGS...: run a Hearth tool on a device state as the
# state's owner. Tests started as root give device states to an unprivileged
# user (device programs refuse root without --user, docs/sandbox.md), and the
# tools refuse a key directory that is not their own user's: so when this
# runs as root and ARGS name a --state DIR owned by another user, PROGRAM
# runs as that user (setpriv, no groups, no capabilities); otherwise as is.
#
# as_owner.sh --wrap PROGRAM DIR: write DIR/<name of PROGRAM>, an executable
# that runs PROGRAM this way, and print its path (for "$HEARTH_CLI"-style
# variables in the test libraries).
if [ "$1" = --wrap ]; then
    w="$3/$(basename "$2")"
    mkdir -p "$3" && chmod 755 "$3" || exit 1
    printf '#!/bin/sh\nexec %s %s "$@"\n' "$0" "$2" >"$w" && chmod 755 "$w" || exit 1
    echo "$w"
    exit 0
fi
prog=$1
shift
state=""
prev=""
for a in "$@"; do
    [ "$prev" = --state ] && state=$a
    prev=$a
done
if [ "$(id -u)" = 0 ] && [ -n "$state" ] && [ -d "$state" ]; then
    uid=$(stat -c %u "$state")
    gid=$(stat -c %g "$state")
    if [ "$uid" != 0 ]; then
        exec setpriv --reuid="$uid" --regid="$gid" --clear-groups "$prog" "$@"
    fi
fi
exec "$prog" "$@"

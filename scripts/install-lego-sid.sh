#!/usr/bin/env bash
# Installs the ACME client the re-issuance drills run: lego 4.35.2 from
# Debian sid (a static Go binary; it runs on bookworm), whose `lego renew`
# asks renewal information (RFC 9773 ARI) itself. bookworm's lego 4.9.1
# (/usr/bin/lego, used by the other ACME tests) does not, and is left alone:
# this one is extracted into a cache directory, never installed over it.
#
# Every byte is checked against Debian's signature: sid's InRelease is
# verified with gpgv and the Debian archive keyring, Packages.xz against the
# SHA256 InRelease lists, the .deb against the SHA256 Packages lists.
#
# Usage: scripts/install-lego-sid.sh [cache dir]   (default /var/cache/rampart/lego-sid)
# Prints the path of the lego binary. Needs curl, gpgv, xz, dpkg-deb and
# debian-archive-keyring; writing the default cache directory needs root.
set -euo pipefail
VERSION=4.35.2-3
MIRROR=${RAMPART_DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEST=${1:-/var/cache/rampart/lego-sid}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BIN="$DEST/$VERSION/usr/bin/lego"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "lego version ${VERSION%-*} "; then
  echo "$BIN"
  exit 0
fi
for tool in curl gpgv xz dpkg-deb flock; do
  command -v "$tool" >/dev/null || { echo "install-lego-sid: $tool is missing (apt-get install -y curl gpgv xz-utils dpkg util-linux)" >&2; exit 1; }
done
[ -r "$KEYRING" ] || { echo "install-lego-sid: $KEYRING is missing (apt-get install -y debian-archive-keyring)" >&2; exit 1; }
mkdir -p "$DEST" 2>/dev/null && [ -w "$DEST" ] || { echo "install-lego-sid: cannot write $DEST (run as root: sudo $0, or give another directory: $0 DIR)" >&2; exit 1; }
# Test files running in parallel may call this at once: one downloads, the others wait and find it done.
exec 9>"$DEST/.lock"
flock 9
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "lego version ${VERSION%-*} "; then
  echo "$BIN"
  exit 0
fi

work=$(mktemp -d "$DEST/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT
fetch() { curl -fsS --retry 3 --max-time 300 -o "$2" "$1"; }

fetch "$MIRROR/dists/sid/InRelease" "$work/InRelease"
gpgv --keyring "$KEYRING" --output "$work/Release" "$work/InRelease" 2>"$work/gpgv.log" \
  || { cat "$work/gpgv.log" >&2; echo "install-lego-sid: the signature of sid's InRelease does not verify" >&2; exit 1; }

# The SHA256 section of Release: " <sha256> <size> <path>".
want_packages=$(awk '/^SHA256:/{s=1;next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$work/Release")
[ -n "$want_packages" ] || { echo "install-lego-sid: sid's Release lists no main/binary-amd64/Packages.xz" >&2; exit 1; }
fetch "$MIRROR/dists/sid/main/binary-amd64/Packages.xz" "$work/Packages.xz"
echo "$want_packages  $work/Packages.xz" | sha256sum -c --quiet - \
  || { echo "install-lego-sid: Packages.xz does not match the SHA256 in the signed Release" >&2; exit 1; }

# The lego stanza of Packages at the pinned version.
xz -dc "$work/Packages.xz" >"$work/Packages"
stanza=$(awk -v v="$VERSION" 'BEGIN{RS="";FS="\n"} $0 ~ /(^|\n)Package: lego\n/ && $0 ~ ("\nVersion: " v "\n") {print; exit}' "$work/Packages")
[ -n "$stanza" ] || { echo "install-lego-sid: sid no longer has lego $VERSION (update VERSION in $0)" >&2; exit 1; }
filename=$(printf '%s\n' "$stanza" | sed -n 's/^Filename: //p')
want_deb=$(printf '%s\n' "$stanza" | sed -n 's/^SHA256: //p')
[ -n "$filename" ] && [ -n "$want_deb" ] || { echo "install-lego-sid: the lego stanza has no Filename or SHA256" >&2; exit 1; }
fetch "$MIRROR/$filename" "$work/lego.deb"
echo "$want_deb  $work/lego.deb" | sha256sum -c --quiet - \
  || { echo "install-lego-sid: $filename does not match the SHA256 in the signed Packages" >&2; exit 1; }

rm -rf "$DEST/$VERSION"
dpkg-deb -x "$work/lego.deb" "$work/root"
mv "$work/root" "$DEST/$VERSION"
"$BIN" --version >&2
echo "$BIN"

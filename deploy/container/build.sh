#!/usr/bin/env bash
# Builds the Rampart container image with podman, from Debian packages only
# (no registry pull):
#   1. the base image (Debian 12 minbase, made by mmdebstrap and imported),
#      reused when it exists already (--rebuild-base makes it again);
#   2. a build context: this machine's Node 20 binary, the app (bin/, src/
#      without tests, package.json, tsconfig.json) and the production
#      node_modules (their native modules, better-sqlite3 and pkcs11js, were
#      built for this same node binary; bookworm's glibc matches the host's);
#   3. `podman build --format docker` (the docker format keeps HEALTHCHECK).
# Prints how long each step took. Usage:
#   bash deploy/container/build.sh [--tag NAME] [--base NAME] [--rebuild-base]
# Defaults: --tag localhost/rampart:latest, --base localhost/rampart-base:bookworm
# (or $RAMPART_IMAGE and $RAMPART_BASE_IMAGE). Needs root (mmdebstrap --mode=root).
set -euo pipefail

TAG="${RAMPART_IMAGE:-localhost/rampart:latest}"
BASE="${RAMPART_BASE_IMAGE:-localhost/rampart-base:bookworm}"
REBUILD_BASE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --base) BASE="$2"; shift 2 ;;
    --rebuild-base) REBUILD_BASE=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# Debian's runc: podman's default runtime (crun) is missing or fails on some hosts.
PODMAN=(podman --runtime runc)

for cmd in podman mmdebstrap node npm tar; do
  command -v "$cmd" >/dev/null || { echo "build.sh: $cmd is missing (apt-get install -y podman buildah runc mmdebstrap; node 20 from nodesource)" >&2; exit 1; }
done
seconds() { echo $(( $(date +%s) - $1 )); }

# ---------------------------------------------------------------- 1. base image
if [ "$REBUILD_BASE" = 0 ] && podman image exists "$BASE"; then
  echo "base image $BASE: present, reused (--rebuild-base to make it again)"
else
  t0=$(date +%s)
  echo "base image $BASE: mmdebstrap --variant=minbase bookworm (from the Debian mirror)..."
  mmdebstrap --quiet --variant=minbase --mode=root \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    bookworm - | podman import --quiet - "$BASE" >/dev/null
  echo "base image $BASE: made in $(seconds "$t0") s"
fi

# ---------------------------------------------------------------- 2. build context
t1=$(date +%s)
NODE_BIN="$(readlink -f "$(command -v node)")"
NODE_VERSION="$("$NODE_BIN" -p 'process.versions.node')"
case "$NODE_VERSION" in
  20.*) ;;
  *) echo "build.sh: node $NODE_VERSION at $NODE_BIN: the image needs Node 20 (the native modules in node_modules are built for the node that runs npm)" >&2; exit 1 ;;
esac
CTX="$(mktemp -d "${TMPDIR:-/tmp}/rampart-image.XXXXXX")"
trap 'rm -rf "$CTX"' EXIT
mkdir -p "$CTX/app/deploy/container"
cp "$NODE_BIN" "$CTX/node"
cp "$HERE/Containerfile" "$CTX/Containerfile"
cp "$HERE/healthcheck.mjs" "$CTX/app/deploy/container/"
cp "$ROOT/package.json" "$ROOT/tsconfig.json" "$CTX/app/"
tar -C "$ROOT" -cf - --exclude='*.test.ts' bin src | tar -C "$CTX/app" -xf -
# The bundled build (scripts/build.mjs), made after src/ was copied: bin/rampart.mjs runs it while it is newer than src/.
node "$ROOT/scripts/build.mjs" --out "$CTX/app/dist"
# Production packages only (npm reads the installed tree; nothing is downloaded).
# A package listed below another one's directory is already inside it.
NM_PARENT="$(dirname "$(readlink -f "$ROOT/node_modules")")"
{ cd "$ROOT" && npm ls --omit=dev --all --parseable 2>/dev/null || true; } \
  | while read -r p; do readlink -f "$p"; done \
  | grep "^$NM_PARENT/node_modules/" | sed "s|^$NM_PARENT/||" | LC_ALL=C sort -u \
  | awk 'kept == "" || index($0, kept "/") != 1 { print; kept = $0 }' > "$CTX/packages.txt"
grep -qx 'node_modules/better-sqlite3' "$CTX/packages.txt" || { echo "build.sh: npm ls found no better-sqlite3 under $NM_PARENT/node_modules (run npm ci first)" >&2; exit 1; }
tar -C "$NM_PARENT" -cf - -T "$CTX/packages.txt" | tar -C "$CTX/app" -xf -
echo "build context: node $NODE_VERSION ($NODE_BIN), $(wc -l < "$CTX/packages.txt") packages, $(du -sm "$CTX" | cut -f1) MiB, in $(seconds "$t1") s"

# ---------------------------------------------------------------- 3. image
t2=$(date +%s)
"${PODMAN[@]}" build --quiet --layers=false --format docker --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --build-arg "BASE_IMAGE=$BASE" --label "org.opencontainers.image.version=$("$NODE_BIN" -p "require('$ROOT/package.json').version")" \
  -f "$CTX/Containerfile" -t "$TAG" "$CTX" >/dev/null
echo "image $TAG: built in $(seconds "$t2") s"

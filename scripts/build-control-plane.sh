#!/usr/bin/env bash
# Builds the end-to-end suite's control plane from Go modules (nothing here can
# download release binaries): kube-apiserver, kube-controller-manager and
# kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3. The
# versions are the ones pinned in test/e2e/control-plane/*/go.mod (with
# go.sum, so every module is checksum-verified).
#
# Binaries, Go's module cache and Go's build cache live under one directory
# per version pair, so a version bump starts clean and an unchanged one costs
# nothing:
#   ${WI_ADMISSION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wi-admission}/control-plane/k8s-vX.Y.Z_etcd-vA.B.C/
#     bin/      kube-apiserver kube-controller-manager kubectl etcd
#     gomod/    GOMODCACHE
#     gobuild/  GOCACHE
# Prints the bin directory on its last line. First build: about 14 minutes on
# 2 cores; afterwards it returns at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
modules="$root/test/e2e/control-plane"
# The required version of module $1 in go.mod $2 (inline or in a block).
required() { awk -v m="$1" '{ sub(/^require /, "") } $1 == m && $2 ~ /^v/ { print $2; exit }' "$2"; }
k8s_version=$(required k8s.io/kubernetes "$modules/kubernetes/go.mod")
etcd_version=$(required go.etcd.io/etcd/server/v3 "$modules/etcd/go.mod")
if [ -z "$k8s_version" ] || [ -z "$etcd_version" ]; then
  echo "build-control-plane: cannot read the pinned versions from $modules/*/go.mod" >&2
  exit 2
fi
cache_root=${WI_ADMISSION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wi-admission}
cache="$cache_root/control-plane/k8s-${k8s_version}_etcd-${etcd_version}"
bin="$cache/bin"

built() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] \
    && [ -x "$bin/kubectl" ] && [ -x "$bin/etcd" ]
}

if ! built; then
  if ! command -v go >/dev/null; then
    echo "build-control-plane: Go is not installed; it is needed to build kube-apiserver and etcd" >&2
    exit 3
  fi
  mkdir -p "$bin"
  export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gobuild" GOFLAGS=-mod=readonly GOTOOLCHAIN=local
  started=$(date +%s)
  minor=${k8s_version#v*.}; minor=${minor%%.*}
  stamp=""
  # kubectl reports client-go's version, the servers component-base's.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp="$stamp -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "build-control-plane: building Kubernetes $k8s_version and etcd $etcd_version into $bin" >&2
  (cd "$modules/etcd" && go build -trimpath -o "$bin/etcd" go.etcd.io/etcd/server/v3)
  (cd "$modules/kubernetes" && go build -trimpath -ldflags "$stamp" -o "$bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl)
  echo "build-control-plane: built in $(( $(date +%s) - started )) s" >&2
fi
"$bin/kube-apiserver" --version >&2
"$bin/etcd" --version | sed -n 1p >&2
echo "$bin"

#!/usr/bin/env bash
# Builds a real kube-apiserver from Go modules into .tools/kube-apiserver, for
# end-to-end tests (no binary downloads are possible here). k8s.io/kubernetes
# is not meant to be imported, so every k8s.io staging module is pinned with
# a replace to the matching v0.x release. The version is stamped with
# -ldflags, or /version would say v0.0.0-master (not semver).
# Takes about 3.5 minutes on 2 cores with an empty module cache.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-1.34.3}
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/.tools/kube-apiserver"
if [ -x "$out" ] && "$out" --version | grep -q "v$K8S_VERSION"; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
minor=${K8S_VERSION#*.}; minor=${minor%%.*}
staging="api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller"
{
  echo "module kubeapiserverbuild"
  echo
  echo "go 1.24"
  echo
  echo "require k8s.io/kubernetes v$K8S_VERSION"
  for m in $staging; do echo "replace k8s.io/$m => k8s.io/$m v0.${K8S_VERSION#*.}"; done
} > go.mod
printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\nfunc main() {}\n' > main.go
GOFLAGS=-mod=mod go mod tidy
pkg=k8s.io/component-base/version
mkdir -p "$root/.tools"
go build -o "$out" -ldflags "-X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" k8s.io/kubernetes/cmd/kube-apiserver
"$out" --version

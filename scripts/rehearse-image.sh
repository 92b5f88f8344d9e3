#!/usr/bin/env bash
# The Dockerfile's steps without a Docker engine: build, install production
# dependencies only into a clean directory, start the server from there with
# a generated certificate, and check that it is ready and mutates a pod.
#
# It runs on the image's Node: the pinned image runtime of
# scripts/node-runtimes.json, whose major version must be the one the
# Dockerfile's base images name (node:NN-…, distroless nodejsNN).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PATH="$(node scripts/node-runtime.mjs bin image):$PATH"
major=$(node -p 'process.versions.node.split(".")[0]')
for tag in $(grep -oE '(node:|nodejs)[0-9]+' Dockerfile | grep -oE '[0-9]+$' | sort -u); do
  if [ "$tag" != "$major" ]; then
    echo "image rehearsal: the pinned image runtime is Node $(node --version), but the Dockerfile's base images are Node $tag" >&2
    exit 1
  fi
done
# The run stage's NODE_OPTIONS, for the server only (not for npm here).
node_options=$(sed -nE 's/^ENV NODE_OPTIONS=(.*)$/\1/p' Dockerfile)
echo "image rehearsal on Node $(node --version), the Dockerfile's Node $major, NODE_OPTIONS=$node_options"
work=$(mktemp -d)
trap '[ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

npm run build --silent
mkdir -p "$work/app"
cp package.json package-lock.json "$work/app/"
cp -r dist "$work/app/dist"
(cd "$work/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent)
node --import tsx -e "import('$root/src/certs/issue.ts').then((m) => m.writeDevCertificates('$work/certs', { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }))"

cd "$work/app"
NODE_OPTIONS="$node_options" AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47 node dist/src/main.js serve \
  --webhook-addr 127.0.0.1:0 --health-addr 127.0.0.1:0 --metrics-addr 127.0.0.1:0 \
  --webhook-cert-dir "$work/certs" --objects "$root/examples/objects.yaml" \
  --policy "$root/examples/policy.yaml" --identities "file:$root/examples/identities.json" \
  --shutdown-delay 0s > "$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do grep -q '"msg":"listening"' "$work/server.log" && break; sleep 0.1; done
ports=$(grep '"msg":"listening"' "$work/server.log")
webhook=$(echo "$ports" | sed -E 's/.*"webhookPort":([0-9]+).*/\1/')
health=$(echo "$ports" | sed -E 's/.*"healthPort":([0-9]+).*/\1/')
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$health/readyz" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$health/readyz"; echo
answer=$(curl -fs --cacert "$work/certs/ca.crt" -H 'Content-Type: application/json' --data @"$root/examples/review-pod.json" "https://127.0.0.1:$webhook/mutate-v1-pod")
echo "$answer" | grep -q '"patchType":"JSONPatch"' || { echo "image rehearsal: no patch in $answer"; cat "$work/server.log"; exit 1; }
kill -TERM "$pid"; wait "$pid" || { echo "image rehearsal: the server did not exit cleanly on SIGTERM"; cat "$work/server.log"; exit 1; }
pid=
echo "image rehearsal: production install from $(du -sh "$work/app/node_modules" | cut -f1) of dependencies serves and drains"

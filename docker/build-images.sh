#!/usr/bin/env bash
# Build the base and every function image (`make images`). Needs a running Docker engine.
# REGISTRY (e.g. us-central1-docker.pkg.dev/PROJECT/emctl) and TAG name the images.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "images: no Docker engine reachable here (docker info failed); build on a machine with one" >&2
  exit 2
fi
REGISTRY=${REGISTRY:-emctl}
TAG=${TAG:-$(git rev-parse --short HEAD)}
docker build -f docker/base.Dockerfile -t "$REGISTRY/base:$TAG" .
for fn in align pyramid cc mesh; do
  docker build --build-arg BASE="$REGISTRY/base:$TAG" -f "functions/$fn/Dockerfile" -t "$REGISTRY/$fn:$TAG" .
done
docker build --build-arg BASE="$REGISTRY/base:$TAG" -f orchestrator/Dockerfile -t "$REGISTRY/orchestrator:$TAG" .
# The GPU stage's image starts from CUDA, not from the base: ONNX Runtime's GPU build lives only there.
docker build -f gpu-jobs/Dockerfile -t "$REGISTRY/seamless:$TAG" .
if [ "${PUSH:-0}" = 1 ]; then
  for image in base align pyramid cc mesh orchestrator seamless; do docker push "$REGISTRY/$image:$TAG"; done
fi

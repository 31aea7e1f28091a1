#!/usr/bin/env bash
# Build the base and every image a deployment runs (`make images`): the list, and what each
# image serves, come from the stage registry (`python -m emcore.registry images`). Needs a
# running Docker engine; `--list` prints the builds without one.
# REGISTRY (e.g. us-central1-docker.pkg.dev/PROJECT/emctl) and TAG name the images.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGES=$(PYTHONPATH=.:gpu-jobs "${PYTHON:-python3}" -m emcore.registry images)
if [ "${1:-}" = "--list" ]; then
  echo "$IMAGES"
  exit 0
fi
if ! docker info >/dev/null 2>&1; then
  echo "images: no Docker engine reachable here (docker info failed); build on a machine with one" >&2
  exit 2
fi
REGISTRY=${REGISTRY:-emctl}
TAG=${TAG:-$(git rev-parse --short HEAD)}
docker build -f docker/base.Dockerfile -t "$REGISTRY/base:$TAG" .
built=(base)
while read -r image dockerfile function source; do
  if [ "$function" = "-" ]; then
    # A GPU job's image starts from its own base (CUDA for ONNX Runtime's GPU build).
    docker build -f "$dockerfile" -t "$REGISTRY/$image:$TAG" .
  else
    docker build --build-arg BASE="$REGISTRY/base:$TAG" --build-arg FUNCTION="$function" \
      --build-arg SOURCE="$source" -f "$dockerfile" -t "$REGISTRY/$image:$TAG" .
  fi
  built+=("$image")
done <<< "$IMAGES"
if [ "${PUSH:-0}" = 1 ]; then
  for image in "${built[@]}"; do docker push "$REGISTRY/$image:$TAG"; done
fi

#!/usr/bin/env bash
# `make deploy`: the image registry, then the images (docker/build-images.sh, pushed), then every
# other resource with `pulumi up`, all for the selected stack (or STACK=...). TAG defaults to the
# current commit. Needs gcloud (with application-default credentials), the Pulumi CLI (logged in)
# and a Docker engine; see docs/deploy.md.
set -euo pipefail
cd "$(dirname "$0")"
for tool in pulumi gcloud docker; do
  command -v "$tool" >/dev/null || { echo "deploy: '$tool' is not installed (docs/deploy.md, Prerequisites)" >&2; exit 2; }
done
. ./venv.sh
ensure_venv
STACK=${STACK:-$(pulumi stack --show-name 2>/dev/null || true)}
if [ -z "$STACK" ]; then
  echo "deploy: no Pulumi stack selected; in infra/: pulumi stack init dev && pulumi config set emctl:project YOUR-PROJECT" >&2
  exit 2
fi
TAG=${TAG:-$(git rev-parse --short HEAD)}
REGISTRY=$(pulumi config --json --stack "$STACK" | "$VENV/bin/python" -m emctl_infra.settings registry)
PROJECT_NAME=$(sed -n 's/^name: *//p' Pulumi.yaml)

if [ -z "$(pulumi config get emctl:imageRegistry --stack "$STACK" 2>/dev/null || true)" ]; then
  echo "deploy: creating the image repository $REGISTRY"
  pulumi up --yes --stack "$STACK" --skip-preview \
    --target "urn:pulumi:$STACK::$PROJECT_NAME::gcp:artifactregistry/repository:Repository::registry"
fi
gcloud auth configure-docker "${REGISTRY%%/*}" --quiet
(cd .. && REGISTRY="$REGISTRY" TAG="$TAG" PUSH=1 docker/build-images.sh)

echo "deploy: deploying images $REGISTRY/*:$TAG"
pulumi up --yes --stack "$STACK" --config "emctl:imageTag=$TAG"
pulumi stack output --stack "$STACK"

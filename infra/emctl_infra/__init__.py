"""The emctl deployment on Google Cloud, in small modules: `settings` (stack config with defaults),
`profiles` (per-stage sizes and task times), `artifacts` (the image registry), `bucket`, `accounts`, `messaging`,
`services`, `gke`, wired together by `program.build()`.

Every name the runtime also uses (topics, subscriptions, services, service accounts, the upload
prefix) comes from `emcore.names`, and every stage, with its runtime profile, from the stage
registry (`emcore.registry`), imported from the repository root: both are standard-library only,
so this environment (infra/.venv, which pins protobuf<7 through pulumi) can import it without the
project's dependencies.
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The stage registry (emcore/registry.py) reads every stage's spec, the GPU stage's in gpu-jobs/.
for path in (REPO_ROOT, os.path.join(REPO_ROOT, "gpu-jobs")):
    if path not in sys.path:
        sys.path.insert(0, path)

"""The emctl deployment on Google Cloud, in small modules: `settings` (stack config with defaults),
`profiles` (per-stage sizes and task times), `registry`, `bucket`, `accounts`, `messaging`,
`services`, `gke`, wired together by `program.build()`.

Every name the runtime also uses (topics, subscriptions, services, service accounts, the upload
prefix) comes from `emcore.names`, imported from the repository root: it is standard-library only,
so this environment (infra/.venv, which pins protobuf<7 through pulumi) can import it without the
project's dependencies.
"""
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

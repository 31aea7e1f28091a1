"""emctl on Google Cloud: `pulumi up` in infra/ (or `make deploy`). See docs/deploy.md."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # infra/, for emctl_infra

import pulumi  # noqa: E402

from emctl_infra import program  # noqa: E402  (emctl_infra puts the repository root on sys.path)

for key, value in program.build().items():
    pulumi.export(key, value)

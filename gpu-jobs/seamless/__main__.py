"""`python -m seamless worker` (a GPU Job's pod) and `python -m seamless manifest` (print the Job
the orchestrator would submit for a wave, for `kubectl apply -f -` by hand)."""
from __future__ import annotations

import argparse
import json
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seamless")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", help="drain the stage's pull subscription, then exit")
    w.add_argument("--subscription", help="subscription name or full path (default: the stage's pull subscription)")
    w.add_argument("--project", help="Google Cloud project (default: EMCTL_PROJECT / GOOGLE_CLOUD_PROJECT)")
    w.add_argument("--idle", type=float, default=120.0,
                   help="exit after this many quiet seconds once every wave the worker saw is done")
    w.add_argument("--max-idle", type=float, default=900.0,
                   help="exit after this many quiet seconds regardless (above the subscription's maximum retry backoff)")
    w.add_argument("--max-tasks", type=int, default=None)
    m = sub.add_parser("manifest", help="print the batch/v1 Job for a wave")
    m.add_argument("--job", required=True, help="job id")
    m.add_argument("--root", required=True, help="job root URL")
    m.add_argument("--wave", required=True, choices=("images", "pairs", "vote"))
    m.add_argument("--tasks", type=int, required=True)
    m.add_argument("--gpu", action="store_true", help="request a GPU (the pairs wave with an onnx model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    from emcore.names import names
    from seamless import kube
    if args.command == "manifest":
        print(json.dumps(kube.job_manifest(args.job, args.root, "seamless", args.wave, args.tasks, args.gpu,
                                           kube.Settings.from_env(), names()), indent=1))
        return 0

    from emcore.queues import PubSubQueue, project_id
    from seamless import worker
    from seamless.stage import STAGE
    project = args.project or project_id()
    subscription = args.subscription or kube.pull_subscription(names(), STAGE.name)
    if "/" not in subscription:
        subscription = f"projects/{project}/subscriptions/{subscription}"
    tally = worker.drain(subscription, {STAGE.name: STAGE}, lambda: PubSubQueue(project), idle=args.idle,
                         max_idle=args.max_idle, max_tasks=args.max_tasks, stop=worker.stop_on_sigterm())
    print(json.dumps({"subscription": subscription, "done": tally.done, "failed": tally.failed,
                      "malformed": tally.malformed, "waves": tally.stages}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

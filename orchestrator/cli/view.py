"""`emctl view JOB`: serve the job's volumes locally and print a Neuroglancer URL that shows them."""
from __future__ import annotations

from orchestrator.cli.common import UserError, add_job_argument, job_root, user_errors


def register(sub) -> None:
    p = sub.add_parser("view", help="show a job's output in Neuroglancer (local server)")
    add_job_argument(p)
    p.add_argument("--port", type=int, default=0, help="port to serve on (default: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--layout", default="4panel", choices=("4panel", "xy", "xz", "yz", "3d", "xy-3d"))
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from orchestrator.viewer import ViewerServer, layers_of
    store = job_root(args.job)
    server = ViewerServer(store, args.host, args.port)
    if not layers_of(store, server.base_url):
        server.close()
        raise UserError(f"no volume to show under {store.url} (image/ or segmentation/): has the job run?")
    print(f"Neuroglancer: {server.url(args.layout)}", flush=True)
    print("serving; press Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0

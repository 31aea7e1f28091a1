"""`emctl view JOB`: serve the job's volumes locally and print a Neuroglancer URL that shows them;
`--print-url`: print a URL and exit, serving nothing, for data a browser can read elsewhere."""
from __future__ import annotations

from orchestrator.cli.common import UserError, add_job_argument, job_root, user_errors

PUBLIC_CLIENT = "https://neuroglancer-demo.appspot.com/"


def register(sub) -> None:
    p = sub.add_parser("view", help="show a job's output in Neuroglancer (local server)")
    add_job_argument(p)
    p.add_argument("--port", type=int, default=0, help="port to serve on (default: any free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    p.add_argument("--layout", default="4panel", choices=("4panel", "xy", "xz", "yz", "3d", "xy-3d"))
    p.add_argument("--ome-zarr", action="store_true",
                   help="show the image from the pyramid's OME-Zarr copy (image.ome.zarr/, written with "
                        "stages.pyramid.ome_zarr) instead of image/")
    p.add_argument("--print-url", action="store_true",
                   help="print a Neuroglancer URL and exit, starting no server: its layers read the data "
                        "from the bucket (gs://, s3://) or from --data-url")
    p.add_argument("--data-url", metavar="URL",
                   help="with --print-url: an http(s) address where a browser reads the job root")
    p.add_argument("--client", default=PUBLIC_CLIENT, metavar="URL",
                   help=f"with --print-url: the Neuroglancer client (default {PUBLIC_CLIENT})")
    p.set_defaults(run=run)


@user_errors
def run(args) -> int:
    from orchestrator.viewer import ViewerServer, layers_of
    store = job_root(args.job)
    if args.ome_zarr:
        _require_ome_zarr(store)
    if args.print_url:
        return print_url(store, args)
    server = ViewerServer(store, args.host, args.port)
    if not layers_of(store, server.base_url, ome_zarr=args.ome_zarr):
        server.close()
        raise UserError(_nothing_to_show(store))
    print(f"Neuroglancer: {server.url(args.layout, ome_zarr=args.ome_zarr)}", flush=True)
    print("serving; press Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()
    return 0


def print_url(store, args) -> int:
    from orchestrator.viewer import browser_data_root, viewer_state, viewer_url
    try:
        root = browser_data_root(store.url, args.data_url)
    except ValueError as e:
        raise UserError(str(e)) from None
    state = viewer_state(store, "", args.layout, data_root=root, ome_zarr=args.ome_zarr)
    if not state["layers"]:
        raise UserError(_nothing_to_show(store))
    print(viewer_url(args.client, state))
    return 0


def _require_ome_zarr(store) -> None:
    """--ome-zarr asks for the copy: refuse rather than show a view without it."""
    from emcore import omezarr
    if not store.exists(f"{omezarr.NAME}/{omezarr.ZARR_JSON}"):
        raise UserError(f"no OME-Zarr copy under {store.url} ({omezarr.NAME}/{omezarr.ZARR_JSON} does not exist): "
                        "run the pyramid with stages.pyramid.ome_zarr: true, or view image/ without --ome-zarr")


def _nothing_to_show(store) -> str:
    return f"no volume to show under {store.url} (image/ or segmentation/): has the job run?"

"""A local HTTP server that shows a job in Neuroglancer, with nothing made public.

It serves the Neuroglancer client shipped in the `neuroglancer` wheel under `/v/<token>/` and the
job root under `/v/<token>/data/`, read through the job's Storage, so a job on a private bucket is
viewed with the user's own credentials. Range requests (sharded volumes need them) are supported.

It answers its user's browser tab and nothing else, although any web page the user opens could
send it requests: the token is random per server (an unguessable URL: a request without it finds
nothing), the `Host` header must name the server as it was printed (a DNS-rebinding page sends its
own name), a request with an `Origin` other than the server's own is refused, and no CORS header
is ever sent (the client is served from the data's own origin and needs none), so no other page
can read a response.
"""
from __future__ import annotations

import json
import mimetypes
import os
import re
import secrets
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from emcore import levelstore, omezarr
from emcore.jobroot import stage_options
from emcore.precomputed import Precomputed
from emcore.storage import BadKey, FileStorage, NotFound, Storage

DATA = "data/"
# The wheel's client is Neuroglancer's Python-integration build: it keeps an EventSource open on
# /events/<token> for state pushed by a Python kernel, and while that fails it shows "Disconnected
# from Python server. Retrying..." over the bottom of the view and retries forever. A stream that
# never sends an event makes it a plain viewer.
EVENTS_PREFIX = "/events/"
SHOWN_MESHES = 12          # segments whose meshes the printed view draws: the largest
KEEPALIVE_SECONDS = 15.0
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def client_dir() -> str:
    import neuroglancer
    return os.path.join(os.path.dirname(neuroglancer.__file__), "static", "client")


def _handler(store: Storage, static: str, closing: threading.Event, token: str, hosts: set[str]):
    client_prefix, events_path = f"/v/{token}/", f"{EVENTS_PREFIX}{token}"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _foreign(self) -> bool:
            host = self.headers.get("Host", "")
            origin = self.headers.get("Origin")
            return host not in hosts or (origin is not None and origin != f"http://{host}")

        def do_GET(self):
            if self._foreign():
                return self._send(403, b"forbidden")
            path = urllib.parse.urlparse(self.path).path
            if path == events_path:
                self._serve_events()
            elif path.startswith(client_prefix + DATA):
                self._serve_object(urllib.parse.unquote(path[len(client_prefix + DATA):]))
            elif path.startswith(client_prefix):
                self._serve_client(path[len(client_prefix):] or "index.html")
            else:
                self._send(404, b"not found")

        def _serve_events(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                while True:
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    if closing.wait(KEEPALIVE_SECONDS):
                        return
            except OSError:  # the page went away
                return

        def _serve_client(self, name: str):
            full = os.path.normpath(os.path.join(static, name))
            if not full.startswith(static) or not os.path.isfile(full):
                return self._send(404, b"not found")
            with open(full, "rb") as f:
                self._send(200, f.read(), mimetypes.guess_type(full)[0] or "application/octet-stream")

        def _serve_object(self, key: str):
            match = _RANGE.match(self.headers.get("Range", ""))
            try:
                if match is None:
                    return self._send(200, store.read(key), _content_type(key))
                total = _size(store, key)
                start = int(match.group(1))
                end = int(match.group(2)) + 1 if match.group(2) else total
                body = store.read_range(key, start, end)
            except (NotFound, BadKey):
                return self._send(404, b"not found")
            self._send(206, body, _content_type(key),
                       content_range=f"bytes {start}-{start + len(body) - 1}/{total if total is not None else '*'}")

        def _send(self, code: int, body: bytes, ctype: str = "text/plain", content_range: str | None = None):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if content_range:
                self.send_header("Content-Range", content_range)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _content_type(key: str) -> str:
    return "application/json" if key.endswith("info") or key.endswith(".json") else "application/octet-stream"


def _size(store: Storage, key: str) -> int | None:
    if isinstance(store, FileStorage):
        try:
            return os.path.getsize(store._path(key))
        except OSError:
            raise NotFound(key) from None
    return None


def layers_of(store: Storage, base_url: str, data_root: str | None = None, ome_zarr: bool = False) -> list[dict]:
    """Neuroglancer layers for the volumes present in the job root, read by the browser at
    `data_root` (default: this server's, under `base_url`). `ome_zarr`: the image layer is the
    pyramid's OME-Zarr copy (`stages.pyramid.ome_zarr`) instead of image/, and is absent where the
    job wrote none."""
    data_root = (data_root or f"{base_url}/{DATA}").rstrip("/")
    layers = []
    for name, kind in (("image", "image"), ("segmentation", "segmentation")):
        info = Precomputed.read_if_present(store.url + name)
        if info is None:
            continue
        layer = {"type": kind, "source": f"precomputed://{data_root}/{name}", "name": name}
        if kind == "image" and ome_zarr:
            if not store.exists(f"{omezarr.NAME}/{omezarr.ZARR_JSON}"):
                continue
            # Neuroglancer reads the OME 0.5 multiscales and maps its z, y, x axes to the view's
            # x, y, z by name. The copy keeps the source's sample type: 16-bit data is shown
            # through the window the JPEG layer was made with.
            layer.update(source=f"zarr3://{data_root}/{omezarr.NAME}/", name=omezarr.NAME, shader=_GREY)
            sample_type = json.loads(store.read(f"{omezarr.NAME}/0/{omezarr.ZARR_JSON}"))["data_type"]
            window = _window(store) if sample_type != "uint8" else None
            if window:
                layer["shaderControls"] = {"normalized": {"range": window}}
        elif kind == "image" and info.data_type == "uint8":
            layer["shader"] = _GREY
        if kind == "segmentation":
            layer.update(_mesh_selection(store, info))
        layers.append(layer)
    return layers


_GREY = "#uicontrol invlerp normalized\nvoid main() { emitGrayscale(normalized()); }"


def _window(store: Storage) -> list[int] | None:
    """The 16-bit window of the job's JPEG layer: its option, else the one its plan derived."""
    return (stage_options(store, "pyramid") or {}).get("window") or levelstore.read_window(store)


def _mesh_selection(store: Storage, info: Precomputed) -> dict:
    """The largest segments that have a mesh, selected so that the 3-D panel draws them, with the
    others still coloured in the sections. Only segments whose mesh exists: Neuroglancer is never
    ready while a selected segment's mesh cannot be loaded."""
    from orchestrator.meshed import meshed
    directory = info.reference("segment_properties")
    if directory is None:
        return {}
    try:
        properties = json.loads(store.read(f"segmentation/{directory}/info"))["inline"]
    except (KeyError, NotFound):
        return {}
    voxels = next((p["values"] for p in properties["properties"] if p["id"] == "voxels"), None)
    if voxels is None:
        return {}
    largest = [int(properties["ids"][i]) for i in np.argsort(voxels, kind="stable")[::-1][:SHOWN_MESHES]]
    shown = meshed(store, largest)
    if not shown:
        return {}
    return {"segments": [str(i) for i in shown], "selectedAlpha": 0.5, "notSelectedAlpha": 0.3}


def viewer_state(store: Storage, base_url: str, layout: str = "4panel", data_root: str | None = None,
                 ome_zarr: bool = False) -> dict:
    layers = layers_of(store, base_url, data_root, ome_zarr)
    state: dict = {"layers": layers, "layout": layout}
    # The first layer's geometry: an OME-Zarr copy's is that of image/, always written beside it.
    first = layers[0]["name"] if layers else None
    info = Precomputed.read_if_present(store.url + ("image" if first == omezarr.NAME else first)) if first else None
    if info is not None and info.scales:
        s0 = info.scale(0)
        state["dimensions"] = {axis: [r * 1e-9, "m"] for axis, r in zip("xyz", s0.resolution)}
        state["position"] = [o + n / 2 for o, n in zip(s0.voxel_offset, s0.size)]
        state["crossSectionScale"] = max(s0.size[:2]) / 800
    return state


def viewer_url(base_url: str, state: dict) -> str:
    return f"{base_url.rstrip('/')}/#!" + urllib.parse.quote(json.dumps(state, separators=(",", ":")))


def browser_data_root(job_url: str, data_url: str | None) -> str:
    """Where a browser reads the job root without this server: `data_url` if given, else the
    bucket itself (Neuroglancer reads gs:// and s3:// directly, public or with the user's own
    login). A local or mem:// root has no such address: a UserError-worthy ValueError."""
    if data_url:
        return data_url.rstrip("/")
    if job_url.startswith(("gs://", "s3://")):
        return job_url.rstrip("/")
    raise ValueError(f"a browser cannot read {job_url} by itself: serve it (`emctl view` without --print-url "
                     "does) or give --data-url, an http(s) address of the job root (a static server with "
                     "CORS and HTTP Range, as sharded volumes need)")


class ViewerServer:
    """`base_url` (http://host:port/v/<token>) is the client's page; the data lies below it."""

    def __init__(self, store: Storage, host: str = "127.0.0.1", port: int = 0):
        self.store = store
        self.closing = threading.Event()
        token = secrets.token_urlsafe(24)
        self.httpd = ThreadingHTTPServer((host, port), None)
        bound = self.httpd.server_address[1]
        hosts = {f"{host}:{bound}"} | ({f"localhost:{bound}"} if host == "127.0.0.1" else set())
        self.httpd.RequestHandlerClass = _handler(store, client_dir(), self.closing, token, hosts)
        self.httpd.daemon_threads = True
        self.base_url = f"http://{host}:{bound}/v/{token}"

    def url(self, layout: str = "4panel", ome_zarr: bool = False) -> str:
        return viewer_url(self.base_url, viewer_state(self.store, self.base_url, layout, ome_zarr=ome_zarr))

    def start_background(self) -> "ViewerServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

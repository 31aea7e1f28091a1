"""A small stand-in of the Kubernetes API server (Jobs only) and the settings a GPU wave's Job is
made with, shared by the seamless Job tests and the fan-out fault test."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

from emcore.names import Names
from seamless import kube

SETTINGS = kube.Settings(image="us-docker.pkg.dev/lab/emctl/seamless:abc123", project="lab", max_pods=8,
                         accelerator="nvidia-tesla-t4")
NAMES = Names("emctl")


class FakeKubernetes(BaseHTTPRequestHandler):
    """Enough of the Kubernetes API for Jobs: list by label selector, create, patch."""
    jobs: dict[str, dict] = {}
    requests: list[tuple[str, str, dict | None]] = []

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        url = urlparse(self.path)
        selector = dict(p.split("=") for p in parse_qs(url.query).get("labelSelector", [""])[0].split(",") if p)
        items = [j for j in self.jobs.values() if selector.items() <= j["metadata"]["labels"].items()]
        self.requests.append(("GET", url.path, selector))
        self._reply(200, {"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": items})

    def do_POST(self):
        body = self._body()
        self.requests.append(("POST", self.path, json.loads(json.dumps(body))))
        body["metadata"]["name"] = body["metadata"].pop("generateName") + f"x{len(self.jobs)}"
        self.jobs[body["metadata"]["name"]] = body
        self._reply(201, body)

    def do_PATCH(self):
        body = self._body()
        self.requests.append(("PATCH", self.path, body))
        job = self.jobs[self.path.rsplit("/", 1)[-1]]
        job["spec"].update(body["spec"])
        self._reply(200, job)

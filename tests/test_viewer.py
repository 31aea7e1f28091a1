"""`emctl view`'s server answers only its own page: the URL's token, the Host it printed and no
foreign Origin, and it sends no CORS header that would let another page read a response. Requests
go over a real socket, as a browser's (or an attacker page's) would."""
from __future__ import annotations

import http.client
import json
import urllib.parse

import pytest

from emcore.storage import open_storage
from orchestrator.viewer import ViewerServer


@pytest.fixture
def server():
    store = open_storage("mem://viewer-test/job/")
    store.write("image/info", json.dumps({"type": "image", "data_type": "uint8", "num_channels": 1, "scales": [
        {"key": "8_8_8", "resolution": [8, 8, 8], "voxel_offset": [0, 0, 0], "size": [4, 4, 4],
         "chunk_sizes": [[4, 4, 4]], "encoding": "raw"}]}).encode())
    store.write("image/8_8_8/0-4_0-4_0-4", bytes(range(64)))
    server = ViewerServer(store).start_background()
    yield server
    server.close()


def get(server, path, headers=None):
    url = urllib.parse.urlparse(server.base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.request("GET", path, headers={"Host": url.netloc, **(headers or {})})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, dict(response.getheaders()), body


def test_its_own_page_reads_the_data_and_ranges(server):
    base = urllib.parse.urlparse(server.base_url).path
    status, headers, body = get(server, f"{base}/data/image/8_8_8/0-4_0-4_0-4")
    assert (status, body) == (200, bytes(range(64)))
    status, _, body = get(server, f"{base}/data/image/8_8_8/0-4_0-4_0-4", {"Range": "bytes=8-15"})
    assert (status, body) == (206, bytes(range(8, 16)))
    own = f"http://{urllib.parse.urlparse(server.base_url).netloc}"
    assert get(server, f"{base}/data/image/info", {"Origin": own})[0] == 200
    assert get(server, f"{base}/index.html")[0] == 200, "the Neuroglancer client"
    assert not any(h.lower().startswith("access-control") for h in headers), "no CORS header at all"
    assert server.url().startswith(server.base_url + "/#!") and f"{server.base_url}/data/image" in urllib.parse.unquote(server.url())


def test_no_token_no_data(server):
    base = urllib.parse.urlparse(server.base_url).path
    assert len(base.split("/")[2]) >= 32, "an unguessable token"
    for path in ("/data/image/info", "/v/x/data/image/info", f"{base[:-1]}/data/image/info", "/v/x/index.html",
                 f"{base}/data/../job/image/info"):
        assert get(server, path)[0] == 404, path


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Host": "evil.example:80"}, {"Host": "evil.example"}])
def test_a_foreign_origin_or_host_is_refused(server, headers):
    """A page elsewhere (Origin), or one that rebound its own name to 127.0.0.1 (Host)."""
    base = urllib.parse.urlparse(server.base_url).path
    status, response_headers, body = get(server, f"{base}/data/image/info", headers)
    assert status == 403 and b"uint8" not in body
    assert not any(h.lower().startswith("access-control") for h in response_headers)

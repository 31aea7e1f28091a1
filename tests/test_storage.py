"""One contract for every storage backend: file://, mem://, gs:// (fake-gcs-server), s3:// (moto).

The cloud backends run against real servers over sockets with the official clients, so what is
tested here is what the orchestrator relies on: create-only is atomic under contention, listing
pages are complete and sorted, keys are relative to the root.
"""
from __future__ import annotations

import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from emcore.storage import BadKey, FileStorage, NotFound, StorageError, open_storage


@pytest.fixture(params=["file", "mem", pytest.param("gs", marks=pytest.mark.emulator),
                        pytest.param("s3", marks=pytest.mark.emulator)])
def bucket_url(request, tmp_path):
    """The URL of a fresh, empty bucket (a directory for file://)."""
    name = f"t{uuid.uuid4().hex[:16]}"
    if request.param == "file":
        return tmp_path.as_uri() + "/"
    if request.param == "mem":
        return f"mem://{name}/"
    if request.param == "gs":
        request.getfixturevalue("gcs_server")
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
        return f"gs://{name}/"
    request.getfixturevalue("s3_server")
    import boto3
    boto3.client("s3").create_bucket(Bucket=name)
    return f"s3://{name}/"


@pytest.fixture
def base(bucket_url):
    return open_storage(bucket_url)


@pytest.fixture
def store(bucket_url):
    """Rooted below the bucket, as a job's storage is."""
    return open_storage(bucket_url + "job/")


def _parallel(fn, items, workers=16):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def test_round_trip(store):
    data = os.urandom(100_000)
    store.write("a/b/c.bin", data)
    assert store.read("a/b/c.bin") == data
    store.write("a/b/c.bin", b"second")
    assert store.read("a/b/c.bin") == b"second"
    store.write("empty", b"")
    assert store.read("empty") == b""
    assert store.ops["write"] == 3 and store.ops["read"] == 3


def test_ranged_read(store):
    data = bytes(range(256)) * 4
    store.write("r", data)
    assert store.read_range("r", 10, 20) == data[10:20]
    assert store.read_range("r", 0, len(data)) == data
    assert store.read_range("r", 1000, 2000) == data[1000:]     # clipped at the end
    assert store.read_range("r", len(data), len(data) + 5) == b""  # entirely past the end
    assert store.read_range("r", 7, 7) == b""
    assert store.read_range("r", 9, 3) == b""
    assert store.size("r") == len(data)


def test_missing_object_raises_not_found(store):
    with pytest.raises(NotFound):
        store.read("nope")
    with pytest.raises(NotFound):
        store.read_range("no/such/key", 0, 10)
    with pytest.raises(NotFound):
        store.read_range("nope", 5, 5)
    with pytest.raises(NotFound):
        store.size("nope")
    assert issubclass(NotFound, KeyError)


def test_create_only(store):
    assert store.create("marker", b"first") is True
    assert store.create("marker", b"second") is False
    assert store.read("marker") == b"first"
    store.write("plain", b"x")  # an object written without create() also blocks create()
    assert store.create("plain", b"y") is False
    assert store.read("plain") == b"x"


def test_create_only_race(store):
    for round_ in range(3):
        key = f"locks/wave-{round_}"
        barrier = threading.Barrier(8)

        def attempt(i):
            barrier.wait()
            return store.create(key, f"payload-{i}".encode())

        won = _parallel(attempt, range(8), workers=8)
        assert won.count(True) == 1, won
        assert store.read(key) == f"payload-{won.index(True)}".encode()


def test_exists(store):
    assert not store.exists("d/x")
    store.write("d/x", b"1")
    assert store.exists("d/x")
    assert not store.exists("d")  # a "directory" is not an object
    assert not store.exists("d/x/y")


def test_list_pages_through_many_keys(store):
    # 250 keys in pages of 100 exercise the same paging as 2500 in pages of 1000 (the services'
    # maximum), at a tenth of the cost: moto stores ~130 objects/s here.
    keys = [f"many/{i % 7}/{i:05d}" for i in range(250)]
    tricky = ["many/a/b", "many/a-b", "many/a.b", "many/a0", "many/ab"]  # '-' < '.' < '/' < '0'
    _parallel(lambda k: store.write(k, b""), keys + tricky)
    store.write("other/x", b"")
    store.write("manyx", b"")
    before = store.ops["list"]
    listed = list(store.list("many/", page_size=100))
    assert listed == sorted(keys + tricky)
    assert store.ops["list"] - before == 3
    assert list(store.list("many/a", page_size=2)) == sorted(["many/a/b", "many/a-b", "many/a.b", "many/a0", "many/ab"])
    assert list(store.list("many/1/0000")) == ["many/1/00001", "many/1/00008"]
    assert len(list(store.list("many/", page_size=5000))) == 255  # above the services' cap
    assert list(store.list("nothing/")) == []


def test_list_shows_keys_ending_in_tmp(store):
    store.write("notes.tmp", b"")  # only the file backend's own staging files are hidden
    assert list(store.list()) == ["notes.tmp"]


def test_list_during_concurrent_writes(store):
    _parallel(lambda i: store.write(f"c/{i:03d}", b""), range(120))
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            store.write(f"w/{i}", b"")
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(5):
            assert len(list(store.list("c/", page_size=50))) == 120
    finally:
        stop.set()
        thread.join()


def test_list_while_deleting(store):
    # A consumer that deletes what it has listed must still see every key.
    keys = [f"q/{i:03d}" for i in range(25)]
    _parallel(lambda k: store.write(k, b""), keys)
    seen = []
    for key in store.list("q/", page_size=10):
        seen.append(key)
        store.delete(key)
    assert seen == keys
    assert list(store.list("q/")) == []


def test_list_is_relative_to_root(base, store):
    base.write("job/x/1", b"")
    base.write("jobs/2", b"")  # shares the string prefix "job" but not the root "job/"
    base.write("other/3", b"")
    assert list(store.list()) == ["x/1"]
    assert list(store.list("x/")) == ["x/1"]
    assert list(base.list()) == ["job/x/1", "jobs/2", "other/3"]
    assert store.read("x/1") == b""


def test_delete_is_idempotent(store):
    store.write("d/k", b"1")
    store.delete("d/k")
    assert not store.exists("d/k")
    with pytest.raises(NotFound):
        store.read("d/k")
    store.delete("d/k")
    store.delete("never/existed")
    store.write("d/k2", b"2")
    store.delete("d")  # a "directory" is not an object: nothing to delete
    assert store.read("d/k2") == b"2"


def test_child(store):
    child = store.child("/sub/dir/")
    assert child.url == store.url + "sub/dir/"
    assert type(child) is type(store)
    child.write("k", b"v")
    assert store.read("sub/dir/k") == b"v"
    assert list(child.list()) == ["k"]
    assert child.child("deeper").url == store.url + "sub/dir/deeper/"
    assert child.ops["write"] == 1 and store.ops["write"] == 0  # counters are per instance
    if store.url.startswith(("gs:", "s3:")):  # instances are cheap: they share one client
        from emcore import storage_cloud
        import os
        mine = [k for k in storage_cloud._clients if k[0] == store.url[:2] and k[2] == os.getpid()]
        # One client per endpoint: other tests' emulators (tests/cloud_gcp.py) add their own.
        assert len(mine) == len({k[1] for k in mine})


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a//b", "./a", "a/.", "a\\b", ""])
def test_no_key_leaves_the_root(store, base, key):
    """Keys come from task messages too: none may name an object beside the root, on a
    filesystem or in a bucket (where `..` is a plain name, but the prefix check is ours)."""
    for op in (lambda: store.write(key, b"x"), lambda: store.read(key), lambda: store.create(key, b"x"),
               lambda: store.exists(key), lambda: store.delete(key)):
        with pytest.raises(BadKey, match="would leave its root"):
            op()
    with pytest.raises(BadKey):
        list(store.list("../"))
    assert list(base.list()) == [], "nothing was written anywhere"


def test_list_times_are_modification_times(store):
    import time
    before = time.time()
    store.write("t/a", b"1")
    store.create("t/b", b"2")
    after = time.time()
    listed = dict(store.list_times("t/"))
    assert sorted(listed) == ["t/a", "t/b"]
    # Server clocks (the emulators') round to the second and may lead or lag ours a little.
    assert all(before - 2 <= t <= after + 2 for t in listed.values()), (before, listed, after)


def test_list_page_resumes_from_its_token(store):
    for i in range(7):
        store.write(f"p/{i}", b"")
    page, token = store.list_page("p/", None, 3)
    keys = [k for k, _ in page]
    while token is not None:
        page, token = store.list_page("p/", token, 3)
        keys += [k for k, _ in page]
    assert keys == [f"p/{i}" for i in range(7)]


def test_temporaries_carry_the_mark_lifecycle_rules_select(bucket_url):
    """Only objects written as temporaries carry the mark (GCS custom time, S3 tag) that the
    bucket's lifecycle rule is conditioned on; outputs carry none."""
    store = open_storage(bucket_url + "job/")
    store.write("tiles/0", b"t", temporary=True)
    store.write("image/0", b"i")
    if bucket_url.startswith("gs://"):
        from emcore.storage_cloud import _gcs_client
        bucket = _gcs_client().bucket(store.bucket)
        assert bucket.get_blob("job/tiles/0").custom_time is not None
        assert bucket.get_blob("job/image/0").custom_time is None
    elif bucket_url.startswith("s3://"):
        import boto3
        tags = lambda key: boto3.client("s3").get_object_tagging(Bucket=store.bucket, Key=key)["TagSet"]  # noqa: E731
        assert tags("job/tiles/0") == [{"Key": "emctl-temporary", "Value": "true"}]
        assert tags("job/image/0") == []
    else:
        assert store.read("tiles/0") == b"t"


# -- local failures ---------------------------------------------------------------------------

def test_local_write_under_a_regular_file_raises_storage_error(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"")
    store = open_storage(str(blocker / "root"))
    assert isinstance(store, FileStorage)
    for op in (lambda: store.write("k", b"x"), lambda: store.create("k", b"x")):
        with pytest.raises(StorageError, match=str(blocker)):
            op()
    # Reads find nothing there, as a bucket without the object would.
    with pytest.raises(NotFound):
        store.read("k")
    assert not store.exists("k") and list(store.list()) == []


def test_local_key_through_an_object_raises_storage_error(tmp_path):
    store = open_storage(str(tmp_path))
    store.write("a", b"object")
    with pytest.raises(StorageError, match=str(tmp_path / "a")):
        store.write("a/b", b"x")
    assert store.read("a") == b"object"


def test_local_unreadable_path_raises_storage_error(tmp_path):
    # Root ignores permission bits, so make the path unreadable with a symlink loop instead.
    os.symlink("loop", tmp_path / "loop")
    store = open_storage(str(tmp_path))
    with pytest.raises(StorageError, match=str(tmp_path / "loop")):
        store.read("loop")
    assert not [k for k in store.list() if k.endswith(".tmp")]


# -- cloud specifics --------------------------------------------------------------------------

@pytest.mark.emulator
@pytest.mark.parametrize("scheme", ["gs", "s3"])
def test_cloud_missing_bucket_raises_storage_error(scheme, request):
    request.getfixturevalue({"gs": "gcs_server", "s3": "s3_server"}[scheme])
    store = open_storage(f"{scheme}://no-such-bucket-here/job/")
    with pytest.raises(StorageError, match=f"{scheme}://no-such-bucket-here/job/k"):
        store.write("k", b"")
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        store.create("k", b"")
    with pytest.raises(StorageError, match="no-such-bucket-here"):
        list(store.list())


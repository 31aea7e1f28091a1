"""`emctl start`'s progress reads well where it lands: in a log (stdout and stderr a file, as in CI)
one line per wave start and end, in order, with counts and rates, and no carriage return or
terminal escape anywhere; on a terminal (a pseudo-terminal here), bars."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import pytest

from emcore.jobroot import plan_key
from orchestrator.samplestack import write_stack

EMCTL = [sys.executable, "-m", "orchestrator.cli.main"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    raw = tmp_path_factory.mktemp("progress") / "raw"
    write_stack(str(raw), 128, 6)
    return raw


def job_file(stack, dest) -> str:
    path = dest.parent / f"{dest.name}.json"
    path.write_text(json.dumps({"id": "progress", "source": str(stack), "maxz": 5, "dest": str(dest),
                                "stages": {"pyramid": {}}}))
    return str(path)


def test_a_log_gets_one_line_per_wave_start_and_end(stack, tmp_path):
    log = tmp_path / "start.log"
    with open(log, "wb") as out:
        code = subprocess.run(EMCTL + ["start", "--config", job_file(stack, tmp_path / "out"), "--workers", "2"],
                              stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT).returncode
    text = log.read_text()
    assert code == 0, text
    assert "\r" not in text and "\x1b" not in text, "carriage returns or terminal escapes in a log"
    waves = sorted((p.name[:-len(".json")] for p in (tmp_path / "out" / plan_key("x")).parent.iterdir()),
                   key=lambda w: text.find(f"{w}: started"))
    assert {"align.render", "pyramid.0", "pyramid.tidy"} <= set(waves)
    events = [m.groups() for m in re.finditer(r"^(\S+): (started|done)\b", text, re.M)]
    # Each wave starts once, then ends once, before the next wave starts: they run in sequence.
    assert events == [(w, e) for w in waves for e in ("started", "done")], text
    for wave in waves:
        tasks = len(json.loads((tmp_path / "out" / plan_key(wave)).read_text())["tasks"])
        plural = "s" if tasks != 1 else ""
        assert re.search(rf"^{re.escape(wave)}: started, {tasks} task{plural}$", text, re.M), (wave, text)
        # Rates: tasks per second (or seconds per task) when more than one ran, and bytes read.
        assert re.search(rf"^{re.escape(wave)}: done, {tasks} task{plural} in [\d.]+[smh]"
                         rf"( \(([\d.]+ (tasks/s|s/task)(, [\d.]+ MB/s read)?|[\d.]+ MB/s read)\))?$",
                         text, re.M), (wave, text)
    # The render wave reads every section: its end line says how fast.
    assert re.search(r"^align\.render: done, 6 tasks in .* MB/s read\)$", text, re.M), text


def test_a_terminal_gets_bars(stack, tmp_path):
    leader, follower = pty.openpty()
    # 40 rows of 120 columns: a new pty has none, and the bars would have no room.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    try:
        proc = subprocess.Popen(EMCTL + ["start", "--config", job_file(stack, tmp_path / "out"), "--workers", "1"],
                                stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL, cwd=ROOT)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:        # the terminal closed: the process has exited
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=120) == 0, seen
    finally:
        os.close(leader)
    text = seen.decode(errors="replace")
    # tqdm's bars: the wave, a percentage and a bar of block characters, redrawn in place.
    assert re.search(r"align\.render +: 100%\|█+\| 6/6", text), text
    assert not re.search(r"^align\.render: started", text, re.M), "a terminal gets bars, not log lines"

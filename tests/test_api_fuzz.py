"""A few hundred malformed uploads (tests/image_fuzz.py) through a real `workbook serve` process: not one 5xx,
every refusal a sentence, the server still up, and its memory bounded (RSS measured before and after)."""
from __future__ import annotations

import collections
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.images import BadImage, open_image
from tests.image_fuzz import fuzz_server, malformed_uploads

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {200, 400, 413, 415, 422}
PASSES = 3
LEAK_MB = 30          # growth allowed from the first pass to the last over the same files (none expected)
BOUND_MB = 150        # growth allowed over the first pass (the largest decode is ~100 MB, and is given back)


def test_every_malformed_file_is_a_bad_image_or_an_image():
    """The decoder alone, in this process: a BadImage with a status and a sentence, or a decoded image."""
    outcomes = collections.Counter()
    for name, data in malformed_uploads(seed=0):
        try:
            open_image(data, channels=3)
            outcomes[200] += 1
        except BadImage as error:
            assert error.status_code in ALLOWED and len(error.message) > 10, (name, error)
            outcomes[error.status_code] += 1
    assert outcomes[413] >= 30 and outcomes[415] >= 20 and outcomes[400] >= 50 and outcomes[422] >= 3, outcomes
    for name, data in malformed_uploads(seed=0):
        if name.startswith("valid") or name.startswith("animated"):
            assert open_image(data, channels=3).mode == "RGB", name   # the valid ones stay readable


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.served_runs import make_run

    run_dir = make_run(tmp_path_factory.mktemp("fuzz"), [("cnn", "torch")], samples=False)
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+b")   # a pipe nobody reads would fill and block
    process = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "--checkpoint",
                                str(run_dir / "checkpoints" / "cnn-torch-reference"), "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            log.seek(0)
            pytest.fail(f"the server exited at start: {log.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("the server did not answer /health within 120 s")
            time.sleep(0.3)
    yield url, process
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.seek(0)
    tracebacks = log.read().decode(errors="replace").count("Traceback")
    log.close()
    assert tracebacks == 0, f"the server logged {tracebacks} tracebacks"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_server_answers_malformed_uploads_with_4xx_and_stays_up(server):
    import httpx

    url, process = server
    uploads = malformed_uploads(seed=0)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "PNG")
    result = fuzz_server(url, process.pid, uploads, buffer.getvalue(), passes=PASSES)
    statuses = collections.Counter(status for _, status, _ in result["answers"])
    unexpected = [(name, status, detail) for name, status, detail in result["answers"] if status not in ALLOWED]
    assert not unexpected, f"{len(unexpected)} answers outside {sorted(ALLOWED)}: {unexpected[:5]}"
    wordless = [(name, detail) for name, status, detail in result["answers"]
                if status != 200 and not (isinstance(detail, str) and len(detail) > 10)]
    assert not wordless, wordless[:5]
    assert process.poll() is None and httpx.get(f"{url}/health").status_code == 200
    before, first, last = result["rss_mb"][0], result["rss_mb"][1], result["rss_mb"][-1]
    print(f"\n{len(uploads)} files x {PASSES}: {dict(sorted(statuses.items()))}; server RSS (MB) after each pass: "
          + " -> ".join(f"{mb:.0f}" for mb in result["rss_mb"]))
    assert last - first < LEAK_MB, f"memory grew by {last - first:.0f} MB over {PASSES - 1} more passes (a leak)"
    assert first - before < BOUND_MB, f"memory grew by {first - before:.0f} MB over {len(uploads)} files"

"""How close is the inference API to the bare forward pass? Request latency and throughput of `workbook serve`.

    .venv/bin/python bench/api_latency.py                         # this tree, ~1 minute
    .venv/bin/python bench/api_latency.py --tree /tmp/before .    # two source trees, alternated, in one run
    .venv/bin/python bench/api_latency.py --dry-run               # a few requests: does it run?

For each source tree (a checkout's root: its `shared/` is what serves), the script starts `workbook serve
--checkpoint` in a subprocess on a loopback port, over one small checkpoint it writes itself (week 2's CNN,
shapes 32x32, 10 classes, random weights: the numbers do not matter, the time does), then measures:
- the bare forward pass of that model (batch 1, in this process, torch threads as the server has them);
- one client, a 32x32 PNG and a 640x480 JPEG: p50 and p90 of the request time (POST /predict);
- the server's CPU time per request (user + system, from /proc): the work done, which the machine's load does
  not change, unlike the request time on a shared machine;
- ten clients in threads: requests per second, and their p50.
The trees are measured in turns (A, B, A, B), so both see the same load; `uptime` is printed beside the numbers.
`--out FILE.md` writes the table (bench/results/api_latency.md).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (32, 32, 3)
CLASSES = ["circle", "triangle", "square", "hexagon", "star", "cross", "ring", "crescent", "heart", "arrow"]


def write_checkpoint(directory: Path) -> Path:
    import torch

    from shared.checkpoints import Manifest, save_model
    from shared.data import InputSpec
    from shared.registry import create_model

    torch.manual_seed(0)
    model = create_model("cnn", num_classes=len(CLASSES), input_shape=SHAPE).eval()
    save_model(directory, model, Manifest(name="cnn", framework="torch", impl="reference", class_names=CLASSES,
                                          input=InputSpec(*SHAPE, (0.5,) * 3, (0.25,) * 3), dataset="shapes"))
    return directory


def bare_forward_ms(directory: Path, repeats: int) -> float:
    """Median ms of one batch-1 forward pass of the checkpoint's model, with torch.inference_mode (one thread,
    as the server has it), on a random normalised image."""
    import torch

    from shared.checkpoints import load_model

    torch.set_num_threads(1)
    model, _ = load_model(directory)
    batch = torch.randn(1, SHAPE[2], *SHAPE[:2], generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        for _ in range(repeats + 10):
            start = time.perf_counter()
            model(batch)
            times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[10:])


def uploads() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    small, photo = io.BytesIO(), io.BytesIO()
    Image.fromarray(rng.integers(0, 256, SHAPE, dtype=np.uint8)).save(small, format="PNG")
    gradient = np.linspace(0, 255, 640, dtype=np.float32)[None, :, None] * np.ones((480, 1, 3), np.float32)
    noisy = np.clip(gradient + rng.normal(0, 20, (480, 640, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(photo, format="JPEG", quality=90)
    return {"png 32x32": small.getvalue(), "jpeg 640x480": photo.getvalue()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`workbook serve --checkpoint DIR` from `tree`, in a subprocess on a free loopback port."""

    def __init__(self, tree: Path, checkpoint: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.log = tempfile.TemporaryFile()   # not a pipe: a server writing more than a pipe holds would block
        self.process = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "--checkpoint", str(checkpoint),
                                         "--port", str(self.port)], env=env, cwd=tree,
                                        stdout=subprocess.DEVNULL, stderr=self.log)

    def errors(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def wait(self, client, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited: {self.errors()}")
            try:
                if client.get(f"{self.url}/health").status_code == 200:
                    return
            except Exception:  # noqa: BLE001 — not listening yet
                time.sleep(0.2)
        raise RuntimeError("the server did not answer /health in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def post(client, url: str, data: bytes) -> float:
    start = time.perf_counter()
    response = client.post(f"{url}/predict", files={"file": ("image", data, "application/octet-stream")})
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
    return elapsed


def sequential(url: str, data: bytes, count: int) -> list[float]:
    import httpx

    with httpx.Client(timeout=30) as client:
        for _ in range(10):
            post(client, url, data)
        return [post(client, url, data) for _ in range(count)]


def concurrent(url: str, data: bytes, clients: int, per_client: int) -> tuple[float, list[float]]:
    """(requests per second, request times) with `clients` threads each sending `per_client` requests."""
    import httpx

    times: list[float] = []
    lock = threading.Lock()

    def work():
        with httpx.Client(timeout=60) as client:
            mine = [post(client, url, data) for _ in range(per_client)]
        with lock:
            times.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(times) / (time.perf_counter() - start), times


def percentile(values: list[float], q: float) -> float:
    return 1000 * float(np.percentile(values, q))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the work, whatever the machine's load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(tree: Path, checkpoint: Path, data: dict[str, bytes], args) -> dict:
    import httpx

    server = Server(tree, checkpoint)
    try:
        with httpx.Client(timeout=30) as client:
            server.wait(client)
        result = {}
        for name, payload in data.items():
            start = cpu_seconds(server.process.pid)
            times = sequential(server.url, payload, args.requests)
            cpu = 1000 * (cpu_seconds(server.process.pid) - start) / (args.requests + 10)
            result[name] = (percentile(times, 50), percentile(times, 90), cpu)
        rate, times = concurrent(server.url, data["png 32x32"], args.clients, args.requests // args.clients * 2)
        result["concurrent"] = (rate, percentile(times, 50))
        return result
    finally:
        server.stop()


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def table(trees: list[Path], results: dict, forward: float, loads: list[str], names: list[str]) -> str:
    lines = ["| tree | " + " | ".join(f"{n}: p50 / p90 (ms), server CPU ms/req" for n in names) +
             " | p50 / forward | 10 clients: req/s, p50 (ms) |", "|" + "---|" * (len(names) + 3)]
    for tree in trees:
        runs = results[str(tree)]
        cells = []
        for name in names:
            p50 = statistics.median(r[name][0] for r in runs)
            p90 = statistics.median(r[name][1] for r in runs)
            cpu = statistics.median(r[name][2] for r in runs)
            cells.append(f"{p50:.2f} / {p90:.2f}, {cpu:.2f}")
        ratio = statistics.median(r[names[0]][0] for r in runs) / forward
        rate = statistics.median(r["concurrent"][0] for r in runs)
        p50c = statistics.median(r["concurrent"][1] for r in runs)
        lines.append(f"| {tree} | " + " | ".join(cells) + f" | {ratio:.1f}x | {rate:.0f}, {p50c:.1f} |")
    return "\n".join([f"bare forward pass (cnn, batch 1, 1 thread, torch inference_mode): {forward:.2f} ms", "",
                      *lines, "", "load while measuring:", *(f"    {line}" for line in loads)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, default=[],
                        help="a source tree to serve from (repeatable; default: this checkout)")
    parser.add_argument("trees", nargs="*", type=Path, help="more source trees")
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per image and round")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="turns per tree (the median is reported)")
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--dry-run", action="store_true", help="20 requests, one round: check that it runs")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.requests, args.rounds, args.clients = 20, 1, 2
    trees = [tree.resolve() for tree in (args.tree + args.trees)] or [ROOT]
    data = uploads()
    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = write_checkpoint(Path(tmp) / "cnn")
        forward = bare_forward_ms(checkpoint, 300)
        results = {str(tree): [] for tree in trees}
        for round_ in range(args.rounds):
            for tree in trees:
                print(f"round {round_ + 1}/{args.rounds}: {tree}", flush=True)
                results[str(tree)].append(measure(tree, checkpoint, data, args))
                loads.append(load())
    text = table(trees, results, forward, loads, list(data))
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}"
    text = f"{machine}\n\n{text}"
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

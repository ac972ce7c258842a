#!/usr/bin/env python3
"""End-to-end benchmark of the Parquetry service (HTTP API + PostgreSQL queue).

Run through bench/service.sh (which sets the venv up first), or directly:

    .venv-bench/bin/python bench/service.py [--rows N | --csv FILE] [--rounds R]
        [--jobs N] [--export-interval-ms MS] [--bin PATH]

Part 1, end to end: one `parquetry serve` (fresh database, PARQUETRY_WORKERS=1,
telemetry off). Each round uploads the CSV as the raw body (streamed from disk)
with `?wait=60`, so the answer comes when the job has finished (no polling),
and streams the result from the answer's `Location` to a file; then, as the
reference, `parquetry convert IN OUT` runs as a subprocess. Phases: upload
(the job's received_at to created_at: the body stored), queue (started_at -
created_at) and convert (finished_at - started_at) from the job, answered
(client: first upload byte until the 200 answer), download (client: GET
.../result until the last byte), total (client: first upload byte to last
result byte).

Part 2, telemetry overhead: each round runs, in alternating order, two fresh
servers: (a) exporting OTLP/HTTP (protobuf) to a sink in this script that
answers 200 and notes every request, (b) OTEL_SDK_DISABLED=true. Each server
gets --jobs uploads back to back, then every job is awaited and downloaded.
Conversion time = sum over the jobs of finished_at - started_at; the server's
CPU time over the jobs (/proc/PID/stat) is less sensitive to other load on the
machine than either wall time. The overhead is given median vs median and
paired (median of the per-round ratios, with a bootstrap interval that decides
whether the 3 % target is met, missed or not resolved). With the SDK's
default intervals (spans 5 s, logs 1 s, metrics 60 s) a short run exports most
spans and all metrics only in the flush at SIGTERM, outside the measured jobs;
--export-interval-ms moves those exports inside (the report shows how many
requests arrived during the jobs).

Every server runs with a fresh database and a temporary data directory and is
stopped with SIGTERM; it must exit 0. Exit status: 0, or 1 when a job failed,
a server did not exit 0, or the sink received nothing in configuration (a).
"""
from __future__ import annotations

import argparse
import contextlib
import filecmp
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from statistics import median
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

WAIT_S = 60
IO_CHUNK = 1 << 20
READY_TIMEOUT_S = 60
JOB_TIMEOUT_S = 600
SHUTDOWN_TIMEOUT_S = 60
OTLP_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")
TARGET_OVERHEAD_PCT = 3.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def spread(xs: list[float]) -> str:
    return f"{min(xs):.2f}–{max(xs):.2f}"


# --------------------------------------------------------------------------- #
# inputs, environment
# --------------------------------------------------------------------------- #
def ensure_csv(rows: int) -> Path:
    """bench/data.sh ROWS: generates the CSV once, prints its path."""
    out = subprocess.run(["bash", str(HERE / "data.sh"), str(rows)],
                         stdout=subprocess.PIPE, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def warm_up(path: Path) -> None:
    """Read the file once so every round finds it in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(16 << 20):
            pass


def env_summary() -> str:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} CPUs, load avg {load}; python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- #
# OTLP sink
# --------------------------------------------------------------------------- #
@dataclass
class Received:
    """OTLP requests and bytes per path, over some time window."""
    requests: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    def __add__(self, other: Received) -> Received:
        return Received(self.requests + other.requests, self.bytes + other.bytes)

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def total_kb(self) -> float:
        return sum(self.bytes.values()) / 1e3


class OtlpSink:
    """An OTLP/HTTP receiver on 127.0.0.1 that accepts every export with an
    empty protobuf answer and notes when each request arrived (time.monotonic),
    on which path and with how many bytes."""

    def __init__(self) -> None:
        self._events: list[tuple[float, str, int]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def received(self, start: float, end: float) -> Received:
        """What arrived between two time.monotonic() instants."""
        out = Received()
        with self._lock:
            for at, path, size in self._events:
                if start <= at <= end:
                    out.requests[path] += 1
                    out.bytes[path] += size
        return out

    def _record(self, path: str, size: int) -> None:
        with self._lock:
            self._events.append((time.monotonic(), path, size))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real collector

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink._record(self.path, len(body))
                self.send_response(200 if self.path in OTLP_PATHS else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def __enter__(self) -> OtlpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- #
# PostgreSQL and the server
# --------------------------------------------------------------------------- #
def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1",
                    "-q", "-c", sql], check=True)


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """The caller's environment without any Parquetry/OpenTelemetry settings,
    plus extra: each configuration says exactly what it uses."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "PARQUETRY_")) and k != "DATABASE_URL"}
    env.update(extra)
    return env


@dataclass
class Server:
    """One `parquetry serve` process with its own database and data directory."""
    binary: Path
    label: str
    log_dir: Path
    telemetry_env: dict[str, str]
    port: int = 0
    exit_code: int | None = None
    log_path: Path = field(init=False)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.log_path = self.log_dir / f"service-{self.label}.log"

    @contextlib.contextmanager
    def running(self):
        database = f"parquetry_bench_{os.getpid()}_{self.label.replace('-', '_')}"
        psql(f'CREATE DATABASE "{database}"')
        try:
            with tempfile.TemporaryDirectory(prefix="parquetry-bench-") as data_dir:
                self.port = free_port()
                env = server_env({
                    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
                    "PARQUETRY_DATA_DIR": data_dir,
                    "PARQUETRY_BIND": f"127.0.0.1:{self.port}",
                    "PARQUETRY_WORKERS": "1",
                    **self.telemetry_env,
                })
                with open(self.log_path, "wb") as out:
                    self.proc = subprocess.Popen([str(self.binary), "serve"], env=env,
                                                 stdout=out, stderr=subprocess.STDOUT)
                try:
                    self._wait_ready()
                    with contextlib.closing(Api("127.0.0.1", self.port)) as api:
                        yield api
                finally:
                    self.exit_code = self._terminate()
        finally:
            psql(f'DROP DATABASE IF EXISTS "{database}"')

    def cpu_seconds(self) -> float:
        """User + system CPU time of the running server, all its threads
        (/proc/PID/stat utime and stime, in clock ticks)."""
        stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", field 3 is index 0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label}: server exited {self.proc.returncode} at "
                                   f"start-up; see {self.log_path}")
            with contextlib.suppress(OSError, http.client.HTTPException), \
                    contextlib.closing(Api("127.0.0.1", self.port)) as probe:
                if probe.is_ready():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.label}: /readyz not 200 after {READY_TIMEOUT_S} s")

    def _terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -signal.SIGKILL


# --------------------------------------------------------------------------- #
# the HTTP API
# --------------------------------------------------------------------------- #
class ApiError(RuntimeError):
    pass


class Api:
    """The job API over one keep-alive connection (http.client streams the
    upload from the file object in IO_CHUNK blocks)."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=JOB_TIMEOUT_S,
                                               blocksize=IO_CHUNK)

    def close(self) -> None:
        self.conn.close()

    def is_ready(self) -> bool:
        self.conn.request("GET", "/readyz")
        resp = self.conn.getresponse()
        resp.read()
        return resp.status == 200

    def _json(self, resp: http.client.HTTPResponse, expected: int) -> dict:
        body = resp.read()
        if resp.status != expected:
            raise ApiError(f"HTTP {resp.status} (expected {expected}): {body[:500]!r}")
        return json.loads(body)

    def upload(self, csv: Path, wait: bool = False, form: str | None = None) -> dict:
        """POST the file, as the raw body or, with `form` ("before" or "after": where
        its option field goes), as a multipart form's `file` part; with `wait`, the
        answer comes once the job has finished (200), or still running after WAIT_S
        (202)."""
        if form:
            return self._upload_form(csv, wait, form)
        query = f"filename={quote(csv.name)}" + (f"&wait={WAIT_S}" if wait else "")
        with open(csv, "rb") as body:
            self.conn.request("POST", f"/v1/jobs?{query}", body=body,
                              headers={"Content-Type": "text/csv",
                                       "Content-Length": str(csv.stat().st_size)})
            resp = self.conn.getresponse()
            return self._json(resp, 200 if wait and resp.status == 200 else 202)

    def _upload_form(self, csv: Path, wait: bool, option: str) -> dict:
        """As `curl --form-string delimiter=, -F file=@CSV` (`option` "before") or
        `curl -F file=@CSV --form-string delimiter=,` ("after"), the file streamed
        from disk."""
        boundary = "parquetry-bench-boundary"
        field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"delimiter\"\r\n\r\n"
                 ",\r\n").encode()
        file_head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"{csv.name}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
        head = field + file_head if option == "before" else file_head
        tail = b"\r\n" + (field if option == "after" else b"") + f"--{boundary}--\r\n".encode()

        def body():
            yield head
            with open(csv, "rb") as f:
                while chunk := f.read(IO_CHUNK):
                    yield chunk
            yield tail

        length = len(head) + csv.stat().st_size + len(tail)
        query = f"?wait={WAIT_S}" if wait else ""
        self.conn.request("POST", f"/v1/jobs{query}", body=body(),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                   "Content-Length": str(length)})
        resp = self.conn.getresponse()
        return self._json(resp, 200 if wait and resp.status == 200 else 202)

    def job(self, job_id: str, wait: int = 0) -> dict:
        self.conn.request("GET", f"/v1/jobs/{job_id}" + (f"?wait={wait}" if wait else ""))
        return self._json(self.conn.getresponse(), 200)

    def wait_until_succeeded(self, job: dict) -> dict:
        """Asks with `?wait=` until the job has finished: each answer comes
        when its status changes, so there is no polling interval."""
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while job["status"] not in ("succeeded", "failed", "canceled"):
            if time.monotonic() > deadline:
                raise ApiError(f"job {job['id']} not finished after {JOB_TIMEOUT_S} s")
            job = self.job(job["id"], wait=WAIT_S)
        if job["status"] != "succeeded":
            raise ApiError(f"job {job['id']} {job['status']}: {job.get('error')}")
        return job

    def download(self, job_id: str, dest: Path) -> int:
        self.conn.request("GET", f"/v1/jobs/{job_id}/result")
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise ApiError(f"result of {job_id}: HTTP {resp.status}: {resp.read()[:500]!r}")
        size = 0
        with open(dest, "wb") as out:
            while chunk := resp.read(IO_CHUNK):
                out.write(chunk)
                size += len(chunk)
        return size


def seconds_between(job: dict, start: str, end: str) -> float:
    return (instant(job, end) - instant(job, start)).total_seconds()


def instant(job: dict, name: str) -> datetime:
    """A time of the job; `received_at` is the first step of its timeline."""
    if name == "received_at":
        return datetime.fromisoformat(job["timeline"][0]["started_at"])
    return datetime.fromisoformat(job[name])


# --------------------------------------------------------------------------- #
# part 1: one job end to end vs `parquetry convert`
# --------------------------------------------------------------------------- #
def settle_writeback() -> None:
    """Writes every dirty page out before a timed round, outside its time. The upload's
    fsync (ext4, data=ordered) also waits for data other files left dirty: without this a
    service round paid for the previous round's CLI output and download, and its upload
    phase ranged 0.10–0.34 s on the same machine."""
    os.sync()


def service_round(api: Api, csv: Path, dest: Path, form: str | None) -> dict:
    settle_writeback()
    t0 = time.perf_counter()
    job = api.wait_until_succeeded(api.upload(csv, wait=True, form=form))
    t_succeeded = time.perf_counter()
    size = api.download(job["id"], dest)
    t_end = time.perf_counter()
    # A head-started job (converted while it arrived) started before its row was created:
    # it never queued, and "convert" is what was left of its conversion after the upload.
    queued_s = max(0.0, seconds_between(job, "created_at", "started_at"))
    return {"upload_s": seconds_between(job, "received_at", "created_at"),
            "queue_s": queued_s,
            "convert_s": min(seconds_between(job, "started_at", "finished_at"),
                             seconds_between(job, "created_at", "finished_at") - queued_s),
            "answered_s": t_succeeded - t0,
            "download_s": t_end - t_succeeded,
            "total_s": t_end - t0,
            "parquet_bytes": size}


def cli_round(binary: Path, csv: Path, dest: Path) -> dict:
    dest.unlink(missing_ok=True)
    settle_writeback()
    t0 = time.perf_counter()
    subprocess.run([str(binary), "convert", str(csv), str(dest)],
                   stdout=subprocess.DEVNULL, check=True)
    return {"total_s": time.perf_counter() - t0, "parquet_bytes": dest.stat().st_size}


def run_end_to_end(binary: Path, csv: Path, rounds: int, out_dir: Path,
                   form: str | None) -> int:
    """Part 1; returns the server's exit status after SIGTERM."""
    service_out, cli_out = out_dir / "service.parquet", out_dir / "cli.parquet"
    server = Server(binary, "e2e", out_dir, {"OTEL_SDK_DISABLED": "true"})
    service_runs, cli_runs = [], []
    with server.running() as api:
        for rnd in range(1, rounds + 1):
            s = service_round(api, csv, service_out, form)
            service_runs.append(s)
            c = cli_round(binary, csv, cli_out)
            cli_runs.append(c)
            log(f"e2e round {rnd}/{rounds}: service total {s['total_s']:.2f} s (upload "
                f"{s['upload_s']:.2f}, queue {s['queue_s']:.3f}, convert {s['convert_s']:.2f}, "
                f"download {s['download_s']:.2f}); CLI convert {c['total_s']:.2f} s")
    same = filecmp.cmp(service_out, cli_out, shallow=False)
    print_end_to_end(csv, service_runs, cli_runs, same, server.exit_code)
    return server.exit_code


def print_end_to_end(csv: Path, service: list[dict], cli: list[dict], same: bool,
                     exit_code: int) -> None:
    mb = csv.stat().st_size / 1e6

    def col(runs: list[dict], key: str, spec: str = ".2f") -> str:
        return format(median([r[key] for r in runs]), spec)

    print(f"\n### End to end, one job (medians of {len(service)} round(s); input "
          f"`{csv.name}` {mb:.1f} MB; PARQUETRY_WORKERS=1, OTEL_SDK_DISABLED=true)\n")
    print("| path | upload s | queue s | convert s | download s | total s | total min–max s "
          "| MB/s (input / total) | Parquet MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    s_total = median([r["total_s"] for r in service])
    c_total = median([r["total_s"] for r in cli])
    print(f"| service: POST ?wait=60, GET result | {col(service, 'upload_s')} "
          f"| {col(service, 'queue_s', '.3f')} | {col(service, 'convert_s')} "
          f"| {col(service, 'download_s')} | {s_total:.2f} "
          f"| {spread([r['total_s'] for r in service])} | {mb / s_total:.0f} "
          f"| {service[-1]['parquet_bytes'] / 1e6:.2f} |")
    print(f"| `parquetry convert IN OUT` (subprocess wall) | — | — | — | — | {c_total:.2f} "
          f"| {spread([r['total_s'] for r in cli])} | {mb / c_total:.0f} "
          f"| {cli[-1]['parquet_bytes'] / 1e6:.2f} |")
    answered = median([r["answered_s"] for r in service])
    paired = sorted(s["total_s"] / c["total_s"] for s, c in zip(service, cli))
    print(f"\nPer round, service total / CLI wall (each service trip next to its CLI run): "
          f"median {median(paired):.2f}×, from {paired[0]:.2f}× to {paired[-1]:.2f}×.")
    print(f"\nService total / CLI wall: {s_total / c_total:.2f}×. Client-side time from the "
          f"first upload byte to the 200 answer of the finished job: {answered:.2f} s. "
          f"Service result byte-identical to the CLI output: {'yes' if same else 'NO'}. "
          f"Server exit status after SIGTERM: {exit_code}.")


# --------------------------------------------------------------------------- #
# part 2: telemetry overhead
# --------------------------------------------------------------------------- #
@dataclass
class Config:
    key: str
    title: str
    env: dict[str, str]
    runs: list[dict] = field(default_factory=list)

    def values(self, key: str) -> list[float]:
        return [r[key] for r in self.runs]


def batch_round(api: Api, csv: Path, jobs: int, out_dir: Path) -> dict:
    """Upload `jobs` times back to back, await and download every job.
    Times are time.monotonic() so they compare with the sink's."""
    t0 = time.monotonic()
    created = [api.upload(csv) for _ in range(jobs)]
    ids = [job["id"] for job in created]
    done = [api.wait_until_succeeded(job) for job in created]
    for i, job_id in enumerate(ids):
        api.download(job_id, out_dir / f"batch-{i}.parquet")
    t1 = time.monotonic()
    return {"start": t0, "end": t1, "wall_s": t1 - t0,
            "convert_s": sum(seconds_between(j, "started_at", "finished_at") for j in done)}


def exporting_env(endpoint: str, export_interval_ms: int | None) -> dict[str, str]:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    if export_interval_ms is not None:
        interval = str(export_interval_ms)
        env.update({"OTEL_BSP_SCHEDULE_DELAY": interval,
                    "OTEL_BLRP_SCHEDULE_DELAY": interval,
                    "OTEL_METRIC_EXPORT_INTERVAL": interval})
    return env


def run_telemetry_overhead(binary: Path, csv: Path, rounds: int, jobs: int, out_dir: Path,
                           sink: OtlpSink, export_interval_ms: int | None) -> list[Config]:
    intervals = ("SDK default export intervals" if export_interval_ms is None else
                 f"spans, logs and metrics exported every {export_interval_ms} ms")
    exporting = Config("a", f"(a) OTLP http/protobuf to the sink, {intervals}",
                       exporting_env(sink.endpoint, export_interval_ms))
    disabled = Config("b", "(b) OTEL_SDK_DISABLED=true", {"OTEL_SDK_DISABLED": "true"})
    configs = [exporting, disabled]
    for rnd in range(1, rounds + 1):
        order = configs if rnd % 2 else configs[::-1]
        for cfg in order:
            server = Server(binary, f"otel-{cfg.key}-{rnd}", out_dir, cfg.env)
            started = time.monotonic()
            with server.running() as api:
                cpu_before = server.cpu_seconds()
                run = batch_round(api, csv, jobs, out_dir)
                run["cpu_s"] = server.cpu_seconds() - cpu_before
            run["exit_code"] = server.exit_code
            run["otlp_during_jobs"] = sink.received(run["start"], run["end"])
            run["otlp_all"] = sink.received(started, time.monotonic())
            cfg.runs.append(run)
            log(f"telemetry round {rnd}/{rounds} {cfg.key}: convert {run['convert_s']:.2f} s, "
                f"wall {run['wall_s']:.2f} s, server CPU {run['cpu_s']:.2f} s, exit {server.exit_code}, OTLP requests "
                f"{run['otlp_during_jobs'].total_requests()} during the jobs, "
                f"{run['otlp_all'].total_requests()} in all")
    print_telemetry_overhead(csv, jobs, configs)
    return configs


def print_telemetry_overhead(csv: Path, jobs: int, configs: list[Config]) -> None:
    mb = jobs * csv.stat().st_size / 1e6
    rounds = len(configs[0].runs)
    print(f"\n### Telemetry overhead ({rounds} round(s) alternating (a)/(b); per round one "
          f"fresh server, {jobs} upload(s) of `{csv.name}` back to back = {mb:.0f} MB, "
          f"PARQUETRY_WORKERS=1)\n")
    print("| configuration | conversion s (Σ jobs, median) | min–max s | conversion MB/s "
          "| wall s (median) | wall MB/s | server CPU s during the jobs (median) | min–max s "
          "| OTLP requests during the jobs / in all (Σ rounds) | OTLP KB in all | exit codes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for cfg in configs:
        conv, wall, cpu = (cfg.values(key) for key in ("convert_s", "wall_s", "cpu_s"))
        during = sum((r["otlp_during_jobs"] for r in cfg.runs), Received())
        total = sum((r["otlp_all"] for r in cfg.runs), Received())
        print(f"| {cfg.title} | {median(conv):.2f} | {spread(conv)} | {mb / median(conv):.0f} "
              f"| {median(wall):.2f} | {mb / median(wall):.0f} | {median(cpu):.2f} | {spread(cpu)} "
              f"| {during.total_requests()} / {total.total_requests()} | {total.total_kb():.1f} "
              f"| {','.join(str(r['exit_code']) for r in cfg.runs)} |")

    exporting, disabled = configs
    print(f"\nOverhead of exporting, (a) vs (b) (target: under {TARGET_OVERHEAD_PCT:.0f} % slower):\n")
    print("| measure | median (a) vs median (b) | paired: median of per-round (a)/(b) "
          "| 95 % bootstrap interval of the paired median | verdict |")
    print("|---|---:|---:|---:|---|")
    for key, name in (("convert_s", "conversion time (job timestamps)"),
                      ("wall_s", "wall time (client)"),
                      ("cpu_s", "server CPU time (/proc)")):
        print(overhead_row(exporting, disabled, key, name))
    ratios = [a / b for a, b in zip(exporting.values("convert_s"), disabled.values("convert_s"))]
    print("\nPer-round conversion (a)/(b): "
          + ", ".join(f"{(r - 1) * 100:+.1f} %" for r in ratios) + ".")
    during = sum((r["otlp_during_jobs"] for r in exporting.runs), Received())
    total = sum((r["otlp_all"] for r in exporting.runs), Received())
    print("OTLP requests received in (a), by path, during the jobs / in all (the rest is the "
          "flush at SIGTERM): " + (", ".join(f"{path} {during.requests[path]} / {n}"
                                           for path, n in sorted(total.requests.items()))
                                 or "none") + ".")


def bootstrap_ci(xs: list[float], resamples: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of the median of xs (fixed seed: reproducible)."""
    rng = random.Random(1)
    medians = sorted(median(rng.choices(xs, k=len(xs))) for _ in range(resamples))
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def overhead_row(a: Config, b: Config, key: str, name: str) -> str:
    """One measure's overhead: median (a) vs median (b), and the median of the
    per-round ratios with its bootstrap interval, which decides the verdict."""
    xa, xb = a.values(key), b.values(key)
    overhead = (median(xa) / median(xb) - 1) * 100
    ratios = [x / y for x, y in zip(xa, xb)]
    paired = (median(ratios) - 1) * 100
    low, high = ((r - 1) * 100 for r in bootstrap_ci(ratios))
    if high < TARGET_OVERHEAD_PCT:
        verdict = "met"
    elif low >= TARGET_OVERHEAD_PCT:
        verdict = "NOT met"
    else:
        verdict = "not resolved (interval spans the target)"
    return (f"| {name} | {overhead:+.1f} % | {paired:+.1f} % | {low:+.1f} % … {high:+.1f} % "
            f"| {verdict} |")


# --------------------------------------------------------------------------- #
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=375_000,
                    help="rows of the generated CSV (bench/data.sh; 375000 ≈ 100 MB)")
    ap.add_argument("--csv", type=Path, help="benchmark this CSV instead of a generated one")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of each part (default 3)")
    ap.add_argument("--jobs", type=int, default=3,
                    help="uploads per server in the telemetry part (default 3)")
    ap.add_argument("--export-interval-ms", type=int,
                    help="in configuration (a), export spans, logs and metrics this often "
                         "(OTEL_BSP_SCHEDULE_DELAY, OTEL_BLRP_SCHEDULE_DELAY, "
                         "OTEL_METRIC_EXPORT_INTERVAL) instead of the SDK defaults "
                         "(5 s, 1 s, 60 s), so that exports fall inside the measured jobs")
    ap.add_argument("--end-to-end-only", action="store_true",
                    help="run part 1 only (the end-to-end trip against the CLI)")
    ap.add_argument("--form", choices=["before", "after"],
                    help="upload the end-to-end part's file as a multipart form (curl -F) "
                         "instead of the raw body, with an option field before or after "
                         "the file")
    ap.add_argument("--bin", type=Path, default=ROOT / "target" / "release" / "parquetry",
                    help="the parquetry binary (default target/release/parquetry; not built here)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "bench-data" / "out" / "service",
                    help="downloaded results and server logs")
    a = ap.parse_args()
    if a.rounds < 1 or a.jobs < 1:
        ap.error("--rounds and --jobs must be >= 1")
    if not (a.bin.is_file() and os.access(a.bin, os.X_OK)):
        sys.exit(f"service.py: {a.bin} is not an executable file "
                 "(build it: cargo build --release --bin parquetry)")

    csv = a.csv.resolve() if a.csv else ensure_csv(a.rows)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(ROOT / "scripts" / "ensure-postgres")], check=True)
    warm_up(csv)
    built = datetime.fromtimestamp(a.bin.stat().st_mtime).astimezone()

    print(f"**Parquetry service benchmark**, input `{csv}` ({csv.stat().st_size / 1e6:.1f} MB), "
          f"binary `{a.bin}` (built {built:%Y-%m-%d %H:%M %Z}). MB = 10^6 bytes.")
    print(f"Env at start: {env_summary()}. The machine's cores are shared with other "
          "builds: wall times are inflated when the load average exceeds the CPU count.")

    e2e_exit = run_end_to_end(a.bin, csv, a.rounds, a.out_dir, a.form)
    if a.end_to_end_only:
        return e2e_exit
    with OtlpSink() as sink:
        configs = run_telemetry_overhead(a.bin, csv, a.rounds, a.jobs, a.out_dir, sink,
                                         a.export_interval_ms)
    print(f"\nEnv at end: {env_summary()}. Server logs: `{a.out_dir}/service-*.log`.")

    exit_codes = [e2e_exit] + [r["exit_code"] for cfg in configs for r in cfg.runs]
    exported = sum(r["otlp_all"].total_requests() for r in configs[0].runs)
    if any(code != 0 for code in exit_codes):
        log(f"FAIL: a server did not exit 0 after SIGTERM: {exit_codes}")
        return 1
    if exported == 0:
        log("FAIL: the OTLP sink received nothing in configuration (a)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

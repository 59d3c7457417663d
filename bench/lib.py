"""Shared parts of the benchmark: processes, the nginx origin, the Spool
engine, HTTP timing, /proc readings. Standard library only; loopback only."""

import asyncio
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request

MIB = 1 << 20
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*args):
    print("[bench]", *args, flush=True)


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value; bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def run(cmd, timeout=600, **kw):
    """Runs a command to completion; raises on failure, returns stdout."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout


def timed(cmd, timeout=600, **kw):
    """Runs a command; returns (seconds, stdout)."""
    t0 = time.monotonic()
    out = run(cmd, timeout=timeout, **kw)
    return time.monotonic() - t0, out


def stop_process(p, timeout=10):
    """SIGTERM, then SIGKILL after `timeout`; for processes we started."""
    if p is None or p.poll() is not None:
        return
    try:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=5)


# ---------------------------------------------------------------- /proc

def cpu_seconds(pids):
    """utime + stime of the given processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def proc_status(pid, key):
    """A `kB` value from /proc/PID/status (VmHWM, VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open(f"/proc/{d}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            out.append(int(d))
                except OSError:
                    pass
        return out


# ---------------------------------------------------------------- nginx origin

class Nginx:
    """nginx on 127.0.0.1 with its own config: /fast/ unlimited, /slow/ and
    /media/ with a per-connection limit_rate; all serve `files_dir` with
    sendfile. (nginx lets each response burst one second's worth first.)"""

    def __init__(self, workdir, files_dir, limit_rate, media_rate, workers=2):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.files_dir = files_dir
        self.limit_rate = limit_rate  # bytes/s per connection, /slow/
        self.media_rate = media_rate  # bytes/s per connection, /media/
        self.workers = workers
        self.proc = None
        self.port = None

    def config(self):
        user = "user root root;" if os.geteuid() == 0 else ""
        d = self.dir
        return f"""
{user}
daemon off;
master_process on;
worker_processes {self.workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    # tcp_nopush stays off: with it, keep-alive range responses stall 40 ms
    # (cork + delayed ACK), which would make nginx an unfair peer in (2).
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    types {{ video/mp4 mp4; }}
    default_type application/octet-stream;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
{self.upstreams()}
    server {{
        listen 127.0.0.1:{self.port};
{self.locations()}
    }}
}}
"""

    def upstreams(self):
        return ""

    def locations(self):
        return f"""
        location /fast/ {{ alias {self.files_dir}/; }}
        location /slow/ {{ alias {self.files_dir}/; limit_rate {self.limit_rate}; }}
        location /media/ {{ alias {self.files_dir}/; limit_rate {self.media_rate}; }}"""

    def start(self):
        nginx = "nginx" if shutil_which("nginx") else "/usr/sbin/nginx"
        for _ in range(5):  # a free port can be taken between probe and bind
            self.port = free_port()
            conf = os.path.join(self.dir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self.config())
            self.proc = subprocess.Popen(
                [nginx, "-e", os.path.join(self.dir, "error.log"), "-p", self.dir, "-c", conf],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                wait_until(lambda: self.proc.poll() is not None or port_open(self.port),
                           10, what="nginx")
            except TimeoutError:
                pass
            if self.proc.poll() is None and port_open(self.port):
                try:
                    wait_until(lambda: len(children(self.proc.pid)) >= self.workers, 10,
                               what="nginx workers")
                except TimeoutError:
                    stop_process(self.proc)
                    raise
                return self
            stop_process(self.proc)
        raise RuntimeError("nginx did not start: " + self.proc.stderr.read().decode()[-500:])

    def url(self, location, name):
        return f"http://127.0.0.1:{self.port}/{location}/{name}"

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def stop(self):
        stop_process(self.proc)


class NginxProxy(Nginx):
    """A second nginx, one worker like Spool's proxy, as a reverse proxy
    (default buffering) in front of `origin` (an Nginx): the cost of one extra
    loopback hop for a well-known proxy. `/cold/L/` opens a new origin
    connection per request (as a seek does when every connection is busy);
    `/warm/L/` keeps idle ones, but only a response read to its end leaves
    one (see `prime`); L is the origin's location."""

    def __init__(self, workdir, origin):
        super().__init__(os.path.join(workdir, "proxy"), origin.files_dir, None, None, workers=1)
        self.origin = origin

    def prime(self, location, name):
        """A one-byte request through `/warm/location/` read to its end: its
        origin connection stays idle in the pool for the next request, as
        Spool's HEAD keeps one for the next seek."""
        req = urllib.request.Request(self.url(f"warm/{location}", name),
                                     headers={"Range": "bytes=0-0"})
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()

    def upstreams(self):
        return f"    upstream origin {{ server 127.0.0.1:{self.origin.port}; keepalive 4; }}"

    def locations(self):
        return f"""
        location /cold/ {{ proxy_pass http://127.0.0.1:{self.origin.port}/; }}
        location /warm/ {{ proxy_pass http://origin/; proxy_http_version 1.1;
                          proxy_set_header Connection ""; }}"""


def shutil_which(cmd):
    import shutil
    return shutil.which(cmd)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- Spool

class DelayLine:
    """A TCP relay on 127.0.0.1 in front of a local port that delays every
    byte by half `rtt` each way, and a new connection by one `rtt` (its
    handshake): a loopback origin that answers like one across a network.
    Bandwidth stays the origin's. Runs its own event loop in a thread."""

    def __init__(self, target_port, rtt):
        self.target_port = target_port
        self.rtt = rtt
        self.port = None
        self.loop = None
        self.server = None
        self.thread = None
        self.relays = set()

    def start(self):
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            self.server = self.loop.run_until_complete(
                asyncio.start_server(self._relay, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the delay line did not start")
        return self

    def url(self, location, name):
        return f"http://127.0.0.1:{self.port}/{location}/{name}"

    def stop(self):
        if self.loop is None:
            return

        async def close():
            self.server.close()
            for _ in range(10):  # cancelled relays may leave their pipes to finish
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                if not tasks:
                    break
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    async def _relay(self, client_r, client_w):
        # asyncio holds tasks weakly: a relay whose sockets wait on flow
        # control could be collected mid-transfer without this reference.
        me = asyncio.current_task()
        self.relays.add(me)
        writers = [client_w]
        try:
            await asyncio.sleep(self.rtt)  # the handshake's round trip
            origin_r, origin_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            writers.append(origin_w)
            await asyncio.gather(self._pipe(client_r, origin_w), self._pipe(origin_r, client_w),
                                 return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            # Ending normally even when cancelled (at stop): asyncio's stream
            # server reports a cancelled handler as an error.
            pass
        finally:
            for w in writers:
                w.close()
            self.relays.discard(me)

    async def _pipe(self, reader, writer):
        """Copies reader to writer, each chunk half a round trip late."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def deliver():
            try:
                while True:
                    due, data = await queue.get()
                    if due > loop.time():
                        await asyncio.sleep(due - loop.time())
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    writer.write(data)
                    await writer.drain()
            except OSError:  # the other side left (a reset is how a player stops)
                return

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(256 * 1024)
                queue.put_nowait((loop.time() + self.rtt / 2, data))
                if not data:
                    break
            await sender
        except OSError:
            pass
        finally:
            sender.cancel()


class Spool:
    """`spool serve --port 0` on a data dir, plus its CLI and control API."""

    def __init__(self, binary, data_dir, extra_args=()):
        self.binary = binary
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.proc = None
        self.base = None
        self.token = None
        self._stdout_lines = []

    def env(self):
        env = dict(os.environ)
        env["SPOOL_DATA_DIR"] = self.data_dir
        env.setdefault("RUST_LOG", "warn")
        return env

    def start(self):
        self.stderr_path = os.path.join(os.path.dirname(self.data_dir.rstrip("/")),
                                        "spool-stderr.log")
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--port", "0", *self.extra_args],
            env=self.env(), stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = [None]

        def reader():
            for ln in self.proc.stdout:  # keep draining so the pipe never fills
                if line[0] is None and "listening on" in ln:
                    line[0] = ln.strip()
                self._stdout_lines.append(ln)

        threading.Thread(target=reader, daemon=True).start()
        wait_until(lambda: line[0] or self.proc.poll() is not None, 30, what="spool serve")
        if line[0] is None:
            raise RuntimeError(f"spool serve exited {self.proc.returncode}; see {self.stderr_path}")
        self.base = line[0].split("listening on", 1)[1].strip().rstrip("/")
        with open(os.path.join(self.data_dir, "engine.json")) as f:
            self.token = json.load(f)["token"]
        return self

    def stderr_tail(self, lines=15):
        self.stderr.flush()
        with open(self.stderr_path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-lines:]) or "(no stderr)"

    def stop(self):
        stop_process(self.proc)
        if getattr(self, "stderr", None):
            self.stderr.close()

    @property
    def pid(self):
        return self.proc.pid

    def cli(self, *args, timeout=120):
        return run([self.binary, *args], timeout=timeout, env=self.env())

    def add(self, url):
        """`spool add URL`: returns (stream URL, item id, seconds the add took)."""
        t0 = time.monotonic()
        stream = self.cli("add", url).strip().splitlines()[-1]
        took = time.monotonic() - t0
        item = next(i for i in self.items() if i["stream_url"] == stream)
        return stream, item["id"], took

    def rm(self, item_id):
        self.cli("rm", item_id)

    def items(self):
        req = urllib.request.Request(self.base + "/api/items",
                                     headers={"Authorization": "Bearer " + self.token})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def item(self, item_id):
        return next((i for i in self.items() if i["id"] == item_id), None)

    def remove_all(self, keep=()):
        """Removes every item but those whose ids are in `keep`."""
        for i in self.items():
            if i["id"] not in keep:
                self.rm(i["id"])

    def wait_complete(self, item_id, timeout, interval=0.05):
        """Polls the control API (the data `spool ls --json` prints) until complete."""
        def done():
            i = self.item(item_id)
            if i["state"] == "failed":
                raise RuntimeError(f"item failed: {i.get('error')}")
            return i["state"] == "complete" and i["downloaded"] == i["size"]
        wait_until(done, timeout, interval, what=f"item {item_id} complete")

    def stream_url(self, item_id):
        return self.item(item_id)["stream_url"]


# ---------------------------------------------------------------- HTTP timing

def curl_speed(url, expect_size, timeout=600):
    """curl -o /dev/null: bytes/s (speed_download); checks the size."""
    out = run(["curl", "-sS", "--fail", "-o", "/dev/null", "-w",
               "%{speed_download} %{size_download}", url], timeout=timeout)
    speed, size = out.split()
    if int(float(size)) != expect_size:
        raise RuntimeError(f"{url}: got {size} bytes, expected {expect_size}")
    return float(speed)


def first_bytes(url, start, want=MIB, timeout=60):
    """GET with `Range: bytes=START-` (an open range, as players seek):
    seconds to the first body byte and to `want` body bytes; then closes."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        t0 = time.monotonic()
        conn.request("GET", u.path, headers={"Range": f"bytes={start}-"})
        resp = conn.getresponse()
        if resp.status != 206:
            raise RuntimeError(f"{url}: status {resp.status}")
        got = len(resp.read1(1))
        ttfb = time.monotonic() - t0
        while got < want:
            chunk = resp.read1(min(256 * 1024, want - got))
            if not chunk:
                raise RuntimeError(f"{url}: short read at {got}")
            got += len(chunk)
        return ttfb, time.monotonic() - t0
    finally:
        conn.close()


def range_client(url, size, seconds, connections=4, chunk=64 * 1024, seed=1):
    """Python fallback for wrk: random `chunk`-byte ranges on keep-alive
    connections for `seconds`. Returns p50/p99 latency (s) and requests/s."""
    import random
    u = urllib.parse.urlsplit(url)
    latencies, errors = [], []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(n):
        rnd = random.Random(seed + n)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        mine = []
        try:
            while time.monotonic() < deadline:
                start = rnd.randrange(0, size - chunk)
                t0 = time.monotonic()
                conn.request("GET", u.path, headers={"Range": f"bytes={start}-{start + chunk - 1}"})
                r = conn.getresponse()
                body = r.read()
                mine.append(time.monotonic() - t0)
                if r.status != 206 or len(body) != chunk:
                    errors.append(r.status)
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    elapsed = time.monotonic() - t0
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]
    return {"p50": pct(50), "p99": pct(99), "rps": len(latencies) / elapsed,
            "errors": len(errors), "requests": len(latencies)}


def wrk_ranges(url, size, seconds, connections=4, chunk=64 * 1024):
    """wrk with bench/ranges.lua: random `chunk`-byte ranges, keep-alive."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ranges.lua")
    env = dict(os.environ, BENCH_SIZE=str(size), BENCH_CHUNK=str(chunk))
    out = run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
               "-s", script, url], timeout=seconds + 60, env=env)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    v = dict(kv.split("=") for kv in line.split()[1:])
    return {"p50": int(v["p50_us"]) / 1e6, "p99": int(v["p99_us"]) / 1e6,
            "rps": int(v["requests"]) / (int(v["duration_us"]) / 1e6),
            "errors": int(v["errors"]), "requests": int(v["requests"])}

#!/usr/bin/env python3
"""Spool beside nginx, curl, aria2c, ffprobe and mpv, in one run; reports
ratios. Run through bench/run (which installs peers and builds Spool).

Each measurement runs `reps` times (3; 1 with --quick), alternating Spool and
its peer, and the median is reported. Everything listens on 127.0.0.1 only,
every process started here is stopped in `finally`, and the temp dir (with the
big test files) is deleted at the end.
"""

import argparse
import os
import shutil
import subprocess
import threading
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import (GIB, MIB, DelayLine, Nginx, NginxProxy, Spool, cpu_seconds, curl_speed, first_bytes, log,  # noqa: E402
                 median, proc_status, range_client, run, stop_process, timed, wrk_ranges)
import report  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL = dict(big=GIB, mid=512 * MIB, small=256 * MIB, tiny=64 * MIB,
            mp4_seconds=60, mp4_size="1280x720", mp4_bitrate="8M",
            limit_rate=8 * MIB, media_rate=2 * MIB, reps=3, range_seconds=8, streams=20,
            download_timeout=600, rtt=0.04)
QUICK = dict(big=16 * MIB, mid=8 * MIB, small=4 * MIB, tiny=4 * MIB,
             mp4_seconds=8, mp4_size="320x240", mp4_bitrate="1M",
             limit_rate=8 * MIB, media_rate=2 * MIB, reps=1, range_seconds=2, streams=20,
             download_timeout=120, rtt=0.04)


# Loopback seeks take a millisecond or two and their spread is wide (a thread
# that waits for a core costs as much): (4) takes several per repetition.
SEEKS_PER_REP = 5

PLAY_TOOLS = {
    "ffprobe": ["ffprobe", "-v", "error", "-show_entries", "format=duration",
                "-of", "default=nw=1:nk=1"],
    "mpv": ["mpv", "--no-config", "--vo=null", "--ao=null", "--length=3", "--really-quiet"],
    "mpv --untimed": ["mpv", "--no-config", "--vo=null", "--ao=null", "--length=3",
                      "--untimed", "--ao-null-untimed", "--really-quiet"],
}


def ratios(samples, base):
    """'a× / b×': the medians of `samples` over `base`, first byte / first MiB."""
    return " / ".join(f"{median(samples[k]) / median(base[k]):.2f}×" for k in ("ttfb", "mib"))


def play(tool, target):
    """Seconds `tool` (a PLAY_TOOLS key) takes on `target` (a URL or path)."""
    t, out = timed(PLAY_TOOLS[tool] + [target], timeout=120)
    if tool == "ffprobe" and not float(out.strip()) > 0:
        raise RuntimeError(f"ffprobe gave no duration: {out!r}")
    return t


class Bench:
    def __init__(self, p, workdir, spool_bin):
        self.p = p
        self.work = workdir
        self.spool_bin = spool_bin
        self.files = os.path.join(workdir, "files")
        self.dl = os.path.join(workdir, "downloads")
        self.data = os.path.join(workdir, "spool-data")
        for d in (self.files, self.dl):
            os.makedirs(d)
        self.nginx = None
        self.spool = None
        self.extra_spools = []
        self.rows = []  # report rows, see report.row()
        self.notes = []
        self.big_id = None
        self.flags = spool_flags(spool_bin)

    # ------------------------------------------------------------ set-up

    def make_files(self):
        p = self.p
        for name, size in (("big.bin", p["big"]), ("mid.bin", p["mid"]),
                           ("small.bin", p["small"]), ("tiny.bin", p["tiny"])):
            write_random(os.path.join(self.files, name), size)
        mp4 = os.path.join(self.files, "film.mp4")
        s = p["mp4_seconds"]
        # No -movflags +faststart: the moov atom stays at the end.
        run(["ffmpeg", "-v", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=s={p['mp4_size']}:r=30:d={s}",
             "-f", "lavfi", "-i", f"sine=f=440:d={s}",
             "-vf", "noise=alls=20:allf=t",
             "-c:v", "libx264", "-preset", "ultrafast", "-b:v", p["mp4_bitrate"],
             "-maxrate", p["mp4_bitrate"], "-bufsize", "16M", "-g", "60",
             "-c:a", "aac", "-b:a", "128k", mp4], timeout=300)
        atoms = top_level_atoms(mp4)
        if atoms.index("moov") < atoms.index("mdat"):
            raise RuntimeError(f"expected moov after mdat, got {atoms}")
        self.mp4_size = os.path.getsize(mp4)
        os.sync()
        log(f"files ready; film.mp4 {self.mp4_size / MIB:.1f} MiB, atoms {atoms}")

    def size(self, name):
        return os.path.getsize(os.path.join(self.files, name))

    def start(self):
        self.nginx = Nginx(self.work, self.files, self.p["limit_rate"],
                           self.p["media_rate"]).start()
        log(f"nginx on port {self.nginx.port} (limit_rate {self.p['limit_rate'] // MIB} MiB/s "
            f"per connection on /slow/, {self.p['media_rate'] // MIB} MiB/s on /media/)")
        self.spool = self.new_spool(self.data, self.connections_args(4))
        log(f"spool on {self.spool.base}")

    def connections_args(self, n):
        return ["--connections", str(n)] if "--connections" in self.flags else []

    def new_spool(self, data_dir, args=()):
        os.makedirs(data_dir, exist_ok=True)
        s = Spool(self.spool_bin, data_dir, args)
        self.extra_spools.append(s)
        return s.start()

    def restart_spool(self):
        self.spool.stop()
        self.spool = self.new_spool(self.data, self.connections_args(4))

    def stop(self):
        for s in self.extra_spools:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                log("stopping spool:", e)
        if self.nginx:
            self.nginx.stop()

    def reps(self):
        return range(self.p["reps"])

    # ------------------------------------------------------------ 6 download

    def download_unlimited(self):
        """(6a) time until a complete item vs curl -o, unlimited origin. Leaves
        the big item complete in the cache for (1), (2), (3) and (7)."""
        size = self.size("big.bin")
        url = self.nginx.url("fast", "big.bin")
        spool_s, curl_s = [], []
        for rep in self.reps():
            if self.big_id:
                self.spool.rm(self.big_id)
            os.sync()
            t0 = time.monotonic()
            _, self.big_id, _ = self.spool.add(url)
            self.spool.wait_complete(self.big_id, self.p["download_timeout"])
            spool_s.append(time.monotonic() - t0)
            os.sync()
            curl_s.append(curl_download(url, os.path.join(self.dl, "big.bin"), size))
            log(f"6a rep {rep}: spool {spool_s[-1]:.2f}s, curl {curl_s[-1]:.2f}s")
        self.rows.append(report.row(
            "6", "download, unlimited origin: throughput until complete",
            "MiB/s", mibps(size, median(spool_s)), mibps(size, median(curl_s)), "curl -o",
            ">=", 0.95, samples={"spool_s": spool_s, "curl_s": curl_s, "bytes": size}))

    def download_limited(self):
        """(6b) the same on the per-connection-limited origin vs aria2c -x4 -s4."""
        size = self.size("big.bin")
        url = self.nginx.url("slow", "big.bin")
        spool_s, aria_s = [], []
        for rep in self.reps():
            os.sync()
            t0 = time.monotonic()
            _, item_id, _ = self.spool.add(url)
            self.spool.wait_complete(item_id, self.p["download_timeout"])
            spool_s.append(time.monotonic() - t0)
            self.spool.rm(item_id)
            os.sync()
            t, _ = timed(["aria2c", "-x4", "-s4", "-q", "--allow-overwrite=true",
                          "--auto-file-renaming=false", "-d", self.dl, "-o", "slow.bin", url],
                         timeout=self.p["download_timeout"])
            check_size(os.path.join(self.dl, "slow.bin"), size)
            os.remove(os.path.join(self.dl, "slow.bin"))
            aria_s.append(t)
            log(f"6b rep {rep}: spool {spool_s[-1]:.2f}s, aria2c {aria_s[-1]:.2f}s")
        self.rows.append(report.row(
            "6", f"download, origin limited to {self.p['limit_rate'] // MIB} MiB/s per "
            "connection: throughput until complete", "MiB/s",
            mibps(size, median(spool_s)), mibps(size, median(aria_s)), "aria2c -x4 -s4",
            ">=", 0.9, samples={"spool_s": spool_s, "aria2c_s": aria_s, "bytes": size}))

    # ------------------------------------------------------------ 1 + 3

    def cached_throughput(self):
        """(1) full-file throughput of the complete big item vs nginx from
        disk, and (3) CPU seconds of the serving process per GiB served."""
        size = self.size("big.bin")
        spool_url = self.spool.stream_url(self.big_id)
        nginx_url = self.nginx.url("fast", "big.bin")
        for u in (spool_url, nginx_url):  # warm the page cache
            curl_speed(u, size)
        speeds = {"spool": [], "nginx": []}
        cpu = {"spool": [], "nginx": []}
        for rep in self.reps():
            for name, url, pids in (("spool", spool_url, lambda: [self.spool.pid]),
                                    ("nginx", nginx_url, self.nginx.pids)):
                c0 = cpu_seconds(pids())
                speeds[name].append(curl_speed(url, size))
                cpu[name].append((cpu_seconds(pids()) - c0) / (size / GIB))
            log(f"1 rep {rep}: spool {speeds['spool'][-1] / MIB:.0f} MiB/s "
                f"({cpu['spool'][-1]:.2f} CPU s/GiB), nginx {speeds['nginx'][-1] / MIB:.0f} MiB/s "
                f"({cpu['nginx'][-1]:.2f} CPU s/GiB)")
        self.rows.append(report.row(
            "1", "cached full-file throughput (curl -o /dev/null)", "MiB/s",
            median(speeds["spool"]) / MIB, median(speeds["nginx"]) / MIB, "nginx",
            ">=", 0.9, samples={k: [v / MIB for v in vs] for k, vs in speeds.items()}))
        self.rows.append(report.row(
            "3", "CPU seconds of the serving process per GiB served", "CPU s/GiB",
            median(cpu["spool"]), median(cpu["nginx"]), "nginx",
            "<=", 2.0, samples=cpu))

    # ------------------------------------------------------------ 2

    def cached_ranges(self):
        """(2) random 64 KiB ranges on 4 keep-alive connections, same client."""
        size = self.size("big.bin")
        spool_url = self.spool.stream_url(self.big_id)
        nginx_url = self.nginx.url("fast", "big.bin")
        if shutil.which("wrk"):
            client, fn = "wrk -t1 -c4 (bench/ranges.lua)", wrk_ranges
        else:
            client, fn = "Python http.client, 4 threads", range_client
        secs = self.p["range_seconds"]
        res = {"spool": [], "nginx": []}
        for rep in self.reps():
            for name, url in (("spool", spool_url), ("nginx", nginx_url)):
                r = fn(url, size, secs)
                if r["errors"]:
                    raise RuntimeError(f"{name}: {r['errors']} errors of {r['requests']} requests")
                res[name].append(r)
            log(f"2 rep {rep}: spool p50 {res['spool'][-1]['p50'] * 1e3:.2f} ms "
                f"p99 {res['spool'][-1]['p99'] * 1e3:.2f} ms {res['spool'][-1]['rps']:.0f} req/s; "
                f"nginx p50 {res['nginx'][-1]['p50'] * 1e3:.2f} ms "
                f"p99 {res['nginx'][-1]['p99'] * 1e3:.2f} ms {res['nginx'][-1]['rps']:.0f} req/s")
        m = lambda who, k: median([r[k] for r in res[who]])
        self.notes.append(f"(2) client: {client}, {secs} s per run, random offsets, 64 KiB each.")
        self.rows.append(report.row("2", "random 64 KiB ranges: p50 latency", "ms",
                                    m("spool", "p50") * 1e3, m("nginx", "p50") * 1e3, "nginx",
                                    None, None, samples=res))
        self.rows.append(report.row("2", "random 64 KiB ranges: p99 latency", "ms",
                                    m("spool", "p99") * 1e3, m("nginx", "p99") * 1e3, "nginx",
                                    "<=", 1.5))
        self.rows.append(report.row("2", "random 64 KiB ranges: requests/s", "req/s",
                                    m("spool", "rps"), m("nginx", "rps"), "nginx", None, None))

    # ------------------------------------------------------------ 4

    def seeks(self, url, label, peers=None, per_rep=1):
        """`per_rep` times per repetition: `spool add` of `url` (the mid file),
        an open range at 90 % through Spool at once, then the same range from
        `url` directly and from each of `peers` ({name: (url, prime)}: other
        paths to the same file, and what to run right before each request
        through it, or None), in an order that rotates. Returns the samples in
        seconds: Spool's, direct's, {name: peer's}."""
        peers = peers or {}
        size = self.size("mid.bin")
        start = int(size * 0.9)
        want = min(MIB, size - start)  # the quick mode's file has less than 1 MiB there
        sp = {"ttfb": [], "mib": [], "add": []}
        di = {"ttfb": [], "mib": []}
        pe = {name: {"ttfb": [], "mib": []} for name in peers}
        others = [(di, url, None)] + [(pe[n], u, prime) for n, (u, prime) in peers.items()]
        runs = [(rep, k) for rep in self.reps() for k in range(per_rep)]
        for i, (rep, k) in enumerate(runs):
            stream, item_id, add_s = self.spool.add(url)
            ttfb, t_mib = first_bytes(stream, start, want)
            self.spool.rm(item_id)
            sp["ttfb"].append(ttfb), sp["mib"].append(t_mib), sp["add"].append(add_s)
            for samples, peer_url, prime in others[i % len(others):] + others[:i % len(others)]:
                if prime:
                    prime()
                ttfb, t_mib = first_bytes(peer_url, start, want)
                samples["ttfb"].append(ttfb), samples["mib"].append(t_mib)
            log(f"{label} rep {rep} seek {k}: spool ttfb {sp['ttfb'][-1] * 1e3:.1f} ms, 1 MiB "
                f"{sp['mib'][-1] * 1e3:.1f} ms (add took {add_s * 1e3:.0f} ms); direct ttfb "
                f"{di['ttfb'][-1] * 1e3:.1f} ms, 1 MiB {di['mib'][-1] * 1e3:.1f} ms" + "".join(
                    f"; {n} {s['ttfb'][-1] * 1e3:.1f} / {s['mib'][-1] * 1e3:.1f} ms"
                    for n, s in pe.items()))
        return sp, di, pe

    def uncached_seek(self):
        """(4) open range at 90 % of the mid file, item just added, rate-limited
        origin; vs the same range from the origin directly. For scale, the
        same range through nginx as a reverse proxy (one extra loopback hop),
        on a new origin connection and on a kept-alive one."""
        proxy = NginxProxy(self.work, self.nginx).start()
        try:
            peers = {"cold": (proxy.url("cold/slow", "mid.bin"), None),
                     "warm": (proxy.url("warm/slow", "mid.bin"),
                              lambda: proxy.prime("slow", "mid.bin"))}
            sp, di, pe = self.seeks(self.nginx.url("slow", "mid.bin"), "4", peers,
                                    per_rep=SEEKS_PER_REP)
        finally:
            proxy.stop()
        self.notes.append(
            f"(4) {len(sp['ttfb'])} seeks ({self.p['reps']} repetitions of {SEEKS_PER_REP}), each "
            "timed from the request, sent as soon as `spool add` returned (the add itself took a "
            f"median {median(sp['add']) * 1e3:.0f} ms, an origin round trip). 'nginx as a "
            "reverse proxy': a second nginx (1 worker, `proxy_pass`, default buffering) in front "
            "of the origin, the same request through it; it has no cache and downloads nothing "
            "else; its own ratio to the origin direct shows what one extra loopback hop costs "
            f"a well-known proxy: {ratios(pe['cold'], di)} on a new origin connection "
            f"(one per request, as a seek that finds none idle), {ratios(pe['warm'], di)} on a "
            "kept-alive one (`keepalive` upstream, left idle by a one-byte request through it "
            "just before, as Spool's HEAD leaves one for its next seek), first byte / first MiB. "
            "Spool, the origin direct and the two proxy paths are timed in a rotating order.")
        samples = {"spool": sp, "direct": di}
        for k, what in (("ttfb", "time to first byte"), ("mib", "time to first MiB")):
            self.rows.append(report.row("4", f"uncached seek to 90 %: {what}", "ms",
                                        median(sp[k]) * 1e3, median(di[k]) * 1e3,
                                        "origin direct", "<=", 1.2,
                                        samples=samples if k == "ttfb" else None))
            for name, how in (("cold", "new"), ("warm", "kept-alive")):
                self.rows.append(report.row(
                    "4", f"uncached seek to 90 %: {what}, vs nginx as a reverse proxy "
                    f"({how} origin connection)", "ms", median(sp[k]) * 1e3,
                    median(pe[name][k]) * 1e3, f"nginx proxy, {how}", None, None,
                    samples={"proxy": pe[name][k]}))

    # ------------------------------------------------------------ 5

    def play_runs(self, url, tools, inner, local=None, label=""):
        """Per repetition and tool, `inner[tool]` runs (1 if absent; median):
        a first play through Spool (item just added, removed after) and the
        same from `url` directly; then replays from one complete item, and
        from the file at `local` if given. Returns {tool: {"first", "replay",
        "direct", "local"}: seconds per repetition}."""
        res = {t: {"first": [], "replay": [], "direct": [], "local": []} for t in tools}
        for rep in self.reps():
            for tool in tools:
                first, direct = [], []
                for _ in range(inner.get(tool, 1)):
                    stream, item_id, _ = self.spool.add(url)
                    first.append(play(tool, stream))
                    self.spool.rm(item_id)
                    direct.append(play(tool, url))
                res[tool]["first"].append(median(first))
                res[tool]["direct"].append(median(direct))
            stream, item_id, _ = self.spool.add(url)
            self.spool.wait_complete(item_id, self.p["download_timeout"])
            for tool in tools:
                n = inner.get(tool, 1)
                res[tool]["replay"].append(median([play(tool, stream) for _ in range(n)]))
                if local:
                    res[tool]["local"].append(median([play(tool, local) for _ in range(n)]))
            self.spool.rm(item_id)
            log(f"{label} rep {rep}: " + "; ".join(
                f"{t}: first {r['first'][-1]:.2f}s replay {r['replay'][-1]:.2f}s "
                f"direct {r['direct'][-1]:.2f}s"
                + (f" local {r['local'][-1]:.2f}s" if r["local"] else "")
                for t, r in res.items()))
        return res

    def first_play(self):
        """(5) MP4 with moov at the end on an origin little faster than the
        film's bitrate (/media/): ffprobe until the duration is known, and mpv
        for 3 s; through Spool uncached, from Spool's cache (replay), and
        direct from the origin."""
        local = os.path.join(self.files, "film.mp4")
        # ffprobe takes ~0.1 s, mostly its own start-up: 3 runs (median) per repetition.
        res = self.play_runs(self.nginx.url("media", "film.mp4"), PLAY_TOOLS,
                             {"ffprobe": 3}, local=local, label="5")
        for tool, r in res.items():
            target = None if tool == "mpv --untimed" else 1.2
            self.rows.append(report.row(
                "5", f"first play, uncached: {tool}", "s", median(r["first"]),
                median(r["direct"]), "origin direct", "<=" if target else None, target,
                samples=r))
        for tool, r in res.items():
            # Real-time playback of 3 s cannot take less than 3 s: no 0.3x target for it.
            target = None if tool == "mpv" else 0.3
            self.rows.append(report.row(
                "5", f"replay from cache: {tool}", "s", median(r["replay"]),
                median(r["direct"]), "origin direct", "<=" if target else None, target))
        for tool, r in res.items():
            self.rows.append(report.row(
                "5", f"replay from cache vs the file on local disk: {tool}", "s",
                median(r["replay"]), median(r["local"]), "local file", None, None))
        # What ffprobe costs before it reads a byte, the floor under every
        # ffprobe row: its start-up alone, alternating with ffprobe of the
        # local file so that both see the same machine.
        startup, probe = [], []
        for _ in range(3 * len(res["ffprobe"]["direct"])):
            startup.append(timed(["ffprobe", "-v", "error", "-version"])[0])
            probe.append(play("ffprobe", local))
        direct = median(res["ffprobe"]["direct"])
        self.notes.append(
            f"(5) ffprobe's start-up alone (`ffprobe -version`: its libraries loaded, no input) "
            f"took {median(startup):.3f} s, against {median(probe):.3f} s for ffprobe of the "
            f"local file ({len(startup)} of each, alternating): a replay at 0.3x of the direct "
            f"ffprobe ({0.3 * direct:.3f} s) would have to end before ffprobe has started.")
        self.notes.append(
            f"(5) film.mp4: {self.p['mp4_seconds']} s, {self.p['mp4_size']}, "
            f"{self.mp4_size / MIB:.1f} MiB ({self.p['mp4_bitrate']}bit/s video), moov atom at "
            f"the end, on `/media/` ({self.p['media_rate'] // MIB} MiB/s per connection). "
            "`mpv` is `mpv --no-config --vo=null --ao=null --length=3`: it plays 3 s in real "
            "time, so it cannot take less than 3 s and the 0.3x replay target does not apply "
            "to it; `mpv --untimed` adds `--untimed --ao-null-untimed` and decodes the same 3 s "
            "as fast as it can, which measures the I/O part and carries the replay target. "
            "'local file' plays the origin's file from local disk: the floor a replay can reach.")

    # ------------------------------------------------------------ 4, 5 over a round trip

    def over_rtt(self):
        """(4) and (5) again with the origin behind a delay line (`rtt` round
        trip, one more per new connection): an origin across a network.
        Informative rows, no targets: the targets are the loopback rows."""
        rtt = self.p["rtt"]
        line = DelayLine(self.nginx.port, rtt).start()
        try:
            ms = int(rtt * 1000)
            sp, di, _ = self.seeks(line.url("slow", "mid.bin"), f"4 over {ms} ms")
            for k, what in (("ttfb", "time to first byte"), ("mib", "time to first MiB")):
                self.rows.append(report.row(
                    "4", f"uncached seek to 90 %, origin {ms} ms away: {what}", "ms",
                    median(sp[k]) * 1e3, median(di[k]) * 1e3, "origin direct", None, None,
                    samples={"spool": sp[k], "direct": di[k]}))
            res = self.play_runs(line.url("media", "film.mp4"), ("ffprobe", "mpv --untimed"), {},
                                 label=f"5 over {ms} ms")
            for tool, r in res.items():
                self.rows.append(report.row(
                    "5", f"first play, origin {ms} ms away: {tool}", "s", median(r["first"]),
                    median(r["direct"]), "origin direct", None, None, samples=r))
                self.rows.append(report.row(
                    "5", f"replay from cache, origin {ms} ms away: {tool}", "s",
                    median(r["replay"]), median(r["direct"]), "origin direct", None, None))
            self.notes.append(
                f"(4, 5) 'origin {ms} ms away': nginx behind a relay (bench/lib.py `DelayLine`) "
                f"that delays every byte by {ms // 2} ms each way and a new connection by "
                f"{ms} ms; bandwidth stays nginx's. Timed after `spool add` returned, as above "
                f"(the add itself took a median {median(sp['add']) * 1e3:.0f} ms: its probe's round "
                "trips). Informative rows: the targets apply to the loopback rows above them.")
        finally:
            line.stop()

    # ------------------------------------------------------------ 7

    def memory(self):
        """(7) peak RSS (VmHWM) of a fresh engine while `streams` clients read
        a complete item in full; a small item vs one 4x larger."""
        n = self.p["streams"]
        url_small = self.nginx.url("fast", "small.bin")
        _, small_id, _ = self.spool.add(url_small)
        self.spool.wait_complete(small_id, self.p["download_timeout"])
        cases = (("small", small_id, self.size("small.bin")),
                 ("big", self.big_id, self.size("big.bin")))
        hwm = {"small": [], "big": [], "idle": []}
        # RssAnon peak, sampled: the engine's own memory, without the pages of
        # shared libraries (the desktop-linked binary maps GTK and WebKit).
        anon = {"small": [], "big": []}
        for rep in self.reps():
            for name, item_id, size in cases:
                self.restart_spool()
                url = self.spool.stream_url(item_id)
                hwm["idle"].append(proc_status(self.spool.pid, "VmHWM"))
                idle_split = (proc_status(self.spool.pid, "RssAnon"),
                              proc_status(self.spool.pid, "RssFile"))
                procs = [subprocess.Popen(["curl", "-sS", "--fail", "-o", "/dev/null",
                                           "-w", "%{size_download}", url],
                                          stdout=subprocess.PIPE, text=True)
                         for _ in range(n)]
                peak = [0]
                file_peak = [0]  # RssFile: the binary's and libraries' pages
                sampling = threading.Event()

                def sample(pid=self.spool.pid):
                    while not sampling.is_set():
                        try:
                            peak[0] = max(peak[0], proc_status(pid, "RssAnon"))
                            file_peak[0] = max(file_peak[0], proc_status(pid, "RssFile"))
                        except (OSError, KeyError):
                            return
                        sampling.wait(0.01)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                try:
                    for pr in procs:
                        out, _ = pr.communicate(timeout=self.p["download_timeout"])
                        if pr.returncode != 0 or int(out) != size:
                            raise RuntimeError(f"stream of {name}: exit {pr.returncode}, {out}")
                finally:
                    sampling.set()
                    sampler.join()
                    for pr in procs:
                        stop_process(pr)
                hwm[name].append(proc_status(self.spool.pid, "VmHWM"))
                anon[name].append(peak[0])
                log(f"7 {name}: idle RssAnon {idle_split[0] / MIB:.1f} + RssFile "
                    f"{idle_split[1] / MIB:.1f} MiB; with {n} streams peak RssAnon "
                    f"{peak[0] / MIB:.1f}, RssFile {file_peak[0] / MIB:.1f} MiB")
            log(f"7 rep {rep}: VmHWM {hwm['small'][-1] / MIB:.1f} MiB "
                f"({self.size('small.bin') // MIB} MiB file), {hwm['big'][-1] / MIB:.1f} MiB "
                f"({self.size('big.bin') // MIB} MiB file), idle {hwm['idle'][-1] / MIB:.1f} MiB")
        small, big = median(hwm["small"]) / MIB, median(hwm["big"]) / MIB
        self.rows.append(report.row(
            "7", f"peak RSS, {n} streams of a {self.size('big.bin') // MIB} MiB file", "MiB",
            big, 64.0, "absolute limit", "<", 1.0,
            samples={k: [v / MIB for v in vs] for k, vs in hwm.items()}))
        self.rows.append(report.row(
            "7", f"peak anonymous memory (RssAnon, sampled), {n} streams of a "
            f"{self.size('big.bin') // MIB} MiB file", "MiB",
            median(anon["big"]) / MIB, 64.0, "absolute limit", "<", 1.0))
        self.rows.append(report.row(
            "7", f"peak RSS, 4x larger file vs {self.size('small.bin') // MIB} MiB file "
            f"({n} streams each)", "MiB", big, small, "same engine, 1/4 file size",
            "<=", 1.15))
        self.notes.append(
            f"(7) a fresh `spool serve` per case (VmHWM is a lifetime peak); idle it is "
            f"{median(hwm['idle']) / MIB:.1f} MiB. 'Flat' is taken as at most 15 % more.")
        self.spool.rm(small_id)

    # ------------------------------------------------------------ 8

    def settings(self):
        """(8) the downloader honours --rate-limit and --connections."""
        if "--rate-limit" not in self.flags or "--connections" not in self.flags:
            self.notes.append("(8) skipped: this `spool serve` has no --rate-limit/--connections.")
            return
        size = self.size("tiny.bin")
        limit = 32 * MIB
        s = self.new_spool(os.path.join(self.work, "spool-ratelimit"),
                           ["--rate-limit", str(limit)])
        try:
            t0 = time.monotonic()
            _, item_id, _ = s.add(self.nginx.url("fast", "tiny.bin"))
            s.wait_complete(item_id, self.p["download_timeout"])
            rate = size / (time.monotonic() - t0)
        finally:
            s.stop()
        self.rows.append(report.row(
            "8", f"download with --rate-limit {limit // MIB}MiB (unlimited origin)", "MiB/s",
            rate / MIB, limit / MIB, "the limit", "<=", 1.05))
        per_conn = {}
        for n in (1, 4):
            s = self.new_spool(os.path.join(self.work, f"spool-conn{n}"), ["--connections", str(n)])
            try:
                t0 = time.monotonic()
                _, item_id, _ = s.add(self.nginx.url("slow", "tiny.bin"))
                s.wait_complete(item_id, self.p["download_timeout"])
                per_conn[n] = size / (time.monotonic() - t0)
            finally:
                s.stop()
        lim = self.p["limit_rate"]
        self.rows.append(report.row(
            "8", "download with --connections 1 (origin limited per connection)", "MiB/s",
            per_conn[1] / MIB, lim / MIB, "1x the per-connection limit", None, None))
        self.rows.append(report.row(
            "8", "download with --connections 4 (origin limited per connection)", "MiB/s",
            per_conn[4] / MIB, 4 * lim / MIB, "4x the per-connection limit", ">=", 0.8))
        self.notes.append(f"(8) one repetition each, {size // MIB} MiB file, fresh engines.")


# ---------------------------------------------------------------- helpers

def spool_flags(binary):
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
    return {f for f in ("--connections", "--rate-limit") if f in out}


def write_random(path, size):
    chunk = 16 * MIB
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(chunk, left)
            f.write(os.urandom(n))
            left -= n


def top_level_atoms(path):
    atoms = []
    with open(path, "rb") as f:
        while len(atoms) < 64:
            head = f.read(8)
            if len(head) < 8:
                break
            size, kind = int.from_bytes(head[:4], "big"), head[4:].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big")
                f.seek(size - 16, 1)
            elif size == 0:
                atoms.append(kind)
                break
            else:
                f.seek(size - 8, 1)
            atoms.append(kind)
    return atoms


def curl_download(url, path, size):
    t, _ = timed(["curl", "-sS", "--fail", "-o", path, url])
    check_size(path, size)
    os.remove(path)
    return t


def check_size(path, size):
    got = os.path.getsize(path)
    if got != size:
        raise RuntimeError(f"{path}: {got} bytes, expected {size}")


def mibps(size, seconds):
    return size / seconds / MIB if seconds else None


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small files, one repetition")
    ap.add_argument("--reps", type=int, help="repetitions per measurement")
    ap.add_argument("--only", help="comma-separated measurement names (see MEASUREMENTS)")
    ap.add_argument("--no-install", action="store_true", help="(handled by bench/run)")
    ap.add_argument("--no-build", action="store_true", help="(handled by bench/run)")
    ap.add_argument("--spool", default=os.path.join(ROOT, "target", "release", "spool"))
    ap.add_argument("--write", action="store_true",
                    help="write docs/BENCHMARKS.md and bench/results.json (default: full runs)")
    args = ap.parse_args()

    p = dict(QUICK if args.quick else FULL)
    if args.reps:
        p["reps"] = args.reps
    write = args.write or not (args.quick or args.only)
    order = ["download_unlimited", "cached_throughput", "cached_ranges", "uncached_seek",
             "first_play", "over_rtt", "download_limited", "memory", "settings"]
    chosen = args.only.split(",") if args.only else order
    if args.only and "download_unlimited" not in chosen and set(chosen) & {
            "cached_throughput", "cached_ranges", "memory"}:
        chosen.insert(0, "download_unlimited")  # they need the complete big item

    missing = [c for c in ("nginx", "curl", "aria2c", "ffmpeg", "ffprobe", "mpv")
               if not (shutil.which(c) or os.path.exists(f"/usr/sbin/{c}"))]
    if missing:
        sys.exit(f"bench: missing {', '.join(missing)}: run bench/install-deps (or bench/run "
                 "without --no-install)")
    if not os.access(args.spool, os.X_OK):
        sys.exit(f"bench: no spool binary at {args.spool}: cargo build --release")

    machine = report.machine()  # before the run: the commit built, the load at start
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="spool-bench-")
    # Measure one fixed build even if target/ is rebuilt meanwhile.
    spool_bin = os.path.join(workdir, "bin", "spool")
    os.makedirs(os.path.dirname(spool_bin))
    shutil.copy2(args.spool, spool_bin)
    b = Bench(p, workdir, spool_bin)
    errors = {}
    try:
        log(f"mode {'quick' if args.quick else 'full'}, {p['reps']} repetition(s), in {workdir}")
        b.make_files()
        b.start()
        for name in order:
            if name not in chosen:
                continue
            log(f"== {name}")
            try:
                getattr(b, name)()
            except Exception as e:  # report it and go on with the others
                errors[name] = f"{type(e).__name__}: {e}"
                log(f"{name} FAILED: {errors[name]}")
                if b.spool.proc.poll() is not None:  # the engine itself is gone: say how
                    errors[name] += f" (spool serve exited with {b.spool.proc.returncode}: " \
                                    f"{b.spool.stderr_tail()})"
                    log(errors[name])
                    b.restart_spool()
                else:  # leave a clean engine for the next measurement
                    b.spool.remove_all(keep={b.big_id})
    finally:
        b.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.monotonic() - started
    result = report.build(p, b.rows, b.notes, errors, elapsed, args.quick, machine)
    print(report.markdown(result, sys.argv[1:]))
    if write:
        report.write(result, os.path.join(ROOT, "docs", "BENCHMARKS.md"),
                     os.path.join(ROOT, "bench", "results.json"), sys.argv[1:])
        log("wrote docs/BENCHMARKS.md and bench/results.json")
    log(f"done in {elapsed:.0f} s")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

"""Results: rows with ratios and targets, the machine, markdown and JSON.

A row compares Spool with a peer: ratio = spool / peer. A target is a
comparison of that ratio with a number (">=" 0.9, "<=" 1.5, "<" 1.0), or none
(the row is shown for context). docs/BENCHMARKS.md is generated; text below
the NOTES_MARKER line of the existing file is kept across runs.
"""

import datetime
import json
import os
import platform
import subprocess

NOTES_MARKER = "<!-- Everything below this line is kept when bench/run rewrites this file. -->"

SECTIONS = {
    "1": "1. Cached full-file throughput",
    "2": "2. Cached random 64 KiB ranges on keep-alive connections",
    "3": "3. CPU per GiB served",
    "4": "4. Uncached seek (rate-limited origin)",
    "5": "5. First play and replay of an MP4 with its moov atom at the end",
    "6": "6. Download until complete",
    "7": "7. Memory with concurrent streams",
    "8": "8. Settings honoured by the downloader",
}


def row(section, what, unit, spool, peer, peer_name, op, target, samples=None):
    ratio = spool / peer if spool is not None and peer else None
    met = None
    if op and ratio is not None:
        met = {">=": ratio >= target, "<=": ratio <= target, "<": ratio < target}[op]
    return {"section": section, "what": what, "unit": unit, "spool": spool, "peer": peer,
            "peer_name": peer_name, "ratio": ratio,
            "target": f"{op} {target}x" if op else None, "met": met, "samples": samples}


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = sh(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    if sh(["git", "-C", root, "status", "--porcelain", "--untracked-files=no", "--", "src-tauri"]):
        commit += " + uncommitted changes"
    return {"nproc": sh(["nproc"]), "cpu": cpu, "kernel": platform.release(), "commit": commit,
            "free_h": sh(["free", "-h"]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_before": os.getloadavg()[0],
            "versions": {
                "nginx": sh(["sh", "-c", "nginx -v 2>&1 || /usr/sbin/nginx -v 2>&1"]),
                "curl": sh(["curl", "--version"]).splitlines()[0:1],
                "aria2c": sh(["aria2c", "--version"]).splitlines()[0:1],
                "ffprobe": sh(["ffprobe", "-version"]).splitlines()[0:1],
                "mpv": sh(["mpv", "--version"]).splitlines()[0:1],
                "wrk": sh(["sh", "-c", "wrk -v 2>&1 | head -1"]),
            }}


def build(params, rows, notes, errors, elapsed, quick, machine_info=None):
    return {"mode": "quick" if quick else "full", "params": params,
            "machine": machine_info or machine(),
            "elapsed_s": round(elapsed, 1), "rows": rows, "notes": notes, "errors": errors}


def fmt(v):
    if v is None:
        return "—"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}" if abs(v) >= 0.1 else f"{v:.3f}"


def markdown(result, argv):
    p, m = result["params"], result["machine"]
    mib = 1 << 20
    out = []
    command = " ".join(["bench/run", *argv])
    out.append(f"Mode **{result['mode']}** (`{command}`), "
               f"{p['reps']} repetition(s) per measurement, median shown; "
               f"run took {result['elapsed_s'] / 60:.1f} min.\n")
    out.append(f"Files: {p['big'] // mib} MiB, {p['mid'] // mib} MiB, {p['small'] // mib} MiB, "
               f"{p['tiny'] // mib} MiB random; an MP4 ({p['mp4_seconds']} s, {p['mp4_size']}). "
               f"Origin: nginx on 127.0.0.1 (sendfile on), `/fast/` unlimited, `/slow/` with "
               f"`limit_rate {p['limit_rate'] // mib}m` and `/media/` with "
               f"`limit_rate {p.get('media_rate', 0) // mib}m` (per connection; nginx lets each "
               "response send one second's worth at once first). Ratio = Spool / peer.\n")
    out.append(f"Spool at commit {m.get('commit', '?')}, release build.\n")
    out.append("Machine: " + f"{m['nproc']} cores ({m['cpu']}), kernel {m['kernel']}, "
               f"load average {m['load_before']:.2f} at start; shared with other "
               "work, so absolute numbers are noisy; compare the ratios.\n")
    out.append("```\n" + m["free_h"] + "\n```\n")
    for sec, title in SECTIONS.items():
        rows = [r for r in result["rows"] if r["section"] == sec]
        if not rows:
            continue
        out.append(f"### {title}\n")
        out.append("| measurement | unit | Spool | peer | ratio | target | met? |")
        out.append("| --- | --- | ---: | ---: | ---: | --- | --- |")
        for r in rows:
            met = {True: "yes", False: "**no**", None: "—"}[r["met"]]
            out.append(f"| {r['what']} | {r['unit']} | {fmt(r['spool'])} | "
                       f"{fmt(r['peer'])} ({r['peer_name']}) | {fmt(r['ratio'])} | "
                       f"{r['target'] or '—'} | {met} |")
        out.append("")
    if result["notes"]:
        out.append("Notes:\n")
        out.extend(f"- {n}" for n in result["notes"])
        out.append("")
    if result["errors"]:
        out.append("Errors:\n")
        out.extend(f"- {k}: {v}" for k, v in result["errors"].items())
        out.append("")
    met = [r for r in result["rows"] if r["met"] is not None]
    out.append(f"Targets met: {sum(1 for r in met if r['met'])} of {len(met)}.\n")
    return "\n".join(out)


def write(result, md_path, json_path, argv):
    kept = ""
    if os.path.exists(md_path):
        with open(md_path) as f:
            text = f.read()
        if NOTES_MARKER in text:
            kept = text.split(NOTES_MARKER, 1)[1]
    os.makedirs(os.path.dirname(md_path), exist_ok=True)
    with open(md_path, "w") as f:
        f.write("# Benchmarks\n\n")
        f.write("Generated by `bench/run` (see bench/README.md): Spool side by side with nginx, "
                "curl, aria2c, ffprobe and mpv on one machine, in one run.\n\n")
        f.write(markdown(result, argv))
        f.write("\n" + NOTES_MARKER + "\n\n")
        f.write(kept.lstrip("\n"))
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

#!/usr/bin/env python3
"""Rotation-to-visible latency of `coffer watch` on an etcd source.

usage: etcd_latency.py COFFER URL ENDPOINT WATCHERS ROTATIONS

Starts WATCHERS `coffer -f URL watch` processes, then ROTATIONS times writes
a new document to the key (a put through ENDPOINT's JSON gateway) and
measures, per watcher, the time from just before the put until its change
line is read. Prints "p50_ms=.. p99_ms=.. max_ms=.. samples=.. missed=..";
exits 1 if any watcher missed a rotation (5 s timeout each).
"""
import base64, json, os, selectors, subprocess, sys, time, urllib.request

coffer, url, ep, n, rot = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
key = url.rsplit("/", 1)[1] if url.count("/") == 3 else url.split("/", 3)[3]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def put(doc):
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(doc.encode()).decode()}).encode()
    req = urllib.request.Request("http://%s/v3/kv/put" % ep, data=body,
                                 headers={"Content-Type": "application/json"})
    opener.open(req, timeout=5).read()


put('password = "rot-start"\nuser = "svc"\n')
procs = [subprocess.Popen([coffer, "-f", url, "watch"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL) for _ in range(n)]
sel = selectors.DefaultSelector()
for i, p in enumerate(procs):
    os.set_blocking(p.stdout.fileno(), False)
    sel.register(p.stdout, selectors.EVENT_READ, i)
bufs = [b""] * n


def collect(t0, timeout=5.0):
    """Waits until every watcher printed one more line; latencies in ms."""
    got = {}
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        for k, _ in sel.select(timeout=0.05):
            i = k.data
            try:
                chunk = os.read(k.fileobj.fileno(), 65536)
            except BlockingIOError:
                continue
            now = time.monotonic()
            bufs[i] += chunk
            while b"\n" in bufs[i]:
                _, bufs[i] = bufs[i].split(b"\n", 1)
                if i not in got:
                    got[i] = (now - t0) * 1000.0
    return got


# Warm-up: until every watcher's stream is up (not measured).
ready = {}
for attempt in range(40):
    time.sleep(0.25)
    put('password = "warm-%d"\nuser = "svc"\n' % attempt)
    ready.update(collect(time.monotonic(), 1.0))
    if len(ready) == n:
        break
# Drain anything still in flight from the warm-up.
collect(time.monotonic(), 0.3)
lat, missed = [], 0
for r in range(rot):
    t0 = time.monotonic()
    put('password = "rot-%d"\nuser = "svc"\n' % r)
    got = collect(t0)
    missed += n - len(got)
    lat += got.values()
    time.sleep(0.05)
for p in procs:
    p.terminate()
for p in procs:
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
lat.sort()
def pct(q):
    return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
print("p50_ms=%.1f p99_ms=%.1f max_ms=%.1f samples=%d missed=%d"
      % (pct(0.50), pct(0.99), lat[-1] if lat else float("nan"), len(lat), missed))
sys.exit(1 if missed else 0)

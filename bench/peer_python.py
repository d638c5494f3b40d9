#!/usr/bin/python3
"""Python peers of the parser benchmark: tomllib and toml (python3-toml).

Usage: peer_python.py MODULE MAX_SECONDS FILE...
Times MODULE.loads(text) on the in-memory text of each file (parse only),
best of a few runs sized to about 0.3 s, and prints
"MODULE FILE BEST_MBPS MEDIAN_MBPS" (MB = 10^6 bytes). A file is skipped
("MODULE FILE skip skip") when one parse would take longer than MAX_SECONDS,
estimated from the throughput on the previous (smaller) file.
"""
import gc
import importlib
import sys
import time


def main():
    name, max_secs, files = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    mod = importlib.import_module(name)
    rate = None  # bytes/s seen so far
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        size = len(text.encode("utf-8"))
        if rate and size / rate > max_secs:
            print("%s %s skip skip" % (name, path), flush=True)
            continue
        gc.collect()
        times = []
        spent = 0.0
        while len(times) < 3 or (spent < 0.3 and len(times) < 1000):
            t0 = time.perf_counter()
            mod.loads(text)
            dt = time.perf_counter() - t0
            times.append(dt)
            spent += dt
            if dt > 2.0 and len(times) >= 1:  # big input: one run is enough
                break
        times.sort()
        rate = size / times[0]
        print("%s %s %.2f %.2f" % (name, path, size / times[0] / 1e6,
                                   size / times[len(times) // 2] / 1e6), flush=True)


if __name__ == "__main__":
    main()

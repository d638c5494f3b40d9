"""First access and lookups from Python: the coffer module (ctypes over
libcoffer) against the original's path (the `toml` package's load + a
dict, which is what the convention's Python implementation does).

Usage: python3 bench/bench_python.py BUILD_DIR
Prints a Markdown table; medians over repeated runs in fresh processes
(first access) and in-process loops (lookups)."""
import os
import statistics
import subprocess
import sys
import tempfile
import timeit

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pkg = os.path.join(root, "bindings", "python")
tmp = tempfile.mkdtemp(prefix="coffer-pybench-")
proj = os.path.join(tmp, "proj")
os.makedirs(os.path.join(proj, ".streamlit"))
os.makedirs(os.path.join(tmp, "home", ".streamlit"))
path = os.path.join(proj, ".streamlit", "secrets.toml")
lines = ['db_username = "app_user"', 'db_password = "s3cr3t-p4ssw0rd-0123456789"']
lines += ['api_key_%02d = "%s"' % (i, "k" * 40) for i in range(16)]
lines += ["[db_credentials]", 'host = "db.example.com"', "port = 5432",
          'username = "app"', 'password = "%s"' % ("p" * 32), 'dbname = "shop"']
lines += ["[tls]", 'cert = """', "-----BEGIN CERTIFICATE-----"]
lines += ["MIIB" + "A" * 60 for _ in range(12)]
lines += ["-----END CERTIFICATE-----", '"""']
with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
os.chmod(path, 0o600)
size = os.path.getsize(path)

env = dict(os.environ, HOME=os.path.join(tmp, "home"), PYTHONPATH=pkg,
           COFFER_LIBRARY=os.path.join(build, "libcoffer.so.0"))
env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: compiled once
py = sys.executable

FIRST = {
    "coffer (import + first access)": (
        "import time; t=time.perf_counter(); import coffer; "
        "v=coffer.secrets['db_username']; print(time.perf_counter()-t)"),
    "toml.load + dict (the original's path)": (
        "import time; t=time.perf_counter(); import toml; "
        "d=toml.load('.streamlit/secrets.toml'); v=d['db_username']; "
        "print(time.perf_counter()-t)"),
}


def first_access(code, runs=30):
    subprocess.run([py, "-c", code], cwd=proj, env=env, capture_output=True)
    out = []
    for _ in range(runs):
        r = subprocess.run([py, "-c", code], cwd=proj, env=env,
                           capture_output=True, text=True, check=True)
        out.append(float(r.stdout) * 1e6)
    return statistics.median(out)


sys.path.insert(0, pkg)
os.environ.update(COFFER_LIBRARY=env["COFFER_LIBRARY"], HOME=env["HOME"])
os.chdir(proj)
import coffer  # noqa: E402
import toml  # noqa: E402

s = coffer.Secrets(export_env=False).load()
d = toml.load(".streamlit/secrets.toml")


def per_op(stmt, glb, n=20000):
    best = min(timeit.repeat(stmt, globals=glb, number=n, repeat=5))
    return best / n * 1e9


def reload_us(n=200):
    fresh = lambda: coffer.Secrets(export_env=False).load()["db_username"]
    return min(timeit.repeat(fresh, number=n, repeat=5)) / n * 1e6


def toml_reload_us(n=200):
    fn = lambda: toml.load(".streamlit/secrets.toml")["db_username"]
    return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6


rows = []
for name, code in FIRST.items():
    rows.append(("first access in a fresh process: " + name, first_access(code), "us"))
rows.append(("load + first value, warm process: coffer.Secrets().load()", reload_us(), "us"))
rows.append(("load + first value, warm process: toml.load", toml_reload_us(), "us"))
g = {"s": s, "d": d}
rows.append(("lookup secrets['db_username']: coffer", per_op("s['db_username']", g), "ns"))
rows.append(("lookup d['db_username']: dict", per_op("d['db_username']", g), "ns"))
rows.append(("lookup secrets.db_credentials.username: coffer",
             per_op("s.db_credentials.username", g), "ns"))
rows.append(("lookup d['db_credentials']['username']: dict",
             per_op("d['db_credentials']['username']", g), "ns"))

print("Python module, %d-byte secrets file (`python3 bench/bench_python.py %s`)\n"
      % (size, sys.argv[1] if len(sys.argv) > 1 else "build"))
print("| what | median |")
print("|---|---:|")
for name, val, unit in rows:
    print("| %s | %.1f %s |" % (name, val, unit))

"""Tests of the coffer Python module: the convention's own examples run
verbatim with only the import changed, then behaviour tests.

Each test runs its Python code in a fresh interpreter (the module loads
lazily and exports to os.environ once per process), in a sandbox with its
own HOME and project directory."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)

GLOBAL_EXAMPLE = """\
# Everything in this section will be available as an environment variable
db_username = "Jane"
db_password = "mypassword"

# You can also add other sections if you like.
# The contents of sections as shown below will not become environment variables,
# but they'll be easily accessible from within Streamlit anyway as we show
# later in this doc.
[my_other_secrets]
things_i_like = ["Streamlit", "Python"]
"""

SECTION_EXAMPLE = """\
[db_credentials]
username = "my_username"
password = "my_password"
"""

# The convention's first code block, with only the import changed.
APP_EXAMPLE = """\
import coffer as st

# Everything is accessible via the st.secrets dict:

st.write("DB username:", st.secrets["db_username"])
st.write("DB password:", st.secrets["db_password"])

# And the root-level secrets are also accessible as environment variables:

import os

st.write(
    "Has environment variables been set:",
    os.environ["db_username"] == st.secrets["db_username"],
)
"""

CONNECT_EXAMPLE = """\
import coffer as st

class my_db:
    @staticmethod
    def connect(**kw):
        print("connect", sorted(kw.items()))

# Verbose version
my_db.connect(username=st.secrets.db_credentials.username, password=st.secrets.db_credentials.password)

# Far more compact version!
my_db.connect(**st.secrets.db_credentials)
"""

KEYERROR_EXAMPLE = """\
import coffer as st

st.write(st.secrets["nonexistent_key"])
"""


class Sandbox(unittest.TestCase):
    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="coffer-py-"))
        self.home = os.path.join(self.tmp, "home")
        self.proj = os.path.join(self.tmp, "proj")
        os.makedirs(os.path.join(self.home, ".streamlit"), mode=0o700)
        os.makedirs(os.path.join(self.proj, ".streamlit"), mode=0o700)
        self.global_file = os.path.join(self.home, ".streamlit", "secrets.toml")
        self.proj_file = os.path.join(self.proj, ".streamlit", "secrets.toml")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, path, text):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)

    def run_py(self, code, env=None, check=True):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith(("COFFER_SECRETS", "CREDENTIALS_DIRECTORY",
                                  "STREAMLIT_SECRETS"))}
        e["HOME"] = self.home
        e["PYTHONPATH"] = PKG
        e.pop("COFFER_STRICT", None)
        if env:
            e.update(env)
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                           cwd=self.proj, env=e, capture_output=True,
                           text=True, timeout=60)
        if check and p.returncode != 0:
            self.fail("python failed (%d):\n%s\n%s" % (p.returncode, p.stdout,
                                                      p.stderr))
        return p


class ConventionExamples(Sandbox):
    def test_example_app_global_file(self):
        self.write(self.global_file, GLOBAL_EXAMPLE)
        p = self.run_py(APP_EXAMPLE)
        self.assertEqual(p.stdout.splitlines(), [
            "DB username: Jane",
            "DB password: mypassword",
            "Has environment variables been set: True",
        ])

    def test_example_project_file_overrides_global(self):
        self.write(self.global_file, GLOBAL_EXAMPLE)
        self.write(self.proj_file, 'db_username = "Joe"\n')
        p = self.run_py(APP_EXAMPLE)
        self.assertEqual(p.stdout.splitlines()[:2],
                         ["DB username: Joe", "DB password: mypassword"])
        self.assertIn("been set: True", p.stdout)

    def test_example_sections_connect(self):
        self.write(self.proj_file, SECTION_EXAMPLE)
        p = self.run_py(CONNECT_EXAMPLE)
        want = "connect [('password', 'my_password'), ('username', 'my_username')]"
        self.assertEqual(p.stdout.splitlines(), [want, want])

    def test_example_other_section_list(self):
        self.write(self.global_file, GLOBAL_EXAMPLE)
        p = self.run_py("""
            import coffer as st, os
            print(st.secrets.my_other_secrets.things_i_like)
            print('my_other_secrets' in os.environ, 'things_i_like' in os.environ)
        """)
        self.assertEqual(p.stdout.splitlines(),
                         ["['Streamlit', 'Python']", "False False"])

    def test_example_keyerror(self):
        self.write(self.global_file, GLOBAL_EXAMPLE)
        p = self.run_py(KEYERROR_EXAMPLE, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("KeyError", p.stderr)
        self.assertIn("nonexistent_key", p.stderr)
        self.assertNotIn("mypassword", p.stderr)

    def test_example_filenotfound(self):
        p = self.run_py(KEYERROR_EXAMPLE, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no secrets found", p.stderr)
        self.assertIn(self.global_file, p.stderr)
        self.assertIn(self.proj_file, p.stderr)
        p = self.run_py("""
            import coffer as st
            try:
                st.secrets["db_username"]
            except FileNotFoundError as e:
                print("FileNotFoundError", e.filename is None, str(e).count("secrets.toml"))
        """)
        self.assertEqual(p.stdout.strip(), "FileNotFoundError True 2")


class Behaviour(Sandbox):
    TYPES = textwrap.dedent("""\
        s = "text"
        i = 42
        f = 0.1
        b = true
        odt = 1979-05-27T07:32:00-08:00
        ldt = 1979-05-27T07:32:00.999999
        ld = 1979-05-27
        lt = 07:32:00
        arr = [1, "two", [3]]
        "dotted.key" = "quoted"
        [db]
        user = "u"
        port = 5432
        [[servers]]
        host = "a"
        [[servers]]
        host = "b"
    """)

    def test_types_and_access(self):
        self.write(self.proj_file, self.TYPES)
        p = self.run_py("""
            import coffer, datetime
            s = coffer.secrets
            assert s["s"] == "text" and s.s == "text"
            assert s.i == 42 and type(s.i) is int
            assert s.f == 0.1 and type(s.f) is float
            assert s.b is True
            assert s.odt == datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.timezone(datetime.timedelta(hours=-8)))
            assert s.ldt == datetime.datetime(1979, 5, 27, 7, 32, 0, 999999)
            assert s.ld == datetime.date(1979, 5, 27)
            assert s.lt == datetime.time(7, 32)
            assert s.arr == [1, "two", [3]]
            assert s["dotted.key"] == "quoted"
            assert s.db.user == "u" and s.db["port"] == 5432
            assert s.servers[1].host == "b"
            assert list(s) == ["s", "i", "f", "b", "odt", "ldt", "ld", "lt", "arr", "dotted.key", "db", "servers"]
            assert len(s) == 12 and len(s.db) == 2
            assert "db" in s and "nope" not in s and 3 not in s
            assert s.get("nope") is None and s.get("nope", 7) == 7 and s.get("i", 0) == 42
            assert s.db.get("user") == "u"
            d = s.to_dict()
            assert d["db"] == {"user": "u", "port": 5432} and type(d["db"]) is dict
            assert d["servers"] == [{"host": "a"}, {"host": "b"}]
            assert dict(**s.db) == {"user": "u", "port": 5432}
            f, line = s.where("i")
            assert f.endswith("secrets.toml") and line == 2, (f, line)
            print("ok")
        """)
        self.assertEqual(p.stdout.strip(), "ok")

    def test_read_only(self):
        self.write(self.proj_file, 'a = "x"\n[t]\nk = 1\n')
        p = self.run_py("""
            import coffer
            s = coffer.secrets
            for op in (lambda: s.__setitem__("a", 1), lambda: setattr(s, "a", 1),
                       lambda: s.__delitem__("a"), lambda: delattr(s, "a"),
                       lambda: s.t.__setitem__("k", 2), lambda: setattr(s.t, "k", 2)):
                try:
                    op()
                except TypeError as e:
                    assert "read-only" in str(e)
                else:
                    raise SystemExit("no TypeError")
            assert s.a == "x" and s.t.k == 1
            print("ok")
        """)
        self.assertEqual(p.stdout.strip(), "ok")

    def test_missing_key_messages(self):
        self.write(self.proj_file, 'db_username = "topsecretvalue"\n[db_credentials]\nusername = "x"\n')
        p = self.run_py("""
            import coffer
            s = coffer.secrets
            try:
                s["db_usernme"]
            except KeyError as e:
                print("K", e)
            try:
                s.db_usernme
            except AttributeError as e:
                print("A", e)
            try:
                s.db_credentials.usrname
            except AttributeError as e:
                print("S", e)
            print(hasattr(s, "nope"), hasattr(s, "db_username"))
        """)
        out = p.stdout.splitlines()
        self.assertTrue(out[0].startswith("K key 'db_usernme' not found"), out)
        self.assertIn("did you mean 'db_username'", out[0])
        self.assertIn(self.proj_file, out[0])
        self.assertTrue(out[1].startswith("A key 'db_usernme' not found"), out)
        self.assertIn("did you mean 'db_credentials.username'", out[2])
        self.assertEqual(out[3], "False True")
        self.assertNotIn("topsecretvalue", p.stdout + p.stderr)

    def test_parse_error_has_position_never_value(self):
        self.write(self.proj_file, 'ok = "fine"\nbad = "CANARY_py_1234\n')
        p = self.run_py("""
            import coffer
            try:
                coffer.secrets["ok"]
            except coffer.SecretsParseError as e:
                assert isinstance(e, ValueError)
                print(e.file, e.line, e.column)
                print(str(e))
        """)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split()[1:], ["2", "7"])
        self.assertTrue(lines[1].startswith(self.proj_file + ":2:7: "), lines)
        self.assertNotIn("CANARY_py_1234", p.stdout + p.stderr)

    def test_lazy_load(self):
        p = self.run_py("""
            import coffer, os
            s = coffer.secrets          # nothing read yet: no file exists
            print(repr(s))
            with open(os.path.join(".streamlit", "secrets.toml"), "w") as f:
                f.write('late = "yes"\\n')
            os.chmod(os.path.join(".streamlit", "secrets.toml"), 0o600)
            print(s.late, os.environ["late"])
        """)
        self.assertEqual(p.stdout.splitlines(),
                         ["<coffer secrets (not loaded)>", "yes yes"])

    def test_environment_export_and_reload(self):
        self.write(self.proj_file, textwrap.dedent("""\
            s = "str"
            i = 7
            f = 1.5
            b = true
            d = 2020-01-01
            a = [1]
            [t]
            x = "no"
        """))
        p = self.run_py("""
            import coffer, os
            s = coffer.secrets
            s.load()
            print(sorted(k for k in ("s", "i", "f", "b", "d", "a", "t", "x") if k in os.environ))
            print(os.environ["s"], os.environ["i"], os.environ["f"])
            with open(".streamlit/secrets.toml.new", "w") as fh:
                fh.write('s = "str2"\\n')
            os.chmod(".streamlit/secrets.toml.new", 0o600)
            os.rename(".streamlit/secrets.toml.new", ".streamlit/secrets.toml")
            s.reload()
            print(sorted(k for k in ("s", "i", "f") if k in os.environ), os.environ["s"], s.generation)
            try:
                s["i"]
            except KeyError:
                print("i gone")
        """)
        self.assertEqual(p.stdout.splitlines(), [
            "['f', 'i', 's']", "str 7 1.5", "['s'] str2 2", "i gone"])

    def test_environment_policy_is_libcoffers(self):
        # The same plan as `coffer run`: dangerous names only when allowed,
        # a NUL value unsets a stale variable, non-portable names unset.
        self.write(self.proj_file, 'PATH = "/evil"\nLD_PRELOAD = "/evil.so"\n'
                   'PYTHONPATH = "/evil"\nDB = "new\\u0000x"\nok = "fine"\n')
        p = self.run_py("""
            import coffer, os
            path = os.environ["PATH"]
            os.environ["DB"] = "stale"
            coffer.secrets.load()
            print(os.environ["PATH"] == path, os.environ.get("LD_PRELOAD") == "/evil.so",
                  "DB" in os.environ, os.environ["ok"])
            s2 = coffer.Secrets(allow_env=["LD_PRELOAD"]).load()
            print(os.environ.get("LD_PRELOAD"))
        """)
        self.assertEqual(p.stdout.splitlines(), ["True False False fine", "/evil.so"])

    def test_reload_failure_keeps_last_good(self):
        self.write(self.proj_file, 'a = "1"\n')
        p = self.run_py("""
            import coffer, os
            s = coffer.secrets
            assert s.a == "1"
            with open(".streamlit/secrets.toml", "w") as fh:
                fh.write('a = \\n')
            try:
                s.reload()
            except coffer.SecretsParseError as e:
                print("err", e.line)
            print(s.a, os.environ["a"])
        """)
        self.assertEqual(p.stdout.splitlines(), ["err 1", "1 1"])

    def test_repr_never_shows_values(self):
        self.write(self.proj_file, 'pw = "CANARY_repr_99"\n[t]\nk = "CANARY_repr_98"\n')
        p = self.run_py("""
            import coffer
            s = coffer.secrets.load()
            print(repr(s), str(s.t), s.t)
        """)
        self.assertIn("pw", p.stdout)
        self.assertNotIn("CANARY_repr", p.stdout)

    def test_thread_safe_first_access(self):
        self.write(self.proj_file, "".join('k%d = %d\n' % (i, i) for i in range(200)))
        p = self.run_py("""
            import coffer, threading
            s = coffer.secrets
            bad = []
            def reader(n):
                for i in range(200):
                    if s["k%d" % i] != i:
                        bad.append(i)
            ts = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
            for t in ts: t.start()
            for t in ts: t.join()
            print(len(bad), s.generation)
        """)
        self.assertEqual(p.stdout.strip(), "0 1")

    def test_explicit_paths(self):
        other = os.path.join(self.tmp, "other.toml")
        self.write(other, 'a = "from other"\n')
        p = self.run_py("""
            import coffer, sys
            s = coffer.Secrets(paths=[sys.argv[0] if False else %r], export_env=False)
            import os
            print(s.a, "a" in os.environ)
        """ % other)
        self.assertEqual(p.stdout.strip(), "from other False")

    def test_permission_refused(self):
        self.write(self.proj_file, 'a = "1"\n')
        os.chmod(self.proj_file, 0o666)
        p = self.run_py("""
            import coffer
            try:
                coffer.secrets.a
            except PermissionError as e:
                print("perm", "refusing" in str(e))
        """)
        self.assertEqual(p.stdout.strip(), "perm True")

    def test_pip_install(self):
        target = os.path.join(self.tmp, "site")
        pip = [sys.executable, "-m", "pip"]
        if subprocess.run(pip + ["--version"], capture_output=True).returncode:
            self.skipTest("pip is not available")
        # From a copy: setuptools writes build/ and *.egg-info next to the
        # sources, and the checkout must stay clean.
        src = os.path.join(self.tmp, "src")
        shutil.copytree(PKG, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", "tests"))
        r = subprocess.run(pip + ["install", "-q", "--no-build-isolation",
                                  "--no-index", "--target", target, src],
                           capture_output=True, text=True, timeout=300)
        if r.returncode and "setuptools" in (r.stdout + r.stderr):
            self.skipTest("setuptools is not available")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.write(self.proj_file, 'a = "pip"\n')
        lib = os.path.join(os.path.dirname(os.path.dirname(PKG)),
                           os.environ.get("COFFER_BUILD", "build"), "libcoffer.so.0")
        p = self.run_py("import coffer; print(coffer.secrets.a, coffer.__file__.startswith(%r))"
                        % target, env={"PYTHONPATH": target, "COFFER_LIBRARY": lib})
        self.assertEqual(p.stdout.strip(), "pip True")


if __name__ == "__main__":
    unittest.main()

"""coffer for Python: the convention's ``secrets`` object on coffer's C core.

    import coffer as st                 # or: from coffer import secrets
    st.secrets["db_username"]           # key notation
    st.secrets.db_credentials.username  # attribute notation
    my_db.connect(**st.secrets.db_credentials)

The secrets are read by libcoffer (``libcoffer.so``) through ctypes: the
global file ``~/.streamlit/secrets.toml``, then the project file
``$CWD/.streamlit/secrets.toml`` (or the sources named by
``COFFER_SECRETS_FILES`` / ``[secrets] files``), merged key by key at the
root. They are loaded on first access, held by libcoffer in locked,
never-dumped memory, and copied into Python objects only when the program
reads a value. Python strings cannot be wiped: a value the program has read
stays in the interpreter's memory until it is garbage-collected, and even
then its bytes are not overwritten.

On first load the root-level strings, integers and floats are exported to
``os.environ`` (as the convention does); ``secrets.reload()`` updates them
and removes the ones whose key went away.

Errors: no secrets file anywhere raises ``FileNotFoundError`` listing every
path searched; a missing key raises ``KeyError`` (``AttributeError`` for
attribute access) naming the key and the nearest existing one; invalid TOML
raises ``SecretsParseError`` (a ``ValueError``) with file, line and column.
No message ever contains a secret value.

The library is found through ``$COFFER_LIBRARY`` (a path), then the
checkout's ``build/`` directory (when imported in-tree), then the system's
``libcoffer.so.0``.
"""

import collections.abc
import ctypes
import datetime as _dt
import os
import threading

__all__ = [
    "secrets", "Secrets", "Section", "CofferError", "SecretsNotFoundError",
    "SecretKeyError", "SecretsParseError", "SecretsDecryptError",
    "library_version", "write",
]

# ----------------------------------------------------------------- library

_ERROR_PATH_MAX = 4096
_ERROR_MESSAGE_MAX = 256

_OK, _EINVAL, _ENOMEM, _ESYNTAX, _ELIMIT, _EIO, _ENOSECRETS, _ENOKEY, \
    _ETYPE, _EPERM, _ELAYOUT, _ELOCK, _ECONFIG, _ESYS, _ECRYPTO = \
    0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14

(_T_NONE, _T_STRING, _T_INTEGER, _T_FLOAT, _T_BOOL, _T_DATETIME,
 _T_DATETIME_LOCAL, _T_DATE_LOCAL, _T_TIME_LOCAL, _T_ARRAY, _T_TABLE) = range(11)


class _Error(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int),
        ("sys_errno", ctypes.c_int),
        ("line", ctypes.c_uint),
        ("column", ctypes.c_uint),
        ("file", ctypes.c_char * _ERROR_PATH_MAX),
        ("message", ctypes.c_char * _ERROR_MESSAGE_MAX),
    ]


class _Datetime(ctypes.Structure):
    _fields_ = [
        ("year", ctypes.c_int16),
        ("month", ctypes.c_uint8),
        ("day", ctypes.c_uint8),
        ("hour", ctypes.c_uint8),
        ("minute", ctypes.c_uint8),
        ("second", ctypes.c_uint8),
        ("nanosecond", ctypes.c_uint32),
        ("offset_minutes", ctypes.c_int16),
        ("offset_is_z", ctypes.c_uint8),
        ("precision", ctypes.c_uint8),
    ]


_vp = ctypes.c_void_p
_lib_handle = None
_lib_lock = threading.Lock()


def _candidates():
    env = os.environ.get("COFFER_LIBRARY")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    build = os.path.join(root, os.environ.get("COFFER_BUILD", "build"))
    yield os.path.join(build, "libcoffer.so.0")
    import ctypes.util  # slow to import (subprocess, shutil): only here
    found = ctypes.util.find_library("coffer")
    if found:
        yield found
    yield "libcoffer.so.0"


def _declare(lib):
    sig = {
        "coffer_version": (ctypes.c_char_p, []),
        "coffer_error_format": (ctypes.c_char_p,
                                [ctypes.POINTER(_Error), ctypes.c_char_p,
                                 ctypes.c_size_t]),
        "coffer_store_open": (ctypes.c_int,
                              [_vp, ctypes.POINTER(_vp), ctypes.POINTER(_Error)]),
        "coffer_store_close": (None, [_vp]),
        "coffer_store_acquire": (ctypes.c_int,
                                 [_vp, ctypes.POINTER(_vp), ctypes.POINTER(_Error)]),
        "coffer_store_reload": (ctypes.c_int, [_vp, ctypes.POINTER(_Error)]),
        "coffer_snapshot_release": (None, [_vp]),
        "coffer_snapshot_root": (_vp, [_vp]),
        "coffer_snapshot_generation": (ctypes.c_uint64, [_vp]),
        "coffer_snapshot_get": (ctypes.c_int,
                                [_vp, ctypes.c_char_p, ctypes.POINTER(_vp),
                                 ctypes.POINTER(_Error)]),
        "coffer_snapshot_where": (ctypes.c_int,
                                  [_vp, ctypes.c_char_p,
                                   ctypes.POINTER(ctypes.c_char_p),
                                   ctypes.POINTER(ctypes.c_uint),
                                   ctypes.POINTER(_Error)]),
        "coffer_value_type": (ctypes.c_int, [_vp]),
        "coffer_value_string": (ctypes.c_int,
                                [_vp, ctypes.POINTER(_vp),
                                 ctypes.POINTER(ctypes.c_size_t)]),
        "coffer_value_int": (ctypes.c_int, [_vp, ctypes.POINTER(ctypes.c_int64)]),
        "coffer_value_double": (ctypes.c_int,
                                [_vp, ctypes.POINTER(ctypes.c_double)]),
        "coffer_value_bool": (ctypes.c_int, [_vp, ctypes.POINTER(ctypes.c_bool)]),
        "coffer_value_datetime": (ctypes.c_int,
                                  [_vp, ctypes.POINTER(_Datetime)]),
        "coffer_table_count": (ctypes.c_size_t, [_vp]),
        "coffer_table_at": (_vp, [_vp, ctypes.c_size_t,
                                  ctypes.POINTER(_vp),
                                  ctypes.POINTER(ctypes.c_size_t)]),
        "coffer_table_get": (_vp, [_vp, ctypes.c_char_p, ctypes.c_size_t]),
        "coffer_array_count": (ctypes.c_size_t, [_vp]),
        "coffer_array_at": (_vp, [_vp, ctypes.c_size_t]),
        "coffer_env_plan": (ctypes.c_int, [_vp, ctypes.POINTER(_EnvOptions),
                                           _ENV_FN, _vp]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def _lib():
    global _lib_handle
    if _lib_handle is not None:
        return _lib_handle
    with _lib_lock:
        if _lib_handle is None:
            errors = []
            for path in _candidates():
                try:
                    lib = ctypes.CDLL(path)
                except OSError as e:
                    errors.append(str(e))
                    continue
                _declare(lib)
                _lib_handle = lib
                break
            else:
                raise OSError("coffer: cannot load libcoffer (set COFFER_LIBRARY "
                              "to its path): " + "; ".join(errors))
    return _lib_handle


def library_version():
    """The version of the libcoffer that was loaded ("0.2.0")."""
    return _lib().coffer_version().decode()


# ------------------------------------------------------------------ errors

class CofferError(Exception):
    """An error from libcoffer: .code (COFFER_E*), .file, .line, .column."""

    def __init__(self, message, code=0, file="", line=0, column=0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.file = file
        self.line = line
        self.column = column

    def __str__(self):
        return self.message


class SecretsNotFoundError(CofferError, FileNotFoundError):
    """No secrets source exists at all; the message lists every path."""


class SecretKeyError(CofferError, KeyError):
    """A key or path that is not in the secrets."""


class SecretAttributeError(CofferError, AttributeError):
    """A missing key read with attribute notation."""


class SecretsParseError(CofferError, ValueError):
    """A secrets file is not valid TOML (file, line and column set)."""


class SecretsDecryptError(CofferError):
    """An encrypted value cannot be decrypted (no or wrong identity)."""


class SecretsPermissionError(CofferError, PermissionError):
    """A secrets source is refused for its permissions or owner."""


def _raise(err, kind=None):
    buf = ctypes.create_string_buffer(_ERROR_PATH_MAX + _ERROR_MESSAGE_MAX + 64)
    _lib().coffer_error_format(ctypes.byref(err), buf, len(buf))
    msg = buf.value.decode("utf-8", "replace")
    args = (msg, err.code, err.file.decode("utf-8", "replace"), err.line,
            err.column)
    code = err.code
    if kind is not None:
        raise kind(*args) from None
    if code == _ENOSECRETS:
        raise SecretsNotFoundError(*args) from None
    if code == _ENOKEY:
        raise SecretKeyError(*args) from None
    if code == _ETYPE:
        raise TypeError(msg) from None
    if code in (_ESYNTAX, _ELIMIT):
        raise SecretsParseError(*args) from None
    if code == _EPERM:
        raise SecretsPermissionError(*args) from None
    if code == _ECRYPTO:
        raise SecretsDecryptError(*args) from None
    raise CofferError(*args) from None


# --------------------------------------------------------------- snapshots

class _Snapshot:
    """One reference to an immutable libcoffer snapshot."""

    __slots__ = ("ptr", "lib", "__weakref__")

    def __init__(self, ptr):
        self.lib = _lib()
        self.ptr = ptr

    def __del__(self):
        ptr, self.ptr = self.ptr, None
        if ptr:
            self.lib.coffer_snapshot_release(ptr)


def _quote_key(key):
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    out = ['"']
    for c in key:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _join(path, key):
    q = _quote_key(key)
    return q if not path else path + "." + q


def _string(lib, v):
    p = _vp()
    n = ctypes.c_size_t()
    lib.coffer_value_string(v, ctypes.byref(p), ctypes.byref(n))
    return ctypes.string_at(p.value, n.value).decode("utf-8") if n.value else ""


def _datetime(lib, v, t):
    d = _Datetime()
    lib.coffer_value_datetime(v, ctypes.byref(d))
    micro = d.nanosecond // 1000
    if t == _T_DATE_LOCAL:
        return _dt.date(d.year, d.month, d.day)
    if t == _T_TIME_LOCAL:
        return _dt.time(d.hour, d.minute, d.second, micro)
    tz = None
    if t == _T_DATETIME:
        tz = _dt.timezone(_dt.timedelta(minutes=d.offset_minutes))
    return _dt.datetime(d.year, d.month, d.day, d.hour, d.minute, d.second,
                        micro, tz)


def _convert(snap, v, path):
    """A Python object for value v (a Section for a table)."""
    lib = snap.lib
    t = lib.coffer_value_type(v)
    if t == _T_STRING:
        return _string(lib, v)
    if t == _T_INTEGER:
        i = ctypes.c_int64()
        lib.coffer_value_int(v, ctypes.byref(i))
        return i.value
    if t == _T_FLOAT:
        f = ctypes.c_double()
        lib.coffer_value_double(v, ctypes.byref(f))
        return f.value
    if t == _T_BOOL:
        b = ctypes.c_bool()
        lib.coffer_value_bool(v, ctypes.byref(b))
        return b.value
    if t in (_T_DATETIME, _T_DATETIME_LOCAL, _T_DATE_LOCAL, _T_TIME_LOCAL):
        return _datetime(lib, v, t)
    if t == _T_ARRAY:
        return [_convert(snap, lib.coffer_array_at(v, i), "%s[%d]" % (path, i))
                for i in range(lib.coffer_array_count(v))]
    if t == _T_TABLE:
        return Section(snap, v, path)
    raise CofferError("value at '%s' has an unknown type" % path)


def _plain(obj):
    if isinstance(obj, Section):
        return {k: _plain(obj[k]) for k in obj}
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    return obj


class Section(collections.abc.Mapping):
    """A read-only table of secrets: key and attribute notation, ``**``
    unpacking, ``in``, ``len``, iteration in file order, ``get``,
    ``to_dict``. Values are converted when read."""

    __slots__ = ("_snap", "_v", "_path")

    def __init__(self, snap, v, path):
        object.__setattr__(self, "_snap", snap)
        object.__setattr__(self, "_v", v)
        object.__setattr__(self, "_path", path)

    # internal: the (snapshot, table) to read; Secrets overrides it to load
    def _table(self):
        return self._snap, self._v, self._path

    def _lookup(self, key, kind):
        if not isinstance(key, str):
            raise SecretKeyError("secret keys are strings, not %s"
                                 % type(key).__name__) if kind is None else \
                SecretAttributeError("secret keys are strings")
        snap, v, path = self._table()
        raw = key.encode("utf-8")
        m = snap.lib.coffer_table_get(v, raw, len(raw))
        if m:
            return _convert(snap, m, _join(path, key))
        # Not there: let libcoffer write the message (key, where it looked,
        # nearest existing key).
        err = _Error()
        out = _vp()
        full = _join(path, key).encode("utf-8")
        rc = snap.lib.coffer_snapshot_get(snap.ptr, full, ctypes.byref(out),
                                          ctypes.byref(err))
        if rc != 0:
            if err.code in (_ENOKEY, _ETYPE):
                _raise(err, kind or SecretKeyError)
            _raise(err)
        raise (kind or SecretKeyError)("key '%s' not found" % key, _ENOKEY)

    def __getitem__(self, key):
        return self._lookup(key, None)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._lookup(name, SecretAttributeError)

    def __contains__(self, key):
        if not isinstance(key, str):
            return False
        snap, v, _ = self._table()
        raw = key.encode("utf-8")
        return bool(snap.lib.coffer_table_get(v, raw, len(raw)))

    def __iter__(self):
        snap, v, _ = self._table()
        lib = snap.lib
        keys = []
        kp = _vp()
        kn = ctypes.c_size_t()
        for i in range(lib.coffer_table_count(v)):
            lib.coffer_table_at(v, i, ctypes.byref(kp), ctypes.byref(kn))
            keys.append(ctypes.string_at(kp.value, kn.value).decode("utf-8"))
        return iter(keys)

    def __len__(self):
        snap, v, _ = self._table()
        return snap.lib.coffer_table_count(v)

    def get(self, key, default=None):
        if key in self:
            return self[key]
        return default

    def to_dict(self):
        """A deep copy as plain dicts and lists (you now own the copies)."""
        return _plain(self)

    def where(self, key):
        """(file, line) where the value of key is defined."""
        snap, _, path = self._table()
        err = _Error()
        f = ctypes.c_char_p()
        line = ctypes.c_uint()
        rc = snap.lib.coffer_snapshot_where(snap.ptr, _join(path, key).encode(),
                                            ctypes.byref(f), ctypes.byref(line),
                                            ctypes.byref(err))
        if rc != 0:
            _raise(err)
        return f.value.decode("utf-8", "replace"), line.value

    def __setattr__(self, name, value):
        raise TypeError("secrets are read-only: cannot set '%s'" % name)

    def __delattr__(self, name):
        raise TypeError("secrets are read-only: cannot delete '%s'" % name)

    def __setitem__(self, key, value):
        raise TypeError("secrets are read-only: cannot set '%s'" % key)

    def __delitem__(self, key):
        raise TypeError("secrets are read-only: cannot delete '%s'" % key)

    def __repr__(self):
        # Keys only: a repr must never print a secret value.
        return "<coffer secrets section %s keys=%r>" % (
            self._table()[2] or "(root)", list(self))

    __str__ = __repr__


class Secrets(Section):
    """The merged secrets of a store, loaded on first access (thread-safe).

    ``Secrets()`` reads the default sources; ``Secrets(paths=[...])`` the
    given ones (files, directories, ``flat:`` directories), lowest
    precedence first; ``cwd`` stands for the working directory."""

    __slots__ = ("_lock", "_store", "_cur", "_paths", "_cwd", "_export",
                 "_exported", "_allow")

    def __init__(self, paths=None, cwd=None, export_env=True, allow_env=()):
        Section.__init__(self, None, None, "")
        for name, val in (("_lock", threading.Lock()), ("_store", None),
                          ("_cur", None), ("_paths", paths), ("_cwd", cwd),
                          ("_export", export_env), ("_exported", {}),
                          ("_allow", tuple(allow_env))):
            object.__setattr__(self, name, val)

    def __del__(self):
        store = getattr(self, "_store", None)
        if store and _lib_handle is not None:
            object.__setattr__(self, "_cur", None)
            object.__setattr__(self, "_store", None)
            _lib_handle.coffer_store_close(store)

    def _open(self):
        lib = _lib()
        err = _Error()
        store = _vp()
        opt = None
        if self._paths is not None or self._cwd is not None:
            opt = _options(self._paths, self._cwd)
        rc = lib.coffer_store_open(ctypes.byref(opt) if opt else None,
                                   ctypes.byref(store), ctypes.byref(err))
        if rc != 0:
            _raise(err)
        object.__setattr__(self, "_store", store)

    def _swap(self):
        """Acquires the store's current snapshot (lock held). The snapshot
        and its root are published together, as one tuple, so a reader
        racing a reload gets either the old pair or the new one."""
        lib = _lib()
        err = _Error()
        sp = _vp()
        if lib.coffer_store_acquire(self._store, ctypes.byref(sp),
                                    ctypes.byref(err)) != 0:
            _raise(err)
        snap = _Snapshot(sp.value)
        if self._export:
            self._export_env(snap)
        object.__setattr__(self, "_cur",
                           (snap, lib.coffer_snapshot_root(snap.ptr), ""))

    def _table(self):
        cur = self._cur
        if cur is None:
            with self._lock:
                if self._cur is None:
                    if self._store is None:
                        self._open()
                    self._swap()
                cur = self._cur
        return cur

    def load(self):
        """Loads now (the first access does it otherwise)."""
        self._table()
        return self

    def reload(self):
        """Reads the sources again; on failure the previous secrets stay and
        the error is raised. Updates os.environ (changed values set,
        removed keys unset)."""
        with self._lock:
            if self._store is None:
                self._open()
            elif self._cur is not None:
                err = _Error()
                if _lib().coffer_store_reload(self._store,
                                              ctypes.byref(err)) != 0:
                    _raise(err)
            self._swap()
        return self

    @property
    def generation(self):
        """1 for the first load, +1 for each reload that changed something."""
        snap = self._table()[0]
        return snap.lib.coffer_snapshot_generation(snap.ptr)

    def _export_env(self, snap):
        """Applies libcoffer's export plan (coffer_env_plan: the same names,
        texts and refusals as `coffer run`) to os.environ: dangerous names
        (PATH, LD_*, PYTHONPATH ...) only when allowed (allow_env, or
        $COFFER_ALLOW_ENV), NUL-bearing and non-portable keys unset."""
        lib = snap.lib
        root = lib.coffer_snapshot_root(snap.ptr)
        want = {}
        unset = []

        def item(ctx, it):
            it = it.contents
            name = ctypes.string_at(it.name, it.namelen).decode("utf-8")
            if it.status == 0:
                want[name] = ctypes.string_at(it.text, it.textlen).decode("utf-8")
            elif it.unset:
                unset.append(name)
            return 0

        opt = _EnvOptions()
        allow = None
        if self._allow:
            allow = (ctypes.c_char_p * (len(self._allow) + 1))(
                *[a.encode() for a in self._allow], None)
            opt.allow = ctypes.cast(allow, ctypes.POINTER(ctypes.c_char_p))
        rc = lib.coffer_env_plan(root, ctypes.byref(opt), _ENV_FN(item), None)
        if rc != 0:
            raise CofferError("cannot export the secrets to os.environ", rc)
        old = self._exported
        for name, val in old.items():
            if name not in want and os.environ.get(name) == val:
                del os.environ[name]
        for name in unset:
            os.environ.pop(name, None)
        for name, val in want.items():
            os.environ[name] = val
        object.__setattr__(self, "_exported", want)

    def __repr__(self):
        if self._cur is None:
            return "<coffer secrets (not loaded)>"
        return "<coffer secrets keys=%r>" % list(self)

    __str__ = __repr__


class _EnvOptions(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint), ("prefix", ctypes.c_char_p),
                ("allow", ctypes.POINTER(ctypes.c_char_p))]


class _EnvItem(ctypes.Structure):
    _fields_ = [("key", _vp), ("keylen", ctypes.c_size_t),
                ("name", _vp), ("namelen", ctypes.c_size_t),
                ("text", _vp), ("textlen", ctypes.c_size_t),
                ("status", ctypes.c_int), ("unset", ctypes.c_bool)]


_ENV_FN = ctypes.CFUNCTYPE(ctypes.c_int, _vp, ctypes.POINTER(_EnvItem))


class _ParseOptions(ctypes.Structure):
    _fields_ = [("max_input", ctypes.c_size_t), ("max_depth", ctypes.c_uint),
                ("max_key", ctypes.c_size_t), ("allocator", _vp)]


class _StoreOptions(ctypes.Structure):
    _fields_ = [("paths", ctypes.POINTER(ctypes.c_char_p)),
                ("path_count", ctypes.c_size_t),
                ("cwd", ctypes.c_char_p),
                ("flags", ctypes.c_uint),
                ("diag", _vp),
                ("diag_ctx", _vp),
                ("parse", _ParseOptions)]


def _options(paths, cwd):
    opt = _StoreOptions()
    if paths:
        enc = [os.fsencode(p) for p in paths]
        arr = (ctypes.c_char_p * len(enc))(*enc)
        opt.paths = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        opt.path_count = len(enc)
        opt._keep = arr  # keep the array alive with the struct
    if cwd is not None:
        opt.cwd = os.fsencode(cwd)
    return opt


def write(*args):
    """Prints its arguments (st.write's simplest case), so that snippets
    written for Streamlit run with ``import coffer as st``."""
    print(*args)


secrets = Secrets()

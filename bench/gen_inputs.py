#!/usr/bin/python3
"""Generates the secrets-shaped TOML inputs of the parser benchmark.

Usage: gen_inputs.py OUTDIR

Writes into OUTDIR, deterministic (fixed seeds):
  sections-{2k,200k,20m}.toml  many [section]s of secrets (strings with
            escapes, ints, floats, bools, arrays, an occasional date-time,
            [section.tls] sub-table, multi-line PEM block, comment and
            literal string), a few root-level keys
  aot-{2k,200k,20m}.toml  arrays of tables: [[servers]] blocks with a
            [servers.auth] sub-table and [[servers.endpoints]] nested arrays
            of tables
  flat-{200k,20m}.toml  root-level keys only (NAME_SECRET = "...", some
            integers and booleans): one big root table (263k keys at 20 MiB)
  secrets-2k.toml  a typical application secrets file of about 2.5 KB: a
            few root keys, [database], [api] and [smtp] tables and a PEM
            private key in a multi-line string
Sizes are 2 KiB, 200 KiB and 20 MiB (each file ends at the first block that
reaches its size). Every file starts with the same header, whose
"version = 3" line the store benchmark edits to make a changed file.
"""
import os
import random
import sys

SIZES = (("2k", 2 * 1024), ("200k", 200 * 1024), ("20m", 20 * 1024 * 1024))
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
B64 = ALNUM + "+/"


def token(r, n, alphabet=ALNUM):
    return "".join(r.choice(alphabet) for _ in range(n))


def password(r):
    # mostly plain, sometimes with characters that need escapes or UTF-8
    p = token(r, r.randint(12, 32))
    k = r.random()
    if k < 0.15:
        p = p[:5] + '\\"' + p[5:]
    elif k < 0.25:
        p = p[:3] + "\\u00e9\\t" + p[3:]
    elif k < 0.30:
        p = p[:4] + "\u00fc\u20ac" + p[4:]
    return '"' + p + '"'


def pem(r):
    lines = ["-----BEGIN PRIVATE KEY-----"]
    lines += [token(r, 64, B64) for _ in range(r.randint(4, 10))]
    lines.append("-----END PRIVATE KEY-----")
    return '"""\n' + "\n".join(lines) + '\n"""'


def section(r, i):
    name = "service_%05d" % i
    out = ["", "[%s]" % name]
    if r.random() < 0.3:
        out.append("# credentials for %s, rotated quarterly" % name)
    out.append('host = "db-%d.%s.internal.example.com"' % (i, token(r, 6).lower()))
    out.append("port = %d" % r.choice((5432, 3306, 6379, 27017, 8443, r.randint(1024, 65535))))
    out.append('username = "svc_%s"' % token(r, 8).lower())
    out.append("password = " + password(r))
    out.append('api_key = "sk_live_%s"' % token(r, 40))
    out.append("timeout = %s" % r.choice(("2.5", "30.0", "0.75", "1e3", "12.125")))
    out.append("max_connections = %d" % r.randint(1, 100000))
    out.append("enabled = %s" % r.choice(("true", "false")))
    out.append("replicas = [%s]" % ", ".join(
        '"10.%d.%d.%d"' % (r.randint(0, 255), r.randint(0, 255), r.randint(1, 254))
        for _ in range(r.randint(1, 4))))
    out.append("ports = [%s]" % ", ".join(str(r.randint(1, 65535)) for _ in range(r.randint(1, 5))))
    k = r.random()
    if k < 0.10:
        out.append("rotated_at = 2024-%02d-%02dT%02d:%02d:%02dZ" % (
            r.randint(1, 12), r.randint(1, 28), r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)))
    elif k < 0.15:
        out.append("cert_path = 'C:\\certs\\%s.pem'" % name)
    elif k < 0.20:
        out.append("private_key = " + pem(r))
    if r.random() < 0.2:
        out.append("")
        out.append("[%s.tls]" % name)
        out.append('ca = "/etc/ssl/%s.crt"' % token(r, 8).lower())
        out.append("verify = true")
        out.append("min_version = 1.2")
    return "\n".join(out) + "\n"


def server(r, i):
    out = ["", "[[servers]]"]
    out.append('name = "node-%06d"' % i)
    out.append('host = "10.%d.%d.%d"' % (r.randint(0, 255), r.randint(0, 255), r.randint(1, 254)))
    out.append("port = %d" % r.randint(1024, 65535))
    out.append("weight = %s" % r.choice(("0.5", "1.0", "2.25", "-1.5e-3")))
    out.append("primary = %s" % r.choice(("true", "false")))
    out.append("tags = [%s]" % ", ".join('"%s"' % token(r, 5).lower() for _ in range(r.randint(0, 4))))
    out.append("")
    out.append("[servers.auth]")
    out.append('user = "svc_%s"' % token(r, 8).lower())
    out.append("password = " + password(r))
    out.append('token = "%s"' % token(r, 48, B64))
    for _ in range(r.randint(0, 2)):
        out.append("")
        out.append("[[servers.endpoints]]")
        out.append('path = "/%s/%s"' % (token(r, 6).lower(), token(r, 4).lower()))
        out.append("timeout_ms = %d" % r.randint(10, 60000))
    return "\n".join(out) + "\n"


def flat(r, i):
    # one root key a line, about 80 bytes: mostly secret strings
    name = "SVC_%06d_%s" % (i, r.choice(("PASSWORD", "API_KEY", "TOKEN", "SECRET",
                                         "DSN", "PORT", "ENABLED")))
    if name.endswith("PORT"):
        return "%s = %d\n" % (name, r.randint(1024, 65535))
    if name.endswith("ENABLED"):
        return "%s = %s\n" % (name, r.choice(("true", "false")))
    if name.endswith("DSN"):
        return '%s = "postgres://svc_%s@db-%d.internal:5432/app"\n' % (
            name, token(r, 8).lower(), i)
    return '%s = "%s"\n' % (name, token(r, r.randint(64, 96), B64))


def secrets_file(r):
    # about 2.5 KB, the shape of a real application's secrets.toml
    out = [HEADER,
           'SECRET_KEY = "%s"' % token(r, 50, B64),
           'SENTRY_DSN = "https://%s@o%d.ingest.sentry.io/%d"' % (
               token(r, 32).lower(), r.randint(10000, 99999), r.randint(100000, 999999)),
           "",
           "[database]",
           'host = "db.internal.example.com"',
           "port = 5432",
           'user = "app"',
           "password = " + password(r),
           'url = "postgresql://app:%s@db.internal.example.com:5432/app"' % token(r, 24),
           "pool = { min = 2, max = 20 }",
           "",
           "[api]",
           'stripe_key = "sk_live_%s"' % token(r, 40),
           'github_token = "ghp_%s"' % token(r, 36),
           "openai_key = \"sk-%s\"" % token(r, 48),
           "",
           "[smtp]",
           'host = "smtp.example.com"',
           "port = 587",
           'user = "mailer@example.com"',
           "password = " + password(r),
           "starttls = true",
           "",
           "[tls]",
           "private_key = " + "\n".join(
               ['"""', "-----BEGIN PRIVATE KEY-----"] +
               [token(r, 64, B64) for _ in range(13)] +
               [token(r, 20, B64) + "==", "-----END PRIVATE KEY-----", '"""']),
           'certificate_path = "/etc/ssl/app.pem"',
           "",
           "[redis]",
           'url = "rediss://default:%s@cache.internal.example.com:6380/0"' % token(r, 32),
           "",
           "[oauth]",
           'client_id = "%s.apps.example.com"' % token(r, 24).lower(),
           'client_secret = "%s"' % token(r, 40, B64),
           'redirect_uris = ["https://app.example.com/callback", "http://localhost:8501/callback"]',
           "",
           "[aws]",
           'access_key_id = "AKIA%s"' % token(r, 16).upper(),
           'secret_access_key = "%s"' % token(r, 40, B64),
           'region = "eu-west-1"',
           "",
           "[webhooks]",
           'stripe_signing_secret = "whsec_%s"' % token(r, 32),
           'slack_url = "https://hooks.slack.com/services/T%s/B%s/%s"' % (
               token(r, 8).upper(), token(r, 8).upper(), token(r, 24)),
           ""]
    return "\n".join(out)


HEADER = ('# generated by bench/gen_inputs.py (deterministic)\n'
          'title = "coffer benchmark secrets"\n'
          'environment = "production"\n'
          'debug = false\n'
          'version = 3\n')


# flat files: the same root keys as HEADER, as a flat file has no tables
FLAT_HEADER = HEADER


def generate(path, block, size, seed, header=HEADER):
    r = random.Random(seed)
    parts = [header]
    total = len(header.encode())
    i = 0
    while total < size:
        b = block(r, i)
        parts.append(b)
        total += len(b.encode())
        i += 1
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(parts))
    os.chmod(tmp, 0o600)  # a secrets file: the store warns otherwise
    os.replace(tmp, path)


def main():
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for shape, block in (("sections", section), ("aot", server)):
        for label, size in SIZES:
            generate(os.path.join(outdir, "%s-%s.toml" % (shape, label)), block, size,
                     "%s-%s" % (shape, label))
    for label, size in SIZES[1:]:
        generate(os.path.join(outdir, "flat-%s.toml" % label), flat, size,
                 "flat-%s" % label, header=FLAT_HEADER)
    path = os.path.join(outdir, "secrets-2k.toml")
    with open(path + ".tmp", "w", encoding="utf-8", newline="\n") as f:
        f.write(secrets_file(random.Random("secrets-2k")))
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()

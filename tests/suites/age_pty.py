#!/usr/bin/env python3
"""age_pty.py - runs a command on a new pseudo-terminal and answers each
passphrase prompt it prints with $AGE_PTY_PASSPHRASE (age -p reads the
passphrase from the terminal, never from stdin). Exits with the command's
status; 124 after $AGE_PTY_TIMEOUT seconds (default 120).
Used by tests/suites/age-interop.sh."""
import os
import pty
import signal
import sys


def main():
    pw = os.environ["AGE_PTY_PASSPHRASE"].encode()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(sys.argv[1], sys.argv[1:])
        finally:
            os._exit(127)

    def timeout(_sig, _frame):
        os.kill(pid, signal.SIGKILL)
        sys.exit(124)

    signal.signal(signal.SIGALRM, timeout)
    signal.alarm(int(os.environ.get("AGE_PTY_TIMEOUT", "120")))
    seen, answered = b"", 0
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
        sys.stderr.buffer.write(data)
        while seen.lower().count(b"passphrase") > answered:
            os.write(fd, pw + b"\n")
            answered += 1
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status) if status else 0)


if __name__ == "__main__":
    main()

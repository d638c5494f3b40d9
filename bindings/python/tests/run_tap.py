"""Runs the unittest tests of this directory and prints TAP (for tests/run.sh)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class TapResult(unittest.TextTestResult):
    n = 0

    def _line(self, status, test, extra=""):
        TapResult.n += 1
        print("%s %d - %s%s" % (status, TapResult.n, test.id(), extra), flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line("ok", test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line("not ok", test)
        print("# " + self._exc_info_to_string(err, test).replace("\n", "\n# "))

    def addError(self, test, err):
        super().addError(test, err)
        self._line("not ok", test)
        print("# " + self._exc_info_to_string(err, test).replace("\n", "\n# "))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line("ok", test, " # SKIP " + reason)


here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py")
runner = unittest.TextTestRunner(stream=open(os.devnull, "w"), resultclass=TapResult)
res = runner.run(suite)
sys.exit(0 if res.wasSuccessful() else 1)

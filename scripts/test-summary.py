#!/usr/bin/env python3
"""Sums doctest test cases over every suite of a `meson test` run.

Reads meson's testlog.json and prints one line, "N passed, M failed". A suite
that crashed or timed out without a doctest summary counts as one failure, so
a dead test binary can never look green. Exits non-zero if anything failed.
"""
import json
import re
import sys

SUMMARY = re.compile(
    r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed")


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            if not line.strip():
                continue
            entry = json.loads(line)
            found = SUMMARY.findall(entry.get("stdout", "") or "")
            ok = entry.get("result") == "OK"
            if found:
                _, p, f = (int(x) for x in found[-1])
                passed += p
                failed += f
                if not ok and f == 0:
                    failed += 1
            elif ok:
                passed += 1
            else:
                failed += 1
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

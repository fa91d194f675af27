#!/usr/bin/env python3
"""Sums doctest test cases over every suite of a `meson test` run.

Reads meson's testlog.json and prints one line, "N passed, M failed". A suite
that crashed or timed out without a doctest summary counts as one failure, so
a dead test binary can never look green. Exits non-zero if anything failed.

    test-summary.py TESTLOG [--fuzz FUZZ_RESULTS]

With --fuzz (build-fuzz/fuzz-results.json of scripts/fuzz.sh), each fuzz
target counts as one test passed or failed too; a missing or unreadable
results file counts as one failure.
"""
import argparse
import json
import re
import sys

SUMMARY = re.compile(
    r"\[doctest\] test cases:\s*(\d+) \|\s*(\d+) passed \|\s*(\d+) failed")


def count_fuzz(path):
    """(passed, failed) over the targets of a fuzz-results.json."""
    try:
        with open(path, encoding="utf-8") as results:
            oks = [bool(t["ok"]) for t in json.load(results).values()]
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
        print(f"fuzz results {path}: {e}", file=sys.stderr)
        return 0, 1
    if not oks:
        return 0, 1
    return sum(oks), len(oks) - sum(oks)


def main(path, fuzz=None):
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
    if fuzz:
        fuzz_passed, fuzz_failed = count_fuzz(fuzz)
        passed += fuzz_passed
        failed += fuzz_failed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("testlog")
    parser.add_argument("--fuzz", metavar="FUZZ_RESULTS")
    args = parser.parse_args()
    sys.exit(main(args.testlog, args.fuzz))

#!/usr/bin/env python3
"""Compares one tlsfuzzer run (run.sh's LOG_DIR) with the expected failures.

usage: conformance_compare.py EXPECTED_TSV CERT_TYPE LOG_DIR

EXPECTED_TSV lines: cert type (rsa, ecdsa or *), script label, a regular expression that
the whole sub-test name matches, and why it fails; '#' starts a comment. In the expression,
{>=N} matches a whole number of at least N (sub-tests named by a size). A script that
ended in TIMEOUT or ERROR counts as the failed sub-test "(TIMEOUT)" or "(ERROR)". Exits 1
if a sub-test failed that no line expects, or if a line of a script that ran matches no
failure (it passes now: remove the line).
"""
import re
import sys

AT_LEAST = re.compile(r"\{>=(\d+)\}")


class pattern:
    """A regular expression in which {>=N} matches a number of at least N."""

    def __init__(self, text):
        self.text = text
        self.minimums = [int(n) for n in AT_LEAST.findall(text)]
        count = iter(range(len(self.minimums)))
        self.regex = re.compile(AT_LEAST.sub(lambda _: rf"(?P<n{next(count)}>\d+)", text))

    def matches(self, name):
        m = self.regex.fullmatch(name)
        # A number in an alternative that did not match (None) holds no bound.
        numbers = [m.group(f"n{i}") for i in range(len(self.minimums))] if m else []
        return m is not None and all(
            n is None or int(n) >= low for n, low in zip(numbers, self.minimums))


def expectations(path, cert_type):
    out = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) != 4 or not fields[3].strip():
                sys.exit(f"{path}:{number}: want 4 tab-separated fields, the last a reason")
            if fields[0] in ("*", cert_type):
                out.append((number, fields[1], pattern(fields[2]), fields[3]))
    return out


def failures(log_dir):
    ran, failed = set(), []
    with open(f"{log_dir}/results.tsv") as f:
        for line in f:
            label, result = line.split("\t")[:2]
            if result == "SKIP":
                continue
            ran.add(label)
            if result in ("TIMEOUT", "ERROR"):
                failed.append((label, f"({result})"))
    named = set()
    with open(f"{log_dir}/failed-subtests.txt") as f:
        for line in f:
            label, _, name = line.rstrip("\n").partition("\t")
            failed.append((label, name))
            named.add(label)
    # A script that failed without naming a sub-test still failed.
    with open(f"{log_dir}/results.tsv") as f:
        for line in f:
            label, result = line.split("\t")[:2]
            if result == "FAIL" and label not in named:
                failed.append((label, "(FAIL)"))
    return ran, failed


def main():
    expected_path, cert_type, log_dir = sys.argv[1:4]
    expected = expectations(expected_path, cert_type)
    ran, failed = failures(log_dir)
    used = set()
    unexpected = []
    for label, name in failed:
        match = [e for e in expected if e[1] == label and e[2].matches(name)]
        if match:
            used.add(match[0][0])
        else:
            unexpected.append((label, name))
    stale = [e for e in expected if e[1] in ran and e[0] not in used]
    for label, name in unexpected:
        print(f"UNEXPECTED FAILURE ({cert_type}): {label}: {name}")
    for number, label, pattern, reason in stale:
        print(f"NOW PASSES ({cert_type}): {expected_path}:{number}: {label}: {pattern.text}")
    print(f"# {cert_type}: {len(failed)} failed sub-tests in {len(ran)} scripts, "
          f"{len(failed) - len(unexpected)} of them expected; {len(stale)} expected ones "
          f"now pass")
    return 1 if unexpected or stale else 0


if __name__ == "__main__":
    sys.exit(main())

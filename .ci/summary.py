# SPDX-License-Identifier: MIT
"""Counts what `meson test` ran, in test cases, and prints "N passed, N failed" last.

Usage: python3 .ci/summary.py BUILD_DIR...     (exit status 1 when anything failed)

Each BUILD_DIR is one meson test run (the plain build, the sanitizer builds); their test cases
add up, since each run is a test of its own.

Inputs:
  BUILD_DIR/meson-logs/testlog.json  one JSON object per meson test: name, result, command...
  the JUnit file each Catch2 test writes (its command has `--reporter junit --out FILE`).

A Catch2 executable counts as its TEST_CASEs, not as one test. Catch2 v2's JUnit report cannot
give that number by itself: its <testsuite tests=...> counts assertions, and it writes one
<testcase> per leaf section. So the executable lists its test cases (--list-test-names-only,
milliseconds) and the report says which of them failed. Every other meson test (public_headers,
the sample smoke tests) counts as one test case.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

PASS_RESULTS = {"OK", "EXPECTEDFAIL"}
SKIP_RESULTS = {"SKIP"}


def junit_out(command):
    """The JUnit file of a Catch2 command line, or None for any other test."""
    if "--reporter" not in command and "-r" not in command:
        return None
    for flag in ("--out", "-o"):
        if flag in command:
            i = command.index(flag)
            if i + 1 < len(command):
                return command[i + 1]
    return None


def test_specs(command):
    """The Catch2 test specs (which cases to run) on a command line: its non-option arguments."""
    specs, args = [], iter(command[1:])
    for a in args:
        if a in ("--reporter", "-r", "--out", "-o"):
            next(args, None)
        elif not a.startswith("-"):
            specs.append(a)
    return specs


def list_test_cases(command):
    """TEST_CASE names a Catch2 v2 command runs (its exit status is the count, not an error)."""
    try:
        out = subprocess.run([command[0], *test_specs(command), "--list-test-names-only"],
                             stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = []
    for line in out.splitlines():
        if not line.strip():
            continue
        # Catch2 quotes names that start with '#'.
        if len(line) >= 2 and line.startswith('"#') and line.endswith('"'):
            line = line[1:-1]
        names.append(line)
    return names


def failures_in(junit_path):
    """[(section path, text)] for every failed or erroring <testcase>, and the case count."""
    root = ET.parse(junit_path).getroot()
    failed, cases = [], 0
    for case in root.iter("testcase"):
        cases += 1
        problems = [e for e in case if e.tag in ("failure", "error")]
        if not problems:
            continue
        text = []
        for p in problems:
            head = p.get("type", p.tag)
            msg = p.get("message", "")
            text.append(f"{p.tag} ({head}{': ' + msg if msg else ''})")
            body = (p.text or "").strip()
            if body.startswith("FAILED:"):  # Catch2's own heading, redundant here
                body = body[len("FAILED:"):].strip()
            if body:
                text.append(body)
        failed.append((case.get("name", "?"), "\n".join(text)))
    return failed, cases


def owner(section_path, names):
    """The TEST_CASE a JUnit <testcase> belongs to: names are 'Case' or 'Case/Section/...'."""
    best = None
    for n in names:
        if section_path == n or section_path.startswith(n + "/"):
            if best is None or len(n) > len(best):
                best = n
    return best


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def summarize(build):
    """(passed, failed, skipped, heading, report lines) of the meson test run in one build dir."""
    log = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        return 0, 1, 0, f"{log} not found: meson test did not run", []
    with open(log) as f:
        runs = [json.loads(line) for line in f if line.strip()]

    passed = failed = skipped = assertions = 0
    report = []  # lines about failures, printed before the summary
    catch2_execs = other_tests = 0

    for run in runs:
        name, result = run.get("name", "?"), run.get("result", "?")
        command = run.get("command") or []
        out = junit_out(command)

        if out is None:  # a plain meson test: its exit status is the verdict
            other_tests += 1
            if result in PASS_RESULTS:
                passed += 1
            elif result in SKIP_RESULTS:
                skipped += 1
            else:
                failed += 1
                tail = "\n".join((run.get("stdout") or "").strip().splitlines()[-15:])
                report.append(f"FAILED {name}: meson result {result}, exit code {run.get('returncode')}")
                if tail:
                    report.append(indent(tail))
            continue

        catch2_execs += 1
        names = list_test_cases(command) or []
        if not os.path.exists(out):
            n = max(len(names), 1)
            failed += n
            why = "" if result in PASS_RESULTS else ": it crashed or timed out before writing it"
            report.append(f"FAILED {name}: no JUnit report {out} (meson result {result}, exit code "
                          f"{run.get('returncode')}){why}; its {n} test case(s) count as failed")
            continue
        try:
            bad, sections = failures_in(out)
            suite_assertions = sum(int(s.get("tests", 0)) for s in ET.parse(out).getroot().iter("testsuite"))
        except (ET.ParseError, ValueError) as e:
            n = max(len(names), 1)
            failed += n
            report.append(f"FAILED {name}: unreadable JUnit report {out} ({e}); its {n} test "
                          "case(s) count as failed")
            continue
        assertions += suite_assertions

        failed_cases = {}
        for section, text in bad:
            case = owner(section, names) or section
            failed_cases.setdefault(case, []).append((section, text))
        total = len(names) if names else sections
        total = max(total, len(failed_cases))
        failed += len(failed_cases)
        passed += total - len(failed_cases)
        for case, items in failed_cases.items():
            report.append(f"FAILED {name}: {case}")
            for section, text in items:
                if section != case:
                    report.append(f"  in section {section[len(case) + 1:] if section.startswith(case) else section}")
                report.append(indent(text))
        # Every case passed yet the executable failed (a crash at exit, a sanitizer's leak report,
        # a timeout after the report...): that failure must still show.
        if not failed_cases and result not in PASS_RESULTS and result not in SKIP_RESULTS:
            failed += 1
            tail = "\n".join((run.get("stdout") or "").strip().splitlines()[-15:])
            report.append(f"FAILED {name}: all its test cases passed but meson reports {result} "
                          f"(exit code {run.get('returncode')})")
            if tail:
                report.append(indent(tail))

    heading = (f"{len(runs)} meson tests: {catch2_execs} Catch2 executables "
               f"({assertions} assertions), {other_tests} other tests"
               + (f"; {skipped} skipped" if skipped else "")
               + f"; {passed} passed, {failed} failed")
    return passed, failed, skipped, heading, report


def main():
    builds = sys.argv[1:] or ["build-ci"]
    passed = failed = 0
    print()
    for build in builds:
        p, f, _, heading, report = summarize(build)
        passed, failed = passed + p, failed + f
        print(f"summary: {build}: {heading}")
        for line in report:
            print(f"[{build}] {line}" if len(builds) > 1 else line)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

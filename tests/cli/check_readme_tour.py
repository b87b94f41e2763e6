#!/usr/bin/env python3
"""Runs the commands README.md's tour shows, as a reader would paste them.

Every ```sh block under the headings named below is split into commands (a
command continues while its quotes are open or its line ends in '\\' or
'&&'); each runs with bash from the repository root, with `build/bin/` taken
from the build under test and `/tmp/` replaced by a scratch directory. A
command must exit 0, unless the comment right after it starts with
"# error:", in which case it must fail and print that text on stderr.
Variables a block sets (S=...) are set for the commands after them.

Usage: check_readme_tour.py REPO_ROOT BUILD_DIR SCRATCH_DIR
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

SECTIONS = ("## A short tour", "## Quality: logits, perplexity, KL divergence",
            "## Inspect, profile, attention maps")


def blocks(readme):
    """The ```sh blocks of the tour's sections, in order."""
    out, section, inside, current = [], None, False, []
    for line in readme.splitlines():
        if line.startswith("## "):
            section = line.strip()
        if line.strip() == "```sh" and section in SECTIONS:
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            out.append(current)
        elif inside:
            current.append(line)
    return out


def complete(text):
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False  # an open quote
    stripped = text.rstrip()
    return not (stripped.endswith("\\") or stripped.endswith("&&") or stripped.endswith("|"))


def commands(block):
    """(command, expected error or None) pairs."""
    result, pending = [], None
    for line in block:
        if pending is not None:
            pending += "\n" + line
            if complete(pending):
                result.append([pending, None])
                pending = None
            continue
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            m = re.match(r"#\s*error:\s*(.*)", stripped)
            if m and result:
                result[-1][1] = m.group(1).strip()
            continue
        if complete(line):
            result.append([line, None])
        else:
            pending = line
    return result


def main():
    repo, build, scratch = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    scratch.mkdir(parents=True, exist_ok=True)
    text = (repo / "README.md").read_text()
    found = blocks(text)
    if not found:
        sys.exit("FAIL: no ```sh block under " + ", ".join(SECTIONS))
    env = dict(os.environ, TESSEL_CACHE_DIR=str(scratch / "cache"))
    count, prelude = 0, ""
    for block in found:
        for command, error in commands(block):
            runnable = command.replace("build/bin/", f"{build}/bin/").replace("/tmp/", f"{scratch}/")
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S+(\s+#.*)?", command.strip()):
                prelude += runnable + "\n"  # a variable later commands use (S=...)
            runnable = prelude + runnable
            p = subprocess.run(["bash", "-o", "pipefail", "-c", runnable], cwd=repo, env=env,
                               capture_output=True, text=True, timeout=300)
            count += 1
            # 141: a writer stopped by SIGPIPE because `head` or `grep -m`
            # had read enough (pipefail reports it); not the command failing.
            if error is None and p.returncode not in (0, 141):
                sys.exit(f"FAIL: the README's command exited {p.returncode}:\n{command}\n"
                         f"--- stdout\n{p.stdout[-2000:]}\n--- stderr\n{p.stderr[-2000:]}")
            if error is not None and (p.returncode == 0 or error not in p.stderr):
                sys.exit(f"FAIL: expected failure with '{error}':\n{command}\n"
                         f"exit {p.returncode}\n--- stderr\n{p.stderr[-2000:]}")
            print(f"ok: {command.splitlines()[0][:100]}")
    print(f"README tour: {count} commands ran as documented")


if __name__ == "__main__":
    main()

"""No tracked file names the absolute folder of one machine: the project, ../shared or a checkout.

Code finds them relative to the repository (`ROOT.parent / "shared"`) or takes an argument; docs
write `../shared/...`. A committed `/work/main` or `/tmp/baseline` only works on the machine that
wrote it.
"""
from __future__ import annotations

import re
import subprocess

from tests.support import ROOT

# The homes a checkout or the shared folder has had (/work/<name>, /tmp/<name>) and the usual
# user homes. Not after a word character, dot or slash, so URLs and relative paths pass.
NOT_AFTER = r"(?<![\w.~/-])"
MACHINE_PATH = re.compile(NOT_AFTER + r"/(?:work|tmp|home|Users|root|mnt)/[\w.-]+")
HERE = re.compile(NOT_AFTER + "(?:" + "|".join(re.escape(str(p)) for p in (ROOT, ROOT.parent / "shared")) + r")(?![\w.-])")
THIS_FILE = "tests/test_no_machine_paths.py"  # names examples of what it forbids


def machine_paths(text: str) -> list[str]:
    """The absolute folders of one machine that `text` names, this machine's own included."""
    return list(dict.fromkeys(MACHINE_PATH.findall(text) + HERE.findall(text)))


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_the_check_catches_machine_paths():
    for bad in ("/work/main", "see /work/shared/external-corpora/x.md", "--before /tmp/baseline",
                "`/home/alice/kb`", "/Users/bob/src/kb", str(ROOT / "corpus")):
        assert machine_paths(bad), f"not caught: {bad!r}"
    for fine in ("../shared/external-corpora/", "https://example.org/work/main", "kb/tmp/x", "~/Zotero",
                 "benchmarks/results/layout_compare.json", "tempfile.gettempdir()"):
        assert not machine_paths(fine), f"caught by mistake: {fine!r} -> {machine_paths(fine)}"


def test_no_tracked_file_names_a_machine_path():
    files = tracked_files()
    assert len(files) > 100, f"git ls-files found only {len(files)} files"
    offenders = []
    for name in files:
        path = ROOT / name
        if name == THIS_FILE or not path.is_file():  # a file deleted in the work tree is still listed
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary: images, packages, indexes
            continue
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            offenders += [f"{name}:{n}: {hit}" for hit in machine_paths(line)]
    assert not offenders, "absolute paths of one machine (use ../shared/..., a path from ROOT, or an argument):\n" + "\n".join(offenders)

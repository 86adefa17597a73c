#!/usr/bin/env python3
"""The declared MSRV (`rust-version` in Cargo.toml), checked without a second toolchain.

This machine has one Rust toolchain and cannot fetch another, so the MSRV is checked in the
two ways that need none: clippy's `incompatible_msrv` lint (on in `cargo clippy -D warnings`:
no standard-library API newer than the MSRV) and this script: every package that a Linux
build of the workspace pulls in declares a `rust-version` no newer than ours, and our edition
is one that version knows. Exits 1, naming the packages, when one does not.
"""
import json
import subprocess
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", "x86_64-unknown-linux-gnu"],
        check=True, capture_output=True, text=True,
    ).stdout
)
packages = {p["id"]: p for p in meta["packages"]}
members = [packages[m] for m in meta["workspace_members"]]
declared = {p["rust_version"] for p in members}
if len(declared) != 1 or None in declared:
    sys.exit(f"every workspace crate must declare the same rust-version, found {declared}")
msrv = version(declared.pop())
EDITION_SINCE = {"2015": (1, 0, 0), "2018": (1, 31, 0), "2021": (1, 56, 0), "2024": (1, 85, 0)}

used = {n["id"] for n in meta["resolve"]["nodes"]}
too_new = []
for pid in sorted(used):
    p = packages[pid]
    need = version(p["rust_version"]) if p.get("rust_version") else (0, 0, 0)
    need = max(need, EDITION_SINCE.get(p["edition"], (0, 0, 0)))
    if need > msrv:
        too_new.append(f'{p["name"]} {p["version"]} needs Rust {".".join(map(str, need))}')
msrv_text = ".".join(map(str, msrv))
if too_new:
    print(f"MSRV {msrv_text}: these dependencies need a newer Rust:", *too_new, sep="\n  ")
    sys.exit(1)
print(f"MSRV {msrv_text}: all {len(used)} packages of the build declare it or older")

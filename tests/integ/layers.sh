#!/bin/sh
# The layers of engine/ (docs/architecture.md): each file includes only
# headers of its own layer or of a layer below it; engine/ never includes
# from adapters/, bench/ or tests/; adapters/ builds on base, text and core
# only (never on run, the threads).  A forbidden include is reported as
# FILE:LINE: and fails.  Exit 0 clean, 1 not.
set -u
python3 - <<'PY'
import os, re, sys
layers = ["engine/base", "engine/text", "engine/core", "engine/run"]
rank = {l: i for i, l in enumerate(layers)}
where = {}  # header name -> directory
for d in layers + ["adapters", "bench"]:
    for f in os.listdir(d):
        if f.endswith(".h"):
            where.setdefault(f, d)
bad = 0
def check(path, limit, allowed_dirs):
    global bad
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            h = os.path.basename(m.group(1))
            d = where.get(h)
            if d is None:  # generated (flex.pb-c.h) or the file's own directory
                continue
            if d in rank and rank[d] <= limit:
                continue
            if d in allowed_dirs:
                continue
            print(f"{path}:{n}: includes {h} ({d}), above or outside its layer")
            bad += 1
for d in layers:
    for f in sorted(os.listdir(d)):
        if f.endswith((".c", ".h")):
            check(os.path.join(d, f), rank[d], set())
for f in sorted(os.listdir("adapters")):
    if f.endswith((".c", ".h")):
        check(os.path.join("adapters", f), rank["engine/core"], {"adapters"})
print(f"{bad} forbidden includes")
sys.exit(1 if bad else 0)
PY

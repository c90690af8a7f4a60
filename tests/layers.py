#!/usr/bin/env python3
"""tests/layers.py: fails when a source file includes a module above it or
beside it. Layers point down only (the README's layout table):

    tools/main.c, tools/*.c (files not yet in a room: the top of tools/)
    tools/cli/                      argv, the terminal
    tools/control/ tools/replay/ tools/ship/
                                    the control port; the clients that run as
                                    processes of their own (replay, the
                                    ClickHouse shipper): beside each other
    tools/capture/ tools/views/     the sink on worker threads; pure views
    tools/lib/                      shared helpers, rc-limits.h
    engine/
    tls/  filter/  persist/         leaf modules (beside each other)

A file may include its own module or room and anything below it; never a
module above it or beside it. The top-level rc-assert.h may be included by
every module. tests/ and bench/ are not checked (they may include anything
they test). Only quoted includes that resolve to a file of the tree count:
"x.h" next to the including file, else "dir/x.h" from the top of the tree;
<...> and quoted includes found elsewhere (llhttp.h) are third-party.

    tests/layers.py [ROOT]       check the tree at ROOT (default: this tree)
    tests/layers.py --self-test  check that each rule catches a bad include
Exit 0 clean, 1 with one line per violation.
"""
import os
import re
import shutil
import sys
import tempfile

# Rank of each layer: a file may include a layer of strictly lower rank,
# or its own layer. Equal ranks with different names are "beside".
RANK = {
    "tools": 60,          # tools/main.c and files not yet in a room
    "tools/cli": 50,
    "tools/control": 40,
    "tools/replay": 40,
    "tools/ship": 40,
    "tools/capture": 30,
    "tools/views": 30,
    "tools/lib": 20,
    "engine": 10,
    "tls": 0,
    "filter": 0,
    "persist": 0,
}
ROOMS = ("cli", "control", "replay", "ship", "capture", "views", "lib")
EVERYONE = {"rc-assert.h"}  # top-level headers every module may include
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
SOURCE_EXT = (".c", ".h")


def layer_of(rel):
    """The layer of a path relative to the root, or None when the path is
    outside the checked modules (tests/, bench/, the top level)."""
    parts = rel.split("/")
    if parts[0] == "tools":
        if len(parts) > 2 and parts[1] in ROOMS:
            return "tools/" + parts[1]
        if len(parts) > 2:
            return "tools/" + parts[1]   # an unknown room: no rank, reported
        return "tools"
    if parts[0] in RANK and len(parts) > 1:
        return parts[0]
    return None


def resolve(root, src_rel, inc):
    """The included file's path relative to root, or None when it is not a
    file of the tree (a third-party header)."""
    here = os.path.dirname(src_rel)
    for cand in (os.path.join(here, inc), inc):
        norm = os.path.normpath(cand)
        if norm.startswith(".."):
            continue
        if os.path.isfile(os.path.join(root, norm)):
            return norm.replace(os.sep, "/")
    return None


def allowed(src, dst):
    if src == dst:
        return True
    if src not in RANK or dst not in RANK:
        return False
    return RANK[dst] < RANK[src]


def check(root):
    """Returns a list of violation lines for the tree at root."""
    bad = []
    for top in sorted(set(k.split("/")[0] for k in RANK)):
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_EXT):
                    continue
                src_rel = os.path.relpath(os.path.join(dirpath, name), root)
                src_rel = src_rel.replace(os.sep, "/")
                src = layer_of(src_rel)
                if src is None:
                    continue
                if src not in RANK:
                    bad.append("%s: folder %s is not a room of tools/ (%s)"
                               % (src_rel, src, ", ".join(ROOMS)))
                    continue
                with open(os.path.join(root, src_rel), encoding="utf-8",
                          errors="replace") as f:
                    text = f.read()
                for m in INCLUDE.finditer(text):
                    line = text.count("\n", 0, m.start()) + 1
                    dst_rel = resolve(root, src_rel, m.group(1))
                    if dst_rel is None or dst_rel in EVERYONE:
                        continue
                    dst = layer_of(dst_rel)
                    if dst is None:
                        bad.append('%s:%d: includes "%s" (%s), outside every module'
                                   % (src_rel, line, m.group(1), dst_rel))
                    elif not allowed(src, dst):
                        how = "above" if RANK.get(dst, 99) > RANK[src] else "beside"
                        bad.append('%s:%d: %s includes "%s": %s is %s it'
                                   % (src_rel, line, src, m.group(1), dst, how))
    return bad


def self_test():
    """Builds a small tree with one bad include per rule and checks that
    each is reported, and that a clean tree passes."""
    cases = [  # (file, include line, must fail)
        ("tls/a.c", '#include "filter/f.h"', True),      # leaf beside leaf
        ("persist/a.c", '#include "engine/eng.h"', True),  # leaf includes above
        ("filter/a.c", '#include "tools/main.h"', True),
        ("engine/a.c", '#include "tools/lib/j.h"', True),  # engine includes tools
        ("tools/lib/a.c", '#include "tools/views/v.h"', True),  # lib points up
        ("tools/views/a.c", '#include "tools/capture/c.h"', True),  # beside
        ("tools/capture/a.c", '#include "../control/s.h"', True),  # up, relative
        ("tools/control/a.c", '#include "tools/cli/r.h"', True),
        ("tools/lib/a.c", '#include "tools/main.h"', True),
        ("tools/weird/a.c", '#include "tools/lib/j.h"', True),  # unknown room
        ("tools/ship/a.c", '#include "tools/control/s.h"', True),  # beside
        ("tools/views/a.c", '#include "tools/ship/p.h"', True),   # up
        ("tools/ship/a.c", '#include "tools/views/v.h"', False),
        ("tools/cli/a.c", '#include "tools/ship/p.h"', False),
        ("engine/a.c", '#include "tests/t.h"', True),
        ("tls/a.c", '#include "rc-assert.h"', False),
        ("engine/a.c", '#include "tls/t.h"', False),
        ("engine/a.c", '#include "e-int.h"', False),
        ("tools/cli/a.c", '#include "tools/control/s.h"', False),
        ("tools/cli/a.c", '#include "../views/v.h"', False),
        ("tools/control/a.c", '#include "tools/views/v.h"', False),
        ("tools/views/a.c", '#include "tools/lib/j.h"', False),
        ("tools/views/a.c", '#include "persist/seg.h"', False),
        ("tools/a.c", '#include "tools/cli/r.h"', False),
        ("persist/a.c", '#include <zstd.h>', False),
        ("engine/a.c", '#include "llhttp.h"', False),
    ]
    headers = ["filter/f.h", "engine/eng.h", "engine/e-int.h", "tools/main.h",
               "tools/lib/j.h", "tools/views/v.h", "tools/capture/c.h",
               "tools/control/s.h", "tools/cli/r.h", "tests/t.h", "tls/t.h",
               "persist/seg.h", "rc-assert.h", "tools/ship/p.h"]
    failures = 0
    for path, inc, must_fail in cases:
        tmp = tempfile.mkdtemp(prefix="ringcap-layers-")
        try:
            for h in headers + [path]:
                os.makedirs(os.path.join(tmp, os.path.dirname(h)), exist_ok=True)
                with open(os.path.join(tmp, h), "w") as f:
                    f.write(inc + "\n" if h == path else "/* header */\n")
            got = check(tmp)
            if bool(got) != must_fail:
                failures += 1
                print("self-test: %s with %s: %s" % (path, inc,
                      got if got else "not reported"))
        finally:
            shutil.rmtree(tmp)
    print("layers self-test: %d cases, %d failed" % (len(cases), failures))
    return 1 if failures else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = check(root)
    for b in bad:
        print(b)
    print("layers: %d violation(s)" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Fails when an #include runs up the layers of architecture §3.

    layer 1  libmesh/include/mesh/   the public API
    layer 2  libmesh/src/core/       shapes, ids, errors, statuses, config
    layer 3  bootstrap/              the OS and wire layer (no actors)
    layer 4  actors/                 every actor
    layer 5  libmesh/src/client/     the API's implementation
    layer 6  tools/ examples/ bench/ programs: <mesh/...> and their own files

A file may include its own layer and the layers below it. A program (layer 6)
may include only public headers and files of its own folder: what it needs
and cannot reach is a missing public function. test/ may include anything.

Usage: check_layers.py SOURCE_ROOT      check the tree, print every violation
       check_layers.py --self-test      prove the check fails on bad trees
"""
import os
import re
import sys
import tempfile

LAYERS = [
    ("libmesh/include/mesh/", 1),
    ("libmesh/src/core/", 2),
    ("bootstrap/", 3),
    ("actors/", 4),
    ("libmesh/src/client/", 5),
    ("tools/", 6),
    ("examples/", 6),
    ("bench/", 6),
]
SOURCE_EXT = (".hpp", ".cpp", ".h", ".c")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')


def layer_of(path):
    for prefix, layer in LAYERS:
        if path.startswith(prefix):
            return layer
    return None


def resolve(root, including, target):
    """The repository path a quoted or <mesh/...> include names, or None for
    a system header."""
    if target.startswith("mesh/"):
        return "libmesh/include/" + target
    local = os.path.normpath(os.path.join(os.path.dirname(including), target))
    if os.path.exists(os.path.join(root, local)):
        return local
    if os.path.exists(os.path.join(root, target)):
        return target
    return None


def violations(root):
    found = []
    for prefix, layer in LAYERS:
        top = os.path.join(root, prefix)
        for folder, _, files in os.walk(top):
            for name in sorted(files):
                if not name.endswith(SOURCE_EXT):
                    continue
                path = os.path.relpath(os.path.join(folder, name), root)
                with open(os.path.join(root, path), encoding="utf-8",
                          errors="replace") as source:
                    for number, line in enumerate(source, 1):
                        match = INCLUDE.match(line)
                        if not match:
                            continue
                        target = resolve(root, path, match.group(2))
                        if target is None:
                            continue
                        problem = judge(path, layer, target)
                        if problem:
                            found.append(f"{path}:{number}: includes "
                                         f"{match.group(2)}: {problem}")
    return found


def judge(path, layer, target):
    if layer == 6:
        if target.startswith("libmesh/include/mesh/"):
            return None
        if os.path.dirname(target) == os.path.dirname(path):
            return None
        return "a program may include only <mesh/...> and its own files"
    target_layer = layer_of(target)
    if target_layer is None:
        return f"not a file of the library's layers (layer {layer})"
    if target_layer > layer:
        return f"layer {layer} includes layer {target_layer}"
    return None


def self_test():
    bad = {
        "libmesh/include/mesh/a.hpp": '#include "actors/x.hpp"\n',
        "libmesh/src/core/b.cpp": '#include "bootstrap/y.hpp"\n',
        "bootstrap/y.hpp": '#include "actors/x.hpp"\n',
        "actors/x.hpp": '#include "libmesh/src/client/z.hpp"\n',
        "libmesh/src/client/z.hpp": '#include "mesh/a.hpp"\n',
        "tools/t.cpp": '#include "bootstrap/y.hpp"\n#include "own.hpp"\n',
        "tools/own.hpp": "#include <mesh/a.hpp>\n#include <vector>\n",
        "bench/b.cpp": '#include "../actors/x.hpp"\n',
    }
    with tempfile.TemporaryDirectory() as root:
        for path, text in bad.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)),
                        exist_ok=True)
            with open(os.path.join(root, path), "w") as out:
                out.write(text)
        found = violations(root)
    expected = {"libmesh/include/mesh/a.hpp:1", "libmesh/src/core/b.cpp:1",
                "bootstrap/y.hpp:1", "actors/x.hpp:1", "tools/t.cpp:1",
                "bench/b.cpp:1"}
    got = {v.split(": ")[0] for v in found}
    if got != expected:
        print("self-test failed: expected violations at", sorted(expected),
              "got", found)
        return 1
    print(f"self-test: all {len(expected)} planted upward includes found, "
          "no false alarm")
    return 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    found = violations(argv[1])
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} upward include(s): see architecture §3")
        return 1
    print("layers: no upward include")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Fails when libmesh.so exports anything but the public API (architecture §3).

Every dynamic symbol libmesh.so defines must belong to namespace mesh (its
functions, statics, type information) or be one of the OpenSSL and libc
calls that bootstrap/tls_interpose.cpp and plain_interpose.cpp interpose;
and none may come from the
internal layers (mesh::bootstrap, mesh::net, mesh::tls, the actors' behaviour
functions), which only tests reach, through the static library.

And the other way round: every class of the public headers that has virtual
functions (a class users derive from, like mesh::allocator) must export its
type information and vtable, or a user's derived class cannot link (its
typeinfo names the base's) and UBSan's vptr check cannot either.

Usage: check_exports.py LIBMESH_SO PUBLIC_INCLUDE_DIR
"""
import os
import re
import subprocess
import sys

INTERPOSED = {"SSL_read", "SSL_write", "SSL_accept", "SSL_connect",
              "SSL_CTX_new", "SSL_CTX_use_certificate_chain_file",
              "SSL_CTX_use_PrivateKey_file", "SSL_CTX_load_verify_locations",
              "SSL_CTX_set_verify", "SSL_CTX_set_cipher_list",
              "SSL_CTX_set_default_passwd_cb",
              "SSL_CTX_set_default_passwd_cb_userdata", "SSL_CTX_ctrl",
              "SSL_set_fd", "SSL_pending", "pthread_sigmask",
              "sigtimedwait", "recv"}
# Demangled, or (for names too long for nm to demangle) mangled.
PUBLIC = re.compile(r"^(typeinfo for |typeinfo name for |vtable for |VTT for |"
                    r"guard variable for |(non-)?virtual thunk to )?mesh::|"
                    r"^_Z(N|NK|TIN|TSN|TVN)4mesh")
INTERNAL = re.compile(r"mesh::(bootstrap|net|tls)::|mesh::(host_agent|"
                      r"proc_agent|comm_actor|mesh_controller|"
                      r"bootstrap_proc_manager|in_process_proc_manager)\(")


CLASS = re.compile(r"^(?:class|struct)\s+(\w+)\s*(?::[^{;]*)?\{(.*?)^\};",
                   re.M | re.S)
NAMESPACE = re.compile(r"^namespace\s+([\w:]+)\s*\{", re.M)


def polymorphic_classes(include_dir):
    """Qualified names of the public headers' classes that declare a virtual
    function. A class's namespace is the last `namespace X {` line before it
    (the public headers open one namespace per block, at column 0)."""
    found = []
    for root, _, files in os.walk(include_dir):
        for f in sorted(files):
            if not f.endswith(".hpp"):
                continue
            text = open(os.path.join(root, f)).read()
            for m in CLASS.finditer(text):
                if not re.search(r"\bvirtual\b", m.group(2)):
                    continue
                spaces = NAMESPACE.findall(text, 0, m.start())
                ns = spaces[-1] if spaces else ""
                found.append((ns + "::" if ns else "") + m.group(1))
    return found


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    out = subprocess.run(["nm", "-DC", "--defined-only", argv[1]], check=True,
                         capture_output=True, text=True).stdout
    bad = []
    count = 0
    names = set()
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        name = parts[2]
        names.add(name)
        count += 1
        if name in INTERPOSED:
            continue
        if not PUBLIC.match(name) or INTERNAL.search(name):
            bad.append(name)
    for name in bad[:40]:
        print("exported but not public:", name[:200])
    if bad:
        print(f"{len(bad)} of {count} exported symbols are not the public API")
        return 1
    if count == 0:
        print("no exported symbol found: is this libmesh.so?")
        return 1
    classes = polymorphic_classes(argv[2])
    if not classes:
        print(f"no class with a virtual function found under {argv[2]}")
        return 1
    missing = [f"{what} for {cls}" for cls in classes
               for what in ("typeinfo", "vtable")
               if f"{what} for {cls}" not in names]
    for name in missing:
        print("public but not exported:", name)
    if missing:
        return 1
    print(f"exports: type information of {len(classes)} polymorphic public "
          f"classes ({', '.join(classes)})")
    print(f"exports: {count} symbols, all of namespace mesh's public API")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

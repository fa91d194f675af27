// Which symbols libmesh.so exports (architecture §3).
//
// libmesh is compiled with -fvisibility=hidden: only what a public header
// declares between MESH_PUBLIC_BEGIN and MESH_PUBLIC_END (the body of every
// header under mesh/) is exported. Internal headers (actors/, bootstrap/,
// libmesh/src/) declare nothing exported, so `nm -D libmesh.so` lists the
// public API only; tests reach the internals through a static library.
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#  define MESH_PUBLIC_BEGIN _Pragma("GCC visibility push(default)")
#  define MESH_PUBLIC_END _Pragma("GCC visibility pop")
#else
#  define MESH_PUBLIC_BEGIN
#  define MESH_PUBLIC_END
#endif

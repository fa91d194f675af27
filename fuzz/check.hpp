// The oracle of the fuzz targets: a property that does not hold is a crash,
// with the property and its place on stderr before the trap, so libFuzzer
// keeps the input and the report says what broke.
#pragma once

#include <cstdio>

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__,    \
                   __LINE__, #cond);                                           \
      __builtin_trap();                                                        \
    }                                                                          \
  } while (false)

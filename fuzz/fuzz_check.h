// FUZZ_CHECK: the invariant check of berth's fuzz targets. A broken invariant prints what broke
// and aborts, which libFuzzer reports as a crash and saves the input.
//
// Thread-safety: stateless.
#ifndef BERTH_FUZZ_FUZZ_CHECK_H_
#define BERTH_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(cond, what)                                                              \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                              \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

#endif  // BERTH_FUZZ_FUZZ_CHECK_H_

// Message memory: a large block freed is kept for reuse, not handed back to the OS and
// faulted in again (core/src/message_memory.cpp; a fresh page costs ~10 us on our VMs).
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cstring>

#include "ember/core/detail/message_memory.hpp"

namespace {

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Minor page faults while a fresh block of `bytes` is allocated, written and freed (unused
// where the sanitizers replace the allocator).
[[maybe_unused]] long faults_for(std::size_t bytes) {
  long before = minor_faults();
  void* p = ember::detail::message_alloc(bytes);
  std::memset(p, 1, bytes);
  ember::detail::message_free(p);
  return minor_faults() - before;
}

}  // namespace

TEST_CASE("a freed 64 MiB block is reused without faulting its pages in again") {
#if EMBER_MIMALLOC
  constexpr std::size_t kBytes = 64u << 20;  // 16384 pages of 4 KiB
  faults_for(kBytes);                        // the first touch faults, whatever the pages
  long again = faults_for(kBytes);
  CHECK(again < 1024);
#else
  SUCCEED("sanitizer builds allocate with malloc, which unmaps large blocks on free");
#endif
}

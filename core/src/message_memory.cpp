#include "ember/core/detail/message_memory.hpp"

#include <cstdlib>
#include <new>

#if EMBER_MIMALLOC
#include <mimalloc.h>
#endif

namespace ember::detail {

void* message_alloc(std::size_t bytes) {
#if EMBER_MIMALLOC
  void* p = mi_malloc(bytes);
#else
  void* p = std::malloc(bytes);
#endif
  if (!p) throw std::bad_alloc();
  return p;
}

void message_free(void* p) noexcept {
#if EMBER_MIMALLOC
  mi_free(p);
#else
  std::free(p);
#endif
}

}  // namespace ember::detail

// Memory for what crosses between threads: term heaps and inbox entries. A message is
// made on the sender's worker and freed on the receiver's, so the allocator must take
// frees from foreign threads cheaply; glibc's malloc does not (it locks the sender's
// arena and keeps giving the sender fresh pages), mimalloc does (a lock-free per-page
// free list that the owning thread collects). Sanitizer builds use malloc, so ASan and
// LSan see every message.
#pragma once

#include <cstddef>

namespace ember::detail {

void* message_alloc(std::size_t bytes);  // throws std::bad_alloc
void message_free(void* p) noexcept;

}  // namespace ember::detail

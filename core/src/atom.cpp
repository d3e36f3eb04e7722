// The atom table: lock-free lookups, inserts serialised by one mutex.
#include "ember/core/atom.hpp"

#include <xxhash.h>

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace ember {
namespace {

struct AtomEntry {
  const char* text;
  std::uint32_t length;
  std::uint64_t hash;
};

// Entries live in fixed chunks that never move, so a reader holding an index needs no lock.
// The open-addressing index has twice as many slots as the table has atoms (8 MiB), mapped
// straight from the kernel so that untouched pages cost nothing. Zeroed by the allocator
// (`new T[n]()`, and mimalloc's calloc too) all 8 MiB were resident in every OS process,
// and a killed node took ~1 ms longer to exit, so its peers saw noconnection that much
// later. The slots are plain words used through atomic_ref: mapped bytes are not
// std::atomic objects.
class AtomTable {
 public:
  static constexpr std::uint32_t kChunk = 4096;
  static constexpr std::uint32_t kSlots = 2 * Atom::kMaxAtoms;

  AtomTable() : slots_(map_zeroed(kSlots)) {
    std::uint32_t index = 0;
    insert("", index);
  }

  bool intern(std::string_view text, std::uint32_t& index) {
    std::uint64_t h = XXH3_64bits(text.data(), text.size());
    if (find(text, h, index)) return true;
    std::lock_guard lock(mutex_);
    if (find(text, h, index)) return true;
    return insert(text, index);
  }

  const AtomEntry& entry(std::uint32_t index) const {
    return chunks_[index / kChunk].load(std::memory_order_acquire)[index % kChunk];
  }
  std::uint32_t size() const { return count_.load(std::memory_order_acquire); }

 private:
  bool find(std::string_view text, std::uint64_t h, std::uint32_t& index) const {
    for (std::uint32_t s = std::uint32_t(h) % kSlots;; s = (s + 1) % kSlots) {
      std::uint32_t v = slot(s).load(std::memory_order_acquire);
      if (v == 0) return false;
      const AtomEntry& e = entry(v - 1);
      if (e.hash == h && std::string_view(e.text, e.length) == text) {
        index = v - 1;
        return true;
      }
    }
  }

  // Called with mutex_ held (or from the constructor).
  bool insert(std::string_view text, std::uint32_t& index) {
    std::uint32_t n = count_.load(std::memory_order_relaxed);
    if (n >= Atom::kMaxAtoms) return false;
    if (n % kChunk == 0)
      chunks_[n / kChunk].store(new AtomEntry[kChunk], std::memory_order_release);
    char* copy = new char[text.size() + 1];
    std::memcpy(copy, text.data(), text.size());
    copy[text.size()] = '\0';
    std::uint64_t h = XXH3_64bits(text.data(), text.size());
    chunks_[n / kChunk].load(std::memory_order_relaxed)[n % kChunk] =
        AtomEntry{copy, std::uint32_t(text.size()), h};
    count_.store(n + 1, std::memory_order_release);
    std::uint32_t s = std::uint32_t(h) % kSlots;
    while (slot(s).load(std::memory_order_relaxed) != 0) s = (s + 1) % kSlots;
    slot(s).store(n + 1, std::memory_order_release);
    index = n;
    return true;
  }

  static std::uint32_t* map_zeroed(std::size_t n) {
    void* p = ::mmap(nullptr, n * sizeof(std::uint32_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::uint32_t*>(p);
  }
  std::atomic_ref<std::uint32_t> slot(std::uint32_t s) const {
    return std::atomic_ref<std::uint32_t>(slots_[s]);
  }

  std::mutex mutex_;
  std::atomic<std::uint32_t> count_{0};
  std::uint32_t* slots_;  // kSlots words, never freed: the table outlives every static
  std::atomic<AtomEntry*> chunks_[Atom::kMaxAtoms / kChunk] = {};
};

AtomTable& table() {
  static AtomTable* t = new AtomTable();  // never destroyed: atoms outlive every static
  return *t;
}

}  // namespace

Atom::Atom(std::string_view text) {
  if (text.size() > kMaxLength)
    throw std::length_error("atom longer than 255 characters: " + std::string(text.substr(0, 40)) +
                            "...");
  if (!table().intern(text, index_)) throw std::overflow_error("atom table full (1048576 atoms)");
}

bool Atom::try_intern(std::string_view text, Atom& out) noexcept {
  if (text.size() > kMaxLength) return false;
  std::uint32_t index = 0;
  try {
    if (!table().intern(text, index)) return false;
  } catch (const std::bad_alloc&) {
    return false;
  }
  out = Atom(index, 0);
  return true;
}

std::string_view Atom::text() const {
  const AtomEntry& e = table().entry(index_);
  return {e.text, e.length};
}

std::uint64_t Atom::hash() const {
  return table().entry(index_).hash;
}

std::size_t atom_count() {
  return table().size();
}

namespace atoms {
Atom ok() {
  static const Atom a{"ok"};
  return a;
}
Atom error() {
  static const Atom a{"error"};
  return a;
}
Atom true_() {
  static const Atom a{"true"};
  return a;
}
Atom false_() {
  static const Atom a{"false"};
  return a;
}
Atom undefined() {
  static const Atom a{"undefined"};
  return a;
}
Atom normal() {
  static const Atom a{"normal"};
  return a;
}
Atom nil() {
  static const Atom a{"nil"};
  return a;
}
}  // namespace atoms

}  // namespace ember

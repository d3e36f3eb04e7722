// Pid and Ref: process and reference identities.
#pragma once

#include <compare>
#include <cstdint>

namespace ember {

// A process identity in 61 bits so it fits a Term word unboxed:
//   bits  0..28  slot in the owning node's process table
//   bits 29..44  generation of that slot (a reused slot never answers an old pid)
//   bits 45..60  node index into the process-wide NodeTable
// On the wire the node index becomes the node's name and creation (see NodeTable).
class Pid {
 public:
  static constexpr unsigned kSlotBits = 29, kGenBits = 16, kNodeBits = 16;
  static constexpr std::uint64_t kMaxSlot = (1ull << kSlotBits) - 1;
  static constexpr std::uint64_t kMaxGen = (1ull << kGenBits) - 1;
  static constexpr std::uint64_t kMaxNode = (1ull << kNodeBits) - 1;

  constexpr Pid() = default;
  constexpr Pid(std::uint32_t node, std::uint32_t slot, std::uint32_t generation)
      : bits_((std::uint64_t(node & kMaxNode) << (kSlotBits + kGenBits)) |
              (std::uint64_t(generation & kMaxGen) << kSlotBits) | (slot & kMaxSlot)) {}

  static constexpr Pid from_bits(std::uint64_t bits) {
    Pid p;
    p.bits_ = bits & ((1ull << 61) - 1);
    return p;
  }
  constexpr std::uint64_t bits() const { return bits_; }
  constexpr std::uint32_t node() const { return std::uint32_t(bits_ >> (kSlotBits + kGenBits)); }
  constexpr std::uint32_t slot() const { return std::uint32_t(bits_ & kMaxSlot); }
  constexpr std::uint32_t generation() const {
    return std::uint32_t((bits_ >> kSlotBits) & kMaxGen);
  }
  constexpr bool valid() const { return bits_ != 0; }

  friend constexpr auto operator<=>(Pid, Pid) = default;

 private:
  std::uint64_t bits_ = 0;
};

// A unique reference (make_ref): node index plus a 64-bit number unique on that node.
struct Ref {
  std::uint32_t node = 0;
  std::uint64_t id = 0;
  friend constexpr auto operator<=>(const Ref&, const Ref&) = default;
};

}  // namespace ember

// Parcels: C++ objects handed to a local process alongside a message that names them by
// a ref. A Term cannot carry a closure, yet supervisor:start_child takes a child spec and
// Agent takes functions; the message carries the ref, the object waits here. Process-wide,
// so a parcel only means something to a process of this OS process. Private to core/src.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "ember/core/pid.hpp"

namespace ember::detail {

class Parcels {
 public:
  void put(Ref key, std::shared_ptr<void> object);
  // The object, once: null if it was taken or dropped already.
  std::shared_ptr<void> take(Ref key);

 private:
  std::mutex mutex_;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::shared_ptr<void>> objects_;
};
Parcels& parcels();

// Drops a parcel that nobody took when the sender's scope ends (its call failed, or its
// process was killed while waiting, which destroys the frame holding this).
class ParcelGuard {
 public:
  ParcelGuard(Ref key, std::shared_ptr<void> object) : key_(key) {
    parcels().put(key, std::move(object));
  }
  ~ParcelGuard() { parcels().take(key_); }
  ParcelGuard(const ParcelGuard&) = delete;
  ParcelGuard& operator=(const ParcelGuard&) = delete;

 private:
  Ref key_;
};

}  // namespace ember::detail

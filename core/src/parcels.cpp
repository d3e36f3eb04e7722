#include "parcels.hpp"

namespace ember::detail {

void Parcels::put(Ref key, std::shared_ptr<void> object) {
  std::lock_guard lock(mutex_);
  objects_[{key.node, key.id}] = std::move(object);
}

std::shared_ptr<void> Parcels::take(Ref key) {
  std::lock_guard lock(mutex_);
  auto it = objects_.find({key.node, key.id});
  if (it == objects_.end()) return nullptr;
  std::shared_ptr<void> object = std::move(it->second);
  objects_.erase(it);
  return object;
}

Parcels& parcels() {
  static Parcels* p = new Parcels;  // never destroyed: processes may outlive statics
  return *p;
}

}  // namespace ember::detail

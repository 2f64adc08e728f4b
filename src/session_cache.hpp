// A client's remembered sessions, by the server identity they were verified for (internal).
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace tlsio::detail {

/// A host name as the cache and the resumption check compare it: lower case, without the
/// one trailing dot that marks a fully qualified name ("Example.COM." -> "example.com").
std::string canonical_host_name(std::string_view name);

/// "host:port" with the host in canonical form.
std::string canonical_server_key(std::string_view server);

/// Least-recently-used map from canonical server key to value, safe to share between
/// threads. Values that `usable` rejects are dropped when looked up; values that `once`
/// accepts are removed as they are handed out.
template <class Value> class session_cache {
public:
  explicit session_cache(std::size_t capacity) : capacity_(capacity) {}

  template <class Usable, class Once>
  std::optional<Value> find(std::string_view server, Usable usable, Once once) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(canonical_server_key(server));
    if (it == index_.end())
      return std::nullopt;
    if (!usable(it->second->second)) {
      order_.erase(it->second);
      index_.erase(it);
      return std::nullopt;
    }
    if (once(it->second->second)) {
      Value taken = std::move(it->second->second);
      order_.erase(it->second);
      index_.erase(it);
      return taken;
    }
    order_.splice(order_.begin(), order_, it->second);
    return it->second->second;
  }
  template <class Usable> std::optional<Value> find(std::string_view server, Usable usable) {
    return find(server, usable, [](const Value &) { return false; });
  }

  void insert(std::string_view server, Value value) {
    if (capacity_ == 0)
      return;
    std::lock_guard lock(mutex_);
    auto key = canonical_server_key(server);
    if (auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
    order_.emplace_front(key, std::move(value));
    index_.emplace(std::move(key), order_.begin());
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return order_.size();
  }

private:
  using entry = std::pair<std::string, Value>;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<entry> order_; // most recently used first
  std::map<std::string, typename std::list<entry>::iterator, std::less<>> index_;
};

} // namespace tlsio::detail

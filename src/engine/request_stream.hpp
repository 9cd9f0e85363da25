// The engine's RequestStream: a mutex/condition-variable queue of StreamEvents from the engine
// thread to the request's owner, plus the cancel flag the engine polls at every step.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "awqx/engine.hpp"

namespace awqx::engine {

class Channel final : public RequestStream {
 public:
  explicit Channel(uint64_t id) : id_(id) {}
  bool next(StreamEvent& ev, std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty() || (finished_ && events_.empty()); })) return false;
    if (events_.empty()) return false;  // the done event was already taken
    ev = std::move(events_.front());
    events_.pop_front();
    return true;
  }
  void cancel() override { cancelled_.store(true); }
  uint64_t id() const override { return id_; }

  bool cancelled() const noexcept { return cancelled_.load(); }
  void push(StreamEvent ev) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      finished_ = ev.done;
      events_.push_back(std::move(ev));
    }
    cv_.notify_all();
  }

 private:
  const uint64_t id_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<StreamEvent> events_;
  bool finished_ = false;
};

}  // namespace awqx::engine

// The one-process Comm and the helpers shared by every Comm (include/awqx/comm.hpp).
#include "awqx/comm.hpp"

namespace awqx {
namespace {

class LocalComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<uint8_t> allgather(const void* data, size_t bytes) override {
    const auto* p = static_cast<const uint8_t*>(data);
    return std::vector<uint8_t>(p, p + bytes);
  }
  void broadcast(std::vector<uint8_t>&, int) override {}
};

}  // namespace

Comm& local_comm() {
  static LocalComm c;
  return c;
}

Share share_of(int64_t n, int rank, int size) {
  return {n * rank / size, n * (rank + 1) / size};
}

int first_failed_rank(Comm& c, bool ok) {
  const std::vector<uint8_t> all = allgather_values(c, std::vector<uint8_t>{static_cast<uint8_t>(ok ? 1 : 0)});
  for (size_t r = 0; r < all.size(); ++r)
    if (!all[r]) return static_cast<int>(r);
  return -1;
}

}  // namespace awqx

// Thread side of AMX (process side: src/kernels/amx_state.hpp). A tile configuration is the
// 64-byte ldtilecfg operand: palette 1, then per tile its bytes per row (colsb) and rows.
// Every thread that runs tile instructions loads a config first (TileScope does it at the start
// of each parallel chunk) and releases it after, so no OpenMP worker inherits a stale shape.
#pragma once
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/amx_state.hpp"

namespace awqx::kernels {

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};

  void set(int tile, int rows_, int colsb_) {
    rows[tile] = static_cast<uint8_t>(rows_);
    colsb[tile] = static_cast<uint16_t>(colsb_);
  }
};
static_assert(sizeof(TileConfig) == 64, "ldtilecfg reads exactly 64 bytes");

// RAII: ldtilecfg on construction, tilerelease on destruction. The whole 64-byte config is
// value-initialized and the asm barrier makes the compiler keep every store to it: an
// optimizer that sees only the intrinsic's pointer may drop "unused" bytes (reserved fields
// must be zero or ldtilecfg faults — seen with g++ 12 in another project's AMX code).
class TileScope {
 public:
  explicit TileScope(const TileConfig& cfg) {
    // Normally granted long before (detect_cpu asks on AMX hardware; the registry never picks an
    // AMX kernel without it); this makes a direct call safe too. A cached static after the first.
    (void)amx_permission();
    std::memcpy(&cfg_, &cfg, sizeof cfg_);
    asm volatile("" : : "r"(&cfg_) : "memory");
    _tile_loadconfig(&cfg_);
  }
  ~TileScope() { _tile_release(); }
  TileScope(const TileScope&) = delete;
  TileScope& operator=(const TileScope&) = delete;

 private:
  TileConfig cfg_;
};

}  // namespace awqx::kernels

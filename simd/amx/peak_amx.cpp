// AMX peak probes (src/bench/roofline.cpp): four independent accumulator tiles, each updated by
// one tile multiply per iteration from A/B tiles loaded once. tdpbusd: 16×16 outputs × 64 int8
// MACs = 32768 ops; tdpbf16ps: 16×16 × 32 bf16 MACs = 16384 FLOP (a MAC counts 2, as in GEMMs).
// Four chains cover the tile unit's latency (one multiply issues every 16 cycles per core).
#include <immintrin.h>

#include "amx/amx_tiles.hpp"
#include "bench/peak_probes.hpp"

namespace awqx::bench {
namespace {

kernels::TileConfig square_tiles() {
  kernels::TileConfig c;
  for (int t = 0; t < 8; ++t) c.set(t, 16, 64);
  return c;
}

alignas(64) const uint8_t kZeros[16 * 64] = {};  // zero tiles: the unit's speed is data-independent

}  // namespace

namespace {

// Runs `iters` iterations of four_products (one multiply into each of C tiles 0..3), returns ops.
template <class Products>
double tile_loop(int64_t iters, Products four_products, double ops_per_iter) {
  kernels::TileScope on(square_tiles());
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, kZeros, 64);
  _tile_loadd(5, kZeros, 64);
  _tile_loadd(6, kZeros, 64);
  _tile_loadd(7, kZeros, 64);
  for (int64_t i = 0; i < iters; ++i) four_products();
  alignas(64) int32_t sink[16 * 16];
  _tile_stored(0, sink, 64);
  asm volatile("" : : "r"(sink) : "memory");
  return double(iters) * ops_per_iter;
}

}  // namespace

double amx_int8_loop(int64_t iters) {
  return tile_loop(iters, [] {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  }, 4.0 * 16 * 16 * 64 * 2);
}

double amx_bf16_loop(int64_t iters) {
  return tile_loop(iters, [] {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }, 4.0 * 16 * 16 * 32 * 2);
}

}  // namespace awqx::bench

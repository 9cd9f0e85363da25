// QuantizeOptions checks (src/quant/quantize_options.hpp).
#include "quant/quantize_options.hpp"

#include <string>

#include <fmt/format.h>

#include "awqx/cpu.hpp"
#include "awqx/error.hpp"

namespace awqx::quant {

void validate_options(const QuantizeOptions& o) {
  auto bad = [](const char* flag, const std::string& exp, const std::string& found) {
    throw Error::mismatch(ErrorCode::invalid_argument, "", flag, exp, found);
  };
  if (o.method != "awq" && o.method != "rtn") bad("--method", "awq or rtn", o.method);
  if (o.w_bit != 4) bad("--w-bit", "4", std::to_string(o.w_bit));
  if (o.q_group_size != -1 && o.q_group_size < 2) bad("--group-size", "-1 or a positive even size", std::to_string(o.q_group_size));
  if (o.version != "gemm" && o.version != "gemv") bad("--version", "gemm or gemv", o.version);
  if (o.n_grid < 1 || o.n_grid > 1000) bad("--n-grid", "1..1000", std::to_string(o.n_grid));
  if (o.max_calib_samples < 1) bad("--max-calib-samples", ">= 1", std::to_string(o.max_calib_samples));
  if (o.max_calib_seq_len < 2 || o.max_calib_seq_len > (1 << 20))
    bad("--max-calib-seq-len", "2..1048576", std::to_string(o.max_calib_seq_len));
  if (o.shard_size < 1024) bad("--shard-size", ">= 1KB", std::to_string(o.shard_size));
  if (!o.autoawq_compat && !(o.check_fraction > 0.0 && o.check_fraction < 1.0))
    bad("--check-fraction", "a fraction strictly between 0 and 1", fmt::format("{}", o.check_fraction));
  if (o.autoawq_compat && o.sequential_inputs)
    bad("--sequential-inputs", "off with --autoawq-compat (AutoAWQ calibrates on FP inputs)", "on");
  if (o.search_precision != "auto" && o.search_precision != "fp32" && o.search_precision != "bf16")
    bad("--search-precision", "auto, fp32 or bf16", o.search_precision);
  if (o.autoawq_compat && o.search_precision == "bf16")
    bad("--search-precision", "fp32 or auto with --autoawq-compat (its output is byte-identical to the fp32 search)",
        "bf16");
  const CpuInfo& cpu = cpu_info();
  if (o.search_precision == "bf16" && !(cpu.avx512bf16 && cpu.has(Isa::avx512)) && !cpu.amx_bf16)
    throw Error(ErrorCode::unsupported_hardware, "", "--search-precision",
                "bf16 needs AVX512-BF16 or AMX-BF16 (this CPU has neither); use fp32");
}

// "auto": bf16 where a bf16 matrix unit is there (AMX tiles or AVX512-BF16), except under
// --autoawq-compat (byte-identical fp32 search); validate() has rejected impossible requests.
MatPrecision search_precision(const QuantizeOptions& o) {
  if (o.search_precision == "fp32" || (o.search_precision == "auto" && o.autoawq_compat))
    return MatPrecision::fp32;
  if (o.search_precision == "bf16") return MatPrecision::bf16;
  const CpuInfo& cpu = cpu_info();
  return (cpu.avx512bf16 && cpu.has(Isa::avx512)) || (cpu.amx_bf16 && cpu.has(Isa::amx)) ? MatPrecision::bf16
                                                                                            : MatPrecision::fp32;
}

}  // namespace awqx::quant

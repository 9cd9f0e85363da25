// QuantizeOptions checks and the settings derived from them (include/awqx/quantize.hpp).
#pragma once
#include "awqx/quantize.hpp"
#include "quant/awq.hpp"

namespace awqx::quant {

// Throws Error{invalid_argument} naming the flag of the first bad option, or
// Error{unsupported_hardware} for a precision this CPU cannot run.
void validate_options(const QuantizeOptions& o);

// The search's matmul precision for o.search_precision (validated).
MatPrecision search_precision(const QuantizeOptions& o);

}  // namespace awqx::quant

// awqx::Error — the one exception type the library throws.
// Rendered as one line: "<file>: <field>: expected <x>, found <y>" so the CLI can print it
// verbatim and exit with a code per ErrorCode. Kernels never throw; parsers throw on bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace awqx {

enum class ErrorCode {
  io = 1,                // missing file, read/write failure, disk full
  format,                // malformed file contents (header, JSON, offsets)
  shape,                 // tensor shape disagrees with config / group size
  dtype,                 // unexpected or unsupported dtype
  unsupported_model,     // unknown architecture / model_type
  unsupported_hardware,  // forced kernel/device not available here
  invalid_argument,      // bad flag or option value
  internal,              // broken invariant (a bug in awqx)
};

const char* error_code_name(ErrorCode c) noexcept;

class Error : public std::runtime_error {
 public:
  // file: the file (or "" if none); field: tensor name / JSON key / flag; message: what is wrong.
  Error(ErrorCode code, std::string file, std::string field, std::string message);
  // Convenience: "expected E, found F".
  static Error mismatch(ErrorCode code, std::string file, std::string field, const std::string& expected,
                        const std::string& found);

  ErrorCode code() const noexcept { return code_; }
  const std::string& file() const noexcept { return file_; }
  const std::string& field() const noexcept { return field_; }
  const std::string& message() const noexcept { return message_; }
  // Process exit code the CLI uses for this error (2..9; 1 is reserved for unknown failures).
  int exit_code() const noexcept { return 1 + static_cast<int>(code_); }

 private:
  ErrorCode code_;
  std::string file_, field_, message_;
};

[[noreturn]] void throw_internal(const char* cond, const char* file, int line);

}  // namespace awqx

// Internal invariants only (never user data): throws Error{internal} with file:line.
#define AWQX_CHECK(cond)                                              \
  do {                                                                \
    if (!(cond)) ::awqx::throw_internal(#cond, __FILE__, __LINE__);   \
  } while (0)

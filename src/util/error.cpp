#include "awqx/error.hpp"

namespace awqx {
namespace {
std::string render(const std::string& file, const std::string& field, const std::string& message) {
  std::string s;
  if (!file.empty()) s += file + ": ";
  if (!field.empty()) s += "'" + field + "': ";
  s += message;
  // One line, always: a message built from file contents must not break the CLI's output.
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}
}  // namespace

const char* error_code_name(ErrorCode c) noexcept {
  switch (c) {
    case ErrorCode::io: return "io";
    case ErrorCode::format: return "format";
    case ErrorCode::shape: return "shape";
    case ErrorCode::dtype: return "dtype";
    case ErrorCode::unsupported_model: return "unsupported_model";
    case ErrorCode::unsupported_hardware: return "unsupported_hardware";
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

Error::Error(ErrorCode code, std::string file, std::string field, std::string message)
    : std::runtime_error(render(file, field, message)),
      code_(code),
      file_(std::move(file)),
      field_(std::move(field)),
      message_(std::move(message)) {}

Error Error::mismatch(ErrorCode code, std::string file, std::string field, const std::string& expected,
                      const std::string& found) {
  return Error(code, std::move(file), std::move(field), "expected " + expected + ", found " + found);
}

void throw_internal(const char* cond, const char* file, int line) {
  throw Error(ErrorCode::internal, file, "", std::string("internal check failed: ") + cond + " (line " +
                                                 std::to_string(line) + ")");
}

}  // namespace awqx

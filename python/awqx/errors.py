"""awqx.Error hierarchy: one class per C++ awqx::ErrorCode, with the same one-line message.

Every exception the C++ core raises is an instance of one of these; ``.code`` is the ErrorCode
name, ``.file`` and ``.field`` the file and tensor/key/option it names ("" when none).
"""


class Error(Exception):
    """Base class of every error awqx raises."""

    code = "internal"
    file = ""
    field = ""


class IoError(Error, OSError):
    """A file is missing, unreadable or unwritable (disk full...)."""


class FormatError(Error, ValueError):
    """Malformed file contents (header, JSON, offsets)."""


class ShapeError(Error, ValueError):
    """A tensor's shape disagrees with the config or the group size."""


class DTypeError(Error, TypeError):
    """Unexpected or unsupported dtype."""


class UnsupportedModelError(Error, NotImplementedError):
    """Unknown architecture / model_type."""


class UnsupportedHardwareError(Error, RuntimeError):
    """A forced kernel or device is not available on this machine."""


class InvalidArgumentError(Error, ValueError):
    """A bad option value."""


class InternalError(Error, RuntimeError):
    """A broken invariant: a bug in awqx."""


_BY_CODE = {
    "io": IoError,
    "format": FormatError,
    "shape": ShapeError,
    "dtype": DTypeError,
    "unsupported_model": UnsupportedModelError,
    "unsupported_hardware": UnsupportedHardwareError,
    "invalid_argument": InvalidArgumentError,
    "internal": InternalError,
}


def error_class(code):
    """The class for a C++ ErrorCode name (used by the extension's exception translator)."""
    return _BY_CODE.get(code, Error)

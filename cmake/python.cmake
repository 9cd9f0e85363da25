# Python module `awqx` (python/): the pybind11 extension awqx._awqx over the static library plus
# the pure-Python package. Built into <build>/python/awqx so PYTHONPATH=<build>/python imports it;
# installed by `pip install --no-build-isolation .` (setup.py drives this CMake target) or by
# `cmake --install` into AWQX_PYTHON_INSTALL_DIR. Off in sanitizer/fuzz trees (an extension
# loaded by a plain interpreter cannot carry ASan's runtime).
set(AWQX_PYTHON_DEFAULT OFF)
if(NOT AWQX_SANITIZE AND NOT AWQX_FUZZ)
  # Debian's pybind11 and numpy belong to the system interpreter; a pyenv/venv python earlier in
  # PATH would lack them. -DPython3_EXECUTABLE=... still overrides this.
  if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
    set(Python3_EXECUTABLE /usr/bin/python3)
  endif()
  find_package(Python3 COMPONENTS Interpreter Development.Module QUIET)
  if(Python3_FOUND)
    find_package(pybind11 CONFIG QUIET)
    if(pybind11_FOUND)
      set(AWQX_PYTHON_DEFAULT ON)
    endif()
  endif()
endif()
option(AWQX_PYTHON "Build the Python module awqx (needs pybind11)" ${AWQX_PYTHON_DEFAULT})
if(NOT AWQX_PYTHON)
  return()
endif()
if(NOT pybind11_FOUND)
  message(FATAL_ERROR "AWQX_PYTHON=ON needs pybind11 (Debian: python3-pybind11) and Python 3 headers (python3-dev)")
endif()

file(GLOB AWQX_PY_EXT_SRC CONFIGURE_DEPENDS python/ext/*.cpp)
# NO_EXTRAS: no LTO link step (it serializes a slow link in CI for no measurable gain here).
pybind11_add_module(_awqx MODULE NO_EXTRAS ${AWQX_PY_EXT_SRC})
target_include_directories(_awqx PRIVATE src)
target_link_libraries(_awqx PRIVATE awqx)
set_target_properties(_awqx PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/python/awqx)
file(GLOB AWQX_PY_FILES CONFIGURE_DEPENDS python/awqx/*.py)
add_custom_target(awqx_python_files ALL
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/python/awqx
  COMMAND ${CMAKE_COMMAND} -E copy_if_different ${AWQX_PY_FILES} ${CMAKE_BINARY_DIR}/python/awqx/
  DEPENDS ${AWQX_PY_FILES} COMMENT "python package files -> ${CMAKE_BINARY_DIR}/python/awqx")
add_dependencies(_awqx awqx_python_files)

set(AWQX_PYTHON_INSTALL_DIR "lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/dist-packages"
  CACHE STRING "where cmake --install puts the awqx package (relative to the prefix)")
install(TARGETS _awqx LIBRARY DESTINATION ${AWQX_PYTHON_INSTALL_DIR}/awqx)
install(FILES ${AWQX_PY_FILES} DESTINATION ${AWQX_PYTHON_INSTALL_DIR}/awqx)

if(AWQX_BUILD_TESTS)
  add_test(NAME python_tests COMMAND ${Python3_EXECUTABLE} -m pytest -q -p no:cacheprovider
    ${CMAKE_SOURCE_DIR}/tests/python)
  set_tests_properties(python_tests PROPERTIES TIMEOUT 900 ENVIRONMENT
    "PYTHONPATH=${CMAKE_BINARY_DIR}/python;AWQX_CLI=$<TARGET_FILE:awqx_cli>;AWQX_SOURCE_DIR=${CMAKE_SOURCE_DIR};AWQX_BUILD_DIR=${CMAKE_BINARY_DIR}")
endif()

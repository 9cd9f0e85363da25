"""pip install --no-build-isolation .  (the supported way to install the awqx Python module).

Builds the extension with CMake (target _awqx; Debian's python3-pybind11, no downloads) in
$AWQX_BUILD_DIR (default build-pip/) and installs the package python/awqx with it. Setting
AWQX_BUILD_DIR to an existing configured tree (e.g. build/) reuses its objects.
"""
import os
import re
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(ROOT, "build-pip"), exist_ok=True)  # setup.cfg's egg_base must exist


def version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(awqx VERSION ([0-9.]+)", f.read()).group(1)


class CMakeBuildPy(build_py):
    """Copies python/awqx and the CMake-built _awqx*.so into the wheel's awqx/."""

    def run(self):
        super().run()
        build = os.environ.get("AWQX_BUILD_DIR") or os.path.join(ROOT, "build-pip")
        if not os.path.isfile(os.path.join(build, "CMakeCache.txt")):
            subprocess.check_call(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                                   "-DAWQX_BUILD_TESTS=OFF", "-DAWQX_BUILD_BENCH=OFF", "-DAWQX_PYTHON=ON",
                                   "-DPython3_EXECUTABLE=" + sys.executable])
        jobs = os.environ.get("JOBS", "2")
        subprocess.check_call(["cmake", "--build", build, "--target", "_awqx", "-j", jobs])
        ext_dir = os.path.join(build, "python", "awqx")
        exts = [f for f in os.listdir(ext_dir) if f.startswith("_awqx") and f.endswith(".so")]
        if not exts:
            raise RuntimeError("%s: no _awqx*.so after the build" % ext_dir)
        dest = os.path.join(self.build_lib, "awqx")
        os.makedirs(dest, exist_ok=True)
        for f in exts:
            shutil.copy2(os.path.join(ext_dir, f), os.path.join(dest, f))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # a platform wheel: it carries a compiled extension
        return True


setup(
    name="awqx",
    version=version(),
    description="AWQ int4 quantization and CPU inference for Llama-family models",
    packages=["awqx"],
    package_dir={"awqx": "python/awqx"},
    python_requires=">=3.9",
    install_requires=["numpy"],
    cmdclass={"build_py": CMakeBuildPy},
    distclass=BinaryDistribution,
)

"""Builds the Python package: `pip install .` (README.md, "From Python").

setuptools drives CMake: build_ext configures this tree with the Python package
on and the tests and benchmarks off, builds the one target deltacodec_python
(the library and deltacodec._deltacodec) and copies the extension into the
package; the pure-Python part is python/deltacodec/. Offline on Debian 12 it
needs python3-setuptools, python3-wheel, python3-pip, pybind11-dev, cmake and
the library's -dev packages, and pip's --no-build-isolation (pip would
otherwise fetch setuptools from PyPI). CMAKE_ARGS adds configure arguments
(e.g. -DCMAKE_CXX_COMPILER_LAUNCHER=ccache); CMAKE_BUILD_PARALLEL_LEVEL sets
the build's jobs (default: every core).
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
# setuptools' own build and metadata folders, out of the source tree's way
# (build/ is also where `make build` puts the CMake build).
BUILD_BASE = os.path.join("build", "python-pip")


def version():
    """The project version: kVersion in the public header (the one place it is set; CMake reads it too)."""
    header = os.path.join(ROOT, "include", "deltacodec", "deltacodec.hpp")
    with open(header, encoding="utf-8") as f:
        m = re.search(r'kVersion = "([0-9]+\.[0-9]+\.[0-9]+)"', f.read())
    if not m:
        raise RuntimeError(header + ": no kVersion")
    return m.group(1)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
        args = [
            "-DCMAKE_BUILD_TYPE=" + ("Debug" if self.debug else "Release"),
            "-DDELTACODEC_PYTHON=ON",
            "-DDELTACODEC_PYTHON_REQUIRED=ON",
            "-DDELTACODEC_TESTS=OFF",
            "-DDELTACODEC_BENCH=OFF",
            "-DPYTHON_EXECUTABLE=" + sys.executable,
        ]
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.run(["cmake", "-S", ROOT, "-B", build, *args], check=True)
        jobs = [] if "CMAKE_BUILD_PARALLEL_LEVEL" in os.environ else ["-j", str(os.cpu_count() or 1)]
        subprocess.run(["cmake", "--build", build, "--target", "deltacodec_python", *jobs], check=True)
        built = glob.glob(os.path.join(build, "python", "deltacodec", "_deltacodec*.so"))
        if len(built) != 1:
            raise RuntimeError("the CMake build made no single deltacodec/_deltacodec*.so: %r" % built)
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(built[0], dest)


os.makedirs(os.path.join(ROOT, BUILD_BASE), exist_ok=True)
setup(
    version=version(),
    packages=["deltacodec"],
    package_dir={"": "python"},
    package_data={"deltacodec": ["py.typed", "__init__.pyi"]},
    ext_modules=[CMakeExtension("deltacodec._deltacodec")],
    cmdclass={"build_ext": CMakeBuild},
    options={"build": {"build_base": BUILD_BASE}, "egg_info": {"egg_base": BUILD_BASE}},
    zip_safe=False,
)

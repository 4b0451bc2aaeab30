#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Build the vexdb Python package: `pip install ./python` (offline).

The extension module compiles the library's own C sources (the list is
read from the top-level CMakeLists.txt, so there is one list) together
with python/src/_vexdb.c, which uses only include/vexdb.h. The SIMD
kernels keep their per-file flags, as in CMake: simd_avx2.c and
simd_avx512.c are compiled on their own with their ISA flags, and the
dispatcher learns which were built from VEX_HAVE_X86_KERNELS /
VEX_HAVE_NEON_KERNELS. zstd is used when its header and library are found.

No pyproject.toml on purpose: with one, pip builds in an isolated
environment and downloads setuptools; without one it uses Debian's
python3-setuptools and python3-wheel, so the install works offline.
"""
import os
import platform
import re
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.environ.get("VEXDB_SOURCE_DIR", os.path.dirname(HERE))


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def version():
    m = re.search(r'#define VEX_VERSION_STRING "([^"]+)"', read("include/vexdb.h"))
    if not m:
        sys.exit("setup.py: no VEX_VERSION_STRING in include/vexdb.h")
    return m.group(1)


ARCH = platform.machine().lower()
X86 = ARCH in ("x86_64", "amd64")
ARM64 = ARCH in ("aarch64", "arm64")
# Per-file ISA flags: the same as the top-level CMakeLists.txt.
ISA_FLAGS = {
    "src/simd/simd_avx2.c": ["-mavx2", "-mfma", "-mf16c", "-mpopcnt"],
    "src/simd/simd_avx512.c": ["-mavx512f", "-mavx512bw", "-mavx512dq",
                               "-mavx512vl", "-mavx512vnni",
                               "-mavx512vpopcntdq", "-mavx2", "-mfma",
                               "-mf16c", "-mpopcnt"],
    "src/simd/simd_neon.c": [],
}


def library_sources():
    """Every src/*.c the CMake build lists, minus the ISA-specific files,
    which build_extension adds for this architecture."""
    found = re.findall(r"\bsrc/[A-Za-z0-9_/]+\.c\b", read("CMakeLists.txt"))
    seen, out = set(), []
    for s in found:
        if s not in seen and s not in ISA_FLAGS and s != "src/simd/simd_dispatch.c":
            seen.add(s)
            out.append(s)
    if len(out) < 20:
        sys.exit("setup.py: could not read the source list from CMakeLists.txt")
    return out


class BuildExt(build_ext):
    """Compiles the few files that need their own flags, then the rest."""

    def finalize_options(self):
        super().finalize_options()
        if self.parallel is None:
            self.parallel = os.cpu_count() or 1

    def build_extension(self, ext):
        import numpy

        ext.include_dirs.append(numpy.get_include())
        if self._have_zstd():
            ext.define_macros.append(("VEX_HAVE_ZSTD", "1"))
            ext.libraries.append("zstd")
        special = []
        dispatch_macros = []
        if X86:
            special += ["src/simd/simd_avx2.c", "src/simd/simd_avx512.c"]
            dispatch_macros.append(("VEX_HAVE_X86_KERNELS", "1"))
        elif ARM64:
            special += ["src/simd/simd_neon.c"]
            dispatch_macros.append(("VEX_HAVE_NEON_KERNELS", "1"))
        objects = []
        for src, flags, macros in (
            [(s, ISA_FLAGS[s], []) for s in special]
            + [("src/simd/simd_dispatch.c", [], dispatch_macros)]
        ):
            objects += self.compiler.compile(
                [os.path.join(ROOT, src)], output_dir=self.build_temp,
                macros=ext.define_macros + macros,
                include_dirs=ext.include_dirs,
                extra_postargs=ext.extra_compile_args + flags)
        ext.extra_objects = objects + list(ext.extra_objects or [])
        super().build_extension(ext)

    def _have_zstd(self):
        """Whether zstd.h and libzstd compile and link here."""
        if os.environ.get("VEXDB_NO_ZSTD"):
            return False
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "zstd_probe.c")
            with open(src, "w") as f:
                f.write("#include <zstd.h>\n"
                        "int main(void) { return (int)ZSTD_versionNumber() < 0; }\n")
            try:
                objs = self.compiler.compile([src], output_dir=tmp)
                self.compiler.link_executable(objs, "zstd_probe", output_dir=tmp,
                                              libraries=["zstd"])
            except Exception:  # CompileError / LinkError: build without
                return False
        return True


ext = Extension(
    "vexdb._vexdb",
    sources=[os.path.join(HERE, "src", "_vexdb.c")]
    + [os.path.join(ROOT, s) for s in library_sources()],
    include_dirs=[os.path.join(ROOT, "include"), os.path.join(ROOT, "src")],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-O2", "-fvisibility=hidden"],
    libraries=["m"],
    extra_link_args=["-pthread"],
)

setup(
    name="vexdb",
    version=version(),
    description="VexDB, the embeddable vector database, from Python with numpy",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    install_requires=["numpy"],
    packages=["vexdb"],
    package_dir={"vexdb": os.path.join("vexdb")},
    package_data={"vexdb": ["py.typed", "*.pyi"]},
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExt},
    zip_safe=False,
)

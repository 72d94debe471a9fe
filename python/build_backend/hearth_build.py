"""PEP 517 backend for Hearth's Python package: builds the extension module with the project's CMake build and
packs it with the package's Python files into a wheel. Standard library only, so that pip needs no network.

The module is built in the checkout's main tree (build/) when that tree was configured for a Python with the
same ABI (scripts/setup does that), else in build/python-SOABI for this interpreter; HEARTH_BUILD_DIR names
another tree.
"""

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

NAME = "hearth"
VERSION = "0.1.0"
PACKAGE = Path(__file__).resolve().parent.parent  # python/
ROOT = PACKAGE.parent                              # the checkout


def get_requires_for_build_wheel(config_settings=None):
    return []


def _tag():
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{python}-{python}-{platform}"


def _build_tree():
    soabi = sysconfig.get_config_var("SOABI")
    if os.environ.get("HEARTH_BUILD_DIR"):
        return Path(os.environ["HEARTH_BUILD_DIR"]).resolve(), False
    main = ROOT / "build"
    cache = main / "CMakeCache.txt"
    if cache.exists() and f"HEARTH_PYTHON_SOABI:INTERNAL={soabi}\n" in cache.read_text(errors="replace"):
        return main, True
    return main / f"python-{soabi}", False


def _run(command):
    print("hearth_build:", " ".join(str(c) for c in command), file=sys.stderr, flush=True)
    subprocess.run([str(c) for c in command], check=True, stdout=sys.stderr)


def _build_module():
    if not (ROOT / "CMakeLists.txt").exists():
        raise RuntimeError(f"{ROOT} is not a Hearth checkout: build the package from python/ inside one "
                           "(pip install ./python from the project root)")
    tree, configured = _build_tree()
    if not configured and not (tree / "CMakeCache.txt").exists():
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        _run(["cmake", "-S", ROOT, "-B", tree, *generator, "-DCMAKE_BUILD_TYPE=Release", "-DHEARTH_TESTS=OFF",
              "-DHEARTH_BENCH=OFF", "-DHEARTH_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}"])
    _run(["cmake", "--build", tree, "--target", "hearth_python", "--parallel", str(os.cpu_count() or 1)])
    modules = sorted((tree / "python" / NAME).glob("_hearth*.so"))
    if not modules:
        raise RuntimeError(f"the build left no extension module in {tree / 'python' / NAME}")
    return modules[0]


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    module = _build_module()
    files = {f"{NAME}/{p.name}": p.read_bytes() for p in sorted((PACKAGE / NAME).iterdir())
             if p.is_file() and (p.suffix == ".py" or p.name == "py.typed")}
    files[f"{NAME}/{module.name}"] = module.read_bytes()
    dist_info = f"{NAME}-{VERSION}.dist-info"
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n"
        "Summary: Run GGUF language models locally: a drop-in for llama-cpp-python's Llama\n"
        "License: MIT\nRequires-Python: >=3.9\n").encode()
    files[f"{dist_info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: hearth_build\nRoot-Is-Purelib: false\n"
                                   f"Tag: {_tag()}\n").encode()
    files[f"{dist_info}/top_level.txt"] = f"{NAME}\n".encode()
    record = [_record_line(name, data) for name, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel_name = f"{NAME}-{VERSION}-{_tag()}.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return wheel_name

# lit configuration for Tessel's IR tests.
import os

import lit.formats

config.name = "Tessel"
config.test_format = lit.formats.ShTest(not lit.util.which("bash") is None)
config.suffixes = [".mlir"]
config.test_source_root = os.path.dirname(__file__)
config.tessel_source_dir = os.path.dirname(os.path.dirname(config.test_source_root))
# ctest passes these; by hand: lit --param tessel_binary_dir=build tests/lit
config.tessel_binary_dir = os.path.abspath(
    lit_config.params.get("tessel_binary_dir", os.path.join(config.tessel_source_dir, "build")))
config.llvm_tools_dir = lit_config.params.get("llvm_tools_dir", "/usr/lib/llvm-22/bin")
config.test_exec_root = os.path.join(config.tessel_binary_dir, "tests", "lit")
config.excludes = ["lit.cfg.py"]

# Tools under test come from the build tree; FileCheck and not from LLVM 22.
config.environment["PATH"] = os.pathsep.join(
    [os.path.join(config.tessel_binary_dir, "bin"), config.llvm_tools_dir,
     config.environment.get("PATH", os.environ.get("PATH", ""))])
config.substitutions.append(("%examples", os.path.join(config.tessel_source_dir, "examples")))

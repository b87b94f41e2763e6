# Sourced by the tests/llamacpp/check_*.sh scripts (bash): makes llama.cpp
# (node-llama-cpp's pinned prebuilt CPU build) usable, or exits.
#
#   source "$HERE/llamacpp_env.sh"      # needs HERE = tests/llamacpp
#
# Defines skip (exit 77: ctest "skipped") and die (exit 1). Skips when
# Node.js >= 20 or npm is missing or the platform is not linux-x64 (the only
# prebuilt binary the lock pins); installs tests/llamacpp/node_modules with
# `npm ci` (no install scripts, nothing but the npm registry) when it is
# missing or holds another version. Sets NLC_VERSION.

NLC_VERSION=3.22.1

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "FAIL: $*"; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null ||
  skip "Node.js and npm are needed for the llama.cpp reference (apt-get install nodejs npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || skip "node-llama-cpp $NLC_VERSION needs Node.js >= 20, found $(node --version)"
[[ "$(node -p 'process.platform + "-" + process.arch')" == linux-x64 ]] ||
  skip "the pinned llama.cpp prebuilt binary (@node-llama-cpp/linux-x64) is for linux-x64 only"

# node_modules: install exactly what package-lock.json pins when missing or stale.
llamacpp_installed() {
  node -e '
    const v = (p) => { try { return require(p).version; } catch { return null; } };
    const want = process.argv[1];
    process.exit(v(process.argv[2] + "/node-llama-cpp/package.json") === want &&
                 v(process.argv[2] + "/@node-llama-cpp/linux-x64/package.json") === want ? 0 : 1);
  ' "$NLC_VERSION" "$HERE/node_modules"
}
if ! llamacpp_installed; then
  echo "installing node-llama-cpp $NLC_VERSION into $HERE/node_modules (npm ci)"
  # No install scripts: node-llama-cpp's postinstall would look for (and maybe
  # try to build or download) a GPU build; the prebuilt CPU binary needs none.
  NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --prefix "$HERE" --ignore-scripts --no-audit --no-fund ||
    die "npm ci --prefix $HERE failed (is the npm registry reachable?)"
  llamacpp_installed || die "npm ci did not install node-llama-cpp $NLC_VERSION and @node-llama-cpp/linux-x64"
fi

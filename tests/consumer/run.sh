#!/usr/bin/env bash
# ctest `consumer_package`: uses this build as another project would.
#  1. `cmake --install BUILD --prefix WORK/prefix`, and checks what landed there;
#  2. each installed public header compiles on its own (C++17) against that prefix alone;
#  3. tests/consumer built with find_package(deltacodec CONFIG REQUIRED) against the prefix, run;
#  4. the same main.cpp built by a plain compiler command with `pkg-config --cflags --libs
#     deltacodec` (PKG_CONFIG_PATH=the prefix's pkgconfig), run;
#  5. the C++ examples of docs/API.md (```cpp blocks whose first line is `// example: NAME.cpp`)
#     built the same way; those with a main() run on the same pair;
#  6. tests/consumer configured with deltacodec as an add_subdirectory() subproject: only the
#     library target may exist and deltacodec::deltacodec is its alias (its CMakeLists.txt
#     checks). Building it compiles the whole library again (~1.5 CPU-minutes), so that part
#     runs only with CONSUMER_BUILD_SUBPROJECT=1.
# usage: run.sh BUILD_DIR SOURCE_DIR WORK_DIR   (env: CMAKE, CXX, CXX_LAUNCHER; from ctest)
set -euo pipefail
build=$1 src=$2 work=$3
cmake=${CMAKE:-cmake}
cxx=${CXX:-c++}
launcher=${CXX_LAUNCHER:-}
base=$src/tests/data/golden/tiny_base.safetensors
ft=$src/tests/data/golden/tiny_ft.safetensors
prefix=$work/prefix
rm -rf "$work"
mkdir -p "$work"
say() { echo "consumer_package: $*"; }
die() { echo "consumer_package: FAILED: $*" >&2; exit 1; }
cmake_args=(-DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=$cxx")
[ -n "$launcher" ] && cmake_args+=("-DCMAKE_CXX_COMPILER_LAUNCHER=$launcher")

say "1. cmake --install into $prefix"
"$cmake" --install "$build" --prefix "$prefix" >"$work/install.log"
for f in bin/deltacodec include/deltacodec/deltacodec.hpp include/deltacodec/error.hpp \
         include/deltacodec/options.hpp include/deltacodec/types.hpp; do
  [ -f "$prefix/$f" ] || die "$f was not installed"
done
lib=$(find "$prefix" -name libdeltacodec.a)
pc=$(find "$prefix" -name deltacodec.pc)
config=$(find "$prefix" -name deltacodecConfig.cmake)
[ -n "$lib" ] || die "libdeltacodec.a was not installed"
[ -n "$pc" ] || die "deltacodec.pc was not installed"
[ -n "$config" ] || die "deltacodecConfig.cmake was not installed"
[ -f "$(dirname "$config")/deltacodecConfigVersion.cmake" ] || die "deltacodecConfigVersion.cmake was not installed"
"$prefix/bin/deltacodec" --help >/dev/null || die "the installed CLI does not run"

say "2. each public header compiles alone against the prefix"
for h in "$prefix"/include/deltacodec/*.hpp; do
  # Public headers include the standard library and each other only, never src/.
  if grep -E '^\s*#\s*include' "$h" | grep -vE '^#include (<[a-z_]+>|[<"]deltacodec/[a-z_]+\.hpp[>"])$'; then
    die "$h includes a header that is neither standard nor a public deltacodec header"
  fi
  echo "#include <deltacodec/$(basename "$h")>" |
    "$cxx" -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ - -I"$prefix/include" ||
    die "$h does not compile on its own"
done

say "3. find_package(deltacodec) against the prefix"
"$cmake" -S "$src/tests/consumer" -B "$work/cmake" "${cmake_args[@]}" "-DCMAKE_PREFIX_PATH=$prefix" \
  >"$work/cmake-configure.log" || { cat "$work/cmake-configure.log"; die "configure with find_package"; }
grep -F "found in $prefix/" "$work/cmake-configure.log" || die "find_package did not find the prefix's package"
"$cmake" --build "$work/cmake" >"$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; die "build with find_package"; }
mkdir -p "$work/run-cmake"
"$work/cmake/consumer" "$base" "$ft" "$work/run-cmake"

say "4. pkg-config --cflags --libs deltacodec"
export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$(pkg-config --variable=prefix deltacodec)" = "$prefix" ] || die "deltacodec.pc's prefix is not $prefix"
version=$(pkg-config --modversion deltacodec)
flags=$(pkg-config --cflags --libs deltacodec)
echo "  $cxx -std=c++17 main.cpp $flags"
"$cxx" -std=c++17 -Wall -Wextra "-DDELTACODEC_EXPECTED_VERSION=\"$version\"" "$src/tests/consumer/main.cpp" \
  $flags -o "$work/consumer-pc"
mkdir -p "$work/run-pc"
"$work/consumer-pc" "$base" "$ft" "$work/run-pc"

say "5. the examples of docs/API.md"
mkdir -p "$work/api"
awk -v dir="$work/api" '
  /^```cpp$/ { inblock = 1; name = ""; next }
  /^```$/ { if (name != "") close(dir "/" name); inblock = 0; next }
  inblock && name == "" { if ($0 ~ /^\/\/ example: [a-z_]+\.cpp/) name = $3; else { inblock = 0; next } }
  inblock { print > (dir "/" name) }
' "$src/docs/API.md"
for f in compress.cpp apply.cpp options.cpp; do [ -f "$work/api/$f" ] || die "docs/API.md has no example $f"; done
for f in "$work/api"/*.cpp; do
  if grep -q '^int main' "$f"; then
    "$cxx" -std=c++17 -Wall -Wextra -Werror "$f" $flags -o "${f%.cpp}" || die "docs/API.md: $(basename "$f") does not build"
  else
    "$cxx" -std=c++17 -Wall -Wextra -Werror -c "$f" $flags -o "${f%.cpp}.o" || die "docs/API.md: $(basename "$f") does not compile"
  fi
done
"$work/api/compress" "$base" "$ft" "$work/api/ft.dcx" "$work/api/rebuilt.safetensors" >"$work/api/compress.out"
grep -q "ratio" "$work/api/compress.out" || die "docs/API.md: compress.cpp printed no ratio"
"$work/api/apply" "$base" "$work/api/ft.dcx" >"$work/api/apply.out"
grep -qE "^[1-9][0-9]* tensors, [1-9][0-9]* bytes rebuilt in memory" "$work/api/apply.out" ||
  die "docs/API.md: apply.cpp rebuilt nothing"

say "6. deltacodec as a subproject (add_subdirectory)"
"$cmake" -S "$src/tests/consumer" -B "$work/sub" "${cmake_args[@]}" "-DDELTACODEC_SUBPROJECT=$src" \
  >"$work/sub-configure.log" || { cat "$work/sub-configure.log"; die "configure as a subproject"; }
if [ "${CONSUMER_BUILD_SUBPROJECT:-0}" = 1 ]; then
  "$cmake" --build "$work/sub" -j "$(nproc)" >"$work/sub-build.log" 2>&1 ||
    { cat "$work/sub-build.log"; die "build as a subproject"; }
  mkdir -p "$work/run-sub"
  "$work/sub/consumer" "$base" "$ft" "$work/run-sub"
fi
say "ok"

#!/usr/bin/env bash
# gpu-bundle.sh: builds here what the GPU check (.ci/gpu) needs on a bare GPU machine that has no Maven,
# no network and maybe no JDK, into the git-ignored folder .gpu-bundle/ (see shared GPU.md):
#   jre.tgz        a jlink'ed Java runtime (java.base, java.logging, jdk.unsupported, java.management)
#   lib/           the Anvil jar (natives for sm_80/sm_90a inside), its runtime jars, the test jars the
#                  test classes link against, and junit-platform-console-standalone
#   test-classes/  the compiled tests (benchmarks of bench/java left out: they need OpenBLAS and JMH)
#   BUNDLE.txt     commit, date, and what is inside
# Then prints du -sh. The bundle must stay under 64 MiB (it travels with the working tree).
#
#   scripts/gpu-bundle.sh                  build (mvn -o package -DskipTests) and bundle
#   scripts/gpu-bundle.sh --build-dir DIR  build in DIR (the pom's anvil.buildDir; default target/)
#   scripts/gpu-bundle.sh --no-build       bundle what the build folder holds now
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.gpu-bundle"
junit_console="org.junit.platform:junit-platform-console-standalone:1.11.4"
build="$root/target"
do_build=1
while (( $# > 0 )); do
  case "$1" in
    --no-build) do_build=0 ;;
    --build-dir) build="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
    *) echo "gpu-bundle: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
cd "$root"

if (( do_build )); then
  mvn -q -o package -DskipTests -Danvil.buildDir="$build"
fi
jar="$(ls "$build"/anvil-*.jar | grep -v -e sources -e javadoc | head -1)"
# (the listing is read whole: grep -q would close the pipe early and pipefail would report unzip's SIGPIPE)
if ! unzip -l "$jar" | grep 'linux-x86_64/libanvil_cuda.so' > /dev/null; then
  echo "gpu-bundle: $jar carries no libanvil_cuda.so (was nvcc found by the build?)" >&2
  exit 1
fi

rm -rf "$out"
mkdir -p "$out/lib" "$out/test-classes"

# 1. The Java runtime, packed (35 MB as a folder, about 19 MB packed).
jlink --add-modules java.base,java.logging,jdk.unsupported,java.management \
  --strip-debug --no-header-files --no-man-pages --compress=2 --output "$out/jre"
tar -C "$out" -czf "$out/jre.tgz" jre
rm -rf "$out/jre"

# 2. Jars: Anvil, its runtime classpath, the test-scope jars the tests link against (not the benchmark
#    stack: OpenBLAS, JMH and its helpers), and the JUnit console launcher.
cp "$jar" "$out/lib/"
mvn -q -o dependency:build-classpath -Danvil.buildDir="$build" -Dmdep.includeScope=test -Dmdep.outputFile="$out/test.classpath" >/dev/null
# (JUnit's own jars are left out too: the console launcher carries them, and two copies of an engine
# on one classpath stop the launcher.)
# ONNX Runtime (20 MB) is left out too: only the slow MiniLM cross-check uses it, and the bundle plus the
# working tree must stay under the device's 64 MiB; that test class is left out with it (step 3).
tr ':' '\n' < "$out/test.classpath" | grep -v -e '/openblas/' -e '/jmh' -e '/commons-math3/' -e '/jopt-simple/' -e '/onnxruntime/' \
  -e '/org/junit/' -e '/opentest4j/' -e '/apiguardian/' \
  | while read -r dep; do [[ -n "$dep" ]] && cp "$dep" "$out/lib/"; done
rm "$out/test.classpath"
if ! mvn -q -o dependency:copy -Dartifact="$junit_console" -DoutputDirectory="$out/lib" >/dev/null 2>&1; then
  mvn -q dependency:copy -Dartifact="$junit_console" -DoutputDirectory="$out/lib"
fi

# 3. Test classes (and their resources), without the JMH benchmarks.
(cd "$build/test-classes" && tar --exclude='./ai/anvil/bench' --exclude='*jmh_generated*' --exclude='./META-INF/BenchmarkList' \
  --exclude='./ai/anvil/models/bert/MiniLmOnnxRuntimeTest*' \
  -cf - .) | tar -C "$out/test-classes" -xf -

# 4. The peers and the table script come with the working tree (bench/gpu/); record what is here.
{
  echo "commit $(git rev-parse HEAD)$(git diff --quiet HEAD -- kernels runtime src/test || echo ' (with local changes)')"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n) with $(java -version 2>&1 | head -1)"
  echo "nvcc: $(nvcc --version | tail -1)"
  (cd "$out" && ls -1 lib)
} > "$out/BUNDLE.txt"

du -sh "$out"
size=$(du -sm "$out" | cut -f1)
tree=$(( $(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) / 1048576 ))
if (( size + tree >= 62 )); then
  echo "gpu-bundle: $size MiB bundle + $tree MiB working tree is over the 64 MiB the device takes" >&2
  exit 1
fi

#!/usr/bin/env bash
# Runs the hot-path benchmarks briefly and fails when one falls below its floor (bench/floors.properties).
# By hand only, not in CI: shared machines are noisy. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -ntp test-compile dependency:build-classpath -Dmdep.outputFile=target/test.classpath -Dmdep.includeScope=test
exec java -cp "target/test-classes:target/classes:$(cat target/test.classpath)" ai.anvil.bench.Guard \
  "${1:-bench/floors.properties}"

#!/usr/bin/env bash
# Runs JMH benchmarks: bench/run.sh [JMH args], e.g. bench/run.sh -f 1 -wi 3 -i 5 MatmulBench
# Builds the test classes (benchmarks live in bench/java, compiled with the tests) and runs JMH on a
# plain java command line so its forked JVMs get the right class path.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -ntp test-compile dependency:build-classpath -Dmdep.outputFile=target/test.classpath -Dmdep.includeScope=test
exec java -cp "target/test-classes:target/classes:$(cat target/test.classpath)" org.openjdk.jmh.Main "$@"

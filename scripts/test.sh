#!/usr/bin/env bash
# The test suite, as CI runs it (.ci/run) and the README gives it: the core build and its tests (slow
# and GPU-only work excluded by tags), installed into the local Maven repository, then the optional Spark
# module (spark/), which builds against that installed jar. Extra arguments go to both Maven calls.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -ntp install "$@"
mvn -B -ntp -f spark/pom.xml test "$@"

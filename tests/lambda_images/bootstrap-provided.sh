#!/bin/sh
# /var/runtime/bootstrap of skyport-test/lambda-provided:al2023 (an OS-only runtime): the function
# brings its own runtime, an executable named `bootstrap` at the root of its zip (/var/task/bootstrap)
# or of a layer (/opt/bootstrap), which AWS runs with the Lambda environment and _HANDLER set.

for bootstrap in "${LAMBDA_TASK_ROOT:-/var/task}/bootstrap" /opt/bootstrap; do
  if [ -f "$bootstrap" ]; then
    exec "$bootstrap"
  fi
done
echo "Couldn't find valid bootstrap(s): [${LAMBDA_TASK_ROOT:-/var/task}/bootstrap /opt/bootstrap]" 1>&2
exit 127

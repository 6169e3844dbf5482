#!/bin/sh
# /var/runtime/bootstrap of skyport-test/lambda-python:3.11: starts the Python runtime interface client
# (awslambdaric, installed in /var/runtime with boto3) on the handler in _HANDLER, the way AWS's
# python3.11 image does, including AWS_LAMBDA_EXEC_WRAPPER.
#
# sys.path: /var/task (the working directory, which `python -m` puts first), the layer directories
# /opt/python/lib/python3.11/site-packages and /opt/python (inserted before /var/runtime by
# /var/lang/lib/python3.11/site-packages/lambda-layers.pth), /var/runtime (PYTHONPATH), the standard
# library. botocore verifies TLS with AWS_CA_BUNDLE when set, else its own bundled roots.

export AWS_EXECUTION_ENV=AWS_Lambda_python3.11
# The image sets PYTHONPATH=/var/runtime; a function's own PYTHONPATH keeps /var/runtime after it.
case ":${PYTHONPATH:-}:" in
  *:/var/runtime:*) ;;
  *) export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/var/runtime" ;;
esac
cd "${LAMBDA_TASK_ROOT:-/var/task}" || exit 1

if [ -z "$AWS_LAMBDA_EXEC_WRAPPER" ]; then
  exec /var/lang/bin/python3.11 -m awslambdaric "$_HANDLER"
else
  wrapper="$AWS_LAMBDA_EXEC_WRAPPER"
  if [ ! -f "$wrapper" ]; then
    echo "$wrapper: does not exist"
    exit 127
  fi
  if [ ! -x "$wrapper" ]; then
    echo "$wrapper: is not an executable"
    exit 126
  fi
  exec -- "$wrapper" /var/lang/bin/python3.11 -m awslambdaric "$_HANDLER"
fi

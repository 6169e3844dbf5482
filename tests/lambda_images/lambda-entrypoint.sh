#!/bin/sh
# /lambda-entrypoint.sh of Skyport's offline test images, with the behaviour of the one in AWS's public
# Lambda base images (public.ecr.aws/lambda/*): the container's command is the handler; it is exported
# as _HANDLER and the runtime's /var/runtime/bootstrap runs against the Runtime API named by
# AWS_LAMBDA_RUNTIME_API. Without AWS_LAMBDA_RUNTIME_API, AWS's images start the Runtime Interface
# Emulator; these images do not ship it: exec it if one was put at /usr/local/bin/aws-lambda-rie,
# otherwise say so and exit 142.

if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"

RUNTIME_ENTRYPOINT=/var/runtime/bootstrap
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  if [ -x /usr/local/bin/aws-lambda-rie ]; then
    exec /usr/local/bin/aws-lambda-rie $RUNTIME_ENTRYPOINT
  fi
  echo "lambda-entrypoint.sh: AWS_LAMBDA_RUNTIME_API is not set and this image has no Runtime Interface" \
    "Emulator (/usr/local/bin/aws-lambda-rie): run it with AWS_LAMBDA_RUNTIME_API=<host>:<port> pointing" \
    "at a Lambda Runtime API (Skyport's Lambda sets it)" 1>&2
  exit 142
else
  exec $RUNTIME_ENTRYPOINT
fi

#!/usr/bin/env bash
# Entry point of the reelsight worker image.
#   serve [flags]    SageMaker hosting runs `docker run IMAGE serve`: GET /ping, POST /invocations on 8080
#   process [flags]  SageMaker Processing: the job's ContainerArguments start with `process`
#   anything else    runs as a command (e.g. `bash`, `reelsight models`)
set -euo pipefail

command="${1:-serve}"
if [ "$#" -gt 0 ]; then
    shift
fi
case "${command}" in
    serve) exec reelsight serve "$@" ;;
    process) exec reelsight process "$@" ;;
    *) exec "${command}" "$@" ;;
esac

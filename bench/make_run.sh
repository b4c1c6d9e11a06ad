#!/bin/bash
# Benchmark: seconds from `make run` to the login page answering, on a clone.
#
#   git clone /path/to/daihou /tmp/mr && bench/make_run.sh /tmp/mr /tmp/make-run.log
#
# Starts `make run` in the clone, polls http://127.0.0.1:8000/accounts/login/ until it
# answers 200, prints the seconds to that and to the banner with the demo logins, then
# stops the portal (Ctrl-C, as a user would). Run it twice: the first run installs,
# migrates and loads the demo; the second finds them in place.
set -euo pipefail
clone=$1
log=${2:-/tmp/make-run.log}
cd "$clone"
start=$(date +%s.%N)
make run >"$log" 2>&1 &
pid=$!
until curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/accounts/login/ 2>/dev/null \
  | grep -q 200; do
  kill -0 "$pid" 2>/dev/null || { echo "make run stopped; see $log"; exit 1; }
  sleep 0.5
done
login=$(date +%s.%N)
until grep -q "Demo logins" "$log"; do sleep 0.2; done
banner=$(date +%s.%N)
echo "login page: $(echo "$login - $start" | bc) s; banner: $(echo "$banner - $start" | bc) s"
kill -INT "$pid"
wait "$pid" || true

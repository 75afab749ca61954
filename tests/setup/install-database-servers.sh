#!/usr/bin/env bash
# Installs the PostgreSQL and MariaDB server packages that the tests' throwaway database servers run
# from, when they are missing. The packages' own services are not started: the tests start private
# servers on free loopback ports.
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }
have_mariadb() { command -v mariadbd >/dev/null || test -x /usr/sbin/mariadbd; }

missing=()
have_postgres || missing+=(postgresql)
have_mariadb || missing+=(mariadb-server-core mariadb-client-core)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "The tests need these packages: ${missing[*]}. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

# Keep the packages' init scripts from starting system-wide servers during the install.
created_policy=false
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=true
fi
trap '$created_policy && rm -f /usr/sbin/policy-rc.d' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"

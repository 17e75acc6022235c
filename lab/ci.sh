#!/bin/sh
# ci.sh runs the lab's self-tests and the end-to-end suite the way CI does:
# as root, with CI=true so that a missing requirement fails instead of
# skipping. With --install it first installs the Debian packages the lab
# needs, forbidding their services from starting on this machine's real
# network (miniupnpd and coturn only ever run inside the lab's namespaces).
#
#   lab/ci.sh [--install] [go test flags...]
set -eu

if [ "$(id -u)" != 0 ]; then
	exec sudo -E env "PATH=$PATH" "$0" "$@"
fi

if [ "${1:-}" = "--install" ]; then
	shift
	# policy-rc.d exit 101: "action forbidden" for every service start.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		miniupnpd-nftables miniupnpc natpmpc nftables coturn iproute2
fi

cd "$(dirname "$0")/.."
CI=true go test -race -count=1 -timeout 5m "$@" ./lab/ ./e2e/

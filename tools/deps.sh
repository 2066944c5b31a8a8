#!/bin/sh
# deps.sh: install the Debian packages postern builds and tests with.
# Checks with dpkg -s first; runs apt-get only when something is missing,
# and only as root (a normal user gets a clear message instead).
set -e
PKGS="build-essential pkg-config libevent-dev libssl-dev libcdb-dev tinycdb
 libbsd-dev libcmocka-dev libunbound-dev libsasl2-dev libsasl2-modules
 sasl2-bin python3 python3-pytest python3-aiosmtpd swaks openssl procmail
 postfix unbound dnsmasq-base valgrind libseccomp-dev pflogsumm
 libidn2-dev debhelper dpkg-dev"

missing=""
# the mail store the LMTP tests and bench start (tests/integration/dovecot.py)
PKGS="$PKGS dovecot-core dovecot-lmtpd"
for p in $PKGS; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all packages present"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO=sudo
	else
		echo "deps: missing Debian packages:$missing" >&2
		echo "deps: run 'sudo make deps' (or as root) once, then retry" >&2
		exit 1
	fi
fi
echo "deps: installing$missing"
# postfix is only a test peer (smtp-sink, smtp-source): keep it unconfigured
# so it never takes port 25.
echo "postfix postfix/main_mailer_type select No configuration" |
	${SUDO:-} debconf-set-selections
${SUDO:-} apt-get update -q
DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -q $missing

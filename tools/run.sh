#!/bin/sh
# run.sh: `make run` / `make stop`: a self-contained postern under ./run/,
# listening on 127.0.0.1:2525 (smtp) and 127.0.0.1:2587 (submission),
# as the current user. Config is written once; edit run/etc/postern.conf
# freely afterwards.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/run"
conf="$run/etc/postern.conf"
bin="$top/build"
export POSTERN_LIBEXEC="$bin"

if [ "$1" = stop ]; then
	exec "$bin/postern" -c "$conf" stop
fi

me=$(id -un)
if [ "$(id -u)" = 0 ]; then
	# Never run the network-facing workers as root, even here.
	wuser=nobody wgroup=nogroup
else
	wuser=$me wgroup=$(id -gn)
fi

mkdir -p "$run/etc" "$run/mail" "$run/queue"
chmod 1777 "$run/mail"
if [ ! -f "$conf" ]; then
	cat >"$conf" <<CONF
# postern.conf for \`make run\` (see conf/postern.conf.5)
hostname = localhost.localdomain
queue_dir = $run/queue
config_dir = $run/etc
local_domains = $run/etc/local-host-names
relay_domains = $run/etc/relay-domains
access_map = $run/etc/access
alias_map = $run/etc/aliases
mailbox = mbox:$run/mail/%u
log = $run/postern.log
log_level = info
user = $wuser
group = $wgroup
require_resolvable_sender = no

[smtp]
listen = 127.0.0.1:2525

[submission]
listen = 127.0.0.1:2587
CONF
	printf 'localhost\nlocalhost.localdomain\n' >"$run/etc/local-host-names"
	printf '# domains we relay for\n' >"$run/etc/relay-domains"
	printf 'Connect:127.0.0.1 RELAY\n' >"$run/etc/access"
	printf 'postmaster: %s\nMAILER-DAEMON: %s\nroot: %s\n' \
	    "$me" "$me" "$me" >"$run/etc/aliases"
fi
"$bin/postern" -c "$conf" map "$run/etc/access"
"$bin/postern" -c "$conf" aliases
if "$bin/postern" -c "$conf" status >/dev/null 2>&1; then
	echo "postern is already running; 'make stop' stops it"
else
	"$bin/postern" -c "$conf" start
fi
cat <<MSG

postern is running on 127.0.0.1:2525 (smtp) and 127.0.0.1:2587 (submission).
Config, queue and mail are under $run/.
Try:
  swaks --server 127.0.0.1:2525 --to $me@localhost --from $me@localhost
  ln -sf $bin/postern $run/sendmail; printf 'Subject: hi\n\nhello\n' | POSTERN_CONF=$conf $run/sendmail $me
Then read $run/mail/$me, watch $run/postern.log, list the queue with
  $bin/postern -c $conf queue
and stop with: make stop
MSG

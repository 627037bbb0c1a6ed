# daemons.sh - the project's shell library: start and stop the parts of a
# private clientsd instance (MariaDB, the clientsd FastCGI pool, nginx,
# Apache with mod_fcgid or mod_proxy_fcgi, lighttpd, Caddy, a Galera
# cluster in galera.sh) and write their configuration files.  Sourced (POSIX
# sh) by ./dev, by tools/instance (the command the tests' fixtures call), by
# bench/run and by packaging/build, each of which sets REPO.  Nothing here
# writes outside the checkout's var/ and the instance's runtime directory
# under /tmp; /etc is only read.
#
# An instance ("dev" for ./dev up, "test" for ./dev test) has
#   H_VAR   var/ or var/test: MariaDB datadir, logs, config, admin key
#   H_RUN   /tmp/clientsd-<cksum of the repo path>[-test], mode 0755: the
#           sockets, pid files, the clientsd binary that runs, and anything
#           else user nobody must reach even when the checkout sits under a
#           0700 home directory.  $H_VAR/run links to it.
# Every wait is bounded by H_TIMEOUT seconds; a failure prints the tail of
# the log that explains it.

H_TIMEOUT=${H_TIMEOUT:-30}
# The throw-away databases ("test", "restore") trade durability for speed.
H_DB_TEST_OPTIONS=--innodb-flush-log-at-trx-commit=0
H_APACHE_MODULES=/usr/lib/apache2/modules

h_say()
{
	printf 'dev: %s\n' "$*"
}

h_err()
{
	printf 'dev: %s\n' "$*" >&2
}

h_is_root()
{
	[ "$(id -u)" -eq 0 ]
}

# h_tail FILE [LINES]: shows the end of a log, to stderr.
h_tail()
{
	[ -s "$1" ] || return 0
	printf -- '----- last lines of %s -----\n' "$1" >&2
	tail -n "${2:-30}" "$1" >&2
	printf -- '-----\n' >&2
}

# h_instance NAME: sets the H_* paths of instance NAME.
# shellcheck disable=SC2034 # some are used by ./dev only
h_instance()
{
	h_sum=$(printf '%s' "$REPO" | cksum | cut -d' ' -f1)
	case $1 in
	dev)	H_VAR=$REPO/var
		H_RUN=/tmp/clientsd-$h_sum ;;
	*)	H_VAR=$REPO/var/$1
		H_RUN=/tmp/clientsd-$h_sum-$1 ;;
	esac
	H_LOG=$H_VAR/log
	H_DATA=$H_VAR/mysql
	H_CONF=$H_VAR/clientsd.conf
	H_KEYFILE=$H_VAR/admin-key
	H_PWFILE=$H_VAR/db-password
	# The migration user (DDL), apart from clientsd's DML-only user.
	H_MCONF=$H_VAR/clientsctl-migrate.conf
	H_MPWFILE=$H_VAR/db-migrate-password
	H_DBSOCK=$H_RUN/mysqld.sock
	H_DBPID=$H_RUN/mysqld.pid
	H_SOCK=$H_RUN/clientsd.sock
	H_POOLPID=$H_RUN/clientsd.pid
	H_BIN=$H_RUN/bin/clientsd
	H_NGINX=$H_RUN/nginx
	H_APACHE=$H_RUN/apache
	H_LIGHTTPD=$H_RUN/lighttpd
	H_CADDY=$H_RUN/caddy
	# Who the web servers' workers run as (H_USER, and mod_fcgid's
	# clientsd, which Apache starts as its own user) and who a pool's
	# workers run as (H_APP_USER): users of their own, so that neither
	# can read the other's memory or files.  When not root nobody can be
	# switched to: everything runs as the caller.
	if h_is_root; then
		H_USER=nobody
		H_GROUP=nogroup
		H_APP_USER=clientsd
		H_APP_GROUP=clientsd
		H_DBADMIN=root
	else
		H_USER=$(id -un)
		H_GROUP=$(id -gn)
		H_APP_USER=$H_USER
		H_APP_GROUP=$H_GROUP
		H_DBADMIN=$H_USER
	fi
}

# h_rundir: creates the runtime directory, refusing one somebody else made.
h_rundir()
{
	if [ -L "$H_RUN" ] || { [ -e "$H_RUN" ] &&
	    { [ ! -d "$H_RUN" ] || [ "$(stat -c %u "$H_RUN")" != "$(id -u)" ]; }; }
	then
		h_err "$H_RUN exists but is not a directory of ours: remove it"
		return 1
	fi
	mkdir -p "$H_RUN" && chmod 0755 "$H_RUN" &&
	    mkdir -p "$H_RUN/bin" "$H_NGINX" "$H_APACHE" "$H_VAR" "$H_LOG" &&
	    ln -sfn "$H_RUN" "$H_VAR/run" && h_private_logs
}

# h_private_log FILE...: creates the logs (if missing) mode 0640, so that
# nginx, Apache and MariaDB, which keep an existing file's mode, never
# make them world-readable (they hold request paths, ids and errors).
h_private_log()
{
	for h_f; do
		(umask 027 && : >>"$h_f") && chmod 0640 "$h_f" || return 1
	done
}

# h_private_logs: the log directory (0750) and every log the library
# writes or has a server write.
h_private_logs()
{
	chmod 0750 "$H_LOG" && h_private_log "$H_LOG/clientsd.log" \
	    "$H_LOG/clientsctl.log" "$H_LOG/mariadb.log" \
	    "$H_LOG/mariadb-install.log" "$H_LOG/nginx-error.log" \
	    "$H_LOG/nginx-access.log" "$H_LOG/apache-error.log" \
	    "$H_LOG/apache-access.log"
}

# h_poll SECONDS CMD...: runs CMD every 0.2 s until it succeeds.
h_poll()
{
	h_poll_n=$(($1 * 5))
	shift
	while [ "$h_poll_n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.2
		h_poll_n=$((h_poll_n - 1))
	done
	return 1
}

# h_gone PID: true when the process has exited (a zombie counts as gone).
h_gone()
{
	h_stat=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	case $h_stat in
	Z*|X*|'') return 0 ;;
	esac
	return 1
}

# h_is_exe PID EXE: true when process PID runs the program EXE.
h_is_exe()
{
	h_exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
	[ "$h_exe" = "$2" ] || [ "$h_exe" = "$2 (deleted)" ]
}

# h_wait NAME PID LOG CMD...: waits until CMD succeeds; fails early when
# process PID (if not empty) has exited, and then shows LOG.
h_wait()
{
	h_wait_name=$1 h_wait_pid=$2 h_wait_log=$3
	shift 3
	h_wait_n=$((H_TIMEOUT * 5))
	while [ "$h_wait_n" -gt 0 ]; do
		"$@" && return 0
		if [ -n "$h_wait_pid" ] && h_gone "$h_wait_pid"; then
			h_err "$h_wait_name exited while starting"
			h_tail "$h_wait_log"
			return 1
		fi
		sleep 0.2
		h_wait_n=$((h_wait_n - 1))
	done
	h_err "$h_wait_name not ready after ${H_TIMEOUT}s"
	h_tail "$h_wait_log"
	return 1
}

# h_stop NAME PIDFILE EXE: SIGTERM to the process named in PIDFILE if it
# still runs EXE (a stale pid may belong to someone else now), then waits
# for it; SIGKILL only when it does not go.
h_stop()
{
	h_pid=$(cat "$2" 2>/dev/null)
	case $h_pid in
	''|*[!0-9]*) rm -f "$2"; return 0 ;;
	esac
	if h_is_exe "$h_pid" "$3" && kill -TERM "$h_pid" 2>/dev/null &&
	    ! h_poll "$H_TIMEOUT" h_gone "$h_pid"; then
		h_err "$1 (pid $h_pid) did not stop in ${H_TIMEOUT}s: killing it"
		kill -KILL "$h_pid" 2>/dev/null
		h_poll 5 h_gone "$h_pid"
	fi
	rm -f "$2"
}

# h_leftovers all|bin: pids of this instance's processes, pid files or
# not.  "bin": the processes running its copy of clientsd (pool workers,
# mod_fcgid children); "all" adds any mariadbd, nginx or apache2 whose
# command line names a file in the runtime directory.
h_leftovers()
{
	for h_proc in /proc/[0-9]*; do
		h_exe=$(readlink "$h_proc/exe" 2>/dev/null) || continue
		case $1:$h_exe in
		*:"$H_BIN"|*:"$H_BIN (deleted)")
			;;
		all:/usr/sbin/mariadbd|all:/usr/sbin/nginx|all:/usr/sbin/apache2|\
		all:/usr/sbin/lighttpd|all:/usr/bin/caddy)
			tr '\0' '\n' <"$h_proc/cmdline" 2>/dev/null |
			    grep -qF "$H_RUN/" || continue ;;
		*)	continue ;;
		esac
		h_gone "${h_proc#/proc/}" || echo "${h_proc#/proc/}"
	done
}

h_no_leftovers()
{
	[ -z "$(h_leftovers "$1")" ]
}

# h_sweep all|bin: ends the leftovers, SIGTERM first.
h_sweep()
{
	h_left=$(h_leftovers "$1")
	[ -n "$h_left" ] || return 0
	# shellcheck disable=SC2086 # a list of pids
	kill -TERM $h_left 2>/dev/null
	h_poll 10 h_no_leftovers "$1" && return 0
	h_left=$(h_leftovers "$1")
	# shellcheck disable=SC2086
	h_err "killing leftover processes:" $h_left
	# shellcheck disable=SC2086
	kill -KILL $h_left 2>/dev/null
	h_poll 5 h_no_leftovers "$1"
}

# h_stop_pool: the clientsd pool, workers included.
h_stop_pool()
{
	h_stop clientsd "$H_POOLPID" "$H_BIN"
	h_sweep bin
	rm -f "$H_SOCK"
}

# h_stop_apache: Apache, and the clientsd copies mod_fcgid had started.
h_stop_apache()
{
	h_stop apache "$H_APACHE/httpd.pid" /usr/sbin/apache2
	h_sweep bin
}

# h_stop_all: stops every part of the instance, quietly when all goes well.
h_stop_all()
{
	h_stop nginx "$H_NGINX/nginx.pid" /usr/sbin/nginx
	h_stop_apache
	h_stop lighttpd "$H_LIGHTTPD/lighttpd.pid" /usr/sbin/lighttpd
	h_stop caddy "$H_CADDY/caddy.pid" /usr/bin/caddy
	h_stop_pool
	h_stop mariadbd "$H_DBPID" /usr/sbin/mariadbd
	h_sweep all
	rm -f "$H_DBSOCK"
}

# h_install_bin BINARY: copies the clientsd binary into the runtime dir
# (renamed into place: a running copy cannot be overwritten).
h_install_bin()
{
	install -m 0755 "$1" "$H_BIN.new" && mv -f "$H_BIN.new" "$H_BIN"
}

# --- MariaDB ---------------------------------------------------------

# h_sql: runs the SQL on stdin as the MariaDB admin.
# h_sql [MARIADB OPTIONS]: the SQL on stdin as the MariaDB admin, bounded in time.
h_sql()
{
	timeout "${H_SQL_TIMEOUT:-300}" mariadb --no-defaults \
	    --socket="$H_DBSOCK" -u"$H_DBADMIN" "$@"
}

h_db_ping()
{
	mariadb-admin --no-defaults --socket="$H_DBSOCK" -u"$H_DBADMIN" \
	    ping >/dev/null 2>&1
}

# h_db_start [MARIADBD OPTIONS]: creates the datadir on first use, starts
# mariadbd on a socket only and waits until it answers.
h_db_start()
{
	# --user: the OS user that may log in as a MariaDB admin over the
	# socket; mariadbd itself needs it only when started as root.
	h_dbuser=
	h_is_root && h_dbuser=--user=root
	if [ ! -d "$H_DATA/mysql" ]; then
		mkdir -p "$H_DATA"
		if ! mariadb-install-db --no-defaults --datadir="$H_DATA" \
		    --user="$H_DBADMIN" --auth-root-authentication-method=socket \
		    --skip-test-db >"$H_LOG/mariadb-install.log" 2>&1; then
			h_err "mariadb-install-db failed"
			h_tail "$H_LOG/mariadb-install.log"
			return 1
		fi
	fi
	# shellcheck disable=SC2086
	setsid mariadbd --no-defaults --datadir="$H_DATA" \
	    --socket="$H_DBSOCK" --pid-file="$H_DBPID" --skip-networking \
	    --log-error="$H_LOG/mariadb.log" $h_dbuser \
	    --character-set-server=utf8mb4 \
	    --collation-server=utf8mb4_unicode_ci "$@" \
	    </dev/null >/dev/null 2>&1 &
	h_wait mariadbd $! "$H_LOG/mariadb.log" h_db_ping
}

# h_db_password [FILE]: prints the database password kept in FILE
# ($H_PWFILE by default), made on first use.
h_db_password()
{
	h_pwf=${1:-$H_PWFILE}
	if [ ! -s "$h_pwf" ]; then
		(umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' \
		    >"$h_pwf") || return 1
	fi
	chmod 0600 "$h_pwf" && cat "$h_pwf"
}

# h_db_setup [fresh]: database `clients`, its DML-only runtime user and
# its migration user, from the SQL `clientsctl db-setup --print` prints
# (what a provider's DBA runs); "fresh" drops the database first.  The
# passwords are (re)set from $H_PWFILE and $H_MPWFILE every time.
h_db_setup()
{
	h_write_conf || return 1
	if [ "${1:-}" = fresh ]; then
		echo 'DROP DATABASE IF EXISTS clients;' | h_sql || return 1
	fi
	h_setup_sql=$("${H_BUILD:-build}/app/clientsctl" -c "$H_CONF" \
	    -m "$H_MCONF" db-setup --print 2>>"$H_LOG/clientsctl.log") || {
		h_tail "$H_LOG/clientsctl.log"
		h_err "clientsctl db-setup --print failed"
		return 1
	}
	printf '%s\n' "$h_setup_sql" | h_sql
}

# h_migrate BUILDDIR: the migrations, as the migration user: those of
# db/, or of H_MIGRATIONS (the upgrade drill sets up a database with a
# previous release's own).
h_migrate()
{
	"$1/app/clientsctl" -c "$H_CONF" -m "$H_MCONF" migrate \
	    -d "${H_MIGRATIONS:-$REPO/db}"
}

# --- clientsd.conf ---------------------------------------------------

# h_conf_set SRC DST: copies the INI file SRC to DST, applying the
# "section key value" lines read from stdin (tools/ini.py, the one INI
# editor: the first `key =` line of that section, commented out or not,
# takes the value; a key the section lacks is added at its end).
h_conf_set()
{
	python3 "$REPO/tools/ini.py" "$1" "$2"
}

# The web servers here give up on the pool after H_WEB_TIMEOUT seconds
# (the snippets' 60 s, cut so that the 504 tests do not wait that long),
# and clientsd answers first: a web server must never give up on a request
# that clientsd may still write.  clientsd takes at most its deadline, and
# half of it again to settle a write whose COMMIT answer was lost: 8 + 4.
H_WEB_TIMEOUT=14
H_REQUEST_TIMEOUT=8

# h_app_user: the system user a pool's workers run as (the one the
# packages create too), made when missing.
h_app_user()
{
	h_is_root || return 0
	getent passwd "$H_APP_USER" >/dev/null && return 0
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin --comment "Clients Management API (clientsd)" \
	    "$H_APP_USER"
}

# h_write_conf: renders $H_CONF and $H_MCONF (mode 0600: they hold the
# passwords) from the samples in conf/, or in H_CONF_SRC (the upgrade
# drill: a previous release's, as an installation keeps its own).  The
# socket is the pool's and the web servers' group's.
h_write_conf()
{
	h_app_user || return 1
	h_csrc=${H_CONF_SRC:-$REPO/conf}
	if [ ! -f "$h_csrc/clientsd.conf" ]; then
		h_err "$h_csrc/clientsd.conf is missing"
		return 1
	fi
	h_db_password >/dev/null || return 1
	(umask 077 && h_conf_set "$h_csrc/clientsd.conf" "$H_CONF.new" \
	    <<EOF
server listen $H_SOCK
server listen_owner $H_APP_USER
server listen_group $H_GROUP
server listen_mode 0660
server workers 4
server user $H_APP_USER
server group $H_APP_GROUP
server pid_file $H_POOLPID
database socket $H_DBSOCK
database name clients
database user clients
database password_file $H_PWFILE
database lock_wait_timeout 2
server request_timeout $H_REQUEST_TIMEOUT
${H_CONF_EXTRA:-}
EOF
	) && mv -f "$H_CONF.new" "$H_CONF" || return 1
	h_mpw=$(h_db_password "$H_MPWFILE") || return 1
	(umask 077 && h_conf_set "$h_csrc/clientsctl-migrate.conf" \
	    "$H_MCONF.new" <<EOF
database user clients_migrate
database password $h_mpw
EOF
	) && mv -f "$H_MCONF.new" "$H_MCONF"
}

# --- the clientsd pool -----------------------------------------------

h_pool_ready()
{
	[ -S "$H_SOCK" ] && [ -s "$H_POOLPID" ]
}

# h_pool_start BINARY: runs a copy of BINARY as the standalone pool.
h_pool_start()
{
	h_install_bin "$1" || return 1
	rm -f "$H_SOCK" "$H_POOLPID"
	env -u CLIENTSD_CONFIG setsid "$H_BIN" -c "$H_CONF" \
	    </dev/null >>"$H_LOG/clientsd.log" 2>&1 &
	h_wait clientsd $! "$H_LOG/clientsd.log" h_pool_ready
}

# --- HTTP ------------------------------------------------------------

# h_http_ok URL: true when URL answers 200.
h_http_ok()
{
	[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" \
	    2>/dev/null)" = 200 ]
}

# h_subst FILE NAME=VALUE...: FILE with each @NAME@ replaced, on stdout.
h_subst()
{
	h_file=$1
	shift
	h_script=
	for h_kv; do
		h_v=$(printf '%s' "${h_kv#*=}" | sed 's/[\\|&]/\\&/g')
		h_script="$h_script s|@${h_kv%%=*}@|$h_v|g;"
	done
	sed "$h_script" "$h_file"
}

# --- nginx -----------------------------------------------------------

# h_nginx_start PORT: nginx on 127.0.0.1:PORT in front of the pool, from
# conf/nginx-clientsd.conf wrapped in a minimal nginx.conf.
h_nginx_start()
{
	h_elog=$H_LOG/nginx-error.log
	mkdir -p "$H_NGINX/tmp" || return 1
	# H_NGINX_SNIPPET: a server set-up of the caller's instead (the
	# cluster suite's one server block per pool).
	if [ -n "${H_NGINX_SNIPPET:-}" ]; then
		cp "$H_NGINX_SNIPPET" "$H_NGINX/clientsd.conf" || return 1
	else
		h_subst "$REPO/conf/nginx-clientsd.conf" \
		    "HTTP_LISTEN=127.0.0.1:$1" "CLIENTSD_SOCKET=$H_SOCK" \
		    "ACCESS_LOG=$H_LOG/nginx-access.log" |
		    sed "s/fastcgi_read_timeout 60s;/fastcgi_read_timeout ${H_WEB_TIMEOUT}s;/" \
		    >"$H_NGINX/clientsd.conf" || return 1
	fi
	h_nuser=
	h_is_root && h_nuser="user $H_USER $H_GROUP;"
	cat >"$H_NGINX/nginx.conf" <<EOF
# Written by tools/daemons.sh: the minimal wrapper.
$h_nuser
worker_processes 2;
pid "$H_NGINX/nginx.pid";
error_log "$h_elog" warn;
events {
	worker_connections 1024;
}
http {
	client_body_temp_path "$H_NGINX/tmp/body";
	fastcgi_temp_path "$H_NGINX/tmp/fastcgi";
	proxy_temp_path "$H_NGINX/tmp/proxy";
	scgi_temp_path "$H_NGINX/tmp/scgi";
	uwsgi_temp_path "$H_NGINX/tmp/uwsgi";
	# What the admin guide asks of providers, and test timeouts short enough
	# for the 408 and 504 tests (nginx's defaults are 60 s).
	server_tokens off;
	client_header_timeout 5s;
	client_body_timeout 5s;
	send_timeout 10s;
	fastcgi_connect_timeout 5s;
	fastcgi_send_timeout ${H_WEB_TIMEOUT}s;
	include "$H_NGINX/clientsd.conf";
}
EOF
	# nginx reports a failed start both on stderr and in the log.
	if ! nginx -e "$h_elog" -p "$H_NGINX" -c "$H_NGINX/nginx.conf" \
	    >/dev/null 2>&1; then
		h_err "nginx did not start"
		h_tail "$h_elog"
		return 1
	fi
	h_wait nginx "" "$h_elog" test -s "$H_NGINX/nginx.pid"
}

# --- Apache + mod_fcgid ----------------------------------------------

# h_apache_conf PORT ERROR_LOG ACCESS_LOG LOGLEVEL MODULE...: prints the
# minimal httpd.conf both Apache set-ups wrap their snippet in: what
# the admin guide asks of providers, mpm_event sized for the load, an empty
# document root, and the modules named (mod_NAME.so) besides mpm_event,
# authz_core and headers.  The caller appends its own lines.
h_apache_conf()
{
	h_port=$1 h_errlog=$2 h_acclog=$3 h_level=$4
	shift 4
	cat <<EOF
# Written by tools/daemons.sh: the minimal wrapper.
ServerRoot /etc/apache2
ServerName 127.0.0.1
Listen 127.0.0.1:$h_port
PidFile "$H_APACHE/httpd.pid"
DefaultRuntimeDir "$H_APACHE"
ErrorLog "$h_errlog"
LogLevel $h_level
# What the admin guide asks of providers, and test timeouts short enough for
# the 408 and 504 tests (the defaults are 60 s).
ServerTokens Prod
ServerSignature Off
Timeout $H_WEB_TIMEOUT
# No query string in the access log: it may hold ?admin_key=.
LogFormat "%h %t \"%m %U\" %>s %b %D \"%{X-Request-Id}i\"" clientsd
CustomLog "$h_acclog" clientsd
LoadModule mpm_event_module $H_APACHE_MODULES/mod_mpm_event.so
LoadModule authz_core_module $H_APACHE_MODULES/mod_authz_core.so
LoadModule headers_module $H_APACHE_MODULES/mod_headers.so
EOF
	for h_mod; do
		echo "LoadModule ${h_mod}_module $H_APACHE_MODULES/mod_$h_mod.so"
	done
	if h_is_root; then
		printf 'User %s\nGroup %s\n' "$H_USER" "$H_GROUP"
	fi
	cat <<EOF
# mpm_event sized so that no child is started or stopped under the
# suites' and the bench's load (16 connections): 2 children x 32 threads
# from the start, 16 idle ones wanted, up to 64 idle kept.  The compiled-in
# defaults (StartServers 3, MinSpareThreads 75 of 25-thread children)
# fork a 4th child as soon as 16 requests are in flight, while they wait.
StartServers 2
ServerLimit 2
ThreadsPerChild 32
ThreadLimit 32
MaxRequestWorkers 64
MinSpareThreads 16
MaxSpareThreads 64
# An empty document root (mod_fcgid maps PATH_INFO into it for
# PATH_TRANSLATED).  AllowOverride None, as Debian's apache2.conf has
# it: without it Apache looks for a .htaccess in each directory from /
# down to the document root on every request (5 failed opens here).
DocumentRoot "$H_APACHE/htdocs"
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory "$H_APACHE/htdocs">
	Require all granted
</Directory>
EOF
}

# h_apache_start PORT BINARY: Apache on 127.0.0.1:PORT spawning copies of
# BINARY through mod_fcgid, from conf/apache-clientsd.conf wrapped in a
# minimal httpd.conf.  ASAN_OPTIONS/UBSAN_OPTIONS, when set, reach the
# spawned programs too (mod_fcgid passes them no other environment).
h_apache_start()
{
	h_elog=$H_LOG/apache-error.log
	h_install_bin "$2" || return 1
	# mod_fcgid children run as $H_USER: they get their own copy of the
	# config and of the password file, readable by their group only.
	h_aconf=$H_RUN/clientsd.conf
	h_apw=$H_RUN/db-password
	install -m 0640 "$H_PWFILE" "$h_apw" &&
	    (umask 027 && echo "database password_file $h_apw" |
	    h_conf_set "$H_CONF" "$h_aconf") || return 1
	mkdir -p "$H_APACHE/fcgid" "$H_APACHE/htdocs" || return 1
	if h_is_root; then
		chgrp "$H_GROUP" "$h_aconf" "$h_apw" &&
		    chown "$H_USER:$H_GROUP" "$H_APACHE/fcgid" || return 1
	fi
	chmod 0700 "$H_APACHE/fcgid"
	h_subst "$REPO/conf/apache-clientsd.conf" \
	    "CLIENTSD_BIN=$H_BIN" "BIN_DIR=${H_BIN%/*}" \
	    "CLIENTSD_CONFIG=$h_aconf" |
	    sed "s/^FcgidIOTimeout 60$/FcgidIOTimeout $H_WEB_TIMEOUT/" \
	    >"$H_APACHE/clientsd.conf" || return 1
	h_env=
	for h_var in ASAN_OPTIONS UBSAN_OPTIONS; do
		eval "h_val=\${$h_var:-}"
		[ -n "$h_val" ] &&
		    h_env="${h_env}FcgidInitialEnv $h_var \"$h_val\"
"
	done
	{
		# fcgid:info logs each clientsd process mod_fcgid starts or
		# stops (the bench reads when they happen).
		h_apache_conf "$1" "$h_elog" "$H_LOG/apache-access.log" \
		    "warn fcgid:info" alias fcgid
		cat <<EOF
FcgidIPCDir "$H_APACHE/fcgid"
FcgidProcessTableFile "$H_APACHE/fcgid_shm"
$h_env
Include "$H_APACHE/clientsd.conf"
EOF
	} >"$H_APACHE/httpd.conf" || return 1
	if ! apache2 -f "$H_APACHE/httpd.conf" -k start >>"$h_elog" 2>&1; then
		h_err "apache2 did not start"
		h_tail "$h_elog"
		return 1
	fi
	h_wait apache "" "$h_elog" test -s "$H_APACHE/httpd.pid"
}

# --- Apache + mod_proxy_fcgi, lighttpd, Caddy (the pool behind them) --

H_LIGHTTPD_BIN=/usr/sbin/lighttpd
H_CADDY_BIN=/usr/bin/caddy

# h_free_port: prints a TCP port that 127.0.0.1 can bind now, picked at
# random below the kernel's ephemeral range (so no outgoing connection
# takes it in the meantime).  Another program may still take it before
# we do: callers retry with a new one when a server fails to start.
h_free_port()
{
	python3 -c '
import random, socket, sys
lo, hi = 20000, 32000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        hi = min(hi, int(f.read().split()[0]) - 1)
except (OSError, ValueError, IndexError):
    pass
for _ in range(500):
    p = random.randint(lo, hi)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    sys.exit(0)
sys.exit("no free port found")
'
}

# h_apache_proxy_start PORT: Apache on 127.0.0.1:PORT in front of the
# pool through mod_proxy_fcgi, from conf/apache-proxy-fcgi-clientsd.conf
# wrapped in a minimal httpd.conf.  Shares h_apache_start's pid file, so
# h_stop_apache stops either.
h_apache_proxy_start()
{
	h_elog=$H_LOG/apache-proxy-error.log
	mkdir -p "$H_APACHE/htdocs" || return 1
	h_private_log "$h_elog" "$H_LOG/apache-proxy-access.log" || return 1
	h_subst "$REPO/conf/apache-proxy-fcgi-clientsd.conf" \
	    "CLIENTSD_SOCKET=$H_SOCK" |
	    sed "s/^ProxyTimeout 60$/ProxyTimeout $H_WEB_TIMEOUT/" \
	    >"$H_APACHE/proxy-clientsd.conf" || return 1
	{
		h_apache_conf "$1" "$h_elog" "$H_LOG/apache-proxy-access.log" \
		    warn env proxy proxy_fcgi
		echo "Include \"$H_APACHE/proxy-clientsd.conf\""
	} >"$H_APACHE/httpd-proxy.conf" || return 1
	if ! apache2 -f "$H_APACHE/httpd-proxy.conf" -k start >>"$h_elog" 2>&1
	then
		h_err "apache2 (mod_proxy_fcgi) did not start"
		h_tail "$h_elog"
		return 1
	fi
	h_wait apache "" "$h_elog" test -s "$H_APACHE/httpd.pid"
}

# h_lighttpd_start PORT: lighttpd on 127.0.0.1:PORT in front of the pool,
# from conf/lighttpd-clientsd.conf wrapped in a minimal lighttpd.conf.
# Its logs and error documents sit in the runtime directory (it opens
# them as $H_USER), linked from $H_LOG.
h_lighttpd_start()
{
	h_ldir=$H_LIGHTTPD
	rm -rf "$h_ldir" && mkdir -p "$h_ldir/htdocs" "$h_ldir/log" \
	    "$h_ldir/errors" || return 1
	cp "$REPO"/conf/lighttpd-errors/status-*.html "$h_ldir/errors/" &&
	    cp "$REPO/conf/lighttpd-clientsd.lua" "$h_ldir/clientsd.lua" &&
	    chmod 0644 "$h_ldir"/errors/* "$h_ldir/clientsd.lua" || return 1
	# lighttpd opens its logs as $H_USER and keeps an existing file's mode.
	h_private_log "$h_ldir/log/error.log" "$h_ldir/log/access.log" &&
	    chmod 0750 "$h_ldir/log" || return 1
	if h_is_root; then
		chown -R "$H_USER:$H_GROUP" "$h_ldir/log" || return 1
	fi
	for h_f in error access; do
		ln -sfn "$h_ldir/log/$h_f.log" "$H_LOG/lighttpd-$h_f.log"
	done
	h_subst "$REPO/conf/lighttpd-clientsd.conf" \
	    "CLIENTSD_SOCKET=$H_SOCK" "ACCESS_LOG=$h_ldir/log/access.log" \
	    "ERRORFILE_PREFIX=$h_ldir/errors/status-" \
	    "MAGNET_SCRIPT=$h_ldir/clientsd.lua" |
	    sed "s/\"read-timeout\" => 60,/\"read-timeout\" => $H_WEB_TIMEOUT,/" \
	    >"$h_ldir/clientsd.conf" || return 1
	h_luser=
	h_is_root && h_luser="server.username = \"$H_USER\"
server.groupname = \"$H_GROUP\""
	cat >"$h_ldir/lighttpd.conf" <<EOF
# Written by tools/daemons.sh: the minimal wrapper.
server.bind = "127.0.0.1"
server.port = $1
server.document-root = "$h_ldir/htdocs"
server.pid-file = "$h_ldir/lighttpd.pid"
server.errorlog = "$h_ldir/log/error.log"
server.tag = "lighttpd"
# Test timeouts short enough for the 408/504 tests (the defaults are 60 s;
# the snippet's read-timeout, 60 s, is cut to H_WEB_TIMEOUT above).
server.max-read-idle = 5
$h_luser
include "$h_ldir/clientsd.conf"
EOF
	# (The start's own output goes beside the log: lighttpd opens the
	# log itself, as $H_USER.)
	if ! "$H_LIGHTTPD_BIN" -tt -f "$h_ldir/lighttpd.conf" \
	    >"$h_ldir/start.log" 2>&1 ||
	    ! "$H_LIGHTTPD_BIN" -f "$h_ldir/lighttpd.conf" \
	    >>"$h_ldir/start.log" 2>&1; then
		h_err "lighttpd did not start"
		h_tail "$h_ldir/start.log"
		h_tail "$h_ldir/log/error.log"
		return 1
	fi
	h_wait lighttpd "" "$h_ldir/log/error.log" test -s "$h_ldir/lighttpd.pid"
}

# h_caddy_start PORT: Caddy on 127.0.0.1:PORT in front of the pool, from
# the site block conf/caddy-clientsd.conf in a minimal Caddyfile (no admin
# endpoint, no automatic HTTPS, its state in the runtime directory).
h_caddy_start()
{
	h_cdir=$H_CADDY
	h_elog=$H_LOG/caddy-error.log
	rm -rf "$h_cdir" && mkdir -p "$h_cdir/home" || return 1
	h_private_log "$h_elog" "$H_LOG/caddy-access.log" || return 1
	h_subst "$REPO/conf/caddy-clientsd.conf" \
	    "SITE_ADDRESS=http://:$1" "CLIENTSD_SOCKET=$H_SOCK" \
	    "ACCESS_LOG=$H_LOG/caddy-access.log" |
	    sed "s/read_timeout 60s/read_timeout ${H_WEB_TIMEOUT}s/" >"$h_cdir/clientsd.conf" ||
	    return 1
	cat >"$h_cdir/Caddyfile" <<EOF
# Written by tools/daemons.sh: the minimal wrapper.
{
	admin off
	auto_https off
	default_bind 127.0.0.1
	storage file_system "$h_cdir/home/data"
	# Test timeouts short enough for the 408/504 tests (Caddy sets no
	# read timeouts by default; the snippet's read_timeout, 60 s, is cut
	# to H_WEB_TIMEOUT above, as nginx's and Apache's are).
	servers {
		timeouts {
			read_header 5s
			read_body 5s
		}
	}
	log {
		output file "$h_elog"
		level WARN
	}
}
import "$h_cdir/clientsd.conf"
EOF
	if ! HOME=$h_cdir/home XDG_CONFIG_HOME=$h_cdir/home \
	    XDG_DATA_HOME=$h_cdir/home "$H_CADDY_BIN" validate \
	    --config "$h_cdir/Caddyfile" --adapter caddyfile \
	    >"$h_cdir/validate.log" 2>&1; then
		h_err "Caddy refuses its configuration"
		h_tail "$h_cdir/validate.log"
		return 1
	fi
	HOME=$h_cdir/home XDG_CONFIG_HOME=$h_cdir/home \
	    XDG_DATA_HOME=$h_cdir/home setsid "$H_CADDY_BIN" run \
	    --config "$h_cdir/Caddyfile" --adapter caddyfile \
	    --pidfile "$h_cdir/caddy.pid" </dev/null >>"$h_elog" 2>&1 &
	h_wait caddy $! "$h_elog" test -s "$h_cdir/caddy.pid"
}

# --- set-ups: a web server (and the pool) by name --------------------

# The names: nginx, apache-fcgid (Apache + mod_fcgid, no pool),
# apache-proxy (Apache + mod_proxy_fcgi), lighttpd, caddy.

# h_setup_access_log NAME: the access log the set-up's server writes.
h_setup_access_log()
{
	case $1 in
	apache-fcgid)	echo "$H_LOG/apache-access.log" ;;
	*)		echo "$H_LOG/$1-access.log" ;;
	esac
}

# h_setup_error_log NAME: the server's error log (shown on failures).
h_setup_error_log()
{
	case $1 in
	apache-fcgid)	echo "$H_LOG/apache-error.log" ;;
	*)		echo "$H_LOG/$1-error.log" ;;
	esac
}

# h_setup_start NAME PORT BUILDDIR: the pool (unless mod_fcgid spawns
# clientsd) and the web server on 127.0.0.1:PORT.
h_setup_start()
{
	case $1 in
	apache-fcgid)
		h_apache_start "$2" "$3/app/clientsd"
		return ;;
	esac
	h_pool_start "$3/app/clientsd" || return 1
	case $1 in
	nginx)		h_nginx_start "$2" ;;
	apache-proxy)	h_apache_proxy_start "$2" ;;
	lighttpd)	h_lighttpd_start "$2" ;;
	caddy)		h_caddy_start "$2" ;;
	*)		h_err "no set-up $1"; return 1 ;;
	esac
}

# h_setup_stop: every server and the pool; the database stays.
h_setup_stop()
{
	h_stop nginx "$H_NGINX/nginx.pid" /usr/sbin/nginx
	h_stop_apache
	h_stop lighttpd "$H_LIGHTTPD/lighttpd.pid" /usr/sbin/lighttpd
	h_stop caddy "$H_CADDY/caddy.pid" /usr/bin/caddy
	h_stop_pool
}

# h_setup_up NAME BUILDDIR: starts the set-up on TEST_<NAME>_PORT when
# set, else on a free port (picked again, up to three times, when the
# server cannot start: another program may take a free port before the
# server binds it), and waits for /api/v1/health.  Sets SETUP_PORT.
h_setup_up()
{
	case $1 in
	nginx)		su_fixed=${TEST_NGINX_PORT:-} ;;
	apache-fcgid)	su_fixed=${TEST_APACHE_PORT:-} ;;
	apache-proxy)	su_fixed=${TEST_APACHE_PROXY_PORT:-} ;;
	lighttpd)	su_fixed=${TEST_LIGHTTPD_PORT:-} ;;
	caddy)		su_fixed=${TEST_CADDY_PORT:-} ;;
	*)		h_err "no set-up $1"; return 1 ;;
	esac
	su_try=1
	while :; do
		SETUP_PORT=$su_fixed
		if [ -z "$SETUP_PORT" ]; then
			SETUP_PORT=$(h_free_port) || return 1
		fi
		h_say "$1 on 127.0.0.1:$SETUP_PORT"
		if h_setup_start "$1" "$SETUP_PORT" "$2" &&
		    h_poll "$H_TIMEOUT" h_http_ok \
		    "http://127.0.0.1:$SETUP_PORT/api/v1/health"; then
			return 0
		fi
		h_setup_stop
		if [ -n "$su_fixed" ] || [ "$su_try" -ge 3 ]; then
			h_err "$1 does not answer 200 at" \
			    "http://127.0.0.1:$SETUP_PORT/api/v1/health"
			h_tail "$(h_setup_error_log "$1")"
			h_tail "$H_LOG/clientsd.log"
			return 1
		fi
		su_try=$((su_try + 1))
	done
}

# --- packages and build ----------------------------------------------

# h_install PACKAGE...: installs those missing when root; otherwise prints
# the apt-get line that would and fails.
h_install()
{
	h_missing=
	for h_p; do
		dpkg-query -W -f='${Status}\n' "$h_p" 2>/dev/null |
		    grep -q '^install ok installed$' || h_missing="$h_missing $h_p"
	done
	[ -z "$h_missing" ] && return 0
	if ! h_is_root; then
		h_err "missing packages; install them as root with:"
		echo "apt-get install -y$h_missing" >&2
		return 1
	fi
	h_say "installing:$h_missing"
	# shellcheck disable=SC2086 # a list of package names
	if ! DEBIAN_FRONTEND=noninteractive apt-get update ||
	    ! DEBIAN_FRONTEND=noninteractive apt-get install -y $h_missing; then
		h_err "apt-get failed"
		return 1
	fi
}

# h_build DIR [CONFIGURE ARGS]: out-of-tree build in DIR.  autoreconf and
# configure run when DIR has no Makefile yet, or always when FULL=1.
h_build()
{
	bdir=$1
	shift
	if [ "${FULL:-0}" = 1 ] || [ ! -f "$bdir/Makefile" ]; then
		h_say "autoreconf -fi"
		mkdir -p "$bdir"
		if ! autoreconf -fi >"$bdir/autoreconf.log" 2>&1; then
			h_tail "$bdir/autoreconf.log"
			h_err "autoreconf failed"
			return 1
		fi
		h_say "configure --enable-werror $*"
		if ! (cd "$bdir" && ../configure --enable-werror "$@") \
		    >"$bdir/configure.log" 2>&1; then
			h_tail "$bdir/configure.log"
			h_err "configure failed (see $bdir/config.log)"
			return 1
		fi
	fi
	h_say "make -C $bdir"
	make -C "$bdir" -j2 || {
		h_err "make failed"
		return 1
	}
}

# --- schema and keys -------------------------------------------------

# h_backend BUILDDIR FRESH [MARIADBD OPTIONS]: MariaDB up, database and
# user (FRESH "fresh": an empty database), clientsd.conf rendered,
# migrations run.  The runtime directory must exist.
h_backend()
{
	bk_build=$1 bk_fresh=$2
	shift 2
	H_BUILD=$bk_build
	h_say "starting MariaDB ($H_DATA)"
	h_db_start "$@" && h_db_setup "$bk_fresh" || return 1
	h_say "clientsctl migrate"
	if ! h_migrate "$bk_build" >>"$H_LOG/clientsctl.log" 2>&1; then
		h_tail "$H_LOG/clientsctl.log"
		h_err "clientsctl migrate failed"
		return 1
	fi
}

# h_new_admin_key BUILDDIR NAME: a fresh admin key into $H_KEYFILE (0600).
h_new_admin_key()
{
	if ! (umask 077 && "$1/app/clientsctl" -c "$H_CONF" -m "$H_MCONF" admin-key create \
	    --name "$2" >"$H_KEYFILE.new" 2>>"$H_LOG/clientsctl.log") ||
	    [ ! -s "$H_KEYFILE.new" ]; then
		h_tail "$H_LOG/clientsctl.log"
		h_err "clientsctl admin-key create failed"
		rm -f "$H_KEYFILE.new"
		return 1
	fi
	mv -f "$H_KEYFILE.new" "$H_KEYFILE" || return 1
	# The tests: secrets_test.py looks for every key in every log.
	if [ -n "${CM_SECRETS_FILE:-}" ]; then
		cat "$H_KEYFILE" >>"$CM_SECRETS_FILE" || return 1
	fi
}

# --- a Galera cluster (./dev cluster, ./dev test --cluster) -----------

. "$REPO/tools/galera.sh"

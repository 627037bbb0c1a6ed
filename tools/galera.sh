# galera.sh - a 3-node MariaDB Galera cluster on 127.0.0.1 for
# `./dev cluster …` and the cluster drills (`./dev test --cluster`).  Part
# of the shell library: sourced by daemons.sh (POSIX sh); uses its h_*
# helpers.
#
# Node N (1..3) listens on CLUSTER_BASE_PORT + 10*N (MySQL), +1 (Galera's
# group communication), +2 (IST), +3 (SST).  CLUSTER_BASE_PORT defaults to
# 13300.  The nodes run as the `mysql` user (the rsync state transfer drops
# to it and must write the datadir), so their datadirs live in the runtime
# directory of the "cluster" instance under /tmp ($H_RUN/galera/nN, owned
# by mysql; /tmp and $H_RUN are traversable by it), with a link from
# var/cluster/galera.  Every wait is bounded.

CL_BASE=${CLUSTER_BASE_PORT:-13300}
CL_NAME=clientsd_test
CL_PROVIDER=/usr/lib/galera/libgalera_smm.so
# How long a node may take to become Synced (a joiner copies the whole
# datadir by rsync).
CL_TIMEOUT=${CL_TIMEOUT:-120}

# cl_init: the "cluster" instance's paths (H_*) and the nodes' directory.
# shellcheck disable=SC2034 # daemons.sh uses them
cl_init()
{
	h_instance cluster
	CL_DIR=$H_RUN/galera
	# clientsctl and the pools reach node 1 over TCP; the admin uses the
	# socket (unix_socket authentication of root).
	H_DBSOCK=$CL_DIR/n1/mysqld.sock
	H_DBPID=$CL_DIR/n1/mysqld.pid
}

cl_port()
{
	echo $((CL_BASE + 10 * $1))
}

cl_dir()
{
	echo "$CL_DIR/n$1"
}

# cl_sql N [MARIADB OPTIONS]: the SQL on stdin as root on node N.
cl_sql()
{
	cs_n=$1
	shift
	timeout "${H_SQL_TIMEOUT:-60}" mariadb --no-defaults \
	    --socket="$(cl_dir "$cs_n")/mysqld.sock" -uroot "$@"
}

# cl_var N NAME: the value of the status variable NAME on node N.
cl_var()
{
	echo "SHOW GLOBAL STATUS LIKE '$2'" | H_SQL_TIMEOUT=5 cl_sql "$1" -N \
	    2>/dev/null | awk '{ print $2 }'
}

# cl_synced N: node N is ready and Synced.
cl_synced()
{
	[ "$(cl_var "$1" wsrep_ready)" = ON ] &&
	    [ "$(cl_var "$1" wsrep_local_state_comment)" = Synced ]
}

# cl_pid N: the pid of node N's mariadbd, if it runs.
cl_pid()
{
	cp_pid=$(cat "$(cl_dir "$1")/mysqld.pid" 2>/dev/null) || return 1
	case $cp_pid in ''|*[!0-9]*) return 1 ;; esac
	h_is_exe "$cp_pid" /usr/sbin/mariadbd || return 1
	echo "$cp_pid"
}

# cl_address: gcomm:// with every node's group communication port.
cl_address()
{
	echo "gcomm://127.0.0.1:$(($(cl_port 1) + 1)),127.0.0.1:$(($(cl_port 2) + 1)),127.0.0.1:$(($(cl_port 3) + 1))"
}

# cl_recover N: the position a node killed with -9 had reached, from
# InnoDB (what galera_recovery does), so that it can rejoin by IST
# instead of a full copy.  Prints uuid:seqno, or nothing.
cl_recover()
{
	cr_d=$(cl_dir "$1")
	cr_log=$cr_d/recover.log
	rm -f "$cr_log"
	timeout 60 mariadbd --no-defaults --datadir="$cr_d/data" \
	    --user=mysql --log-error="$cr_log" --wsrep-on=ON \
	    --wsrep-provider="$CL_PROVIDER" --innodb-buffer-pool-size=128M \
	    --binlog-format=ROW --innodb-autoinc-lock-mode=2 \
	    --skip-networking --socket="$cr_d/recover.sock" \
	    --pid-file="$cr_d/recover.pid" --wsrep-recover \
	    </dev/null >/dev/null 2>&1
	sed -n 's/.*WSREP: Recovered position: *\([0-9a-f-]*:-*[0-9]*\).*/\1/p' \
	    "$cr_log" 2>/dev/null | tail -n 1
}

# cl_node_start N [OPTIONS]: starts node N's mariadbd (as mysql).  The
# global innodb_lock_wait_timeout is the admin guide's: it is how long an
# applier waits before it aborts again a local transaction whose first
# brute-force abort did not take, the whole cluster held by flow control
# meanwhile.
cl_node_start()
{
	cn_n=$1
	shift
	cn_d=$(cl_dir "$cn_n")
	cn_p=$(cl_port "$cn_n")
	if cl_pid "$cn_n" >/dev/null; then
		h_say "node $cn_n already runs"
		return 0
	fi
	# The drills' nodes can be given a slow disk (tests/faults/slowdisk.c):
	# the delay each write takes is in $cn_d/slowdisk, none when absent.
	if [ -f "$CL_DIR/slowdisk.so" ]; then
		cn_env="LD_PRELOAD=$CL_DIR/slowdisk.so SLOWDISK_FILE=$cn_d/slowdisk"
	else
		cn_env=
	fi
	# shellcheck disable=SC2086
	env $cn_env setsid mariadbd --no-defaults --datadir="$cn_d/data" \
	    --socket="$cn_d/mysqld.sock" --port="$cn_p" \
	    --bind-address=127.0.0.1 --user=mysql \
	    --pid-file="$cn_d/mysqld.pid" --log-error="$cn_d/mysqld.log" \
	    --character-set-server=utf8mb4 \
	    --collation-server=utf8mb4_unicode_ci \
	    --innodb-buffer-pool-size=128M \
	    --innodb-flush-log-at-trx-commit=${CL_FLUSH:-2} \
	    --binlog-format=ROW --innodb-autoinc-lock-mode=2 --wsrep-on=ON \
	    --wsrep-provider="$CL_PROVIDER" --wsrep-cluster-name="$CL_NAME" \
	    --wsrep-cluster-address="$(cl_address)" \
	    --wsrep-node-address="127.0.0.1:$((cn_p + 1))" \
	    --wsrep-node-name="node$cn_n" \
	    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$((cn_p + 1));ist.recv_addr=127.0.0.1:$((cn_p + 2));gcache.size=1G${CL_PROVIDER_OPTIONS:+;$CL_PROVIDER_OPTIONS}" \
	    --wsrep-sst-receive-address="127.0.0.1:$((cn_p + 3))" \
	    --wsrep-sst-method=rsync --wsrep-slave-threads=2 \
	    --max-connections=300 --log-bin-trust-function-creators=ON \
	    --innodb-lock-wait-timeout=5 "$@" \
	    </dev/null >/dev/null 2>&1 &
	cn_pid=$!
	cn_n_wait=$((CL_TIMEOUT * 5))
	while [ "$cn_n_wait" -gt 0 ]; do
		cl_synced "$cn_n" && return 0
		if h_gone "$cn_pid"; then
			h_err "node $cn_n (mariadbd) exited while starting"
			h_tail "$cn_d/mysqld.log" 40
			return 1
		fi
		sleep 0.2
		cn_n_wait=$((cn_n_wait - 1))
	done
	h_err "node $cn_n not Synced after ${CL_TIMEOUT}s"
	h_tail "$cn_d/mysqld.log" 40
	return 1
}

# cl_node_kill N: kill -9 of node N's mariadbd (by its pid file).
cl_node_kill()
{
	ck_pid=$(cl_pid "$1") || { h_err "node $1 does not run"; return 1; }
	kill -KILL "$ck_pid" && h_poll 10 h_gone "$ck_pid"
}

# cl_node_signal N SIG: SIGSTOP (a node that hangs: its connections stay
# open, it answers nothing) or SIGCONT to node N's mariadbd.
cl_node_signal()
{
	cn_pid=$(cl_pid "$1") || { h_err "node $1 does not run"; return 1; }
	kill -s "$2" "$cn_pid"
}

# cl_node_stop N: a clean shutdown of node N.
cl_node_stop()
{
	h_stop "mariadbd node $1" "$(cl_dir "$1")/mysqld.pid" /usr/sbin/mariadbd
}

# cl_node_restart N: node N back into the running cluster, from the
# position recovered from its InnoDB (IST when the donor's gcache still
# holds what it missed, else a full rsync copy).
cl_node_restart()
{
	cl_pid "$1" >/dev/null && { h_say "node $1 already runs"; return 0; }
	cs_pos=$(cl_recover "$1")
	if [ -n "$cs_pos" ]; then
		cl_node_start "$1" --wsrep-start-position="$cs_pos"
	else
		cl_node_start "$1"
	fi
}

# cl_down: every node stopped (the last one cleanly); the datadirs stay.
cl_down()
{
	for cd_n in 3 2 1; do
		cl_node_stop "$cd_n"
	done
}

# cl_make_dirs: fresh, empty node directories owned by mysql.
cl_make_dirs()
{
	if ! id mysql >/dev/null 2>&1; then
		h_err "no user mysql (apt-get install mariadb-server)"
		return 1
	fi
	rm -rf "$CL_DIR" && mkdir -p "$CL_DIR" && chmod 0755 "$H_RUN" "$CL_DIR" ||
	    return 1
	for cm_n in 1 2 3; do
		mkdir -p "$(cl_dir "$cm_n")/data" &&
		    chown -R mysql:mysql "$(cl_dir "$cm_n")" &&
		    chmod 0750 "$(cl_dir "$cm_n")" || return 1
	done
	ln -sfn "$CL_DIR" "$H_VAR/galera"
}

# cl_conf PORT: $H_CONF and $H_MCONF for clientsctl, over TCP to PORT.
# shellcheck disable=SC2034 # h_write_conf uses them
cl_conf()
{
	H_SOCK=$H_RUN/clientsd.sock
	H_CONF_EXTRA="database socket
database host 127.0.0.1
database port $1"
	h_write_conf
}

# cl_up BUILDDIR: a fresh cluster: node 1 bootstraps, 2 and 3 join one at
# a time; then the database, its two users (for any host: the pools come
# over TCP), the migrations and an admin key ($H_KEYFILE).  The nodes
# trust function creators: with wsrep on, a migration's trigger or
# function would otherwise need SUPER (error 1419).  With CL_SLOWDISK set
# (the drills), tests/faults/slowdisk.c is built beside the nodes, and
# each node's writes wait the milliseconds in its directory's file
# "slowdisk" (cl_node_start).
cl_up()
{
	cu_build=$1
	if ! h_is_root; then
		h_err "the cluster's nodes run as mysql: run this as root"
		return 1
	fi
	cl_down
	h_rundir && cl_make_dirs || return 1
	if [ -n "${CL_SLOWDISK:-}" ] && ! ${CC:-cc} -shared -fPIC -O2 -Wall -Wextra -Werror \
	    -o "$CL_DIR/slowdisk.so" "$REPO/tests/faults/slowdisk.c" -ldl; then
		h_err "tests/faults/slowdisk.c did not build"
		return 1
	fi
	cu_t0=$(date +%s)
	h_say "galera: mariadb-install-db (node 1)"
	if ! mariadb-install-db --no-defaults --datadir="$(cl_dir 1)/data" \
	    --user=mysql --auth-root-authentication-method=socket \
	    --skip-test-db >"$H_LOG/mariadb-install.log" 2>&1; then
		h_err "mariadb-install-db failed"
		h_tail "$H_LOG/mariadb-install.log"
		return 1
	fi
	h_say "galera: node 1 bootstraps the cluster on 127.0.0.1:$(cl_port 1)"
	cl_node_start 1 --wsrep-new-cluster || return 1
	for cu_n in 2 3; do
		h_say "galera: node $cu_n joins on 127.0.0.1:$(cl_port "$cu_n")"
		cl_node_start "$cu_n" || return 1
	done
	h_say "galera: 3 nodes Synced in $(($(date +%s) - cu_t0)) s"
	# shellcheck disable=SC2034 # h_db_setup's clientsctl
	H_BUILD=$cu_build
	cl_conf "$(cl_port 1)" || return 1
	cu_sql=$("$cu_build/app/clientsctl" -c "$H_CONF" -m "$H_MCONF" \
	    db-setup --print 2>>"$H_LOG/clientsctl.log") || {
		h_tail "$H_LOG/clientsctl.log"
		h_err "clientsctl db-setup --print failed"
		return 1
	}
	{ echo 'DROP DATABASE IF EXISTS clients;'; printf '%s\n' "$cu_sql"; } |
	    cl_sql 1 || return 1
	h_say "galera: clientsctl migrate (through node 1)"
	if ! h_migrate "$cu_build" >>"$H_LOG/clientsctl.log" 2>&1; then
		h_tail "$H_LOG/clientsctl.log"
		h_err "clientsctl migrate failed"
		return 1
	fi
	h_new_admin_key "$cu_build" "cluster $(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# cl_status: each node's state and the cluster size it sees.
cl_status()
{
	for cs_n in 1 2 3; do
		if cs_pid=$(cl_pid "$cs_n"); then
			printf 'node %s 127.0.0.1:%s pid %s %s cluster_size=%s ready=%s\n' \
			    "$cs_n" "$(cl_port "$cs_n")" "$cs_pid" \
			    "$(cl_var "$cs_n" wsrep_local_state_comment)" \
			    "$(cl_var "$cs_n" wsrep_cluster_size)" \
			    "$(cl_var "$cs_n" wsrep_ready)"
		else
			printf 'node %s 127.0.0.1:%s down\n' "$cs_n" "$(cl_port "$cs_n")"
		fi
	done
}

# --- the drills' set-up (tests/integration/cluster_test.py) -----------

# The nginx server blocks of the drills: one per pool, on
# CLUSTER_BASE_PORT + 40 + i (a: node 1 first, b: node 2 first, c: behind
# the drills' COMMIT-cutting proxy, s: the single server).
CL_POOLS="a b c s"

# cl_nginx: one nginx, one server block of conf/nginx-clientsd.conf per
# pool of CL_POOLS, each passing to $H_RUN/pool-X.sock (the drills start
# the pools themselves).
cl_nginx()
{
	cg_i=0
	cg_conf=$H_NGINX/clientsd-cluster.conf
	mkdir -p "$H_NGINX/tmp" || return 1
	: >"$cg_conf" || return 1
	for cg_p in $CL_POOLS; do
		cg_port=$((CL_BASE + 40 + cg_i))
		h_private_log "$H_LOG/nginx-$cg_p-access.log" || return 1
		h_subst "$REPO/conf/nginx-clientsd.conf" \
		    "HTTP_LISTEN=127.0.0.1:$cg_port" \
		    "CLIENTSD_SOCKET=$H_RUN/pool-$cg_p.sock" \
		    "ACCESS_LOG=$H_LOG/nginx-$cg_p-access.log" |
		    if [ "$cg_i" -eq 0 ]; then cat; else
			# log_format and map live in http{}: once.
			sed -n '/^server {/,/^}/p'
		    fi >>"$cg_conf" || return 1
		cg_i=$((cg_i + 1))
	done
	# h_nginx_start writes nginx.conf around its own one-server snippet;
	# that snippet is replaced by ours before the start.
	H_SOCK=$H_RUN/pool-a.sock
	H_NGINX_SNIPPET=$cg_conf h_nginx_start "$((CL_BASE + 40))"
}

# cl_test_down: the drills' pools, nginx, the cluster and the single server
# stopped.
cl_test_down()
{
	cl_init
	for cc_p in $CL_POOLS; do
		h_stop "clientsd pool $cc_p" "$H_RUN/pool-$cc_p.pid" "$H_BIN"
	done
	h_stop_all
	cl_down
	(h_instance clsingle && h_stop_all)
}

# cl_test_up BUILDDIR: what the drills run on: a fresh cluster, a fresh
# single MariaDB with the cluster's durability setting (the throughput
# comparison, instance "clsingle"), nginx.
cl_test_up()
{
	cl_test_down
	if ! (h_instance clsingle && rm -rf "$H_VAR" "$H_RUN" && h_rundir &&
	    h_backend "$1" fresh --innodb-flush-log-at-trx-commit=2 \
	    --innodb-buffer-pool-size=128M &&
	    h_new_admin_key "$1" single); then
		return 1
	fi
	cl_init
	rm -rf "$H_VAR" "$H_RUN"
	if ! CL_SLOWDISK=1 cl_up "$1" || ! h_install_bin "$1/app/clientsd" || ! cl_nginx; then
		h_tail "$H_LOG/nginx-error.log"
		return 1
	fi
}

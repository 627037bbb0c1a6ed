/* dbconf.c - see dbconf.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dbconf.h"
#include "deadline.h"

void
dbconf_of(const struct cm_config *cfg, struct cm_db_config *out)
{
	char	why[128];

	memset(out, 0, sizeof(*out));
	/* config.c checked hosts when it loaded them; a bad one cannot get here. */
	if (cfg->db_hosts[0] == '\0' ||
	    cm_dbnodes_parse(cfg->db_hosts, &out->nodes, why, sizeof(why)) != 0)
		cm_dbnodes_single(cfg->db_socket, cfg->db_host, cfg->db_port,
		    &out->nodes);
	out->policy = cfg->db_policy;
	snprintf(out->name, sizeof(out->name), "%s", cfg->db_name);
	snprintf(out->user, sizeof(out->user), "%s", cfg->db_user);
	snprintf(out->password, sizeof(out->password), "%s", cfg->db_password);
	out->connect_timeout = cfg->db_connect_timeout;
	out->retries = cfg->db_retries;
	out->lock_wait_timeout = cfg->db_lock_wait_timeout;
	out->statement_timeout = cfg->db_statement_timeout;
	out->settle_ms = cm_settle_ms(cfg->request_timeout);
	out->failback_s = cfg->db_failback_s;
	out->galera = cfg->db_galera;
	out->allow_donor = cfg->db_allow_donor;
	out->causal_reads = cfg->db_causal_reads;
	out->tls = cfg->db_tls;
	snprintf(out->tls_ca, sizeof(out->tls_ca), "%s", cfg->db_tls_ca);
	snprintf(out->tls_cert, sizeof(out->tls_cert), "%s", cfg->db_tls_cert);
	snprintf(out->tls_key, sizeof(out->tls_key), "%s", cfg->db_tls_key);
	out->auth_cache_s = cfg->auth_cache_s;
	out->auth_refused_cache_s = cfg->auth_refused_cache_s;
	out->check_schema = true;
}

/* Whether a database host must be looked up (not an address literal). */
static bool
is_name(const struct cm_dbnode *nd)
{
	unsigned char	addr[sizeof(struct in6_addr)];

	return !nd->socket && inet_pton(AF_INET, nd->host, addr) != 1 &&
	    inet_pton(AF_INET6, nd->host, addr) != 1;
}

void
dbconf_sandbox_plan(const struct cm_config *cfg, const struct cm_db_config *db,
    bool own_log, struct cm_sandbox_plan *p)
{
	size_t	i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < db->nodes.n; i++) {
		p->dns = p->dns || is_name(&db->nodes.node[i]);
		if (!db->nodes.node[i].socket && p->nport < CM_SANDBOX_PORTS)
			p->port[p->nport++] = db->nodes.node[i].port;
	}
	p->syslog = own_log && strcmp(cfg->log_target, "syslog") == 0;
	p->tls = cfg->db_tls != CM_TLS_OFF;
	if (p->tls) {
		p->read[p->nread++] = cfg->db_tls_ca;
		p->read[p->nread++] = cfg->db_tls_cert;
		p->read[p->nread++] = cfg->db_tls_key;
	}
}

int
dbconf_schema_check(const struct cm_config *cfg, char *level, size_t levelsz,
    char *why, size_t whysz)
{
	struct cm_db_config	 dbcfg;
	struct cm_db		*db;
	enum cm_db_status	 rc;

	dbconf_of(cfg, &dbcfg);
	db = cm_db_open(&dbcfg, (unsigned long)getpid());
	explicit_bzero(&dbcfg, sizeof(dbcfg));
	rc = cm_db_schema_check(db, level, levelsz, why, whysz);
	cm_db_close(db);
	return rc == CM_DB_OK ? 0 : rc == CM_DB_UNAVAILABLE ? 1 : -1;
}

/*
 * schema.c - see schema.h.  tests/unit/check_schema.c keeps the table in
 * step with the files in db/ and their "-- kind:" lines.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"

const struct cm_migration cm_schema_known[] = {
	{ "001_schema", CM_MIGRATION_EXPAND },
	{ "002_audit_at_index", CM_MIGRATION_EXPAND },
	{ "009_list_counts", CM_MIGRATION_EXPAND },
	{ "010_transaction_tokens", CM_MIGRATION_EXPAND },
	{ "011_idempotency", CM_MIGRATION_EXPAND },
	{ "012_node_counters", CM_MIGRATION_EXPAND },
	{ "013_key_scopes", CM_MIGRATION_EXPAND },
	{ "014_update_procedure", CM_MIGRATION_EXPAND },
	{ "015_event_agency", CM_MIGRATION_EXPAND },
	{ "016_webhook_endpoints", CM_MIGRATION_EXPAND },
	{ "017_webhook_deliveries", CM_MIGRATION_EXPAND },
	{ NULL, CM_MIGRATION_EXPAND }
};

static const struct cm_migration *
known(const char *name)
{
	const struct cm_migration	*m;

	for (m = cm_schema_known; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

static bool
applied_has(const struct cm_applied *applied, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(applied[i].name, name) == 0)
			return true;
	return false;
}

bool
cm_schema_servable(const struct cm_applied *applied, size_t n, char *why,
    size_t whysz)
{
	const struct cm_migration	*m;
	size_t				 i;

	for (m = cm_schema_known; m->name != NULL; m++)
		if (m->kind == CM_MIGRATION_EXPAND &&
		    !applied_has(applied, n, m->name)) {
			snprintf(why, whysz, "the database schema lacks "
			    "migration %s: run clientsctl migrate", m->name);
			return false;
		}
	for (i = 0; i < n; i++)
		if (applied[i].contract && known(applied[i].name) == NULL) {
			snprintf(why, whysz, "the database schema was "
			    "contracted by a newer release (migration %s): "
			    "run that release", applied[i].name);
			return false;
		}
	return true;
}

const char *
cm_schema_needed(void)
{
	const struct cm_migration	*m, *last = NULL;

	for (m = cm_schema_known; m->name != NULL; m++)
		last = m;
	return last != NULL ? last->name : "";
}

const char *
cm_migration_kind_name(enum cm_migration_kind k)
{
	return k == CM_MIGRATION_CONTRACT ? "contract" : "expand";
}

/*
 * steward.h - the pure rules of data stewardship: which members
 * of a client are personal data, how an audit record is erased, and the
 * cut-off times of audit retention.  No database here: store_steward.c
 * applies these inside its transactions; clientsctl parses --before.
 */
#ifndef CM_STEWARD_H
#define CM_STEWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "client.h"

/* What an erased value becomes in the audit history. */
#define CM_ERASED	"<erased>"

/*
 * True for the members erasure overwrites in the history: name, domain,
 * email, phone, website, global_name, company_id, api_metadata,
 * ghl_location_id, proxy_api_key.  Not: id (the key of the history),
 * status, the generated keys (already "<redacted>"), timezone, agency_id,
 * the timestamps.  doc/api-guide.md ("Erasure") gives the reasons.
 */
bool	 cm_steward_personal(enum cm_field);

/*
 * Erases an audit record's "changes" object in place: the "old" and "new"
 * of every personal member that are not null become "<erased>" (a null
 * stays null: it holds nothing, and says the member was empty).  Member
 * names, and so which members changed, stay.  Returns the number of
 * values replaced (0: nothing personal left), or -1 when changes is not
 * an object of {"old","new"} objects.
 */
int	 cm_steward_erase_changes(json_t *changes);

/*
 * The --before argument as a UTC DATETIME(3) literal
 * "YYYY-MM-DD HH:MM:SS.000" in out (at least 24 bytes).  Accepts
 * "YYYY-MM-DD" (midnight UTC) and "YYYY-MM-DDTHH:MM:SS[Z]" (or a space
 * instead of T); years 1970-9999; checks the day of the month (leap
 * years included).  Returns 0, or -1 when malformed.
 */
int	 cm_steward_parse_date(const char *s, char *out, size_t outsz);

/*
 * The cut-off of "retention_days" at time now: now - days * 86400 s, as
 * in cm_steward_parse_date.  Returns -1 when days < 1 (keep forever).
 */
int	 cm_steward_retention_cutoff(int days, time_t now, char *out,
	    size_t outsz);

#endif

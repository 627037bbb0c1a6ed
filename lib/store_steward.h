/*
 * store_steward.h - erasure and audit retention in the database.
 * The rules (which members are personal, cut-off dates) are in steward.h;
 * the code in store_steward.c, on the store's connection and transaction
 * runner.
 */
#ifndef CM_STORE_STEWARD_H
#define CM_STORE_STEWARD_H

#include "store.h"

/*
 * Erasure (GDPR art. 17): in one transaction, locks and deletes the
 * client's row (if it still exists; If-Match is checked against it),
 * overwrites the personal members' values in every audit row of the
 * client with "<erased>", and writes one audit row "erase" recording
 * which members the row held (values erased).  A client already
 * hard-deleted but with a history gets its history erased all the same.
 * CM_STORE_NOT_FOUND only when there is neither a row nor a history;
 * CM_STORE_PRECONDITION when If-Match is given and fails (or there is no
 * row to match).  A repeat finds nothing left to erase and writes no
 * second "erase" row.  *deleted (may be NULL) says whether a row went.
 */
int	cm_store_erase(struct cm_store *, const char *id,
	    const struct cm_write *, bool *deleted);

/*
 * Retention: deletes the audit rows older than cutoff ("YYYY-MM-DD
 * HH:MM:SS.000", UTC; see steward.h) in batches of batch rows, one short
 * transaction each, oldest first along the index on client_audit.at, so
 * no lock is held for long.  *rows: how many went (with dry_run: how
 * many would, nothing deleted).  *batches (may be NULL): transactions run.
 * Stops at the first error, leaving the batches done committed.
 */
int	cm_store_audit_purge(struct cm_store *, const char *cutoff,
	    unsigned batch, bool dry_run, unsigned long long *rows,
	    unsigned long long *batches);

#endif

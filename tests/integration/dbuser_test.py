"""dbuser_test.py - the runtime database user (clientsd.conf's [database]
user), with the grants `clientsctl migrate` gave it table by table, has
what the service's requests need and no more: it reads admin keys and
writes one column of them, when a key was last used (a column grant), but
cannot mint, change, revoke or delete one (not its scopes, binding or
expiry either); it adds history but cannot rewrite it (beyond the column
erasure overwrites) or delete it; it has no DDL.  One test a statement,
on the run's fresh database, once before the web server set-ups, in both
runs.
"""

import os
import subprocess

import pytest

from kit import Failure

pytestmark = [pytest.mark.setups("before", sanitize="before"), pytest.mark.budget(120)]

CHECKS = [
    ("ok", "SELECT COUNT(*) FROM clients"),
    ("ok", "DELETE FROM clients WHERE 1 = 0"),
    ("ok", "DELETE FROM idempotency_keys WHERE 1 = 0"),
    ("ok", "SELECT COUNT(*) FROM admin_keys"),
    ("ok", "SELECT id, scopes, agency_id, expires_at, last_used_at FROM admin_keys"),
    ("ok", "UPDATE admin_keys SET last_used_at = NOW(3) WHERE 1 = 0"),
    ("ok", "SELECT COUNT(*) FROM client_audit"),
    ("ok", "UPDATE client_audit SET changes = changes WHERE 1 = 0"),
    ("ok", "SELECT SUM(n) FROM client_counts"),
    ("ok", "SELECT id, secret FROM webhook_endpoints"),
    ("ok", "DELETE FROM webhook_endpoints WHERE 1 = 0"),
    ("ok", "SELECT COUNT(*) FROM webhook_deliveries"),
    ("denied", "UPDATE webhook_deliveries SET attempts = 0 WHERE 1 = 0"),
    ("denied", "UPDATE webhook_lease SET holder = 'x' WHERE 1 = 0"),
    ("denied", "INSERT INTO admin_keys (name, key_sha256, created_at) "
               "VALUES ('minted', REPEAT('0', 64), NOW(3))"),
    ("denied", "UPDATE admin_keys SET revoked_at = NULL WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET scopes = 'clients:read' WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET agency_id = NULL WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET expires_at = NULL WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET description = NULL WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET key_sha256 = REPEAT('0', 64) WHERE 1 = 0"),
    ("denied", "UPDATE admin_keys SET last_used_at = NOW(3), name = 'x' WHERE 1 = 0"),
    ("denied", "DELETE FROM admin_keys WHERE 1 = 0"),
    ("denied", "UPDATE client_audit SET action = 'create' WHERE 1 = 0"),
    ("denied", "UPDATE client_audit SET admin_key_id = NULL WHERE 1 = 0"),
    ("denied", "DELETE FROM client_audit WHERE 1 = 0"),
    ("denied", "UPDATE client_counts SET n = 0 WHERE 1 = 0"),
    ("denied", "DELETE FROM installation_secrets WHERE 1 = 0"),
    ("denied", "INSERT INTO schema_migrations (name, applied_at) VALUES ('x', NOW())"),
    ("denied", "CREATE TABLE cm_ddl_probe (i INT)"),
    ("denied", "ALTER TABLE clients ADD COLUMN cm_ddl_probe INT"),
    ("denied", "DROP TABLE client_audit"),
    ("denied", "CREATE INDEX cm_ddl_probe ON clients (name)"),
]


@pytest.mark.parametrize("want,sql", CHECKS, ids=["%s: %s" % c for c in CHECKS])
def test_runtime_database_user(instance, want, sql):
    with open(instance.pwfile) as f:
        password = f.read().strip()
    p = subprocess.run(["mariadb", "--no-defaults", "--socket=" + instance.dbsock, "-u",
                        "clients", "clients", "-e", sql], capture_output=True, text=True,
                       timeout=30, env=dict(os.environ, MYSQL_PWD=password))
    out = (p.stdout + p.stderr).strip()
    if want == "ok" and p.returncode != 0:
        raise Failure("refused: %s" % out)
    if want == "denied" and (p.returncode == 0 or "command denied" not in out):
        raise Failure("want denied (exit %d): %s" % (p.returncode, out))

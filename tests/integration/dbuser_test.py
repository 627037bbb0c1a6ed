"""dbuser_test.py - the runtime database user that `clientsctl db-setup`
made (clientsd.conf's [database] user) has the DML the service needs on
every table, client_audit included, and no DDL: CREATE, ALTER, DROP are
refused.  One test a statement, on the run's fresh database, once before the
web server set-ups, in both runs.
"""

import os
import subprocess

import pytest

from kit import Failure

pytestmark = [pytest.mark.setups("before", sanitize="before"), pytest.mark.budget(120)]

CHECKS = [
    ("ok", "SELECT COUNT(*) FROM clients"),
    ("ok", "DELETE FROM client_audit WHERE 1 = 0"),
    ("ok", "UPDATE admin_keys SET name = name WHERE 1 = 0"),
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

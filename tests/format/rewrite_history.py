#!/usr/bin/env python3
"""A superuser rewrites history consistently; only a checkpoint sees it.

The attack the checkpoint issue exists for: with the guard switched off, a
superuser marks up a contract value in an old ledger entry and recomputes
every later hash of its chain (this script does it with its own
implementation of docs/format.md, from check_format.py).  Then:
  - notary.verify() finds nothing: the ledger is consistent again;
  - notary.verify_checkpoint() with a checkpoint taken before the rewrite
    reports history_rewritten;
  - cutting off the newest entries after a checkpoint is reported as
    entries_missing;
  - a checkpoint with one field changed, or signed by another key, fails.

Runs as the postgres OS user against the cluster in PGHOST/PGPORT.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_format as f  # noqa: E402

DB = "pg_notary_rewrite_check"
failures = []


def psql(sql, db=DB):
    return f.psql(sql, db=db)


def expect(cond, msg):
    print(("ok: " if cond else "FAIL: ") + msg)
    if not cond:
        failures.append(msg)


def findings(sql):
    out = psql(sql).strip()
    return [line.split("|") for line in out.splitlines() if line]


def main():
    psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    try:
        psql("""
CREATE EXTENSION pg_notary;
CREATE SCHEMA procurement;
CREATE TABLE procurement.contracts (id int PRIMARY KEY, vendor text, value numeric(14,2));
SELECT notary.enable('procurement');
INSERT INTO procurement.contracts VALUES (1, 'PT Sinar Jaya', 150000000), (2, 'CV Maju', 80000000);
UPDATE procurement.contracts SET value = 155000000 WHERE id = 1;
INSERT INTO procurement.contracts VALUES (3, 'PT Karya Abadi', 42000000);
""")
        cp = psql("SELECT notary.checkpoint()").strip()
        expect(findings("SELECT problem FROM notary.verify_checkpoint('%s')" % cp) == [],
               "a fresh checkpoint verifies")
        psql("INSERT INTO procurement.contracts VALUES (4, 'PT Baru', 1000000)")

        # --- the rewrite: mark up contract 1 in its INSERT entry, rehash the chain
        target = json.loads(psql(
            "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos FROM notary.ledger "
            "WHERE op = 'INSERT' AND row_image[1] = '1') e").strip())
        psql("ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only")
        psql("UPDATE notary.ledger SET row_image[3] = '950000000.00' WHERE seq = %d" % target["seq"])
        layouts = {}
        for line in psql("SELECT row_to_json(l) FROM notary.layouts l").splitlines():
            l = json.loads(line)
            d = f.layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                                l["column_names"], l["column_types"],
                                [k - 1 for k in l["key_columns"]],
                                [p - 1 for p in l["personal_columns"]])
            layouts[l["layout_id"]] = (d, [p - 1 for p in l["personal_columns"]])
        rows = psql(
            "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos, "
            "encode(prev_hash, 'hex') AS prev_hash, op, xid::text AS xid, "
            "(extract(epoch FROM logged_at) * 1000000)::bigint AS logged_at_us, "
            "session_user_name, current_user_name, application_name, client_addr, table_id, "
            "layout_id, row_image, encode(row_salts, 'hex') AS row_salts, "
            "encode(old_digest, 'hex') AS old_digest, detail::text AS detail "
            "FROM notary.ledger WHERE chain_id = %d AND chain_pos >= %d ORDER BY chain_pos) e"
            % (target["chain_id"], target["chain_pos"])).splitlines()
        prev = None
        for line in rows:
            e = json.loads(line)
            p = bytes.fromhex(e["prev_hash"]) if prev is None else prev
            img = None
            if e["layout_id"] is not None:
                ld, personal = layouts[e["layout_id"]]
                img = f.image_digest(ld, e["row_image"], personal,
                                     bytes.fromhex(e["row_salts"]) if e["row_salts"] else b"")
            h = f.entry_hash(p, e, img)
            psql("UPDATE notary.ledger SET prev_hash = '\\x%s', entry_hash = '\\x%s' WHERE seq = %d"
                 % (p.hex(), h.hex(), e["seq"]))
            prev = h
        psql("ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only")

        expect(findings("SELECT problem FROM notary.verify()") == [],
               "verify() cannot see a consistent rewrite (rehashed %d entries)" % len(rows))
        got = findings("SELECT problem, chain_id, position FROM notary.verify_checkpoint('%s')" % cp)
        expect(any(r[0] == "history_rewritten" and int(r[1]) == target["chain_id"] for r in got),
               "verify_checkpoint() with the earlier checkpoint reports history_rewritten on chain %d: %s"
               % (target["chain_id"], got))

        # --- tail cut off after a new checkpoint
        cp2 = psql("SELECT notary.checkpoint()").strip()
        # (the ALTER TABLE that switches the guard off is itself recorded in
        # the ledger, in this backend's chain: cut the tail after it, in the
        # same session, and write nothing more before checking)
        head = json.loads(cp2)["chains"][-1]
        psql("ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only; "
             "DELETE FROM notary.ledger WHERE chain_id = %d AND chain_pos >= %d"
             % (head["chain_id"], head["position"]))
        got = findings("SELECT problem FROM notary.verify_checkpoint('%s')" % cp2)
        expect(["entries_missing"] in got, "a tail cut off after a checkpoint is reported: %s" % got)
        expect(findings("SELECT problem FROM notary.verify() WHERE problem <> 'checkpoint_chain'") == [],
               "verify() alone cannot see a cut-off tail")
        psql("ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only")

        # --- forged and foreign checkpoints
        forged = json.loads(cp2)
        forged["entries"] += 1
        got = findings("SELECT problem FROM notary.verify_checkpoint('%s')" % json.dumps(forged))
        expect(["bad_signature"] in got, "a checkpoint with one field changed is reported: %s" % got)
        # moving a checkpoint to another cluster by editing it is a forgery too
        # (an authentic checkpoint of another cluster, re-signed with the
        # key, is tests/cli's job: Python has no Ed25519)
        other = json.loads(cp2)
        other["system_identifier"] = "1"
        got = findings("SELECT problem FROM notary.verify_checkpoint('%s')" % json.dumps(other))
        expect(got == [["bad_signature"]],
               "a checkpoint edited to name another cluster is reported as forged, once: %s" % got)
        stored = findings("SELECT problem FROM notary.verify() WHERE problem = 'checkpoint_chain'")
        expect(stored == [], "the stored checkpoint chain is intact")
    finally:
        psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")


if __name__ == "__main__":
    main()
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("rewrite checks passed")

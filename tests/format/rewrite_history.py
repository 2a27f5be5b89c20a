#!/usr/bin/env python3
"""A superuser rewrites history consistently; only a checkpoint sees it.

The attack the checkpoint issue exists for: with the guards switched off, a
superuser marks up a contract value in an old ledger entry (in place, in the
bytes of its pack in notary.ledger_packs) and recomputes every later hash of
its chain (this script does it with its own implementation of
docs/format.md and of the pack layout, from check_format.py), each entry in
its own format, through a sealed entry (whose seal, recorded by a REDACT
entry, is recomputed too).  Then:
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
        # the history to rewrite spans both formats and a sealed entry: the
        # first changes are written by 0.3 (format 1), the rest by 0.4
        # (format 2), and vendor, classified late, is erased from contract
        # 3, whose INSERT is then sealed
        psql("""
CREATE EXTENSION pg_notary VERSION '0.3';
CREATE SCHEMA procurement;
CREATE TABLE procurement.contracts (id int PRIMARY KEY, vendor text, value numeric(14,2));
SELECT notary.enable('procurement');
INSERT INTO procurement.contracts VALUES (1, 'PT Sinar Jaya', 150000000), (2, 'CV Maju', 80000000);
""")
        psql("""
ALTER EXTENSION pg_notary UPDATE;
UPDATE procurement.contracts SET value = 155000000 WHERE id = 1;
INSERT INTO procurement.contracts VALUES (3, 'PT Karya Abadi', 42000000);
SELECT notary.classify('procurement.contracts', 'vendor', 'identifier');
SELECT notary.redact('procurement.contracts', '{3}', '{vendor}', 'erasure request');
""")
        cp = psql("SELECT notary.checkpoint()").strip()
        expect(findings("SELECT problem FROM notary.verify_checkpoint('%s')" % cp) == [],
               "a fresh checkpoint verifies")
        psql("INSERT INTO procurement.contracts VALUES (4, 'PT Baru', 1000000)")

        # --- the rewrite: mark up contract 1 in its INSERT entry, rehash the chain
        target = json.loads(psql(
            "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos FROM notary.ledger "
            "WHERE op = 'INSERT' AND row_image[1] = '1') e").strip())
        expect(psql("SELECT count(*) FROM notary.ledger_packs WHERE chain_id = %d AND %d BETWEEN first_pos AND last_pos"
                    % (target["chain_id"], target["chain_pos"])).strip() == "1",
               "precondition: the entry to mark up is packed")
        psql("ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only; "
             "ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only")
        # the same number of digits: the pack still decodes
        psql("UPDATE notary.ledger_packs "
             "SET entries = overlay(entries PLACING convert_to('950000000.00', 'UTF8') "
             "FROM position(convert_to('150000000.00', 'UTF8') IN entries) FOR 12) "
             "WHERE chain_id = %d AND %d BETWEEN first_pos AND last_pos"
             % (target["chain_id"], target["chain_pos"]))
        expect(psql("SELECT row_image[3] FROM notary.ledger WHERE seq = %d" % target["seq"]).strip()
               == "950000000.00", "precondition: the view shows the marked-up value")
        expect([r[0] for r in findings("SELECT seq FROM notary.verify()")] == [str(target["seq"])],
               "before the rehash, verify() reports the edited entry")
        later = f.read_entries(DB, "WHERE chain_id = %d AND chain_pos >= %d"
                               % (target["chain_id"], target["chain_pos"]))
        expect({e.get("format_version", 1) for e in later} == {1, 2}
               and any(f.sealed_positions(e) for e in later),
               "precondition: the chain from the edited entry on holds both formats and a sealed entry")
        updates, n = f.rehash_chain(DB, target["chain_id"], target["chain_pos"])
        psql("BEGIN;\n" + "\n".join(updates) + "\nCOMMIT;")
        psql("ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only; "
             "ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only")

        expect(findings("SELECT problem FROM notary.verify()") == [],
               "verify() cannot see a consistent rewrite (rehashed %d entries)" % n)
        problems, _ = f.recompute(f.read_entries(DB), f.read_layouts(DB))
        expect(problems == [], "check_format.py's own verifier agrees: %s" % problems)
        got = findings("SELECT problem, chain_id, position FROM notary.verify_checkpoint('%s')" % cp)
        expect(any(r[0] == "history_rewritten" and int(r[1]) == target["chain_id"] for r in got),
               "verify_checkpoint() with the earlier checkpoint reports history_rewritten on chain %d: %s"
               % (target["chain_id"], got))

        # --- tail cut off after a new checkpoint
        cp2 = psql("SELECT notary.checkpoint()").strip()
        # (the ALTER TABLEs that switch the guards off are themselves recorded
        # in the ledger, in this backend's chain: written as single entries
        # (notary.pack_entries = off), they are stored at once, so the same
        # statement cuts them off with the tail; write nothing more before
        # checking)
        head = json.loads(cp2)["chains"][-1]
        expect(psql("SELECT count(*) FROM notary.ledger_packs WHERE chain_id = %d "
                    "AND first_pos < %d AND last_pos >= %d"
                    % (head["chain_id"], head["position"], head["position"])).strip() == "0",
               "precondition: no pack holds both the head and an entry before it")
        psql("SET notary.pack_entries = off; "
             "ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only; "
             "ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only; "
             "DELETE FROM notary.ledger_packs WHERE chain_id = %d AND first_pos >= %d; "
             "DELETE FROM notary.ledger_entries WHERE chain_id = %d AND chain_pos >= %d"
             % (head["chain_id"], head["position"], head["chain_id"], head["position"]))
        got = findings("SELECT problem FROM notary.verify_checkpoint('%s')" % cp2)
        expect(["entries_missing"] in got, "a tail cut off after a checkpoint is reported: %s" % got)
        expect(findings("SELECT problem FROM notary.verify() WHERE problem <> 'checkpoint_chain'") == [],
               "verify() alone cannot see a cut-off tail")
        psql("ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only; "
             "ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only")

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

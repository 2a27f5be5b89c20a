#!/usr/bin/env python3
"""THE ATTACKER'S TOOL, for demo/demo.sql section (e).  Not part of pg_notary.

    python3 demo/forge_history.py SEQ

A superuser's cover-up of an edited ledger entry: recompute prev_hash and
entry_hash of entry SEQ and of every later entry of its chain, so that
notary.verify() finds every hash and link correct again.  The hashes hold
no secret; they are computed here with the independent Python
implementation of docs/format.md in tests/format/check_format.py.  Switching
the ledger's guard off is not recorded: the event triggers are silenced
first.  Only a checkpoint held outside the database (notary.verify_checkpoint(),
notary-verify --checkpoint) exposes the rewrite.

Runs psql as a superuser against PGHOST/PGPORT/PGDATABASE/PGUSER.
"""
import json
import os
import sys

sys.dont_write_bytecode = True      # leave no __pycache__ in tests/format
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "format"))
import check_format as fmt  # noqa: E402

DB = os.environ.get("PGDATABASE", "")


def rows(sql):
    return [json.loads(line) for line in fmt.psql(sql, db=DB).splitlines()]


def main(seq):
    layouts = {}
    for l in rows("SELECT row_to_json(l) FROM notary.layouts l"):
        personal = [p - 1 for p in l["personal_columns"]]
        digest = fmt.layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                                   l["column_names"], l["column_types"],
                                   [k - 1 for k in l["key_columns"]], personal)
        layouts[l["layout_id"]] = (digest, personal)
    # the entry and every later entry of its chain, oldest first
    entries = rows(
        "SELECT row_to_json(e) FROM (SELECT l.seq, l.chain_id, l.chain_pos, "
        "encode(l.prev_hash, 'hex') AS prev_hash, l.op, l.xid::text AS xid, "
        "(extract(epoch FROM l.logged_at) * 1000000)::bigint AS logged_at_us, "
        "l.session_user_name, l.current_user_name, l.application_name, l.client_addr, "
        "l.table_id, l.layout_id, l.row_image, encode(l.row_salts, 'hex') AS row_salts, "
        "encode(l.old_digest, 'hex') AS old_digest, l.detail::text AS detail "
        "FROM notary.ledger l JOIN notary.ledger t ON t.seq = %d "
        "WHERE l.chain_id = t.chain_id AND l.chain_pos >= t.chain_pos "
        "ORDER BY l.chain_pos) e" % seq)
    if not entries:
        sys.exit("forge_history.py: no ledger entry %d" % seq)
    prev = bytes.fromhex(entries[0]["prev_hash"])   # the untouched entry before
    updates = []
    for e in entries:
        image = None
        if e["layout_id"] is not None:
            digest, personal = layouts[e["layout_id"]]
            salts = bytes.fromhex(e["row_salts"]) if e["row_salts"] else b""
            image = fmt.image_digest(digest, e["row_image"], personal, salts)
        h = fmt.entry_hash(prev, e, image)
        updates.append("UPDATE notary.ledger SET prev_hash = '\\x%s', entry_hash = '\\x%s' "
                       "WHERE seq = %d;" % (prev.hex(), h.hex(), e["seq"]))
        prev = h
    fmt.psql("BEGIN;\n"
             "ALTER EVENT TRIGGER notary_ddl_end DISABLE;\n"
             "ALTER TABLE notary.ledger DISABLE TRIGGER ledger_append_only;\n"
             + "\n".join(updates) + "\n"
             "ALTER TABLE notary.ledger ENABLE ALWAYS TRIGGER ledger_append_only;\n"
             "ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;\n"
             "COMMIT;", db=DB)
    print("forge_history.py: recomputed the hashes of %d entries of chain %d, "
          "from entry %d (position %d) to its head (entry %d)"
          % (len(entries), entries[0]["chain_id"], entries[0]["seq"],
             entries[0]["chain_pos"], entries[-1]["seq"]))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python3 demo/forge_history.py SEQ")
    main(int(sys.argv[1]))

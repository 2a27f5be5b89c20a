#!/usr/bin/env python3
"""THE ATTACKER'S TOOL, for demo/demo.sql section (e) and demo/lapor.sql (i).
Not part of pg_notary.

    python3 demo/forge_history.py SEQ
    python3 demo/forge_history.py erase SEQ COLUMN COMMITMENT

A superuser's cover-up of an edited ledger entry: recompute prev_hash and
entry_hash of entry SEQ and of every later entry of its chain, so that
notary.verify() finds every hash and link correct again.  The hashes hold
no secret; they are computed here with the independent Python
implementation of docs/format.md in tests/format/check_format.py, and
written where the entries are stored: into notary.ledger_entries for single
entries, and in place into the bytes of the packs of notary.ledger_packs
(the layout of src/pack.c: the 32 hash bytes of each entry, and the
prev_hash a pack starts with).  Switching the guards off is not recorded:
the event triggers are silenced first.  Only a checkpoint held outside the
database (notary.verify_checkpoint(), notary-verify --checkpoint) exposes
the rewrite.

"erase" forges a redaction of one value: the value of column COLUMN (from
1) of entry SEQ becomes NULL and the record (COLUMN - 1 as u16, then the
32-byte COMMITMENT, in hex) is appended to the entry's `redacted`, the way
notary.redact() stores it (docs/format.md), in the entry's pack or its row.
In a format-2 entry, a column that is not personal is hashed as it is, and
notary.redact() seals it instead: given that column's true (unsalted)
commitment, the record written is the seal's, 0x8000 + COLUMN - 1 then 32
zero bytes; with any other commitment, the record is written as given.
No hash is changed, and no seal is recorded anywhere.  The caller switches the guards of notary.ledger_entries
and notary.ledger_packs off first (lapor.sql does, and that is recorded).

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

GUARDS_OFF = ("ALTER EVENT TRIGGER notary_ddl_end DISABLE;\n"
              "ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only;\n"
              "ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only;\n")
GUARDS_ON = ("ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only;\n"
             "ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only;\n"
             "ALTER EVENT TRIGGER notary_ddl_end ENABLE ALWAYS;\n")


def one(sql):
    out = fmt.psql(sql, db=DB).strip()
    return json.loads(out) if out else None


def rehash(seq):
    e = one("SELECT row_to_json(e) FROM (SELECT chain_id, chain_pos FROM notary.ledger "
            "WHERE seq = %d) e" % seq)
    if e is None:
        sys.exit("forge_history.py: no ledger entry %d" % seq)
    updates, n = fmt.rehash_chain(DB, e["chain_id"], e["chain_pos"])
    fmt.psql("BEGIN;\n" + GUARDS_OFF + "\n".join(updates) + "\n" + GUARDS_ON + "COMMIT;", db=DB)
    head = fmt.psql("SELECT max(chain_pos) FROM notary.ledger WHERE chain_id = %d"
                    % e["chain_id"], db=DB).strip()
    print("forge_history.py: recomputed the hashes of %d entries of chain %d, "
          "from entry %d (position %d) to its head (position %s)"
          % (n, e["chain_id"], seq, e["chain_pos"], head))


def erase(seq, column, commitment):
    found = fmt.read_entries(DB, "WHERE seq = %d" % seq)
    if not found:
        sys.exit("forge_history.py: no ledger entry %d" % seq)
    e = found[0]
    record = (column - 1).to_bytes(2, "big") + bytes.fromhex(commitment)
    if e.get("format_version", 1) == 2 and e["layout_id"] is not None:
        # format 2 hashes a column that is not personal as it is: a redaction
        # of it seals it (docs/format.md, "Sealed columns").  Given the
        # column's true commitment, do what notary.redact() would store; any
        # other commitment is written as given (a sloppier forgery).
        personal = fmt.read_layouts(DB)[e["layout_id"]][1]
        value = e["row_image"][column - 1] if column <= len(e["row_image"]) else None
        if column - 1 not in personal and commitment == fmt.column_commitment(value).hex():
            record = (fmt.SEALED + column - 1).to_bytes(2, "big") + bytes(32)
    p = one("SELECT row_to_json(p) FROM (SELECT first_pos, encode(entries, 'hex') AS body "
            "FROM notary.ledger_packs WHERE chain_id = %d AND %d BETWEEN first_pos AND last_pos) p"
            % (e["chain_id"], e["chain_pos"]))
    if p is None:
        # a single entry: its columns
        change = ("UPDATE notary.ledger_entries SET row_image[%d] = NULL, "
                  "redacted = coalesce(redacted, ''::bytea) || '\\x%s'::bytea WHERE seq = %d;"
                  % (column, record.hex(), seq))
        where = "its row of notary.ledger_entries"
    else:
        body = bytearray.fromhex(p["body"])
        sp = fmt.pack_spans(bytes(body))[e["chain_pos"] - p["first_pos"]]
        if sp["values"] is None or column > len(sp["values"]):
            sys.exit("forge_history.py: entry %d has no column %d" % (seq, column))
        # back to front, so that the offsets before stay valid: the
        # redacted field (set the flag, or lengthen it), then the value
        r_at, r_len = sp["redacted"]
        if r_len == 0:
            new_red = fmt.put_varint(len(record)) + record
        else:
            n, i = fmt.get_varint(bytes(body), r_at)
            old = bytes(body[i:i + n])
            new_red = fmt.put_varint(n + len(record)) + old + record
        body[r_at:r_at + r_len] = new_red
        v_at, v_len = sp["values"][column - 1]
        body[v_at:v_at + v_len] = fmt.put_varint(0)           # NULL
        body[sp["flags_at"]] |= fmt.PACK_F_REDACTED
        change = ("UPDATE notary.ledger_packs SET entries = '\\x%s' "
                  "WHERE chain_id = %d AND first_pos = %d;" % (body.hex(), e["chain_id"], p["first_pos"]))
        where = "the bytes of its pack (chain %d, first position %d)" % (e["chain_id"], p["first_pos"])
    fmt.psql(change, db=DB)
    print("forge_history.py: erased column %d of entry %d in %s" % (column, seq, where))


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 1 and args[0].isdigit():
        rehash(int(args[0]))
    elif len(args) == 4 and args[0] == "erase" and args[1].isdigit() and args[2].isdigit():
        erase(int(args[1]), int(args[2]), args[3])
    else:
        sys.exit("usage: python3 demo/forge_history.py SEQ\n"
                 "       python3 demo/forge_history.py erase SEQ COLUMN COMMITMENT")

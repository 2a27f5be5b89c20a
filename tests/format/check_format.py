#!/usr/bin/env python3
"""Independent check of docs/format.md.

Recomputes, with Python's own BLAKE2b (hashlib) and nothing of the
extension's C code, (1) the test vectors printed in docs/format.md and
(2) every layout digest, image digest, row digest and entry hash of a real
ledger written by the extension under odd session settings, and the
structure of every pack of notary.ledger_packs (src/pack.c).  If the C code,
the document and this script disagree about a single byte, this fails.

Runs as the postgres OS user against the cluster in PGHOST/PGPORT; makes
and drops its own database.  Needs only python3 and psql.
"""
import hashlib
import json
import os
import re
import subprocess
import sys

DB = "pg_notary_format_check"
HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(HERE, "..", "..", "docs", "format.md")
FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print("FAIL: " + msg)


# --- the format, written from docs/format.md -------------------------------

def u8(h, v):
    h.update(bytes([v]))


def u16(h, v):
    h.update(v.to_bytes(2, "big"))


def u32(h, v):
    h.update(v.to_bytes(4, "big"))


def u64(h, v):
    h.update((v % (1 << 64)).to_bytes(8, "big"))


def string(h, s):
    b = s.encode("utf-8")
    u32(h, len(b))
    h.update(b)


def opt_string(h, s):
    if s is None:
        u8(h, 0)
    else:
        u8(h, 1)
        string(h, s)


def begin(what):
    h = hashlib.blake2b(digest_size=32)
    string(h, "pg_notary/%s/v1" % what)
    return h


def layout_digest(table_id, schema, table, names, types, keys, personal):
    h = begin("layout")
    u32(h, table_id)
    string(h, schema)
    string(h, table)
    u32(h, len(names))
    for n, t in zip(names, types):
        string(h, n)
        string(h, t)
    u32(h, len(keys))
    for k in keys:
        u16(h, k)
    u32(h, len(personal))
    for p in personal:
        u16(h, p)
    return h.digest()


def column_commitment(value, salt=b""):
    h = begin("column")
    if value is None:
        u8(h, 0)
    else:
        u8(h, 1)
        string(h, value)
    u32(h, len(salt))
    h.update(salt)
    return h.digest()


def redacted_records(redacted):
    """docs/redaction.md: (u16 position, 32-byte commitment) records."""
    return {int.from_bytes(redacted[k:k + 2], "big"): redacted[k + 2:k + 34]
            for k in range(0, len(redacted), 34)}


def image_digest(ldigest, values, personal, salts, redacted=b""):
    kept = redacted_records(redacted)
    h = begin("image")
    h.update(ldigest)
    u32(h, len(values))
    p = 0
    for i, v in enumerate(values):
        salt = b""
        if p < len(personal) and personal[p] == i:
            if (p + 1) * 16 <= len(salts):
                salt = salts[p * 16:(p + 1) * 16]
            p += 1
        h.update(kept[i] if i in kept else column_commitment(v, salt))
    return h.digest()


def row_digest(ldigest, values, personal):
    h = begin("row")
    h.update(ldigest)
    u32(h, len(values))
    for i, v in enumerate(values):
        if i in personal:
            u8(h, 2)
        elif v is None:
            u8(h, 0)
        else:
            u8(h, 1)
            string(h, v)
    return h.digest()


def entry_hash(prev, e, img_digest):
    h = begin("entry")
    h.update(prev)
    u64(h, e["seq"])
    u32(h, e["chain_id"])
    u64(h, e["chain_pos"])
    string(h, e["op"])
    u64(h, int(e["xid"]))
    u64(h, e["logged_at_us"])
    string(h, e["session_user_name"])
    string(h, e["current_user_name"])
    opt_string(h, e["application_name"])
    opt_string(h, e["client_addr"])
    if e["table_id"] is None:
        u8(h, 0)
    else:
        u8(h, 1)
        u32(h, e["table_id"])
    if img_digest is None:
        u8(h, 0)
    else:
        u8(h, 1)
        h.update(img_digest)
    if e["old_digest"] is None:
        u8(h, 0)
    else:
        u8(h, 1)
        h.update(bytes.fromhex(e["old_digest"]))
    opt_string(h, e["detail"])
    return h.digest()


# --- (1) the document's test vectors ----------------------------------------

def check_doc_vectors():
    """Every 'vector NAME = HEX' line in docs/format.md must match."""
    text = open(DOC, encoding="utf-8").read()
    found = dict(re.findall(r"^vector ([a-z0-9_]+) = ([0-9a-f]{64})$", text, re.M))
    lay = layout_digest(7, "procurement", "contracts",
                        ["id", "vendor", "value", "signed_at"],
                        ["integer", "text", "numeric(14,2)",
                         "timestamp with time zone"],
                        [0], [])
    values = ["42", "PT Sinar Jaya Konstruksi", "150000000.00",
              "2024-03-01 03:00:00+00"]
    img = image_digest(lay, values, [], b"")
    row = row_digest(lay, values, [])
    salted = column_commitment("3171234567890001", bytes(range(16)))
    e = {"seq": 1001, "chain_id": 3, "chain_pos": 17, "op": "INSERT",
         "xid": "7531", "logged_at_us": 1709262000000000,
         "session_user_name": "alice", "current_user_name": "procurement_app",
         "application_name": "e-procurement", "client_addr": None,
         "table_id": 7, "old_digest": None, "detail": None}
    ent = entry_hash(bytes(32), e, img)
    mine = {"column_commitment_null": column_commitment(None).hex(),
            "column_commitment_42": column_commitment("42").hex(),
            "column_commitment_salted": salted.hex(),
            "layout_digest": lay.hex(), "image_digest": img.hex(),
            "row_digest": row.hex(), "entry_hash": ent.hex()}
    for name, value in mine.items():
        if name not in found:
            fail("docs/format.md lacks 'vector %s = %s'" % (name, value))
        elif found[name] != value:
            fail("vector %s: document says %s, computed %s" % (name, found[name], value))
    if not FAILURES:
        print("ok: %d test vectors of docs/format.md" % len(mine))


# --- (2) a real ledger ------------------------------------------------------

def psql(sql, db=DB, settings=""):
    env = dict(os.environ, PGDATABASE=db, PGOPTIONS=settings)
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s\n%s" % (sql[:200], r.stderr))
    return r.stdout


WORKLOAD = r"""
CREATE EXTENSION pg_notary;
CREATE SCHEMA s;
CREATE TYPE s.pair AS (a int, b text);
CREATE TABLE s.t (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, d date,
                  iv interval, b bytea, arr text[], j jsonb, p s.pair, r tstzrange, u text);
INSERT INTO s.t VALUES (1, 1.50, 'NaN', '2024-01-01 10:00+07', '2024-02-29', '1 day 2 hours',
  '\x00ff', '{a,NULL,"b c"}', '{"k": [1, 2]}', ROW(1, 'x y'), '[2024-01-01,2024-02-01)', 'Jakarta ꦗꦏꦂꦠ');
SELECT notary.enable('s');
INSERT INTO s.t VALUES (2, -0.001, '-Infinity', 'infinity', '-infinity', '-3 mons', '\x', '{}', 'null', NULL, 'empty', NULL);
UPDATE s.t SET n = n * 2, u = 'rubah';
SELECT notary.classify('s.t', 'u', 'identifier');
UPDATE s.t SET u = 'kancil' WHERE id = 1;
SELECT notary.redact('s.t', '{1}', '{u}', 'erasure request');
CREATE TABLE s.nopk (x text, y int);
INSERT INTO s.nopk VALUES ('a', 1), ('a', 1);
DELETE FROM s.t WHERE id = 2;
ALTER TABLE s.t ADD COLUMN extra int;
TRUNCATE s.nopk;
SELECT notary.publish('s.t', '{"id": "keep", "n": "range(10)"}');
SELECT notary.unpublish('t');
SELECT notary.disable('s');
"""


def check_ledger():
    psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    try:
        odd = ("-c TimeZone=Asia/Jakarta -c DateStyle=SQL,DMY -c extra_float_digits=0 "
               "-c bytea_output=escape -c IntervalStyle=sql_standard")
        psql(WORKLOAD, settings=odd)
        layouts = {}
        for line in psql("SELECT row_to_json(l) FROM (SELECT layout_id, table_id, "
                         "encode(layout_digest, 'hex') AS digest, schema_name, table_name, "
                         "column_names, column_types, key_columns, personal_columns "
                         "FROM notary.layouts) l").splitlines():
            l = json.loads(line)
            keys = [k - 1 for k in l["key_columns"]]
            personal = [p - 1 for p in l["personal_columns"]]
            d = layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                              l["column_names"], l["column_types"], keys, personal)
            if d.hex() != l["digest"]:
                fail("layout %s: stored digest %s, recomputed %s" % (l["layout_id"], l["digest"], d.hex()))
            layouts[l["layout_id"]] = (d, personal)
        rows = psql("SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos, "
                    "encode(prev_hash, 'hex') AS prev_hash, encode(entry_hash, 'hex') AS entry_hash, "
                    "op, xid::text AS xid, "
                    "(extract(epoch FROM logged_at) * 1000000)::bigint AS logged_at_us, "
                    "session_user_name, current_user_name, application_name, client_addr, "
                    "table_id, layout_id, row_image, encode(row_salts, 'hex') AS row_salts, "
                    "encode(old_digest, 'hex') AS old_digest, detail::text AS detail, "
                    "encode(redacted, 'hex') AS redacted "
                    "FROM notary.ledger ORDER BY chain_id, chain_pos) e").splitlines()
        entries = [json.loads(r) for r in rows]
        last = {}
        row_digests = set()
        redacted_seen = []
        unknowable_tables = set()
        for e in entries:
            prev = bytes.fromhex(e["prev_hash"])
            expect_prev = last.get(e["chain_id"], bytes(32))
            if prev != expect_prev:
                fail("seq %s: prev_hash does not link" % e["seq"])
            img = None
            if e["layout_id"] is not None:
                ld, personal = layouts[e["layout_id"]]
                salts = bytes.fromhex(e["row_salts"]) if e["row_salts"] else b""
                red = bytes.fromhex(e["redacted"]) if e["redacted"] else b""
                img = image_digest(ld, e["row_image"], personal, salts, red)
                if red:
                    redacted_seen.append(e["seq"])
                    # an erased column that was not personal in this layout
                    # makes the image's row digest unknowable
                    if any(p not in personal for p in redacted_records(red)):
                        unknowable_tables.add(e["table_id"])
                row_digests.add(row_digest(ld, e["row_image"], personal).hex())
            h = entry_hash(prev, e, img)
            if h.hex() != e["entry_hash"]:
                fail("seq %s (%s): stored hash %s, recomputed %s" % (e["seq"], e["op"], e["entry_hash"], h.hex()))
            last[e["chain_id"]] = bytes.fromhex(e["entry_hash"])
        # every UPDATE's old_digest is the row digest of an earlier image
        for e in entries:
            if e["table_id"] in unknowable_tables:
                continue
            if e["old_digest"] is not None and e["old_digest"] not in row_digests:
                fail("seq %s: old_digest matches no row image" % e["seq"])
        ops = sorted({e["op"] for e in entries})
        for op in ["BASELINE", "CLASSIFY", "DDL", "DELETE", "DISABLE", "ENABLE", "INSERT",
                   "PUBLISH", "REDACT", "SNAPSHOT", "TRUNCATE", "UNPUBLISH", "UPDATE"]:
            if op not in ops:
                fail("the workload wrote no %s entry (ops: %s)" % (op, ops))
        if not redacted_seen:
            fail("the workload redacted nothing")
        redact_seq = min(e["seq"] for e in entries if e["op"] == "REDACT")
        if any("kancil" in json.dumps(e) for e in entries if e["seq"] < redact_seq):
            fail("a redacted value is still in an entry written before the redaction")
        npacked = check_packs(DB, entries)
        if npacked == 0:
            fail("the workload wrote no pack")
        findings = psql("SELECT count(*) FROM notary.verify()").strip()
        if findings != "0":
            fail("notary.verify() reports %s findings on the untouched ledger" % findings)
        print("ok: recomputed %d entries and %d layouts independently; %d entries parsed from packs"
              % (len(entries), len(layouts), npacked))
    finally:
        if not os.environ.get("KEEP"):
            psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")


# --- (3) packed storage (src/pack.c): where each entry's bytes are ---------
# A pack (a row of notary.ledger_packs) stores consecutive entries of one
# chain; its bytes are specified in the header comment of src/pack.c.  This
# parser reads only the structure (lengths and flags), which is what an
# independent reader, or someone editing the bytes in place, needs.

PACK_F_TABLE, PACK_F_IMAGE, PACK_F_SALTS, PACK_F_OLD = 0x01, 0x02, 0x04, 0x08
PACK_F_DETAIL, PACK_F_REDACTED, PACK_F_APP, PACK_F_CLIENT = 0x10, 0x20, 0x40, 0x80


def get_varint(b, i):
    v = shift = 0
    while True:
        if i >= len(b) or shift > 63:
            raise ValueError("varint runs past the end at %d" % i)
        c = b[i]
        i += 1
        v |= (c & 0x7f) << shift
        if not c & 0x80:
            return v, i
        shift += 7


def put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7f
        v >>= 7
        out.append(c | (0x80 if v else 0))
        if not v:
            return bytes(out)


def pack_spans(body):
    """The entries of a pack body, in order: for each a dict with seq, start,
    end (after its 32-byte entry_hash), the offset of its flags byte, values
    (offset and length of each image value's varint and bytes; None without
    an image) and redacted (offset and length of that field, or the offset
    where it would go, length 0).  Raises ValueError if the body does not
    parse.  The prev_hash of the first entry is body[1:33]."""
    if len(body) < 33 or body[0] != 1:
        raise ValueError("not a version 1 pack")
    i, seq, out = 33, None, []

    def skip(i, n):
        if i + n > len(body):
            raise ValueError("field runs past the end at %d" % i)
        return i + n

    def skip_bytes(i):
        n, i = get_varint(body, i)
        return skip(i, n)

    def skip_name(i):
        n, i = get_varint(body, i)
        return skip(i, n - 1) if n else i

    while i < len(body):
        e = {"start": i, "flags_at": i, "values": None}
        flags = body[i]
        i += 1
        d, i = get_varint(body, i)
        seq = d if seq is None else seq + d
        e["seq"] = seq
        if body[skip(i, 1) - 1] == 0:
            i = skip_bytes(i + 1)
        else:
            i += 1
        _, i = get_varint(body, i)                 # logged_at
        i = skip_name(skip_name(i))                # session_user, current_user
        if flags & PACK_F_APP:
            i = skip_name(i)
        if flags & PACK_F_CLIENT:
            i = skip_name(i)
        if flags & PACK_F_TABLE:
            _, i = get_varint(body, i)
        if flags & PACK_F_IMAGE:
            _, i = get_varint(body, i)             # layout_id
            n, i = get_varint(body, i)
            e["values"] = []
            for _ in range(n):
                at = i
                v, i = get_varint(body, i)
                if v:
                    i = skip(i, v - 1)
                e["values"].append((at, i - at))
            if flags & PACK_F_SALTS:
                i = skip_bytes(i)
        if flags & PACK_F_OLD:
            i = skip(i, 32)
        if flags & PACK_F_DETAIL:
            i = skip_bytes(i)
        at = i
        if flags & PACK_F_REDACTED:
            i = skip_bytes(i)
        e["redacted"] = (at, i - at)
        i = skip(i, 32)
        e["end"] = i
        out.append(e)
    return out


def check_packs(db, view_entries):
    """Every pack parses with pack_spans(), independently of the C decoder,
    and holds exactly the entries the view shows at its positions: their
    seq, the first one's prev_hash and every entry_hash."""
    by_pos = {(e["chain_id"], e["chain_pos"]): e for e in view_entries}
    n = 0
    for line in psql("SELECT row_to_json(p) FROM (SELECT chain_id, first_pos, last_pos, "
                     "encode(entries, 'hex') AS body FROM notary.ledger_packs) p", db=db).splitlines():
        p = json.loads(line)
        body = bytes.fromhex(p["body"])
        where = "pack (%s, %s)" % (p["chain_id"], p["first_pos"])
        try:
            spans = pack_spans(body)
        except ValueError as err:
            fail("%s does not parse: %s" % (where, err))
            continue
        if len(spans) != p["last_pos"] - p["first_pos"] + 1:
            fail("%s: %d entries for positions %s..%s" % (where, len(spans), p["first_pos"], p["last_pos"]))
            continue
        first = by_pos.get((p["chain_id"], p["first_pos"]))
        if first is None or body[1:33].hex() != first["prev_hash"]:
            fail("%s: its prev_hash is not the view's" % where)
        for k, sp in enumerate(spans):
            e = by_pos.get((p["chain_id"], p["first_pos"] + k))
            if e is None or e["seq"] != sp["seq"] or body[sp["end"] - 32:sp["end"]].hex() != e["entry_hash"]:
                fail("%s: entry %d is not the view's" % (where, k))
            n += 1
    return n


def rehash_chain(db, chain_id, from_pos):
    """A consistent rewrite: recompute prev_hash and entry_hash of every entry
    of a chain from position from_pos on, from what the entries hold now.
    Returns the SQL that stores them where the entries live (UPDATE of
    notary.ledger_entries for single entries; the 32 hash bytes of each
    entry, and a pack's leading prev_hash, replaced in place in
    notary.ledger_packs) and the number of entries rehashed.  The caller
    runs it with the guards of both tables switched off."""
    layouts = {}
    for line in psql("SELECT row_to_json(l) FROM notary.layouts l", db=db).splitlines():
        l = json.loads(line)
        personal = [p - 1 for p in l["personal_columns"]]
        d = layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                          l["column_names"], l["column_types"],
                          [k - 1 for k in l["key_columns"]], personal)
        layouts[l["layout_id"]] = (d, personal)
    entries = [json.loads(r) for r in psql(
        "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos, "
        "encode(prev_hash, 'hex') AS prev_hash, op, xid::text AS xid, "
        "(extract(epoch FROM logged_at) * 1000000)::bigint AS logged_at_us, "
        "session_user_name, current_user_name, application_name, client_addr, "
        "table_id, layout_id, row_image, encode(row_salts, 'hex') AS row_salts, "
        "encode(old_digest, 'hex') AS old_digest, detail::text AS detail, "
        "encode(redacted, 'hex') AS redacted "
        "FROM notary.ledger WHERE chain_id = %d AND chain_pos >= %d ORDER BY chain_pos) e"
        % (chain_id, from_pos), db=db).splitlines()]
    if not entries:
        return [], 0
    new = {}                               # chain_pos -> (prev, hash)
    prev = bytes.fromhex(entries[0]["prev_hash"])   # the untouched entry before
    for e in entries:
        img = None
        if e["layout_id"] is not None:
            ld, personal = layouts[e["layout_id"]]
            img = image_digest(ld, e["row_image"], personal,
                               bytes.fromhex(e["row_salts"]) if e["row_salts"] else b"",
                               bytes.fromhex(e["redacted"]) if e["redacted"] else b"")
        h = entry_hash(prev, e, img)
        new[e["chain_pos"]] = (prev, h)
        prev = h
    sql = []
    for pos in psql("SELECT chain_pos FROM notary.ledger_entries WHERE chain_id = %d AND chain_pos >= %d"
                    % (chain_id, from_pos), db=db).split():
        p, h = new[int(pos)]
        sql.append("UPDATE notary.ledger_entries SET prev_hash = '\\x%s', entry_hash = '\\x%s' "
                   "WHERE chain_id = %d AND chain_pos = %s;" % (p.hex(), h.hex(), chain_id, pos))
    for line in psql("SELECT row_to_json(p) FROM (SELECT first_pos, encode(entries, 'hex') AS body "
                     "FROM notary.ledger_packs WHERE chain_id = %d AND last_pos >= %d) p"
                     % (chain_id, from_pos), db=db).splitlines():
        p = json.loads(line)
        body = bytearray.fromhex(p["body"])
        for k, sp in enumerate(pack_spans(bytes(body))):
            pos = p["first_pos"] + k
            if pos < from_pos:
                continue
            if k == 0:
                body[1:33] = new[pos][0]
            body[sp["end"] - 32:sp["end"]] = new[pos][1]
        sql.append("UPDATE notary.ledger_packs SET entries = '\\x%s' "
                   "WHERE chain_id = %d AND first_pos = %d;" % (body.hex(), chain_id, p["first_pos"]))
    return sql, len(entries)


def self_test():
    """The checker must catch a one-byte change, or it proves nothing."""
    e = {"seq": 1, "chain_id": 1, "chain_pos": 1, "op": "INSERT", "xid": "1",
         "logged_at_us": 0, "session_user_name": "a", "current_user_name": "a",
         "application_name": None, "client_addr": None, "table_id": None,
         "old_digest": None, "detail": None}
    a = entry_hash(bytes(32), e, None)
    e["op"] = "UPDATE"
    if entry_hash(bytes(32), e, None) == a:
        fail("self-test: changing op did not change the entry hash")


if __name__ == "__main__":
    self_test()
    check_doc_vectors()
    check_ledger()
    if FAILURES:
        print("%d format check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("format checks passed")

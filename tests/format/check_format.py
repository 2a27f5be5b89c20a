#!/usr/bin/env python3
"""Independent check of docs/format.md.

Recomputes, with Python's own BLAKE2b (hashlib) and nothing of the
extension's C code, (1) the test vectors printed in docs/format.md (formats
1 and 2: entry_hash(), entry_hash_v2(), seal_v2(), entry_hash_any()) and
(2) every layout digest, image digest, row digest and entry hash of a real
ledger written by the extension under odd session settings, in both formats
(the workload starts on extension 0.3, which writes format 1, is updated to
0.4 mid-way, and writes a few entries with notary.entry_format = 1), with
sealed entries checked through the seals their REDACT entries record, and
(4) a scenario of columns classified personal after rows were written and
then erased (seals recomputed from the REDACT details, replaced by a later
redaction, and broken by an edit of a sealed entry); and (3) decodes
every row of notary.ledger_packs (version 1 or 2) with the byte layout of
docs/format.md ("Storage: single entries and packs") and compares each decoded entry, field
by field, with the row notary.ledger shows for it; a second, structural
reader (pack_spans, also used to rewrite history in tests/format/
rewrite_history.py) must find the same entries.  If the C code, the
document and this script disagree about a single byte, this fails.

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


def feed_entry_head(h, prev, e):
    """The fields every entry hash begins with, after its tag (both formats)."""
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


def feed_entry_tail(h, e):
    """The fields every entry hash ends with (both formats)."""
    if e["old_digest"] is None:
        u8(h, 0)
    else:
        u8(h, 1)
        h.update(bytes.fromhex(e["old_digest"]))
    opt_string(h, e["detail"])


def entry_hash(prev, e, img_digest):
    h = begin("entry")
    feed_entry_head(h, prev, e)
    if img_digest is None:
        u8(h, 0)
    else:
        u8(h, 1)
        h.update(img_digest)
    feed_entry_tail(h, e)
    return h.digest()



# --- format 2 (docs/format.md, "Format 2 (entries written by 0.4 and later)") --
#
# The functions take an export-line-like dict e, as entry_hash() does, with
# row_image (list, None for no image), row_salts and redacted as hex text (or
# None), and format_version (absent: 1).  ldigest is the recomputed digest of
# the entry's layout (None when layout_id is NULL: no image is hashed), and
# personal that layout's personal columns, 0-based ascending.

SEALED = 0x8000      # high bit of a redacted record's u16: the column is sealed


class SealedEntry(ValueError):
    """The entry has sealed columns: its hash cannot be recomputed from its
    content; check it with seal_v2() against its REDACT entry's seal."""


def begin_v2(what):
    h = hashlib.blake2b(digest_size=32)
    string(h, "pg_notary/%s/v2" % what)
    return h


def _hex_bytes(v):
    return bytes.fromhex(v) if v else b""


def redacted_records_v2(redacted):
    """The records of a `redacted` field (bytes): {position: (sealed, commitment)},
    position 0-based (the low 15 bits of the u16)."""
    out = {}
    for k in range(0, len(redacted), 34):
        pos = int.from_bytes(redacted[k:k + 2], "big")
        out[pos & 0x7fff] = (bool(pos & SEALED), redacted[k + 2:k + 34])
    return out


def sealed_positions(e):
    """0-based positions of the sealed columns of entry e (empty: not sealed)."""
    return sorted(p for p, (sealed, _) in
                  redacted_records_v2(_hex_bytes(e.get("redacted"))).items() if sealed)


def _feed_v2(h, prev, e, ldigest, personal, in_seal):
    """Feed h every byte the format-2 entry hash hashes after its tag (the M
    of a seal).  A sealed column is u8 3 when in_seal, else SealedEntry."""
    feed_entry_head(h, prev, e)
    if ldigest is None:
        u8(h, 0)
    else:
        values = e["row_image"]
        salts = _hex_bytes(e.get("row_salts"))
        records = redacted_records_v2(_hex_bytes(e.get("redacted")))
        u8(h, 1)
        h.update(ldigest)
        u32(h, len(values))
        p = 0                                   # index into personal / row_salts
        for i, v in enumerate(values):
            is_personal = p < len(personal) and personal[p] == i
            salt = b""
            if is_personal:
                if (p + 1) * 16 <= len(salts):
                    salt = salts[p * 16:(p + 1) * 16]
                p += 1
            if i in records:
                sealed, kept = records[i]
                if sealed:
                    if not in_seal:
                        raise SealedEntry("seq %s: column %d is sealed" % (e["seq"], i + 1))
                    u8(h, 3)
                else:
                    u8(h, 2)                    # the commitment kept by a redaction
                    h.update(kept)
            elif is_personal:
                u8(h, 2)
                h.update(column_commitment(v, salt))
            elif v is None:
                u8(h, 0)
            else:
                u8(h, 1)
                string(h, v)
    feed_entry_tail(h, e)


def entry_hash_v2(prev, e, ldigest, personal):
    """Format-2 entry hash of e after prev (32 bytes).  Raises SealedEntry if
    e has a sealed column."""
    h = begin_v2("entry")
    _feed_v2(h, prev, e, ldigest, personal, in_seal=False)
    return h.digest()


def seal_v2(stored_hash, e, ldigest, personal):
    """The seal of format-2 entry e as it is stored now: stored_hash is its
    entry_hash (32 bytes, as stored); prev_hash is e["prev_hash"] (hex), as
    stored.  Sealed columns hash as u8 3."""
    h = begin_v2("seal")
    h.update(stored_hash)
    _feed_v2(h, bytes.fromhex(e["prev_hash"]), e, ldigest, personal, in_seal=True)
    return h.digest()


def entry_hash_any(prev, e, ldigest, personal):
    """The hash of e in its own format (e.get("format_version", 1)): format 1
    through image_digest() and entry_hash(), format 2 through entry_hash_v2().
    Raises SealedEntry for a sealed format-2 entry, ValueError for an unknown
    format."""
    version = e.get("format_version", 1)     # absent: an older export, format 1
    if version == 1:
        img = None
        if ldigest is not None:
            img = image_digest(ldigest, e["row_image"], personal,
                               _hex_bytes(e.get("row_salts")), _hex_bytes(e.get("redacted")))
        return entry_hash(prev, e, img)
    if version == 2:
        return entry_hash_v2(prev, e, ldigest, personal)
    raise ValueError("seq %s: format_version %r is neither 1 nor 2" % (e["seq"], version))


def seal_of(entries, seq):
    """(redact_seq, seal bytes) for the entry seq: from the newest REDACT entry
    (highest seq, later than seq) whose detail's "sealed" names seq; None if
    none does.  entries: export-line-like dicts (detail as jsonb text)."""
    best = None
    for r in entries:
        if r["op"] != "REDACT" or not r["detail"] or r["seq"] <= seq:
            continue
        sealed = json.loads(r["detail"]).get("sealed") or {}
        if str(seq) in sealed and (best is None or r["seq"] > best[0]):
            best = (r["seq"], bytes.fromhex(sealed[str(seq)]))
    return best

# --- packs (docs/format.md, "Storage: single entries and packs (0.3)") -------

PACK_OPS = [None, "INSERT", "UPDATE", "DELETE", "TRUNCATE", "SNAPSHOT", "BASELINE", "DDL",
            "ENABLE", "DISABLE", "CLASSIFY", "REDACT", "PUBLISH", "UNPUBLISH", "EXPORT"]
PG_EPOCH_US = 946684800 * 1000000   # 2000-01-01 00:00:00 UTC in microseconds since 1970
F_TABLE, F_IMAGE, F_SALTS, F_OLD, F_DETAIL, F_REDACTED, F_APP, F_ADDR = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80)


class PackError(Exception):
    pass


class PackReader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n, what):
        if self.pos + n > len(self.data):
            raise PackError("%s: needs %d bytes at offset %d, the pack has %d"
                            % (what, n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what):
        return self.take(1, what)[0]

    def varint(self, what):
        """LEB128: 7 bits a byte, least significant group first."""
        start, v, shift = self.pos, 0, 0
        while True:
            b = self.u8(what)
            v |= (b & 0x7f) << shift
            shift += 7
            if not b & 0x80:
                return v
            if shift >= 70:
                raise PackError("%s: varint at offset %d longer than 10 bytes" % (what, start))

    def zigzag(self, what):
        z = self.varint(what)
        return (z >> 1) ^ -(z & 1)

    def text(self, what):
        n = self.varint(what + " length")
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError as ex:
            raise PackError("%s at offset %d is not UTF-8: %s" % (what, self.pos - n, ex))


def decode_pack(data, stats):
    """Return (prev_hash, [entry, ...]) decoded from a ledger_packs.entries
    value; the entries carry the fields notary.ledger shows (less chain_id,
    chain_pos, xid, which the pack row gives).  Counts in stats what the
    encoding used, so that the workload can be shown to cover it."""
    r = PackReader(data)
    version = r.u8("version")
    if version not in (1, 2):
        raise PackError("version byte is %d, docs/format.md says 1 or 2" % version)
    stats["pack_version_%d" % version] = stats.get("pack_version_%d" % version, 0) + 1
    prev_hash = r.take(32, "prev_hash")
    entries = []
    before = None                   # the entry before, in this pack
    last = {}                       # the last value of each name field in this pack
    while r.pos < len(data):
        k = len(entries)
        what = "entry %d " % k
        start = r.pos
        flags = r.u8(what + "flags")
        e = {"offset": start, "flags": flags, "format_version": version}
        delta = r.varint(what + "seq")
        e["seq"] = delta if before is None else before["seq"] + delta
        code = r.u8(what + "op")
        if code == 0:
            e["op"] = r.text(what + "op text")
            stats["op_text"] += 1
        elif code < len(PACK_OPS):
            e["op"] = PACK_OPS[code]
        else:
            raise PackError("%sop code %d at offset %d: docs/format.md defines 0..14"
                            % (what, code, r.pos - 1))
        t = r.zigzag(what + "logged_at")
        e["logged_at_pg"] = t if before is None else before["logged_at_pg"] + t

        def name(field):
            # 0: the value this field last had in this pack (docs/format.md:
            # for application_name and client_addr, entries without the
            # field in between do not count)
            n = r.varint(what + field)
            if n > 0:
                v = r.take(n - 1, what + field).decode("utf-8")
                if k > 0:
                    stats["names_changed_mid_pack" if v != last.get(field)
                          else "names_repeated_explicitly"] += 1
                last[field] = v
                return v
            if last.get(field) is None:
                raise PackError("%s%s at offset %d is 0 (the same as before), but no earlier "
                                "entry of the pack has a %s" % (what, field, r.pos - 1, field))
            stats["names_same_as_before"] += 1
            if before.get(field) is None:
                stats["names_same_across_a_null"] += 1
            return last[field]

        e["session_user_name"] = name("session_user_name")
        e["current_user_name"] = name("current_user_name")
        e["application_name"] = name("application_name") if flags & F_APP else None
        e["client_addr"] = name("client_addr") if flags & F_ADDR else None
        e["table_id"] = r.zigzag(what + "table_id") if flags & F_TABLE else None
        e["layout_id"] = e["row_image"] = None
        if flags & F_IMAGE:
            e["layout_id"] = r.zigzag(what + "layout_id")
            n = r.varint(what + "image length")
            values = []
            for i in range(n):
                m = r.varint(what + "value %d" % i)
                if m == 0:
                    values.append(None)
                    stats["null_values"] += 1
                else:
                    values.append(r.take(m - 1, what + "value %d" % i).decode("utf-8"))
            e["row_image"] = values
        e["row_salts"] = r.take(r.varint(what + "row_salts length"), what + "row_salts") \
            if flags & F_SALTS else None
        e["old_digest"] = r.take(32, what + "old_digest") if flags & F_OLD else None
        e["detail"] = r.text(what + "detail") if flags & F_DETAIL else None
        e["redacted"] = r.take(r.varint(what + "redacted length"), what + "redacted") \
            if flags & F_REDACTED else None
        e["entry_hash"] = r.take(32, what + "entry_hash")
        e["prev_hash"] = prev_hash if before is None else before["entry_hash"]
        entries.append(e)
        before = e
    return prev_hash, entries


def compare_pack_entry(where, d, v):
    """Compare decoded pack entry d with v, the notary.ledger row (from JSON)."""
    def hx(b):
        return None if b is None else b.hex()
    mine = {
        "seq": d["seq"], "op": d["op"], "xid": d["xid"],
        "logged_at_us": d["logged_at_pg"] + PG_EPOCH_US,
        "session_user_name": d["session_user_name"],
        "current_user_name": d["current_user_name"],
        "application_name": d["application_name"], "client_addr": d["client_addr"],
        "table_id": d["table_id"], "layout_id": d["layout_id"], "row_image": d["row_image"],
        "row_salts": hx(d["row_salts"]), "old_digest": hx(d["old_digest"]),
        "detail": d["detail"], "redacted": hx(d["redacted"]),
        "entry_hash": hx(d["entry_hash"]), "prev_hash": hx(d["prev_hash"]),
        # the pack's version byte is the format of each of its entries
        "format_version": d["format_version"],
    }
    bad = 0
    for field, value in mine.items():
        if value != v.get(field, 1 if field == "format_version" else None):
            bad += 1
            fail("%s (flags 0x%02x, at byte %d): %s decoded from the pack is %r, "
                 "notary.ledger shows %r" % (where, d["flags"], d["offset"], field, value, v[field]))
    return bad


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
    # format 2: the same entry; then under the layout with vendor personal,
    # salted 00 01 .. 0f; then the first one with vendor sealed (erased,
    # record u16 0x8001 || 32 zero bytes), as stored after the redaction
    names = ["id", "vendor", "value", "signed_at"]
    types = ["integer", "text", "numeric(14,2)", "timestamp with time zone"]
    lay_p = layout_digest(7, "procurement", "contracts", names, types, [0], [1])
    e2 = dict(e, row_image=values, row_salts=None, redacted=None, format_version=2,
              prev_hash=bytes(32).hex())
    ent2 = entry_hash_v2(bytes(32), e2, lay, [])
    ent2_p = entry_hash_v2(bytes(32), dict(e2, row_salts=bytes(range(16)).hex()), lay_p, [1])
    e2_sealed = dict(e2, row_image=[values[0], None] + values[2:],
                     redacted=((SEALED + 1).to_bytes(2, "big") + bytes(32)).hex())
    seal = seal_v2(ent2, e2_sealed, lay, [])
    mine = {"column_commitment_null": column_commitment(None).hex(),
            "column_commitment_42": column_commitment("42").hex(),
            "column_commitment_salted": salted.hex(),
            "layout_digest": lay.hex(), "image_digest": img.hex(),
            "row_digest": row.hex(), "entry_hash": ent.hex(),
            "entry_hash_v2": ent2.hex(), "layout_digest_personal": lay_p.hex(),
            "entry_hash_v2_personal": ent2_p.hex(), "seal_v2": seal.hex()}
    # the format chooser gives each format's hash, and the formats differ
    if entry_hash_any(bytes(32), dict(e2, format_version=1), lay, []) != ent \
            or entry_hash_any(bytes(32), e2, lay, []) != ent2 or ent == ent2:
        fail("entry_hash_any() does not pick the hash of the entry's format_version")
    try:
        entry_hash_v2(bytes(32), e2_sealed, lay, [])
        fail("entry_hash_v2() hashed an entry with a sealed column")
    except SealedEntry:
        pass
    for name, value in mine.items():
        if name not in found:
            fail("docs/format.md lacks 'vector %s = %s'" % (name, value))
        elif found[name] != value:
            fail("vector %s: document says %s, computed %s" % (name, found[name], value))
    if not FAILURES:
        print("ok: %d test vectors of docs/format.md" % len(mine))


# --- (2) a real ledger ------------------------------------------------------

def psql(sql, db=DB, settings="", script=False):
    """Run sql with psql -c (one query string: one transaction), or with
    script=True as a script read from stdin (statement by statement)."""
    env = dict(os.environ, PGDATABASE=db, PGOPTIONS=settings)
    args = ["-f", "-"] if script else ["-c", sql]
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"] + args,
                       input=sql if script else None,
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit("psql failed: %s\n%s" % (sql[:200], r.stderr))
    return r.stdout



def read_layouts(db=DB):
    """{layout_id: (recomputed digest, personal 0-based, stored digest hex)}."""
    out = {}
    for line in psql("SELECT row_to_json(l) FROM (SELECT layout_id, table_id, "
                     "encode(layout_digest, 'hex') AS digest, schema_name, table_name, "
                     "column_names, column_types, key_columns, personal_columns "
                     "FROM notary.layouts) l", db=db).splitlines():
        l = json.loads(line)
        personal = [p - 1 for p in l["personal_columns"]]
        d = layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                          l["column_names"], l["column_types"],
                          [k - 1 for k in l["key_columns"]], personal)
        out[l["layout_id"]] = (d, personal, l["digest"])
    return out


def read_entries(db=DB, where=""):
    """The entries of notary.ledger as export-line-like dicts, in chain order.
    format_version is read when the view has it (from 0.4 on); without it
    the key is absent, which means format 1, as in an older export."""
    has_fv = psql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'notary.ledger'::regclass "
                  "AND attname = 'format_version' AND NOT attisdropped", db=db).strip() == "1"
    rows = psql("SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos, "
                "encode(prev_hash, 'hex') AS prev_hash, encode(entry_hash, 'hex') AS entry_hash, "
                "op, xid::text AS xid, "
                "(extract(epoch FROM logged_at) * 1000000)::bigint AS logged_at_us, "
                "session_user_name, current_user_name, application_name, client_addr, "
                "table_id, layout_id, row_image, encode(row_salts, 'hex') AS row_salts, "
                "encode(old_digest, 'hex') AS old_digest, detail::text AS detail, "
                "encode(redacted, 'hex') AS redacted%s "
                "FROM notary.ledger %s ORDER BY chain_id, chain_pos) e"
                % (", format_version" if has_fv else "", where), db=db).splitlines()
    return [json.loads(r) for r in rows]


def recompute(entries, layouts, all_entries=None):
    """Check entries (export-line-like dicts, in chain order) the way
    docs/format.md says, independently of the C code: each prev_hash links
    to the entry before in its chain, each entry_hash is the hash of the
    entry's own format_version, and a sealed format-2 entry gives the seal
    that the newest later REDACT entry (among all_entries, default entries)
    records for it.  Returns (problems, stats): problems a list of
    (seq, text); stats counts what was checked."""
    problems = []
    stats = dict.fromkeys(["format 1", "format 2", "format 2 personal", "format 2 NULL",
                           "format 2 kept commitment", "sealed", "no image"], 0)
    last = {}
    for e in entries:
        prev = bytes.fromhex(e["prev_hash"])
        if e["chain_id"] in last and prev != last[e["chain_id"]]:
            problems.append((e["seq"], "prev_hash does not link to the entry before"))
        if e["chain_pos"] == 1 and prev != bytes(32):
            problems.append((e["seq"], "position 1 with a prev_hash that is not zero"))
        last[e["chain_id"]] = bytes.fromhex(e["entry_hash"])
        ld, personal = None, []
        if e["layout_id"] is not None:
            if e["layout_id"] not in layouts:
                problems.append((e["seq"], "unknown layout %s" % e["layout_id"]))
                continue
            ld, personal = layouts[e["layout_id"]][:2]
        else:
            stats["no image"] += 1
        fv = e.get("format_version", 1)
        if fv in (1, 2):
            stats["format %d" % fv] += 1
        if fv == 2 and ld is not None:
            recs = redacted_records_v2(_hex_bytes(e.get("redacted")))
            if personal:
                stats["format 2 personal"] += 1
            if any(v is None and i not in personal and i not in recs
                   for i, v in enumerate(e["row_image"])):
                stats["format 2 NULL"] += 1
            if any(not sealed for sealed, _ in recs.values()):
                stats["format 2 kept commitment"] += 1
        sealed = sealed_positions(e)
        if sealed and fv != 2:
            problems.append((e["seq"], "format %r entry with sealed columns %s" % (fv, sealed)))
            continue
        if sealed:
            stats["sealed"] += 1
            got = seal_of(all_entries if all_entries is not None else entries, e["seq"])
            if got is None:
                problems.append((e["seq"], "sealed (columns %s) but no later REDACT records "
                                 "its seal (forged_redaction)" % sealed))
                continue
            mine = seal_v2(bytes.fromhex(e["entry_hash"]), e, ld, personal)
            if mine != got[1]:
                problems.append((e["seq"], "seal recorded by REDACT %s is %s, recomputed %s"
                                 % (got[0], got[1].hex(), mine.hex())))
            continue
        try:
            h = entry_hash_any(prev, e, ld, personal)
        except ValueError as ex:
            problems.append((e["seq"], str(ex)))
            continue
        if h.hex() != e["entry_hash"]:
            problems.append((e["seq"], "(%s, format %r) stored hash %s, recomputed %s"
                             % (e["op"], fv, e["entry_hash"], h.hex())))
    return problems, stats



def check_export(db, view_entries, where):
    """docs/format.md, "Exporting": the entry lines of notary.export() hold
    exactly the values of the view, format_version included, and every hash
    and seal recomputes from the export alone (layouts from its own layout
    lines).  Without format_version, a line means format 1: stripped of it,
    the format-2 lines must no longer verify."""
    lines = [json.loads(l) for l in psql("SELECT * FROM notary.export()", db=db).splitlines()]
    layouts = {}
    for l in (x for x in lines if x["type"] == "layout"):
        personal = [p - 1 for p in l["personal_columns"]]
        layouts[l["layout_id"]] = (layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                                                 l["column_names"], l["column_types"],
                                                 [k - 1 for k in l["key_columns"]], personal),
                                   personal, l["layout_digest"])
    exported = sorted((x for x in lines if x["type"] == "entry"),
                      key=lambda x: (x["chain_id"], x["chain_pos"]))
    view = {e["seq"]: e for e in view_entries}
    if sorted(x["seq"] for x in exported) != sorted(view):
        fail("%s: export() and notary.ledger hold different entries" % where)
        return
    for x in exported:
        for field, value in view[x["seq"]].items():
            if x.get(field, "(absent)") != value:
                fail("%s: export line of seq %s has %s %r, notary.ledger %r"
                     % (where, x["seq"], field, x.get(field, "(absent)"), value))
    problems, stats = recompute(exported, layouts)
    for seq, msg in problems:
        fail("%s: from export(), seq %s: %s" % (where, seq, msg))
    old_style = [{k: v for k, v in x.items() if k != "format_version"} for x in exported]
    bad = {seq for seq, _ in recompute(old_style, layouts)[0]}
    v2 = {x["seq"] for x in exported if x.get("format_version") == 2 and not sealed_positions(x)}
    if not v2 or not v2 <= bad:
        fail("%s: export lines without format_version still verify as format 2 (%d of %d failed)"
             % (where, len(v2 & bad), len(v2)))
    if not problems:
        print("ok: %s: every hash recomputed from export() alone (%s)"
              % (where, ", ".join("%d %s" % (v, k) for k, v in stats.items() if v)))

# The workload starts on extension version 0.3, which writes format 1 (and
# packs of version 1), and is updated to 0.4 (format 2) after row 2 is
# inserted: the ledger mixes both formats, and the redaction of u, classified
# late, keeps an unsalted commitment in row 1's format-1 entry and seals its
# format-2 UPDATE.
WORKLOAD_V1 = r"""
CREATE EXTENSION pg_notary VERSION '0.3';
CREATE SCHEMA s;
CREATE TYPE s.pair AS (a int, b text);
CREATE TABLE s.t (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, d date,
                  iv interval, b bytea, arr text[], j jsonb, p s.pair, r tstzrange, u text);
INSERT INTO s.t VALUES (1, 1.50, 'NaN', '2024-01-01 10:00+07', '2024-02-29', '1 day 2 hours',
  '\x00ff', '{a,NULL,"b c"}', '{"k": [1, 2]}', ROW(1, 'x y'), '[2024-01-01,2024-02-01)', 'Jakarta ꦗꦏꦂꦠ');
SELECT notary.enable('s');
INSERT INTO s.t VALUES (2, -0.001, '-Infinity', 'infinity', '-infinity', '-3 mons', '\x', '{}', 'null', NULL, 'empty', NULL);
"""
WORKLOAD = r"""
ALTER EXTENSION pg_notary UPDATE;
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


# Run after WORKLOAD, in a session of its own: one transaction whose entries
# are packed (docs/format.md, "Storage"), several to a pack, with names that
# repeat (stored as "the same as before") and that change mid-pack without a
# utility statement in between (set_config() of application_name and role in
# a SELECT, a SECURITY DEFINER function, session_authorization), NULLs in row
# images, a personal column with salts, an entry made in a subtransaction
# while the pack is open (stored as a single entry), and enough rows to fill
# several packs, and a few entries in format 1 (notary.entry_format set in
# a SELECT, so with the pack open: the format changes mid-pack).  WORKLOAD
# itself gives packs with event entries (detail),
# entries without a table, and the packed entries a redaction rewrote.
WORKLOAD_PACKS = r"""
CREATE ROLE notary_fmt_clerk;
GRANT USAGE ON SCHEMA s TO notary_fmt_clerk;
GRANT ALL ON s.t, s.nopk TO notary_fmt_clerk;
CREATE FUNCTION s.as_clerk(i int) RETURNS void SECURITY DEFINER LANGUAGE sql
  AS $$ INSERT INTO s.nopk VALUES ('by definer', i) $$;
ALTER FUNCTION s.as_clerk(int) OWNER TO notary_fmt_clerk;
CREATE FUNCTION s.in_subtransaction(i int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  BEGIN INSERT INTO s.nopk VALUES ('in a subtransaction', i);
  EXCEPTION WHEN division_by_zero THEN NULL; END;
END $$;
SELECT notary.enable('s');
BEGIN;
INSERT INTO s.t (id, n, u) VALUES (10, NULL, 'siti'), (11, 3, NULL);
SELECT set_config('application_name', 'kasir', true);
UPDATE s.t SET n = 7 WHERE id = 10;
SELECT set_config('application_name', '', true);
INSERT INTO s.nopk VALUES (NULL, 1);
SELECT set_config('role', 'notary_fmt_clerk', true);
INSERT INTO s.nopk VALUES ('clerk', 2);
UPDATE s.nopk SET y = 3 WHERE x = 'clerk';
SELECT set_config('role', 'none', true);
UPDATE s.t SET u = 'budi' WHERE id = 11;
SELECT set_config('application_name', 'kasir', true);
SELECT s.as_clerk(4);
SELECT s.in_subtransaction(5);
INSERT INTO s.nopk SELECT repeat('long row ', 8) || g, g FROM generate_series(1, 40) g;
SELECT set_config('notary.entry_format', '1', true);
SELECT set_config('session_authorization', 'notary_fmt_clerk', true);
DELETE FROM s.nopk WHERE y = 3 OR y > 38;
COMMIT;
"""


def check_packs(entries):
    """Decode every row of notary.ledger_packs and compare each entry with
    the row notary.ledger shows for its (chain_id, chain_pos)."""
    view = {(e["chain_id"], e["chain_pos"]): e for e in entries}
    singles = set()
    for line in psql("SELECT chain_id, chain_pos FROM notary.ledger_entries").splitlines():
        c, p = line.split("|")
        singles.add((int(c), int(p)))
    stats = dict.fromkeys(["op_text", "names_same_as_before", "names_same_across_a_null",
                           "names_changed_mid_pack", "names_repeated_explicitly",
                           "null_values"], 0)
    covered = {}
    packs = decoded = multi = 0
    seen = dict.fromkeys(["with table", "without table", "row image", "row_salts",
                          "old_digest", "detail", "redacted"], 0)
    for line in psql("SELECT chain_id, first_pos, last_pos, xid::text, encode(entries, 'hex') "
                     "FROM notary.ledger_packs ORDER BY chain_id, first_pos").splitlines():
        chain, first, last, xid, hexdata = line.split("|")
        chain, first, last = int(chain), int(first), int(last)
        where = "pack (chain %d, first_pos %d)" % (chain, first)
        packs += 1
        try:
            _, pack = decode_pack(bytes.fromhex(hexdata), stats)
        except PackError as ex:
            fail("%s does not decode as docs/format.md says: %s" % (where, ex))
            continue
        if last != first + len(pack) - 1:
            fail("%s: last_pos is %d, but it holds %d entries (first_pos + n - 1 = %d)"
                 % (where, last, len(pack), first + len(pack) - 1))
        if len(pack) > 1:
            multi += 1
        for k, d in enumerate(pack):
            key = (chain, first + k)
            at = "%s entry %d (chain_pos %d)" % (where, k, first + k)
            d["xid"] = xid
            if key in covered:
                fail("%s: chain_pos %d is also in %s" % (at, first + k, covered[key]))
            if key in singles:
                fail("%s: chain_pos %d is also in notary.ledger_entries" % (at, first + k))
            covered[key] = where
            if key not in view:
                fail("%s: notary.ledger has no row at chain %d, position %d" % (at, chain, first + k))
                continue
            compare_pack_entry(at, d, view[key])
            decoded += 1
            seen["with table" if d["table_id"] is not None else "without table"] += 1
            for field, label in [("row_image", "row image"), ("row_salts", "row_salts"),
                                 ("old_digest", "old_digest"), ("detail", "detail"),
                                 ("redacted", "redacted")]:
                if d[field] is not None:
                    seen[label] += 1
    missing = set(view) - set(covered) - singles
    if missing:
        fail("notary.ledger shows %d entries that are neither in a pack nor in "
             "notary.ledger_entries: %s" % (len(missing), sorted(missing)[:5]))
    # the workload must exercise every part of the encoding, or this proves little
    for what, n in [("packs", packs), ("packed entries", decoded),
                    ("packs of several entries", multi),
                    ("names stored as 'the same as before'", stats["names_same_as_before"]),
                    ("names changed mid-pack", stats["names_changed_mid_pack"]),
                    ("names stored as 'the same' across an entry without the field",
                     stats["names_same_across_a_null"]),
                    ("NULL values in packed row images", stats["null_values"]),
                    ("single entries (notary.ledger_entries)", len(singles)),
                    ("packs of version 1", stats.get("pack_version_1", 0)),
                    ("packs of version 2", stats.get("pack_version_2", 0))] + \
            [("packed entries with " + k, v) for k, v in seen.items()]:
        if n == 0:
            fail("the workload gave no %s: the pack check would pass vacuously" % what)
    print("ok: decoded %d packs (%d of version 1, %d of version 2; %d of several entries) holding "
          "%d entries, each compared field by field with notary.ledger; %d single entries besides"
          % (packs, stats.get("pack_version_1", 0), stats.get("pack_version_2", 0), multi, decoded,
             len(singles)))
    print("    packed: %s; names: %d 'same as before' (%d of them across an entry without "
          "the field), %d changed mid-pack, %d repeated explicitly; %d NULL values; "
          "%d ops as text"
          % (", ".join("%d %s" % (v, k) for k, v in seen.items()),
             stats["names_same_as_before"], stats["names_same_across_a_null"],
             stats["names_changed_mid_pack"],
             stats["names_repeated_explicitly"], stats["null_values"], stats["op_text"]))


def check_ledger():
    psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
    psql("DROP ROLE IF EXISTS notary_fmt_clerk", db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    try:
        odd = ("-c TimeZone=Asia/Jakarta -c DateStyle=SQL,DMY -c extra_float_digits=0 "
               "-c bytea_output=escape -c IntervalStyle=sql_standard")
        psql(WORKLOAD_V1, settings=odd)
        psql(WORKLOAD, settings=odd)
        psql(WORKLOAD_PACKS, settings=odd, script=True)
        layouts = read_layouts()
        for lid, (d, _, stored) in layouts.items():
            if d.hex() != stored:
                fail("layout %s: stored digest %s, recomputed %s" % (lid, stored, d.hex()))
        entries = read_entries()
        problems, hstats = recompute(entries, layouts)
        for seq, msg in problems:
            fail("seq %s: %s" % (seq, msg))
        row_digests = set()
        redacted_seen = []
        unknowable_tables = set()
        for e in entries:
            if e["layout_id"] is not None:
                ld, personal = layouts[e["layout_id"]][:2]
                red = bytes.fromhex(e["redacted"]) if e["redacted"] else b""
                if red:
                    redacted_seen.append(e["seq"])
                    # an erased column that was not personal in this layout
                    # makes the image's row digest unknowable
                    if any(p not in personal for p in redacted_records_v2(red)):
                        unknowable_tables.add(e["table_id"])
                row_digests.add(row_digest(ld, e["row_image"], personal).hex())
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
        npacked = check_pack_spans(DB, entries)
        if npacked == 0:
            fail("the workload wrote no pack")
        findings = psql("SELECT count(*) FROM notary.verify()").strip()
        if findings != "0":
            fail("notary.verify() reports %s findings on the untouched ledger" % findings)
        if not entries or not layouts:
            fail("the ledger holds %d entries and %d layouts" % (len(entries), len(layouts)))
        # both formats, and what each does with a late-classified column
        first_v2 = min((e["seq"] for e in entries if e.get("format_version") == 2), default=None)
        late_v1 = [e for e in entries if e.get("format_version") == 1 and first_v2 is not None
                   and e["seq"] > first_v2]
        v1_kept = [e for e in entries if e.get("format_version") == 1 and e["redacted"]
                   and not sealed_positions(e)]
        for what, n in [("format-1 entries (written by 0.3)", hstats["format 1"] - len(late_v1)),
                        ("format-1 entries written by 0.4 (notary.entry_format = 1)", len(late_v1)),
                        ("format-2 entries", hstats["format 2"]),
                        ("format-2 entries with personal columns", hstats["format 2 personal"]),
                        ("format-2 entries with a NULL value", hstats["format 2 NULL"]),
                        ("format-2 entries with a kept (salted) commitment",
                         hstats["format 2 kept commitment"]),
                        ("sealed format-2 entries", hstats["sealed"]),
                        ("format-1 entries with a kept commitment of a late-classified column",
                         len(v1_kept))]:
            if n == 0:
                fail("the workload gave no %s: the check would pass vacuously" % what)
        print("ok: recomputed %d entries and %d layouts independently; %d entries parsed from packs"
              % (len(entries), len(layouts), npacked))
        print("    hashed: %s" % ", ".join("%d %s" % (v, k) for k, v in hstats.items()))
        check_packs(entries)
        check_export(DB, entries, "mixed ledger")
    finally:
        if not os.environ.get("KEEP"):
            psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
            psql("DROP ROLE IF EXISTS notary_fmt_clerk", db="postgres")



# --- (4) seals: a column classified personal after rows were written --------
# docs/format.md, "Sealed columns".  Rows of hr.staff are written while
# phone and note are not personal (name is, from the start), some packed and
# some single; phone is classified, then erased from row 1's history, then
# note the same way: every entry of row 1 written before the classification
# is sealed, twice, and the second REDACT's seals replace the first's.  Every
# seal is recomputed here from the entry as stored; then a sealed entry is
# edited (packed and single) and must no longer match.

SEAL_DB = "pg_notary_seal_check"
SEAL_WORKLOAD = r"""
CREATE EXTENSION pg_notary;
CREATE SCHEMA hr;
CREATE TABLE hr.staff (id int PRIMARY KEY, name text, phone text, city text, note text);
SELECT notary.enable('hr');
SELECT notary.classify('hr.staff', 'name', 'identifier');
INSERT INTO hr.staff VALUES (1, 'Siti', '0812-1111', NULL, 'first note'),
                            (2, 'Budi', NULL, 'Bandung', NULL),
                            (3, NULL, '0813-3333', 'Medan', 'x');
UPDATE hr.staff SET city = 'Bogor' WHERE id = 1;
SET notary.pack_entries = off;
UPDATE hr.staff SET note = 'single note' WHERE id = 1;
RESET notary.pack_entries;
SELECT notary.classify('hr.staff', 'phone', 'identifier');
UPDATE hr.staff SET phone = '0812-9999', city = NULL WHERE id = 1;
SELECT notary.redact('hr.staff', '{1}', '{phone}', 'erasure request 1');
SELECT notary.classify('hr.staff', 'note', 'sensitive');
SELECT notary.redact('hr.staff', '{1}', '{note}', 'erasure request 2');
"""


def check_sealing():
    psql("DROP DATABASE IF EXISTS %s" % SEAL_DB, db="postgres")
    psql("CREATE DATABASE %s" % SEAL_DB, db="postgres")
    try:
        psql(SEAL_WORKLOAD, db=SEAL_DB, script=True)
        layouts = read_layouts(SEAL_DB)
        entries = read_entries(SEAL_DB)
        problems, stats = recompute(entries, layouts)
        for seq, msg in problems:
            fail("seal scenario, seq %s: %s" % (seq, msg))
        by_seq = {e["seq"]: e for e in entries}
        redacts = [e for e in entries if e["op"] == "REDACT"]
        if len(redacts) != 2:
            fail("seal scenario: %d REDACT entries, expected 2" % len(redacts))
            return
        seals = [{int(k): v for k, v in (json.loads(r["detail"]).get("sealed") or {}).items()}
                 for r in redacts]
        sealed = [e for e in entries if sealed_positions(e)]
        classified = {c: min(x["seq"] for x in entries if x["op"] == "CLASSIFY"
                             and '"%s"' % c in (x["detail"] or "")) for c in ("phone", "note")}
        row1 = [e for e in entries if e["row_image"] and e["row_image"][0] == "1"]
        # row 1's entries from before phone was personal are sealed on phone
        # (2) and note (4) by both REDACTs; those from before note was, on
        # note by the second; the later ones on nothing
        expect = {e["seq"]: ([2, 4] if e["seq"] < classified["phone"] else [4])
                  for e in row1 if e["seq"] < classified["note"]}
        got = {e["seq"]: sealed_positions(e) for e in sealed}
        if got != expect or len([1 for v in expect.values() if v == [2, 4]]) != 3 or \
                len([1 for v in expect.values() if v == [4]]) < 2:
            fail("seal scenario: sealed entries and columns %s, expected %s" % (got, expect))
        for e in sealed:
            red = bytes.fromhex(e["redacted"])
            for k in range(0, len(red), 34):
                pos = int.from_bytes(red[k:k + 2], "big")
                if pos & SEALED and red[k + 2:k + 34] != bytes(32):
                    fail("seal scenario, seq %s: sealed record %d holds a commitment" % (e["seq"], pos))
            if any(e["row_image"][i] is not None for i in sealed_positions(e)):
                fail("seal scenario, seq %s: a sealed value is still in row_image" % e["seq"])
            if e.get("format_version") != 2:
                fail("seal scenario, seq %s: sealed, but format %r" % (e["seq"], e.get("format_version")))
            # the newest REDACT naming it gives the seal that holds; the
            # first REDACT's seal of a twice-sealed entry no longer fits it
            twice = sealed_positions(e) == [2, 4]
            if e["seq"] not in seals[1] or (e["seq"] in seals[0]) != twice:
                fail("seal scenario, seq %s: named by REDACT 1: %s, by REDACT 2: %s"
                     % (e["seq"], e["seq"] in seals[0], e["seq"] in seals[1]))
                continue
            ld, personal = layouts[e["layout_id"]][:2]
            mine = seal_v2(bytes.fromhex(e["entry_hash"]), e, ld, personal).hex()
            if mine != seals[1][e["seq"]] or (twice and mine == seals[0][e["seq"]]):
                fail("seal scenario, seq %s: recomputed seal %s; REDACT 1 says %s, REDACT 2 %s"
                     % (e["seq"], mine, seals[0].get(e["seq"]), seals[1][e["seq"]]))
        if set(seals[1]) != set(expect) or set(seals[0]) != {s for s, v in expect.items() if v == [2, 4]}:
            fail("seal scenario: REDACT 1 seals %s, REDACT 2 %s; expected %s"
                 % (sorted(seals[0]), sorted(seals[1]), expect))
        # the entries written after the classification keep a commitment of phone
        kept = [e for e in entries if e["row_image"] and e["row_image"][0] == "1"
                and e["redacted"] and not sealed_positions(e)]
        if not kept:
            fail("seal scenario: no entry of row 1 kept a salted commitment")
        # (the live row keeps its values: the baseline that classifying note
        # makes records phone again, after the first redaction)
        for r, gone in [(redacts[0], ("0812-1111", "0812-9999")),
                        (redacts[1], ("first note", "single note"))]:
            text = json.dumps([e for e in entries if e["seq"] < r["seq"]])
            for value in gone:
                if value in text:
                    fail("seal scenario: the erased value %r is still in an entry before REDACT %s"
                         % (value, r["seq"]))
        for what, n in [("sealed entries", stats["sealed"]), ("format-2 entries", stats["format 2"]),
                        ("format-2 entries with personal columns", stats["format 2 personal"]),
                        ("format-2 entries with a NULL", stats["format 2 NULL"]),
                        ("format-2 entries with a kept commitment", stats["format 2 kept commitment"])]:
            if n == 0:
                fail("seal scenario: no %s: the check would pass vacuously" % what)
        findings = psql("SELECT count(*) FROM notary.verify()", db=SEAL_DB).strip()
        if findings != "0":
            fail("seal scenario: notary.verify() reports %s findings on the untouched ledger" % findings)
        # a REDACT without its "sealed" member: the sealed entries are forged redactions
        stripped = [dict(e, detail=json.dumps({k: v for k, v in json.loads(e["detail"]).items()
                                               if k != "sealed"}))
                    if e["op"] == "REDACT" else e for e in entries]
        got = {seq for seq, msg in recompute(stripped, layouts)[0] if "forged_redaction" in msg}
        if got != {e["seq"] for e in sealed}:
            fail("seal scenario: without the seals, %s are reported as forged, not %s"
                 % (sorted(got), sorted(e["seq"] for e in sealed)))
        print("ok: seals: %d entries sealed (some twice), each seal recomputed from the newest "
              "REDACT entry's detail; %s" % (len(sealed), ", ".join("%d %s" % (v, k) for k, v in stats.items())))
        check_export(SEAL_DB, entries, "seal scenario")
        check_sealed_tamper(layouts, sealed)
    finally:
        if not os.environ.get("KEEP"):
            psql("DROP DATABASE IF EXISTS %s" % SEAL_DB, db="postgres")


def check_sealed_tamper(layouts, sealed):
    """Edit what is left of a sealed entry, one packed and one single, with
    the guards off: its recomputed seal must differ from the recorded one,
    and notary.verify() must report altered_entry at that seq."""
    singles = {int(x) for x in psql("SELECT seq FROM notary.ledger_entries", db=SEAL_DB).split()}
    packed = [e for e in sealed if e["seq"] not in singles]
    single = [e for e in sealed if e["seq"] in singles]
    if not packed or not single:
        fail("seal scenario: sealed entries %d packed, %d single: both are needed"
             % (len(packed), len(single)))
        return
    victims = {packed[0]["seq"], single[0]["seq"]}
    edits = ["UPDATE notary.ledger_entries SET row_image[4] = 'Bogoq' WHERE seq = %d;" % single[0]["seq"]]
    e = packed[0]
    p = json.loads(psql("SELECT row_to_json(p) FROM (SELECT first_pos, encode(entries, 'hex') AS body "
                        "FROM notary.ledger_packs WHERE chain_id = %d AND %d BETWEEN first_pos AND last_pos) p"
                        % (e["chain_id"], e["chain_pos"]), db=SEAL_DB))
    body = bytearray.fromhex(p["body"])
    at, n = pack_spans(bytes(body))[e["chain_pos"] - p["first_pos"]]["values"][0]
    if bytes(body[at:at + n]) != b"\x021":
        fail("seal scenario: the id of packed seq %s is not stored as '1'" % e["seq"])
        return
    body[at + 1:at + 2] = b"7"                  # id 1 -> 7, same length
    edits.append("UPDATE notary.ledger_packs SET entries = '\\x%s' WHERE chain_id = %d AND first_pos = %d;"
                 % (body.hex(), e["chain_id"], p["first_pos"]))
    psql("ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only; "
         "ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only", db=SEAL_DB)
    psql("BEGIN;\n" + "\n".join(edits) + "\nCOMMIT;", db=SEAL_DB, script=True)
    problems, _ = recompute(read_entries(SEAL_DB), layouts)
    got = {seq for seq, msg in problems if "seal" in msg}
    if got != victims:
        fail("seal scenario: after editing sealed entries %s, the recomputed seals differ at %s (%s)"
             % (sorted(victims), sorted(got), problems))
    found = {int(x) for x in psql("SELECT seq FROM notary.verify() WHERE problem = 'altered_entry'",
                                  db=SEAL_DB).split()}
    if found != victims:
        fail("seal scenario: notary.verify() reports altered_entry at %s after editing sealed "
             "entries %s" % (sorted(found), sorted(victims)))
    if not FAILURES:
        print("ok: an edited sealed entry (packed and single) no longer matches its seal, here and "
              "in notary.verify()")


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
    if len(body) < 33 or body[0] not in (1, 2):
        raise ValueError("not a version 1 or 2 pack")
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


def check_pack_spans(db, view_entries):
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
    of a chain from position from_pos on, from what the entries hold now,
    each in its own format (format_version).  A sealed format-2 entry cannot
    be rehashed: its stored hash stands (so the entries after it keep their
    links), but its seal covers its prev_hash, so the seal is recomputed and
    written into the detail of the REDACT entry that records it, and that
    entry's chain is rehashed from there too.  Returns the SQL that stores
    it all where the entries live (UPDATE of notary.ledger_entries for single
    entries; the 32 hash bytes of each entry, a pack's leading prev_hash and
    the seal's hex in a REDACT's detail, replaced in place in
    notary.ledger_packs) and the number of entries rehashed.  The caller
    runs it with the guards of both tables switched off."""
    layouts = read_layouts(db)
    entries = read_entries(db)
    by_pos = {(e["chain_id"], e["chain_pos"]): e for e in entries}
    by_seq = {e["seq"]: e for e in entries}
    original = {e["seq"]: (e["prev_hash"], e["entry_hash"], e["detail"]) for e in entries}
    todo = [(chain_id, from_pos)]
    while todo:
        c, start = todo.pop(0)
        chain = sorted((e for e in entries if e["chain_id"] == c and e["chain_pos"] >= start),
                       key=lambda e: e["chain_pos"])
        if not chain:
            continue
        prev = bytes.fromhex(chain[0]["prev_hash"])    # the untouched entry before
        for e in chain:
            e["prev_hash"] = prev.hex()
            ld, personal = None, []
            if e["layout_id"] is not None:
                ld, personal = layouts[e["layout_id"]][:2]
            if sealed_positions(e):
                got = seal_of(entries, e["seq"])
                if got is None:
                    raise ValueError("seq %s is sealed, but no REDACT entry records its seal"
                                     % e["seq"])
                seal = seal_v2(bytes.fromhex(e["entry_hash"]), e, ld, personal)
                if seal != got[1]:
                    r = by_seq[got[0]]
                    r["detail"] = r["detail"].replace(got[1].hex(), seal.hex())
                    if r["chain_id"] != c:
                        todo.append((r["chain_id"], r["chain_pos"]))
                    # (in this chain, it is later and rehashed below)
                prev = bytes.fromhex(e["entry_hash"])
                continue
            prev = entry_hash_any(prev, e, ld, personal)
            e["entry_hash"] = prev.hex()
    changed = {seq for seq, old in original.items()
               if (by_seq[seq]["prev_hash"], by_seq[seq]["entry_hash"], by_seq[seq]["detail"]) != old}
    sql = []
    for line in psql("SELECT seq FROM notary.ledger_entries", db=db).split():
        if int(line) not in changed:
            continue
        e = by_seq[int(line)]
        sql.append("UPDATE notary.ledger_entries SET prev_hash = '\\x%s', entry_hash = '\\x%s'%s "
                   "WHERE seq = %s;"
                   % (e["prev_hash"], e["entry_hash"],
                      ", detail = '%s'::jsonb" % e["detail"].replace("'", "''")
                      if e["detail"] != original[e["seq"]][2] else "", line))
    for line in psql("SELECT row_to_json(p) FROM (SELECT chain_id, first_pos, "
                     "encode(entries, 'hex') AS body FROM notary.ledger_packs) p", db=db).splitlines():
        p = json.loads(line)
        body = bytearray.fromhex(p["body"])
        touched = False
        for k, sp in enumerate(pack_spans(bytes(body))):
            e = by_pos[(p["chain_id"], p["first_pos"] + k)]
            if e["seq"] not in changed:
                continue
            touched = True
            if k == 0:
                body[1:33] = bytes.fromhex(e["prev_hash"])
            body[sp["end"] - 32:sp["end"]] = bytes.fromhex(e["entry_hash"])
            old_detail = original[e["seq"]][2]
            if e["detail"] != old_detail:
                # a seal replaced by one of the same length: the detail's
                # bytes change in place, its length does not
                old_b, new_b = old_detail.encode(), e["detail"].encode()
                at = bytes(body).find(old_b, sp["start"], sp["end"] - 32)
                if len(old_b) != len(new_b) or at < 0:
                    raise ValueError("seq %s: cannot rewrite its detail in place" % e["seq"])
                body[at:at + len(old_b)] = new_b
        if touched:
            sql.append("UPDATE notary.ledger_packs SET entries = '\\x%s' "
                       "WHERE chain_id = %d AND first_pos = %d;"
                       % (body.hex(), p["chain_id"], p["first_pos"]))
    return sql, len(changed)


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
    # a pack written by hand from docs/format.md, "Encoding of entries"
    def varint(v):
        out = bytearray()
        while True:
            out.append((v & 0x7f) | (0x80 if v >> 7 else 0))
            v >>= 7
            if not v:
                return bytes(out)
    def zz(v):
        return varint((v << 1) ^ (v >> 63) if v < 0 else v << 1)
    def nm(t):
        return varint(len(t.encode()) + 1) + t.encode()
    pack = (b"\x01" + b"\xaa" * 32
            + bytes([F_APP | F_TABLE | F_IMAGE | F_SALTS]) + varint(1001) + b"\x01"
            + zz(1000000) + nm("alice") + nm("app") + nm("e-procurement") + zz(7)
            + zz(3) + varint(2) + varint(0) + varint(3) + b"42" + varint(16) + bytes(16)
            + b"\x11" * 32
            + bytes([F_DETAIL]) + varint(300) + b"\x00" + varint(4) + b"NOTE" + zz(-5)
            + varint(0) + nm("bob") + varint(2) + b"{}" + b"\x22" * 32
            + bytes([F_APP]) + varint(1) + b"\x0e" + zz(0) + varint(0) + varint(0)
            + varint(0) + b"\x33" * 32)
    stats = {k: 0 for k in ["op_text", "names_same_as_before", "names_same_across_a_null",
                            "names_changed_mid_pack", "names_repeated_explicitly",
                            "null_values"]}
    prev, es = decode_pack(pack, stats)
    got = [(x["seq"], x["op"], x["logged_at_pg"], x["session_user_name"], x["current_user_name"],
            x["application_name"], x["table_id"], x["layout_id"], x["row_image"], x["row_salts"],
            x["detail"], x["prev_hash"], x["entry_hash"]) for x in es]
    want = [(1001, "INSERT", 1000000, "alice", "app", "e-procurement", 7, 3, [None, "42"],
             bytes(16), None, b"\xaa" * 32, b"\x11" * 32),
            (1301, "NOTE", 999995, "alice", "bob", None, None, None, None, None, "{}",
             b"\x11" * 32, b"\x22" * 32),
            (1302, "EXPORT", 999995, "alice", "bob", "e-procurement", None, None, None, None,
             None, b"\x22" * 32, b"\x33" * 32)]
    if got != want:
        fail("self-test: the hand-made pack decodes as %r, not %r" % (got, want))
    # the version byte: 2 (0.4) gives the same entries in format 2; others are refused
    _, es2 = decode_pack(b"\x02" + pack[1:], stats)
    if [x["format_version"] for x in es] != [1, 1, 1] or \
            [x["format_version"] for x in es2] != [2, 2, 2] or \
            [x["entry_hash"] for x in es2] != [x["entry_hash"] for x in es] or \
            len(pack_spans(b"\x02" + pack[1:])) != 3:
        fail("self-test: a version-2 pack does not decode as format-2 entries")
    for bad in (0, 3):
        try:
            decode_pack(bytes([bad]) + pack[1:], stats)
            fail("self-test: a pack of version %d was decoded" % bad)
        except PackError:
            pass


if __name__ == "__main__":
    self_test()
    check_doc_vectors()
    check_ledger()
    check_sealing()
    if FAILURES:
        print("%d format check(s) failed" % len(FAILURES))
        sys.exit(1)
    print("format checks passed")

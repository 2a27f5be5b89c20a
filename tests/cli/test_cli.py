#!/usr/bin/env python3
"""Tests of notary-verify, the independent command-line verifier (cli/).

Part A (offline): documents built here, with Python's own BLAKE2b
(tests/format/check_format.py, an implementation of docs/format.md that
shares nothing with the C code) and a tiny libsodium signer
(tests/cli/sign_helper.c, since Python has no Ed25519):
  - the test vectors of docs/format.md, read back through an export;
  - format 2: a ledger mixing formats, tampered in its values, hashes and
    format_version; personal columns redacted; sealed columns with right,
    wrong, missing and superseded seals; checkpoints and proofs over them;
  - a synthetic ledger of three chains, clean and tampered in every way
    docs/format.md "What verification checks" names;
  - checkpoints: valid, forged, wrong key, tail cut, rewritten history,
    root-only mismatch, other cluster, malformed, stored checkpoint chain;
  - proofs: every leaf of every Merkle tree of 1..20 leaves, and tampered
    paths, entries, layouts, keys;
  - malformed input of every kind: exit status 2 with a message.
Part B (a live cluster, PGHOST/PGPORT, as the postgres OS user): a ledger
written by the extension under odd session settings, partly as single rows
(notary.pack_entries off) and partly packed (the default storage, docs/
format.md "Storage"); notary-verify on the database and on its export
agrees with notary.verify() on the clean ledger and on a corpus of tampered
copies: single rows changed in notary.ledger_entries, and packs changed
byte by byte in notary.ledger_packs (a pack the view cannot read must make
notary-verify --dbname fail, not report the ledger intact); then, with the
extension's own checkpoints, proofs and key: a consistent rewrite of
history (invisible to notary.verify()) and a tail cut, of single and packed
entries, a forged checkpoint, another cluster's checkpoint, a wrong key;
redaction and restore on both storages, where the columns erased that were
not personal when written are sealed (docs/format.md "Format 2"): proofs of
sealed entries, what is left of one changed, seals removed, format_version
changed; a 0.3 database (format 1, no format_version) read as it is, then
updated to 0.4 in mid-chain (formats 1 and 2 in one chain) and redacted;
and progress output on a ledger of 120k entries.

Needs python3, psql, cc and libsodium-dev; notary-verify from PATH (or
$NOTARY_VERIFY).  Prints "ok:"/"FAIL:" per check, exits 1 on any failure.
"""
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "format"))
import check_format as fmt  # noqa: E402

NV = os.environ.get("NOTARY_VERIFY") or shutil.which("notary-verify")
TMP = tempfile.mkdtemp(prefix="nv_test_")
FAILED = []
PASSED = [0]


def check(cond, msg):
    if cond:
        PASSED[0] += 1
        print("ok: " + msg)
    else:
        FAILED.append(msg)
        print("FAIL: " + msg)


def path(name):
    return os.path.join(TMP, name)


def write(name, text):
    p = path(name)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)
    return p


def write_lines(name, objs):
    return write(name, "".join(json.dumps(o) + "\n" for o in objs))


def nv(*args, env=None):
    """Run notary-verify; returns (exit status, stdout, stderr)."""
    r = subprocess.run([NV] + list(args), capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stdout, r.stderr


def nvj(*args):
    """Run notary-verify --json; returns (exit status, parsed output or None, stderr)."""
    rc, out, err = nv("--json", *args)
    try:
        doc = json.loads(out) if out.strip() else None
    except ValueError:
        doc = None
    return rc, doc, err


def problems(doc):
    return sorted(f["problem"] for f in doc["findings"]) if doc else None


def pairs(doc):
    return sorted((f["problem"], f["seq"] if f["seq"] is not None else -1)
                  for f in doc["findings"]) if doc else None


# --- Ed25519 through sign_helper ---------------------------------------------

HELPER = path("sign_helper")


def build_helper():
    subprocess.run(["cc", "-O2", "-Wall", "-Werror", "-o", HELPER,
                    os.path.join(HERE, "sign_helper.c"), "-lsodium"], check=True)


def keypair(seed_byte):
    out = subprocess.run([HELPER, "keypair", ("%02x" % seed_byte) * 32],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def sign(secret_hex, message):
    return subprocess.run([HELPER, "sign", secret_hex, message.hex()],
                          capture_output=True, text=True, check=True).stdout.strip()


# --- docs/checkpoints.md, written here from the document ----------------------

def H(data=b""):
    return hashlib.blake2b(data, digest_size=32).digest()


def leaf(h):
    return H(b"\x00" + h)


def mth(leaves):
    """RFC 9162 2.1.1 over entry hashes."""
    n = len(leaves)
    if n == 0:
        return H()
    if n == 1:
        return leaf(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


def audit_path(m, leaves):
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return audit_path(m, leaves[:k]) + [mth(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def key_id(public_hex):
    h = fmt.begin("key")
    h.update(bytes.fromhex(public_hex))
    return h.digest()[:8].hex()


def checkpoint_digest(cp):
    h = fmt.begin("checkpoint")
    fmt.string(h, cp["format"])
    fmt.u64(h, cp["checkpoint_id"])
    fmt.string(h, cp["system_identifier"])
    fmt.u32(h, cp["timeline"])
    fmt.string(h, cp["database"])
    fmt.u64(h, cp["created_at_us"])
    fmt.u64(h, cp["ledger_seq"])
    fmt.u64(h, cp["entries"])
    fmt.u32(h, len(cp["chains"]))
    for c in cp["chains"]:
        fmt.u32(h, c["chain_id"])
        fmt.u64(h, c["position"])
        h.update(bytes.fromhex(c["hash"]))
    h.update(bytes.fromhex(cp["entries_root"]))
    if cp["previous"] is None:
        fmt.u8(h, 0)
    else:
        fmt.u8(h, 1)
        h.update(bytes.fromhex(cp["previous"]))
    return h.digest()


def seal(cp, secret, public):
    """(Re)compute digest, key id and signature of a checkpoint document."""
    cp = dict(cp)
    d = checkpoint_digest(cp)
    cp["digest"] = d.hex()
    cp["key_id"] = key_id(public)
    cp["signature"] = sign(secret, d)
    return cp


def make_checkpoint(entries, cover, secret, public, cid=1, sysid="7441218370993838121",
                    database="procurement_demo", previous=None):
    """A checkpoint over entries (export lines) covering cover[chain] positions."""
    covered = sorted((e for e in entries if e["chain_pos"] <= cover.get(e["chain_id"], 0)),
                     key=lambda e: (e["chain_id"], e["chain_pos"]))
    chains = []
    for c in sorted(cover):
        head = [e for e in covered if e["chain_id"] == c and e["chain_pos"] == cover[c]][0]
        chains.append({"chain_id": c, "position": cover[c], "hash": head["entry_hash"]})
    cp = {"format": "pg_notary-checkpoint-v1", "checkpoint_id": cid,
          "system_identifier": sysid, "timeline": 1, "database": database,
          "created_at": "2026-11-28 08:40:00.123456+00", "created_at_us": 1795855200123456 + cid,
          "ledger_seq": max([e["seq"] for e in covered] or [0]),
          "entries": len(covered), "chains": chains,
          "entries_root": mth([bytes.fromhex(e["entry_hash"]) for e in covered]).hex(),
          "previous": previous, "digest": "", "key_id": "", "signature": ""}
    return seal(cp, secret, public)


# --- a synthetic ledger, hashed with check_format.py ---------------------------

def layout_line(layout_id, table_id, schema, table, names, types, keys, personal):
    d = fmt.layout_digest(table_id, schema, table, names, types,
                          [k - 1 for k in keys], [p - 1 for p in personal])
    return {"type": "layout", "layout_id": layout_id, "table_id": table_id,
            "layout_digest": d.hex(), "schema_name": schema, "table_name": table,
            "column_names": names, "column_types": types, "key_columns": keys,
            "personal_columns": personal}


def layout_of(l):
    """(recomputed digest, personal columns 0-based) of a layout line."""
    return (fmt.layout_digest(l["table_id"], l["schema_name"], l["table_name"],
                              l["column_names"], l["column_types"],
                              [k - 1 for k in l["key_columns"]],
                              [p - 1 for p in l["personal_columns"]]),
            [p - 1 for p in l["personal_columns"]])


def rehash(layouts, entries, start=0):
    """Recompute prev_hash and entry_hash of entries[start:] (one ordered
    list), each in its own format_version (check_format.entry_hash_any).  A
    sealed entry (docs/format.md "Sealed columns") keeps its stored hash,
    which cannot be recomputed: reseal() writes its seal."""
    lay = {l["layout_id"]: l for l in layouts}
    last = {}
    for i, e in enumerate(entries):
        if i >= start:
            e["prev_hash"] = last.get(e["chain_id"], bytes(32)).hex()
            ld, personal = layout_of(lay[e["layout_id"]]) if e["layout_id"] is not None else (None, [])
            if not (e.get("format_version") == 2 and fmt.sealed_positions(e)):
                e["entry_hash"] = fmt.entry_hash_any(bytes.fromhex(e["prev_hash"]), e, ld, personal).hex()
        last[e["chain_id"]] = bytes.fromhex(e["entry_hash"])
    return entries


def seal_columns(e, layout, columns):
    """Erase columns that are not personal from a format-2 entry as
    notary.redact() does (docs/format.md "Sealed columns"): value NULL, a
    record u16 (0x8000 + position) || 32 zero bytes, records ascending; the
    entry keeps its stored hash."""
    names = layout["column_names"]
    old = bytes.fromhex(e.get("redacted") or "")
    recs = {int.from_bytes(old[k:k + 2], "big") & 0x7fff: old[k:k + 34] for k in range(0, len(old), 34)}
    for c in columns:
        i = names.index(c)
        recs[i] = (fmt.SEALED + i).to_bytes(2, "big") + bytes(32)
        e["row_image"][i] = None
    e["redacted"] = b"".join(recs[i] for i in sorted(recs)).hex()
    return e


def reseal(layouts, entries, redact, targets):
    """Write into the REDACT entry redact's detail the seals of the entries
    targets (seqs), as they are stored now (check_format.seal_v2)."""
    lay = {l["layout_id"]: l for l in layouts}
    d = json.loads(redact["detail"])
    d["sealed"] = {}
    for q in targets:
        e = [x for x in entries if x["seq"] == q][0]
        ld, personal = layout_of(lay[e["layout_id"]])
        d["sealed"][str(q)] = fmt.seal_v2(bytes.fromhex(e["entry_hash"]), e, ld, personal).hex()
    redact["detail"] = json.dumps(d)


def synthetic_ledger():
    layouts = [
        layout_line(1, 7, "procurement", "contracts", ["id", "vendor", "value", "signed_at"],
                    ["integer", "pg_catalog.text", "numeric(14,2)", "timestamp with time zone"],
                    [1], []),
        layout_line(2, 8, "registry", "citizens", ["nik", "name", "born"],
                    ["pg_catalog.text", "pg_catalog.text", "pg_catalog.date"], [1], [1, 3]),
    ]
    entries = []
    seq = 100
    plan = [(3, 5), (5, 4), (9, 3)]     # chain, number of entries
    for chain, n in plan:
        for pos in range(1, n + 1):
            seq += 1
            e = {"type": "entry", "seq": seq, "chain_id": chain, "chain_pos": pos,
                 "prev_hash": "", "entry_hash": "", "op": "INSERT", "xid": str(7000 + seq),
                 "logged_at_us": 1709262000000000 + seq, "session_user_name": "alice",
                 "current_user_name": "procurement_app", "application_name": "e-procurement",
                 "client_addr": None, "table_id": 7, "layout_id": 1,
                 "row_image": [str(seq), "PT Sinar Jaya ꦗꦏꦂꦠ", "150000000.00", None],
                 "row_salts": None, "old_digest": None, "detail": None, "redacted": None}
            if chain == 5:
                e.update(table_id=8, layout_id=2, client_addr="10.0.0.7",
                         row_image=["317123456789%04d" % pos, "Siti", "1990-01-0%d" % pos],
                         row_salts=bytes(range(pos, pos + 32)).hex())
            if chain == 9 and pos == 1:
                e.update(op="ENABLE", table_id=None, layout_id=None, row_image=None,
                         application_name=None, detail='{"schema": "procurement", "tables": 1}')
            if chain == 3 and pos == 4:
                e.update(op="UPDATE", old_digest=H(b"old row").hex(),
                         xid="18446744073709551615", logged_at_us=-5)
            entries.append(e)
    return layouts, rehash(layouts, entries)


def export(layouts, entries, checkpoints=()):
    return list(layouts) + list(entries) + [dict(c, type="checkpoint") for c in checkpoints]


# --- Part A: offline -----------------------------------------------------------

def test_vectors():
    """docs/format.md's vectors, read back by the C verifier through an export."""
    lay = layout_line(1, 7, "procurement", "contracts", ["id", "vendor", "value", "signed_at"],
                      ["integer", "text", "numeric(14,2)", "timestamp with time zone"], [1], [])
    check(lay["layout_digest"] == "c7831049a8495318015a2e6d13047b66b4b2d23440c3bd175cd1249a924aba97",
          "vectors: the Python layout digest is the documented one")
    e = {"type": "entry", "seq": 1001, "chain_id": 3, "chain_pos": 17, "prev_hash": "00" * 32,
         "entry_hash": "bae560a841ad005de84cbc3d1645b5d4aa7dc025b25df87b6049b8965a3c1f52",
         "op": "INSERT", "xid": "7531", "logged_at_us": 1709262000000000,
         "session_user_name": "alice", "current_user_name": "procurement_app",
         "application_name": "e-procurement", "client_addr": None, "table_id": 7,
         "layout_id": 1, "row_image": ["42", "PT Sinar Jaya Konstruksi", "150000000.00",
                                       "2024-03-01 03:00:00+00"],
         "row_salts": None, "old_digest": None, "detail": None}
    rc, doc, _ = nvj("--export", write_lines("vec.jsonl", [lay, e]))
    # position 17 alone: positions 1..16 are missing, but the hash must verify
    check(rc == 1 and problems(doc) == ["missing_entry"],
          "vectors: the documented layout digest and entry hash verify in C (only the gap before position 17 is reported): %s" % problems(doc))
    e2 = dict(e, row_image=["42", "PT Sinar Jaya Konstruksi", "150000000.01", "2024-03-01 03:00:00+00"])
    rc, doc, _ = nvj("--export", write_lines("vec2.jsonl", [lay, e2]))
    check(problems(doc) == ["altered_entry", "missing_entry"],
          "vectors: one changed byte of the image is altered_entry: %s" % problems(doc))
    lay2 = dict(lay, column_types=["integer", "text", "numeric(14,3)", "timestamp with time zone"])
    rc, doc, _ = nvj("--export", write_lines("vec3.jsonl", [lay2, e]))
    check(problems(doc) == ["altered_entry", "altered_layout", "missing_entry"],
          "vectors: one changed column type is altered_layout (and its entries fail): %s" % problems(doc))




def test_vectors_v2():
    """docs/format.md's format-2 vectors, read back by the C verifier."""
    doc_text = open(os.path.join(ROOT, "docs", "format.md"), encoding="utf-8").read()
    vec = dict(l.split(" = ") for l in (x[len("vector "):] for x in doc_text.splitlines()
                                        if x.startswith("vector ")))
    names = ["id", "vendor", "value", "signed_at"]
    types = ["integer", "text", "numeric(14,2)", "timestamp with time zone"]
    lay = layout_line(1, 7, "procurement", "contracts", names, types, [1], [])
    lay_p = layout_line(2, 7, "procurement", "contracts", names, types, [1], [2])
    check(lay_p["layout_digest"] == vec["layout_digest_personal"],
          "vectors v2: the Python personal layout digest is the documented one")
    values = ["42", "PT Sinar Jaya Konstruksi", "150000000.00", "2024-03-01 03:00:00+00"]
    e = {"type": "entry", "seq": 1001, "chain_id": 3, "chain_pos": 17, "prev_hash": "00" * 32,
         "entry_hash": vec["entry_hash_v2"], "op": "INSERT", "xid": "7531",
         "logged_at_us": 1709262000000000, "session_user_name": "alice",
         "current_user_name": "procurement_app", "application_name": "e-procurement",
         "client_addr": None, "table_id": 7, "layout_id": 1, "row_image": list(values),
         "row_salts": None, "old_digest": None, "detail": None, "redacted": None, "format_version": 2}
    ep = dict(e, layout_id=2, row_salts=bytes(range(16)).hex(), entry_hash=vec["entry_hash_v2_personal"])
    for name, entry in (("entry_hash_v2", e), ("entry_hash_v2_personal", ep)):
        rc, doc, _ = nvj("--export", write_lines("vec_v2.jsonl", [lay, lay_p, entry]))
        check(problems(doc) == ["missing_entry"],
              "vectors v2: %s verifies in C (only the gap before position 17): %s" % (name, problems(doc)))
    rc, doc, _ = nvj("--export", write_lines("vec_v2_as_v1.jsonl", [lay, dict(e, format_version=1)]))
    check(problems(doc) == ["altered_entry", "missing_entry"],
          "vectors v2: the format-2 hash does not verify as format 1: %s" % problems(doc))
    # the seal vector: vendor sealed, the seal in a later REDACT entry of the chain
    sealed = seal_columns(copy.deepcopy(e), lay, ["vendor"])
    red = {"type": "entry", "seq": 1002, "chain_id": 3, "chain_pos": 18, "prev_hash": e["entry_hash"],
           "entry_hash": "", "op": "REDACT", "xid": "7532", "logged_at_us": 1709262000000001,
           "session_user_name": "dpo", "current_user_name": "dpo", "application_name": None,
           "client_addr": None, "table_id": 7, "layout_id": None, "row_image": None, "row_salts": None,
           "old_digest": None, "redacted": None, "format_version": 2,
           "detail": json.dumps({"columns": ["vendor"], "entries": [1001], "reason": "r",
                                 "sealed": {"1001": vec["seal_v2"]}})}
    red["entry_hash"] = fmt.entry_hash_any(bytes.fromhex(red["prev_hash"]), red, None, []).hex()
    rc, doc, _ = nvj("--export", write_lines("vec_seal.jsonl", [lay, sealed, red]))
    check(problems(doc) == ["missing_entry"],
          "vectors v2: the documented seal_v2 verifies the sealed entry in C: %s" % problems(doc))
    red2 = dict(red, detail=red["detail"].replace(vec["seal_v2"], vec["entry_hash_v2"]))
    red2["entry_hash"] = fmt.entry_hash_any(bytes.fromhex(red2["prev_hash"]), red2, None, []).hex()
    rc, doc, _ = nvj("--export", write_lines("vec_seal_bad.jsonl", [lay, sealed, red2]))
    check(pairs(doc) == [("altered_entry", 1001), ("missing_entry", 1001)],
          "vectors v2: another seal is altered_entry at the sealed entry: %s" % pairs(doc))


def test_synthetic(layouts, entries):
    rc, doc, err = nvj("--export", write_lines("clean.jsonl", export(layouts, entries)))
    check(rc == 0 and doc["intact"] and doc["entries"] == 12 and doc["chains"] == 3
          and doc["layouts"] == 2, "synthetic: a clean ledger of 3 chains is intact (exit 0): %s %s" % (rc, err))
    rc, out, _ = nv("--export", path("clean.jsonl"))
    check(rc == 0 and out.strip().endswith("intact"), "synthetic: text output ends with 'intact'")

    def tampered(name, change, expect):
        ls, es = copy.deepcopy(layouts), copy.deepcopy(entries)
        change(ls, es)
        rc, doc, err = nvj("--export", write_lines(name + ".jsonl", export(ls, es)))
        got = pairs(doc)
        check(rc == 1 and got == sorted(expect),
              "synthetic: %s -> %s (got %s %s)" % (name, expect, got, err.strip()))

    def seq_of(chain, pos):
        return [e["seq"] for e in entries if e["chain_id"] == chain and e["chain_pos"] == pos][0]

    def find(es, chain, pos):
        return [e for e in es if e["chain_id"] == chain and e["chain_pos"] == pos][0]

    tampered("row_image", lambda ls, es: find(es, 3, 2)["row_image"].__setitem__(2, "950000000.00"),
             [("altered_entry", seq_of(3, 2))])
    tampered("salted", lambda ls, es: find(es, 5, 2)["row_image"].__setitem__(2, "1990-01-03"),
             [("altered_entry", seq_of(5, 2))])
    tampered("salt", lambda ls, es: find(es, 5, 3).__setitem__("row_salts", "ff" + find(es, 5, 3)["row_salts"][2:]),
             [("altered_entry", seq_of(5, 3))])
    tampered("detail", lambda ls, es: find(es, 9, 1).__setitem__("detail", '{"schema": "x", "tables": 1}'),
             [("altered_entry", seq_of(9, 1))])
    tampered("xid", lambda ls, es: find(es, 3, 4).__setitem__("xid", "18446744073709551614"),
             [("altered_entry", seq_of(3, 4))])
    tampered("entry_hash", lambda ls, es: find(es, 3, 2).__setitem__("entry_hash", "ab" * 32),
             [("altered_entry", seq_of(3, 2)), ("broken_link", seq_of(3, 3))])
    tampered("relinked", lambda ls, es: rehash(ls, es, es.index(find(es, 3, 2)) + 1) and
             find(es, 3, 2).__setitem__("op", "DELETE"),
             [("altered_entry", seq_of(3, 2))])
    tampered("delete_middle", lambda ls, es: es.remove(find(es, 5, 2)),
             [("missing_entry", seq_of(5, 3))])
    tampered("delete_first", lambda ls, es: es.remove(find(es, 9, 1)),
             [("missing_entry", seq_of(9, 2))])
    tampered("prev_hash", lambda ls, es: find(es, 9, 3).__setitem__("prev_hash", "00" * 32),
             [("altered_entry", seq_of(9, 3)), ("broken_link", seq_of(9, 3))])
    tampered("short_hash", lambda ls, es: find(es, 3, 3).__setitem__("entry_hash", "ab" * 31),
             [("malformed_entry", seq_of(3, 3))])
    tampered("unknown_layout", lambda ls, es: find(es, 3, 1).__setitem__("layout_id", 99),
             [("malformed_entry", seq_of(3, 1))])
    tampered("image_without_layout", lambda ls, es: find(es, 9, 1).__setitem__("row_image", ["x"]),
             [("malformed_entry", seq_of(9, 1))])
    tampered("wrong_salts", lambda ls, es: find(es, 5, 1).__setitem__("row_salts", "00" * 16),
             [("malformed_entry", seq_of(5, 1))])
    tampered("image_count", lambda ls, es: find(es, 3, 5)["row_image"].append("extra"),
             [("malformed_entry", seq_of(3, 5))])
    tampered("layout", lambda ls, es: ls[1]["column_names"].__setitem__(1, "full_name"),
             [("altered_layout", -1)] + [("altered_entry", seq_of(5, p)) for p in range(1, 5)])
    tampered("layout_digest", lambda ls, es: ls[0].__setitem__("layout_digest", "00" * 32),
             [("altered_layout", -1)])
    tampered("layout_null_name", lambda ls, es: ls[0]["column_names"].__setitem__(0, None),
             [("altered_layout", -1)] + [("altered_entry", e["seq"]) for e in entries if e["layout_id"] == 1])
    tampered("duplicate_position", lambda ls, es: es.insert(es.index(find(es, 3, 3)) + 1, dict(find(es, 3, 3))),
             [("malformed_entry", seq_of(3, 3))])


def test_checkpoints(layouts, entries):
    sk, pk = keypair(1)
    sk2, pk2 = keypair(2)
    write("pk.hex", pk + "\n")
    write("pk.json", json.dumps({"key_id": key_id(pk), "public_key": pk}))
    full = {3: 5, 5: 4, 9: 3}
    cp = make_checkpoint(entries, full, sk, pk)
    cpf = write("cp.json", json.dumps(cp))
    ex = write_lines("cpx.jsonl", export(layouts, entries, [cp]))
    ex_bare = write_lines("cpx_bare.jsonl", export(layouts, entries))

    rc, doc, _ = nvj("--export", ex, "--checkpoint", cpf, "--public-key", pk)
    check(rc == 0 and doc["checkpoints"] == 1 and doc["notes"] == [],
          "checkpoint: a valid checkpoint over the whole ledger verifies (exit 0, no note): %s" % (doc and doc["notes"]))
    for k in (path("pk.hex"), path("pk.json")):
        rc, _, err = nv("--export", ex, "--checkpoint", cpf, "--public-key", k)
        check(rc == 0, "checkpoint: the key is read from %s" % os.path.basename(k))
    rc, doc, _ = nvj("--export", ex_bare, "--checkpoint", cpf, "--public-key", pk)
    check(rc == 1 and problems(doc) == ["unknown_checkpoint"]
          and any("cluster not checked" in n for n in doc["notes"]),
          "checkpoint: an export without stored checkpoints: unknown_checkpoint, and a note that its cluster is unknown")
    rc, doc, _ = nvj("--export", ex, "--checkpoint", cpf)
    check(rc == 0 and any("signature not checked" in n for n in doc["notes"]),
          "checkpoint: without --public-key the signature is not checked, and that is noted")
    early = make_checkpoint(entries, {3: 2, 5: 4}, sk, pk)
    rc, doc, _ = nvj("--export", write_lines("early.jsonl", export(layouts, entries, [early])),
                     "--checkpoint", write("early.json", json.dumps(early)), "--public-key", pk)
    check(rc == 0, "checkpoint: an earlier checkpoint (part of the chains, one chain not yet born) verifies against a grown ledger: %s" % problems(doc))

    def run(name, trusted, ledger, expect, key=pk):
        rc, doc, err = nvj("--export", write_lines(name + ".jsonl", ledger),
                           "--checkpoint", write(name + ".json", json.dumps(trusted)), "--public-key", key)
        check(rc == 1 and problems(doc) == sorted(expect),
              "checkpoint: %s -> %s (got %s %s)" % (name, expect, problems(doc), err.strip()))
        return doc

    forged = dict(cp, entries_root="00" * 32)
    run("forged_root", forged, export(layouts, entries, [cp]), ["bad_signature"])
    forged = dict(cp, ledger_seq=cp["ledger_seq"] + 1)
    run("forged_seq", forged, export(layouts, entries, [cp]), ["bad_signature"])
    forged = dict(cp, chains=[dict(c) for c in cp["chains"]])
    forged["chains"][0]["position"] = 4
    run("forged_chain", forged, export(layouts, entries, [cp]), ["bad_signature"])
    bad_sig = dict(cp, signature=("0" if cp["signature"][0] != "0" else "1") + cp["signature"][1:])
    run("bad_signature", bad_sig, export(layouts, entries, [cp]), ["bad_signature"])
    run("wrong_key", cp, export(layouts, entries, [cp]), ["wrong_key"], key=pk2)
    other_key = make_checkpoint(entries, full, sk2, pk2)
    run("signed_by_other_key", other_key, export(layouts, entries, [cp]), ["wrong_key"])
    # a document that does not match its digest is reported once, whatever the key
    run("forged_and_wrong_key", dict(cp, entries_root="00" * 32), export(layouts, entries, [cp]),
        ["bad_signature"], key=pk2)

    # tail cut: the newest two entries of chain 5 are gone
    cut = [e for e in entries if not (e["chain_id"] == 5 and e["chain_pos"] >= 3)]
    doc = run("tail_cut", cp, export(layouts, cut, [cp]), ["entries_missing"])
    check(doc and doc["findings"][0]["chain_id"] == 5 and doc["findings"][0]["chain_pos"] == 4,
          "checkpoint: entries_missing names chain 5 position 4")
    gone = [e for e in entries if e["chain_id"] != 9]
    run("chain_gone", cp, export(layouts, gone, [cp]), ["entries_missing"])
    rc, doc, _ = nvj("--export", write_lines("tail_cut_plain.jsonl", export(layouts, cut)))
    check(rc == 0, "checkpoint: without the checkpoint, the tail cut is invisible (exit 0)")

    # consistent rewrite: chain 3 position 2 marked up, chain rehashed
    rw = copy.deepcopy(entries)
    [e for e in rw if e["chain_id"] == 3 and e["chain_pos"] == 2][0]["row_image"][2] = "950000000.00"
    rehash(layouts, rw)
    rc, doc, _ = nvj("--export", write_lines("rewritten_plain.jsonl", export(layouts, rw)))
    check(rc == 0, "checkpoint: a consistent rewrite is invisible without a checkpoint (exit 0)")
    doc = run("rewritten", cp, export(layouts, rw, [cp]), ["history_rewritten"])
    check(doc and doc["findings"][0]["chain_id"] == 3 and doc["findings"][0]["chain_pos"] == 5,
          "checkpoint: history_rewritten names chain 3 at the checkpoint's head (position 5)")
    # a rewrite after the checkpoint's coverage is not history the checkpoint knows
    early3 = make_checkpoint(entries, {3: 1, 5: 4, 9: 3}, sk, pk)
    rc, doc, _ = nvj("--export", write_lines("rewritten_after.jsonl", export(layouts, rw, [early3])),
                     "--checkpoint", write("early3.json", json.dumps(early3)), "--public-key", pk)
    check(rc == 0, "checkpoint: a rewrite of entries after the checkpoint is not reported against it")
    # heads right, root wrong (signed so): only the root can tell
    rootless = seal(dict(cp, entries_root=H(b"x").hex()), sk, pk)
    run("root_only", rootless, export(layouts, entries, [rootless]), ["history_rewritten"])
    counted = seal(dict(cp, entries=cp["entries"] + 1), sk, pk)
    run("entry_count", counted, export(layouts, entries, [counted]), ["history_rewritten"])

    # another cluster / database: reported, and (when authentic) still
    # compared with the ledger, as notary.verify_checkpoint() does; here the
    # export's stored checkpoint 1 is another document than the trusted one
    other = seal(dict(cp, system_identifier="1"), sk, pk)
    run("other_cluster", other, export(layouts, entries, [cp]), ["checkpoint_mismatch", "other_cluster"])
    other_db = seal(dict(cp, database="elsewhere"), sk, pk)
    run("other_database", other_db, export(layouts, entries, [cp]), ["checkpoint_mismatch", "other_cluster"])
    run("other_cluster_cut", other, export(layouts, cut, [cp]),
        ["checkpoint_mismatch", "entries_missing", "other_cluster"])
    # a restored copy: the source's checkpoint 1 is stored, and the copy took
    # checkpoint 2 in its own database; the source's checkpoint still holds
    restored = make_checkpoint(entries, full, sk, pk, cid=2, database="restored", previous=cp["digest"])
    run("restored_copy", cp, export(layouts, entries, [cp, restored]), ["other_cluster"])
    run("restored_copy_cut", cp, export(layouts, cut, [cp, restored]), ["entries_missing", "other_cluster"])
    # not authentic: reported, never compared (the cut goes unreported)
    run("other_cluster_wrong_key", seal(dict(cp, system_identifier="1"), sk2, pk2),
        export(layouts, cut, [cp]), ["other_cluster", "wrong_key"])
    run("other_cluster_forged", dict(cp, system_identifier="1"), export(layouts, cut, [cp]),
        ["bad_signature"])

    # the database's own record of checkpoints
    cp2 = make_checkpoint(entries, full, sk, pk, cid=2, previous=cp["digest"])
    rc, doc, _ = nvj("--export", write_lines("two.jsonl", export(layouts, entries, [cp, cp2])),
                     "--checkpoint", write("cp2.json", json.dumps(cp2)), "--public-key", pk)
    check(rc == 0, "checkpoint: two stored checkpoints chained by 'previous' are intact")
    run("unknown_checkpoint", cp2, export(layouts, entries, [cp]), ["unknown_checkpoint"])
    replay = seal(dict(cp, created_at_us=cp["created_at_us"] + 1), sk, pk)
    run("checkpoint_mismatch", replay, export(layouts, entries, [cp]), ["checkpoint_mismatch"])
    unchained = make_checkpoint(entries, full, sk, pk, cid=2, previous=None)
    run("stored_unchained", cp, export(layouts, entries, [cp, unchained]), ["checkpoint_chain"])
    cp3 = make_checkpoint(entries, full, sk, pk, cid=3, previous=cp["digest"])
    run("stored_gap", cp, export(layouts, entries, [cp, cp3]), ["checkpoint_chain"])
    altered = dict(cp2, ledger_seq=1)
    run("stored_altered", cp, export(layouts, entries, [cp, altered]), ["checkpoint_chain"])

    # malformed checkpoints: a finding (exit 1), not a crash
    for name, change in [("no_entries", lambda c: c.pop("entries")),
                         ("bad_format", lambda c: c.__setitem__("format", "pg_notary-checkpoint-v2")),
                         ("unsorted", lambda c: c.__setitem__("chains", list(reversed(c["chains"])))),
                         ("short_key_id", lambda c: c.__setitem__("key_id", "abcd")),
                         ("float_id", lambda c: c.__setitem__("checkpoint_id", 1.5)),
                         ("sysid_number", lambda c: c.__setitem__("system_identifier", 7441218370993838121)),
                         ("not_object", None)]:
        bad = copy.deepcopy(cp)
        if change:
            change(bad)
        else:
            bad = [bad]
        run("malformed_" + name, bad, export(layouts, entries, [cp]), ["malformed_checkpoint"])
    rc, doc, _ = nvj("--export", write_lines("stored_malformed.jsonl",
                                             export(layouts, entries, [dict(cp, timeline="one")])))
    check(rc == 1 and problems(doc) == ["malformed_checkpoint"],
          "checkpoint: a malformed stored checkpoint in an export is malformed_checkpoint: %s" % problems(doc))
    return sk, pk


def test_proofs(layouts, entries, sk, pk):
    """Every leaf of every tree of 1..20 leaves, then tampered proofs."""
    lay = {l["layout_id"]: l for l in layouts}
    ok_all = True
    count = 0
    for n in range(1, 21):
        for m in range(n):
            e = entries[(n * 7 + m) % len(entries)]
            leaves = [H(b"leaf %d %d" % (n, i)) for i in range(n)]
            leaves[m] = bytes.fromhex(e["entry_hash"])
            cp = {"format": "pg_notary-checkpoint-v1", "checkpoint_id": n, "system_identifier": "1",
                  "timeline": 1, "database": "d", "created_at_us": 0, "ledger_seq": 0, "entries": n,
                  "chains": [{"chain_id": e["chain_id"], "position": e["chain_pos"] + 1,
                              "hash": H(b"head").hex()}],
                  "entries_root": mth(leaves).hex(), "previous": None}
            proof = {"format": "pg_notary-proof-v1", "checkpoint": seal(cp, sk, pk),
                     "layout": lay.get(e["layout_id"]), "entry": e, "leaf_index": m,
                     "path": [h.hex() for h in audit_path(m, leaves)]}
            rc, out, err = nv("--proof", write("proof.json", json.dumps(proof)), "--public-key", pk)
            count += 1
            if rc != 0:
                ok_all = False
                print("   proof n=%d m=%d: %s %s" % (n, m, out, err))
            if n in (1, 5, 8, 13) and m == n - 1:
                base = proof
    check(ok_all, "proof: all %d proofs (every leaf of trees of 1..20 leaves) verify" % count)

    def bad(name, change, expect, rc_expect=1):
        p = copy.deepcopy(base)
        change(p)
        rc, doc, err = nvj("--proof", write("bad_proof.json", json.dumps(p)), "--public-key", pk)
        check(rc == rc_expect and problems(doc) == sorted(expect),
              "proof: %s -> %s (got %s %s)" % (name, expect, problems(doc), err.strip()))

    bad("flipped_path", lambda p: p["path"].__setitem__(0, "00" * 32), ["not_included"])
    bad("leaf_index", lambda p: p.__setitem__("leaf_index", p["leaf_index"] - 1), ["not_included"])
    bad("leaf_beyond", lambda p: p.__setitem__("leaf_index", 13), ["not_included"])
    bad("extra_hash", lambda p: p["path"].append("00" * 32), ["not_included"])
    bad("short_path", lambda p: p["path"].pop(), ["not_included"])
    bad("entry", lambda p: p["entry"].__setitem__("current_user_name", "mallory"),
        ["altered_entry", "not_included"])
    bad("layout", lambda p: p["layout"].__setitem__("table_name", "x"),
        ["altered_entry", "altered_layout", "not_included"])
    bad("forged", lambda p: p["checkpoint"].__setitem__("entries", 14), ["bad_signature"])
    bad("not_covered", lambda p: p["checkpoint"]["chains"].clear() or
        p.__setitem__("checkpoint", seal(p["checkpoint"], sk, pk)), ["not_included"])
    bad("path_not_hex", lambda p: p["path"].__setitem__(0, "zz" * 32), ["malformed_proof"])
    bad("path_too_long", lambda p: p.__setitem__("path", ["00" * 32] * 65), ["malformed_proof"])
    bad("no_entry", lambda p: p.pop("entry"), ["malformed_proof"])
    bad("format", lambda p: p.__setitem__("format", "x"), ["malformed_proof"])
    rc, _, err = nv("--proof", path("proof.json"), "--public-key", keypair(3)[1])
    check(rc == 1, "proof: another key is a finding (wrong_key)")
    rc, _, err = nv("--proof", path("proof.json"))
    check(rc == 2 and "--public-key" in err, "proof: --proof without --public-key is exit 2")


# --- redaction (docs/redaction.md), offline ------------------------------------

def redact_entry(e, layout, columns, value_for_commitment=None):
    """Erase columns of an export entry as a redaction does: value NULL, salt
    zeroed, (u16 position, commitment of value and salt) kept in redacted,
    records ascending.  value_for_commitment replaces the value in the
    commitment (a wrong commitment)."""
    names = layout["column_names"]
    personal = [p - 1 for p in layout["personal_columns"]]
    salts = bytearray(bytes.fromhex(e["row_salts"])) if e["row_salts"] else bytearray()
    recs = fmt.redacted_records(bytes.fromhex(e.get("redacted") or ""))
    for c in columns:
        i = names.index(c)
        salt = b""
        if i in personal and (personal.index(i) + 1) * 16 <= len(salts):
            r = personal.index(i)
            salt = bytes(salts[r * 16:(r + 1) * 16])
            salts[r * 16:(r + 1) * 16] = bytes(16)
        v = e["row_image"][i] if value_for_commitment is None else value_for_commitment
        recs[i] = fmt.column_commitment(v, salt)
        e["row_image"][i] = None
    e["redacted"] = b"".join(i.to_bytes(2, "big") + recs[i] for i in sorted(recs)).hex()
    if e["row_salts"] is not None:
        e["row_salts"] = bytes(salts).hex()
    return e


def redact_line(seq, chain, pos, table_id, columns, seqs):
    """A REDACT entry (hashes filled in by rehash)."""
    return {"type": "entry", "seq": seq, "chain_id": chain, "chain_pos": pos,
            "prev_hash": "", "entry_hash": "", "op": "REDACT", "xid": str(9000 + seq),
            "logged_at_us": 1709262000000000 + seq, "session_user_name": "dpo",
            "current_user_name": "dpo", "application_name": None, "client_addr": None,
            "table_id": table_id, "layout_id": None, "row_image": None, "row_salts": None,
            "old_digest": None, "redacted": None,
            "detail": json.dumps({"columns": columns, "entries": seqs,
                                  "reason": "erasure request 2026/17"})}


def test_redaction_synthetic(layouts, entries, sk, pk):
    lay = {l["layout_id"]: l for l in layouts}

    def find(es, chain, pos):
        return [e for e in es if e["chain_id"] == chain and e["chain_pos"] == pos][0]

    s51, s52, s53 = (find(entries, 5, p)["seq"] for p in (1, 2, 3))
    nik52 = find(entries, 5, 2)["row_image"][0]

    def build(erase, records, redact_seq=None, after=None):
        """erase: (chain, pos, columns); records: REDACT entries (columns,
        [(chain, pos)]) appended to chain 9; after(es) edits before rehash."""
        es = copy.deepcopy(entries)
        for chain, pos, cols in erase:
            redact_entry(find(es, chain, pos), lay[2], cols)
        nxt = max(e["seq"] for e in es) + 1
        pos9 = max(e["chain_pos"] for e in es if e["chain_id"] == 9)
        for k, (cols, targets) in enumerate(records):
            es.append(redact_line(redact_seq or nxt + k, 9, pos9 + k + 1, 8, cols,
                                  [find(es, c, p)["seq"] for c, p in targets]))
        if after:
            after(es)
        return rehash(layouts, es)

    def case(name, es, expect, rc_expect=None):
        text = "".join(json.dumps(o) + "\n" for o in export(layouts, es))
        rc, doc, err = nvj("--export", write("red_" + name + ".jsonl", text))
        got = pairs(doc)
        check(rc == (rc_expect if rc_expect is not None else (1 if expect else 0))
              and got == sorted(expect),
              "redaction: %s -> %s (got %s %s)" % (name, expect, got, err.strip()))
        return doc, text

    es = build([(5, 2, ["nik"])], [(["nik"], [(5, 2)])])
    check(find(es, 5, 2)["entry_hash"] == find(entries, 5, 2)["entry_hash"]
          and find(es, 5, 2)["row_image"][0] is None,
          "redaction: the Python redaction keeps the entry's hash (the kept commitment stands in the image digest)")
    doc, text = case("recorded", es, [])
    check(nik52 not in text and nik52 in json.dumps(entries),
          "redaction: the erased value is in the export before, and nowhere after")
    case("two_columns_two_entries",
         build([(5, 1, ["nik", "born"]), (5, 3, ["born"])], [(["nik", "born"], [(5, 1), (5, 3)])]), [])
    case("two_redactions_of_one_entry",
         build([(5, 1, ["nik"]), (5, 1, ["born"])], [(["nik"], [(5, 1)]), (["born"], [(5, 1)])]), [])
    case("forged_unrecorded", build([(5, 2, ["nik"])], []), [("forged_redaction", s52)])
    case("forged_other_column", build([(5, 2, ["nik"])], [(["born"], [(5, 2)])]),
         [("forged_redaction", s52)])
    case("forged_other_entry", build([(5, 2, ["nik"])], [(["nik"], [(5, 3)])]),
         [("forged_redaction", s52)])
    case("forged_recorded_before", build([(5, 2, ["nik"])], [(["nik"], [(5, 2)])], redact_seq=50),
         [("forged_redaction", s52)])
    doc, _ = case("forged_one_of_two", build([(5, 1, ["nik", "born"])], [(["nik"], [(5, 1)])]),
                  [("forged_redaction", s51)])
    check(doc and doc["findings"][0]["chain_id"] == 5 and doc["findings"][0]["chain_pos"] == 1
          and '"born"' in doc["findings"][0]["detail"],
          "redaction: forged_redaction names the entry's chain, position and column")

    def flip_commitment(es):
        e = find(es, 5, 2)
        r = bytearray(bytes.fromhex(e["redacted"]))
        r[5] ^= 1
        e["redacted"] = r.hex()

    def flipped(records):
        es = build([(5, 2, ["nik"])], records)
        flip_commitment(es)     # after the hashes: the commitment changed by hand
        return es
    case("wrong_commitment_recorded", flipped([(["nik"], [(5, 2)])]), [("altered_entry", s52)])
    case("wrong_commitment_unrecorded", flipped([]),
         [("altered_entry", s52), ("forged_redaction", s52)])
    es = build([(5, 2, ["nik"])], [(["nik"], [(5, 2)])])
    wrong = copy.deepcopy(entries)
    redact_entry(find(wrong, 5, 2), lay[2], ["nik"], value_for_commitment="3171234567890099")
    find(es, 5, 2)["redacted"] = find(wrong, 5, 2)["redacted"]
    case("commitment_of_another_value", es, [("altered_entry", s52)])

    # malformed redacted fields: malformed_entry, and the entry is not
    # counted as redacted (no forged_redaction without a REDACT entry)
    def shaped(change):
        es = build([(5, 2, ["nik", "born"])], [])
        change(find(es, 5, 2))
        return es

    def swap(e):
        r = bytes.fromhex(e["redacted"])
        e["redacted"] = (r[34:] + r[:34]).hex()

    def beyond(e):
        r = bytes.fromhex(e["redacted"])
        e["redacted"] = (r[:34] + (3).to_bytes(2, "big") + r[36:]).hex()

    def twice(e):
        r = bytes.fromhex(e["redacted"])
        e["redacted"] = (r[:34] + r[:34]).hex()
    for name, change in [("short", lambda e: e.__setitem__("redacted", e["redacted"][:-2])),
                         ("empty", lambda e: e.__setitem__("redacted", "")),
                         ("out_of_order", swap), ("out_of_range", beyond), ("duplicate", twice),
                         ("value_kept", lambda e: e["row_image"].__setitem__(0, nik52))]:
        case("malformed_" + name, shaped(change), [("malformed_entry", s52)])

    # an export of a ledger older than redaction has no "redacted" member
    old = [{k: v for k, v in e.items() if k != "redacted"} for e in entries]
    case("member_absent", old, [])
    for name, value, needle in [("not_hex", "zz", "not hex"), ("odd_hex", "abc", "not hex"),
                                ("number", 34, "not a string")]:
        es = copy.deepcopy(entries)
        find(es, 5, 2)["redacted"] = value
        rc, out, err = nv("--export", write_lines("red_bad.jsonl", export(layouts, es)))
        check(rc == 2 and needle in err, "redaction: \"redacted\" %s -> exit 2 (%s)" % (name, err.strip()[:120]))

    # checkpoints taken before a redaction still verify after it
    full = {3: 5, 5: 4, 9: 3}
    cp = make_checkpoint(entries, full, sk, pk)
    es = build([(5, 1, ["nik", "born"]), (5, 2, ["nik"])], [(["nik", "born"], [(5, 1), (5, 2)])])
    rc, doc, err = nvj("--export", write_lines("red_cp.jsonl", export(layouts, es, [cp])),
                       "--checkpoint", write("red_cp.json", json.dumps(cp)), "--public-key", pk)
    check(rc == 0, "redaction: a checkpoint taken before the redaction verifies after it: %s %s"
          % (problems(doc), err.strip()))

    # a proof of a redacted entry, checked offline
    cp = make_checkpoint(es, {3: 5, 5: 4, 9: 4}, sk, pk)
    covered = sorted(es, key=lambda e: (e["chain_id"], e["chain_pos"]))
    leaves = [bytes.fromhex(e["entry_hash"]) for e in covered]
    m = covered.index(find(es, 5, 2))
    proof = {"format": "pg_notary-proof-v1", "checkpoint": cp, "layout": lay[2],
             "entry": find(es, 5, 2), "leaf_index": m,
             "path": [h.hex() for h in audit_path(m, leaves)]}
    rc, doc, err = nvj("--proof", write("red_proof.json", json.dumps(proof)), "--public-key", pk)
    check(rc == 0, "redaction: a proof of a redacted entry verifies: %s %s" % (problems(doc), err.strip()))
    bad = copy.deepcopy(proof)
    flip_commitment([bad["entry"]])
    rc, doc, err = nvj("--proof", write("red_proof_bad.json", json.dumps(bad)), "--public-key", pk)
    check(rc == 1 and problems(doc) == ["altered_entry", "not_included"],
          "redaction: a proof with a changed commitment -> altered_entry: %s" % problems(doc))
    bad = copy.deepcopy(proof)
    bad["entry"]["row_image"][0] = nik52
    rc, doc, err = nvj("--proof", write("red_proof_bad.json", json.dumps(bad)), "--public-key", pk)
    check(rc == 1 and problems(doc) == ["malformed_entry"],
          "redaction: a proof whose redacted column holds a value -> malformed_entry: %s" % problems(doc))


# --- format 2 (docs/format.md "Format 2"), offline ------------------------------

def format2_ledger(layouts, entries):
    """The synthetic ledger with mixed formats: chain 3 positions 1-2 and the
    ENABLE entry of chain 9 in format 1 (the first two without the member,
    as an older export writes them), every other entry in format 2."""
    es = copy.deepcopy(entries)
    for e in es:
        if e["chain_id"] == 3 and e["chain_pos"] <= 2:
            e.pop("format_version", None)
        elif e["op"] == "ENABLE":
            e["format_version"] = 1
        else:
            e["format_version"] = 2
    return rehash(layouts, es)


def test_format2(layouts, entries, sk, pk):
    lay = {l["layout_id"]: l for l in layouts}
    base = format2_ledger(layouts, entries)

    def find(es, chain, pos):
        return [e for e in es if e["chain_id"] == chain and e["chain_pos"] == pos][0]

    def q(chain, pos):
        return find(base, chain, pos)["seq"]

    def case(name, es, expect, label="format 2"):
        rc, doc, err = nvj("--export", write_lines("f2_" + name + ".jsonl", export(layouts, es)))
        got = pairs(doc)
        check(rc == (1 if expect else 0) and got == sorted(expect),
              "%s: %s -> %s (got %s %s)" % (label, name, expect, got, err.strip()))

    def changed(name, change, expect, after_rehash=True):
        es = copy.deepcopy(base)
        change(es)
        if not after_rehash:
            rehash(layouts, es)
        case(name, es, expect)

    check(find(base, 3, 3)["entry_hash"] != find(entries, 3, 3)["entry_hash"]
          and find(base, 3, 1)["entry_hash"] == find(entries, 3, 1)["entry_hash"],
          "format 2: the Python reference hashes format-2 entries differently, format-1 ones as before")
    case("mixed_clean", base, [])
    # tampering with format-2 entries
    changed("value", lambda es: find(es, 3, 3)["row_image"].__setitem__(2, "950000000.00"),
            [("altered_entry", q(3, 3))])
    changed("value_nulled", lambda es: find(es, 3, 3)["row_image"].__setitem__(1, None),
            [("altered_entry", q(3, 3))])
    changed("personal_value", lambda es: find(es, 5, 2)["row_image"].__setitem__(2, "1990-01-03"),
            [("altered_entry", q(5, 2))])
    changed("salt", lambda es: find(es, 5, 3).__setitem__("row_salts", "ff" + find(es, 5, 3)["row_salts"][2:]),
            [("altered_entry", q(5, 3))])
    changed("not_personal_value", lambda es: find(es, 5, 3)["row_image"].__setitem__(1, "Budi"),
            [("altered_entry", q(5, 3))])
    changed("detail", lambda es: find(es, 9, 1).__setitem__("detail", '{"schema": "x", "tables": 1}'),
            [("altered_entry", q(9, 1))])
    changed("entry_hash", lambda es: find(es, 3, 3).__setitem__("entry_hash", "ab" * 32),
            [("altered_entry", q(3, 3)), ("broken_link", q(3, 4))])
    # format_version itself: not hashed, it chooses the hash
    changed("version_2_to_1", lambda es: find(es, 3, 4).__setitem__("format_version", 1),
            [("altered_entry", q(3, 4))])
    changed("version_absent", lambda es: find(es, 3, 4).pop("format_version"),
            [("altered_entry", q(3, 4))])
    changed("version_1_to_2", lambda es: find(es, 3, 1).__setitem__("format_version", 2),
            [("altered_entry", q(3, 1))])
    changed("version_explicit_1", lambda es: find(es, 3, 1).__setitem__("format_version", 1), [])
    for v in (3, 0, -1, None, 2 ** 40):
        changed("version_%s" % v, lambda es: find(es, 3, 4).__setitem__("format_version", v),
                [("malformed_entry", q(3, 4))])
    # ... of an entry without a row image (the ENABLE entry)
    changed("version_3_no_image", lambda es: find(es, 9, 1).__setitem__("format_version", 3),
            [("malformed_entry", q(9, 1))])
    for name, v in (("string", "2"), ("float", 2.0), ("bool", True)):
        es = copy.deepcopy(base)
        find(es, 3, 4)["format_version"] = v
        rc, out, err = nv("--export", write_lines("f2_bad.jsonl", export(layouts, es)))
        check(rc == 2 and "format_version" in err,
              "format 2: format_version as a %s -> exit 2 (%s)" % (name, err.strip()[:120]))

    # personal columns redacted: the kept commitment stands in the hash
    def with_redact(es, cols, targets, version=2, seq=None, sealed=None, chain=9):
        pos = max(e["chain_pos"] for e in es if e["chain_id"] == chain)
        r = redact_line(seq or max(e["seq"] for e in es) + 1, chain, pos + 1, 8, cols, targets)
        r["format_version"] = version
        es.append(r)
        if sealed is not None:
            reseal(layouts, es, r, sealed)
        return r

    es = copy.deepcopy(base)
    redact_entry(find(es, 5, 2), lay[2], ["nik", "born"])
    with_redact(es, ["nik", "born"], [q(5, 2)])
    rehash(layouts, es)
    check(find(es, 5, 2)["entry_hash"] == find(base, 5, 2)["entry_hash"] and find(es, 5, 2)["row_image"][0] is None,
          "format 2: a redaction of personal columns keeps the entry's hash (kept commitments)")
    case("personal_redacted", es, [])
    es2 = copy.deepcopy(es)
    es2.pop()
    case("personal_redacted_unrecorded", rehash(layouts, es2),
         [("forged_redaction", q(5, 2)), ("forged_redaction", q(5, 2))])
    es2 = copy.deepcopy(es)
    r = bytearray(bytes.fromhex(find(es2, 5, 2)["redacted"]))
    r[5] ^= 1
    find(es2, 5, 2)["redacted"] = r.hex()
    case("personal_commitment_changed", es2, [("altered_entry", q(5, 2))])

    # sealed columns: vendor of contracts (layout 1, nothing personal) erased
    s33 = q(3, 3)

    def sealed(columns_by_redaction, seals=None, seqs=None, after=None):
        """Seal columns of entry (3, 3), one REDACT entry per item of
        columns_by_redaction (the columns it erases, cumulative); seals[k]:
        the entries the k-th REDACT seals (default: (3, 3)), seqs[k] its seq."""
        es = copy.deepcopy(base)
        reds = []
        for k, cols in enumerate(columns_by_redaction):
            seal_columns(find(es, 3, 3), lay[1], cols)
            r = with_redact(es, cols, [s33], seq=seqs[k] if seqs else None)
            reds.append(r)
            targets = [s33] if seals is None else seals[k]
            reseal(layouts, es, r, targets)
        if after:
            after(es, reds)
        # REDACT entries: rehashed with their detail; the sealed entry keeps its hash
        return rehash(layouts, es)

    es = sealed([["vendor"]])
    e33 = find(es, 3, 3)
    check(e33["entry_hash"] == find(base, 3, 3)["entry_hash"] and e33["row_image"][1] is None
          and e33["redacted"] == "8001" + "00" * 32,
          "format 2: a sealed column: value NULL, record 0x8001 || zeros, stored hash kept")
    case("sealed", es, [])
    case("sealed_two_columns", sealed([["vendor", "value"]]), [])
    case("sealed_twice_newest_seal", sealed([["vendor"], ["value"]]), [])

    def flip_seal(r):
        d = json.loads(r["detail"])
        h = d["sealed"][str(s33)]
        d["sealed"][str(s33)] = ("0" if h[0] != "0" else "1") + h[1:]
        r["detail"] = json.dumps(d)

    case("sealed_wrong_seal", sealed([["vendor"]], after=lambda es, reds: flip_seal(reds[0])),
         [("altered_entry", s33)])
    case("sealed_seal_not_hex", sealed([["vendor"]], after=lambda es, reds: reds[0].__setitem__(
        "detail", reds[0]["detail"].replace(json.loads(reds[0]["detail"])["sealed"][str(s33)], "zz"))),
        [("altered_entry", s33)])
    case("sealed_no_seal", sealed([["vendor"]], seals=[[]]), [("forged_redaction", s33)])

    def respell(key=None, value=None):
        """Write the seal of (3, 3) in the REDACT entry under another key or value spelling."""
        def change(es, reds):
            d = json.loads(reds[0]["detail"])
            seal = d["sealed"].pop(str(s33))
            d["sealed"][key(s33) if key else str(s33)] = value(seal) if value else seal
            reds[0]["detail"] = json.dumps(d)
        return change
    # one spelling only: the seq in decimal (any other key names no entry),
    # the seal in lower-case hex (any other is a seal that does not match)
    for name, key in (("leading_zero", lambda q: "0%d" % q), ("plus", lambda q: "+%d" % q),
                      ("space", lambda q: " %d" % q)):
        case("sealed_key_" + name, sealed([["vendor"]], after=respell(key=key)), [("forged_redaction", s33)])
    case("sealed_upper_hex", sealed([["vendor"]], after=respell(value=str.upper)), [("altered_entry", s33)])
    # no REDACT entry at all: the column is unrecorded, and so is the seal;
    # one finding for the entry erased by hand, as notary.verify() reports it
    es = sealed([["vendor"]])
    es = [e for e in es if e["op"] != "REDACT"]
    case("sealed_no_redact", rehash(layouts, es), [("forged_redaction", s33)])
    # a REDACT entry earlier than the entry does not count
    case("sealed_by_earlier", sealed([["vendor"]], seqs=[50]), [("forged_redaction", s33)])
    # two columns sealed by hand: one finding each, none more for the seal
    es = sealed([["vendor", "value"]])
    es = [e for e in es if e["op"] != "REDACT"]
    case("sealed_two_no_redact", rehash(layouts, es), [("forged_redaction", s33), ("forged_redaction", s33)])
    # the newest REDACT entry's seal wins, whichever chain comes first
    case("superseded_wrong_older", sealed([["vendor"], ["value"]], after=lambda es, reds: flip_seal(reds[0])), [])
    case("superseded_wrong_newer", sealed([["vendor"], ["value"]], after=lambda es, reds: flip_seal(reds[1])),
         [("altered_entry", s33)])

    def older_seal_only(es, reds):
        # the second redaction sealed value too, but names only... no seal: the older seal,
        # over the entry before value was erased, no longer fits
        d = json.loads(reds[1]["detail"])
        d["sealed"] = {}
        reds[1]["detail"] = json.dumps(d)
    case("superseded_stale_seal", sealed([["vendor"], ["value"]], after=older_seal_only),
         [("altered_entry", s33)])
    # what is left of a sealed entry, changed
    case("sealed_rest_changed", sealed([["vendor"]], after=lambda es, reds: find(es, 3, 3)["row_image"].__setitem__(
        2, "1.00")), [("altered_entry", s33)])
    case("sealed_stored_hash_changed", sealed([["vendor"]], after=lambda es, reds: find(es, 3, 3).__setitem__(
        "entry_hash", "cd" * 32)), [("altered_entry", s33)])
    # (the entry after it links to its stored hash: rehash relinks it; unrelinked, broken_link)
    es = sealed([["vendor"]])
    find(es, 3, 3)["entry_hash"] = "cd" * 32
    case("sealed_stored_hash_unlinked", es, [("altered_entry", s33), ("broken_link", q(3, 4))])
    case("sealed_record_not_zero", sealed([["vendor"]], after=lambda es, reds: find(es, 3, 3).__setitem__(
        "redacted", "8001" + "00" * 31 + "01")), [("malformed_entry", s33)])
    case("sealed_unsealed_value_back", sealed([["vendor"]], after=lambda es, reds: find(es, 3, 3)["row_image"].__setitem__(
        1, "PT Lain")), [("malformed_entry", s33)])
    # a sealed record in a format-1 entry: format 1 has none
    es = copy.deepcopy(base)
    seal_columns(find(es, 3, 1), lay[1], ["vendor"])
    with_redact(es, ["vendor"], [q(3, 1)])
    case("sealed_in_format_1", rehash(layouts, es), [("malformed_entry", q(3, 1))])

    # checkpoints and proofs over format-2 and sealed entries
    es = sealed([["vendor"]])
    cover = {c: max(e["chain_pos"] for e in es if e["chain_id"] == c) for c in (3, 5, 9)}
    cp = make_checkpoint(es, cover, sk, pk)
    rc, doc, err = nvj("--export", write_lines("f2_cp.jsonl", export(layouts, es, [cp])),
                       "--checkpoint", write("f2_cp.json", json.dumps(cp)), "--public-key", pk)
    check(rc == 0, "format 2: a checkpoint over mixed formats and a sealed entry verifies: %s %s"
          % (problems(doc), err.strip()))
    cp_before = make_checkpoint(base, {3: 5, 5: 4, 9: 3}, sk, pk)
    rc, doc, err = nvj("--export", write_lines("f2_cp2.jsonl", export(layouts, es, [cp_before])),
                       "--checkpoint", write("f2_cp2.json", json.dumps(cp_before)), "--public-key", pk)
    check(rc == 1 and pairs(doc) == [("sealed_after_checkpoint", s33)],
          "format 2: a checkpoint taken before the sealing: the stored hash stands (no history_rewritten), but "
          "what is left of the entry rests on a seal the checkpoint does not cover: sealed_after_checkpoint "
          "(got %s %s)" % (pairs(doc), err.strip()))
    cp_mid = make_checkpoint(es, {3: 5, 5: 4, 9: 3}, sk, pk)
    rc, doc, err = nvj("--export", write_lines("f2_cp3.jsonl", export(layouts, es, [cp_mid])),
                       "--checkpoint", write("f2_cp3.json", json.dumps(cp_mid)), "--public-key", pk)
    check(rc == 1 and pairs(doc) == [("sealed_after_checkpoint", s33)],
          "format 2: ... also when the checkpoint is taken after the sealing but before its REDACT entry: %s"
          % pairs(doc))
    covered = sorted(es, key=lambda e: (e["chain_id"], e["chain_pos"]))
    leaves = [bytes.fromhex(e["entry_hash"]) for e in covered]

    def proof_of(e):
        m = covered.index(e)
        return {"format": "pg_notary-proof-v1", "checkpoint": cp, "layout": lay.get(e["layout_id"]),
                "entry": e, "leaf_index": m, "path": [h.hex() for h in audit_path(m, leaves)]}

    def proof(name, p, expect):
        rc, doc, err = nvj("--proof", write("f2_proof.json", json.dumps(p)), "--public-key", pk)
        check(rc == (1 if expect else 0) and problems(doc) == sorted(expect),
              "format 2 proof: %s -> %s (got %s %s)" % (name, expect, problems(doc), err.strip()))
        return p

    bad_all = [e["seq"] for e in covered
               if nv("--proof", write("f2_p.json", json.dumps(proof_of(e))), "--public-key", pk)[0]
               != (1 if e["seq"] == s33 else 0)]
    check(bad_all == [], "format 2 proof: a proof of every entry (formats 1 and 2, salted, REDACT) verifies, "
          "but the sealed one's: %s" % bad_all)
    proof("format_2", proof_of(find(es, 3, 4)), [])
    proof("format_2_personal", proof_of(find(es, 5, 2)), [])
    p = copy.deepcopy(proof_of(find(es, 5, 2)))
    p["entry"]["row_image"][2] = "1990-01-09"
    proof("format_2_changed", p, ["altered_entry", "not_included"])
    p = copy.deepcopy(proof_of(find(es, 3, 4)))
    p["entry"]["format_version"] = 1
    proof("format_2_read_as_1", p, ["altered_entry", "not_included"])
    p = copy.deepcopy(proof_of(find(es, 3, 4)))
    p["entry"]["format_version"] = 9
    proof("format_9", p, ["malformed_entry"])
    # a sealed entry: the inclusion of its stored hash is checked, its
    # content cannot be (sealed_entry, never intact)
    proof("sealed", proof_of(find(es, 3, 3)), ["sealed_entry"])
    p = copy.deepcopy(proof_of(find(es, 3, 3)))
    p["path"][0] = "00" * 32
    proof("sealed_bad_path", p, ["not_included", "sealed_entry"])
    p = copy.deepcopy(proof_of(find(es, 3, 3)))
    p["entry"]["entry_hash"] = "cd" * 32
    proof("sealed_other_hash", p, ["not_included", "sealed_entry"])
    p = copy.deepcopy(proof_of(find(es, 3, 3)))
    p["entry"]["row_image"][1] = "PT Lain"
    proof("sealed_value_back", p, ["malformed_entry"])
    return es, cp


def test_malformed(layouts, entries):
    good = "".join(json.dumps(o) + "\n" for o in export(layouts, entries))
    lines = good.splitlines(True)
    cases = [
        ("empty file", "", "empty"),
        ("blank file", "\n", "empty line"),
        ("cut mid-line", good[:len(good) - 40], "cut short"),
        ("last newline missing", good[:-1], "cut short"),
        ("garbled line", "".join(lines[:3]) + lines[3][:20] + "#garbage\n" + "".join(lines[4:]), "not valid JSON"),
        ("not an object", "[1, 2]\n", "not a JSON object"),
        ("no type", json.dumps({"seq": 1}) + "\n", "type"),
        ("unknown type", json.dumps({"type": "redaction"}) + "\n", "unknown line type"),
        ("missing member", "".join(lines[:2]) + json.dumps({k: v for k, v in entries[0].items() if k != "op"}) + "\n", "\"op\""),
        ("string seq", "".join(lines[:2]) + json.dumps(dict(entries[0], seq="101")) + "\n", "\"seq\""),
        ("float seq", "".join(lines[:2]) + json.dumps(dict(entries[0], seq=101.5)) + "\n", "\"seq\""),
        ("not hex", "".join(lines[:2]) + json.dumps(dict(entries[0], entry_hash="zz" * 32)) + "\n", "not hex"),
        ("bad xid", "".join(lines[:2]) + json.dumps(dict(entries[0], xid="-1")) + "\n", "xid"),
        ("xid overflow", "".join(lines[:2]) + json.dumps(dict(entries[0], xid="18446744073709551616")) + "\n", "xid"),
        ("chain_id range", "".join(lines[:2]) + json.dumps(dict(entries[0], chain_id=2 ** 31)) + "\n", "range"),
        ("huge integer", "".join(lines[:2]) + json.dumps(dict(entries[0], seq=2 ** 64)) + "\n", "JSON"),
        ("layout after entry", "".join(lines[:3]) + lines[0], "order"),
        ("chains out of order", "".join(lines[:2]) + "".join(reversed(lines[2:])), "ordered"),
        ("duplicate layout", lines[0] + lines[0] + "".join(lines[2:]), "twice"),
        ("duplicate member", lines[0][:-2] + ', "type": "layout"}\n', "duplicate"),
        ("NUL byte", lines[0][:10] + "\0" + lines[0][10:], "NUL"),
        ("invalid UTF-8", None, "JSON"),
        ("nested too deep", "".join(lines[:2]) + json.dumps(dict(entries[0], row_image=[[[[[[[["x"]]]]]]]])) + "\n", "nested"),
    ]
    for name, text, needle in cases:
        p = path("malformed.jsonl")
        if text is None:
            with open(p, "wb") as f:
                f.write(lines[0].encode()[:30] + b"\xff\xfe" + lines[0].encode()[30:])
        else:
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        rc, out, err = nv("--export", p)
        check(rc == 2 and needle.lower() in err.lower() and out == "",
              "malformed export: %s -> exit 2 with a message containing %r (got %d: %s)"
              % (name, needle, rc, err.strip()[:160]))

    cp_ok = write("cp_garbled.json", '{"format": "pg_notary-checkpoint-v1", "checkpoint_id": 1,')
    args = [
        ("missing export file", ["--export", path("nonexistent.jsonl")], "could not open"),
        ("garbled checkpoint", ["--export", path("clean.jsonl"), "--checkpoint", cp_ok], "not valid JSON"),
        ("empty checkpoint", ["--export", path("clean.jsonl"), "--checkpoint", write("e.json", "")], "empty"),
        ("missing checkpoint", ["--export", path("clean.jsonl"), "--checkpoint", path("nope.json")], "could not open"),
        ("key too short", ["--export", path("clean.jsonl"), "--public-key", "ab" * 31], "wrong length"),
        ("key too long", ["--export", path("clean.jsonl"), "--public-key", "ab" * 33], "wrong length"),
        ("key not hex", ["--export", path("clean.jsonl"), "--public-key", "xyz"], "neither"),
        ("key file too short", ["--export", path("clean.jsonl"), "--public-key", write("short.key", "abcd\n")], "wrong length"),
        ("key file JSON without key", ["--export", path("clean.jsonl"), "--public-key", write("k.json", "{}")], "public_key"),
        ("two sources", ["--export", path("clean.jsonl"), "--dbname", "x"], "exactly one"),
        ("no source", [], "exactly one"),
        ("stray argument", ["--export", path("clean.jsonl"), "extra"], "unexpected"),
        ("unknown option", ["--bogus"], "--help"),
        ("garbled proof", ["--proof", cp_ok, "--public-key", "ab" * 32], "not valid JSON"),
        ("bad connection", ["--dbname", "host=/nonexistent/socket dbname=x connect_timeout=2"], "could not connect"),
    ]
    for name, a, needle in args:
        rc, out, err = nv(*a)
        check(rc == 2 and needle.lower() in err.lower(),
              "bad input: %s -> exit 2 with %r (got %d: %s)" % (name, needle, rc, err.strip()[:160]))


# --- Part B: a live cluster ------------------------------------------------------

DB = "pg_notary_cli_check"
SQL_TIMEOUT = 120


class Hung(Exception):
    pass


def psql(sql, db=DB, settings="", timeout=SQL_TIMEOUT, script=False):
    """psql -At; a statement that does not return in time fails the run
    (a server function that loops forever must not hang the test suite).
    With script, sql is read as a script (-f -: psql's backslash commands)."""
    env = dict(os.environ, PGDATABASE=db, PGOPTIONS=settings)
    try:
        r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
                           + (["-f", "-"] if script else ["-c", sql]), input=sql if script else None,
                           env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Hung("did not return within %d s: %s" % (timeout, sql[:200]))
    if r.returncode != 0:
        raise SystemExit("psql failed: %s\n%s" % (sql[:200], r.stderr))
    return r.stdout


def dburl(db=DB, user=None):
    s = "dbname=%s" % db
    if user:
        s += " user=%s" % user
    return s


WORKLOAD = r"""
CREATE EXTENSION pg_notary;
CREATE SCHEMA s;
CREATE TYPE s.pair AS (a int, b text);
CREATE TYPE s.mood AS ENUM ('sad', 'happy');
CREATE TABLE s.t (id int PRIMARY KEY, n numeric, f float8, ts timestamptz, d date,
                  iv interval, b bytea, arr text[], j jsonb, p s.pair, r tstzrange, u text,
                  m money, mo s.mood, ip inet);
INSERT INTO s.t VALUES (1, 1.50, 'NaN', '2024-01-01 10:00+07', '2024-02-29', '1 day 2 hours',
  '\x00ff', '{a,NULL,"b c"}', '{"k": [1, 2]}', ROW(1, 'x y'), '[2024-01-01,2024-02-01)', 'Jakarta ꦗꦏꦂꦠ',
  12.50, 'happy', '10.1.2.3/8');
SELECT notary.enable('s');
INSERT INTO s.t VALUES (2, -0.001, '-Infinity', 'infinity', '-infinity', '-3 mons', '\x', '{}', 'null', NULL, 'empty', NULL,
  NULL, 'sad', NULL);
INSERT INTO s.t (id, u) SELECT g, 'baris ' || g FROM generate_series(3, 40) g;
UPDATE s.t SET n = n * 2, u = 'rubah' WHERE id <= 2;
CREATE TABLE s.nopk (x text, y int);
INSERT INTO s.nopk VALUES ('a', 1), ('a', 1);
DELETE FROM s.t WHERE id = 2;
ALTER TABLE s.t ADD COLUMN extra int;
COPY s.nopk FROM PROGRAM 'printf "b\\t2\\n"';
TRUNCATE s.nopk;
"""


def findings_sql(sql, db=DB):
    out = psql(sql, db=db).strip()
    return [line.split("|") for line in out.splitlines() if line]


def verify_pairs(db):
    out = psql("SELECT problem, coalesce(seq, -1) FROM notary.verify()", db=db, timeout=60).strip()
    rows = [line.split("|") for line in out.splitlines() if line]
    return sorted((r[0], int(r[1])) for r in rows)


def export_db(db, name):
    """The export twice: notary.export() and notary-verify's own SQL through psql."""
    a = psql("SELECT * FROM notary.export()", db=db)
    sql = subprocess.run([NV, "--print-export-sql"], capture_output=True, text=True, check=True).stdout
    b = psql(sql, db=db, script=True)
    write(name + ".sql.jsonl", b)
    return write(name, a), a == b


def agree(db, name, expect=None):
    """notary-verify on the database and on its export agrees with notary.verify()."""
    want = verify_pairs(db)
    ex, same = export_db(db, name + ".jsonl")
    rc1, d1, e1 = nvj("--dbname", dburl(db))
    rc2, d2, e2 = nvj("--export", ex)
    ok = (pairs(d1) == want and pairs(d2) == want and same and
          rc1 == rc2 == (1 if want else 0) and (expect is None or sorted(set(p for p, _ in want)) == sorted(expect)))
    check(ok, "agree: %s: notary-verify (database, export) = notary.verify() = %s%s"
          % (name, want, "" if ok else " (db %s %s; export %s %s; same export %s)"
             % (rc1, pairs(d1) or e1.strip(), rc2, pairs(d2) or e2.strip(), same)))


# --- packs (docs/format.md, "Storage"): read and rewritten byte by byte ----------
# Packed entries are tampered with as a superuser would: by rewriting the
# bytes of notary.ledger_packs.entries.  parse_pack() reads a body with the
# layout of docs/format.md (tests/format/check_format.py's reader), keeping
# the bytes of the fields this test never changes (seq, op, names) as they
# are; build_pack() writes it back, so that a pack changed in one field
# differs from the original in that field only.

def varint(v):
    out = bytearray()
    while True:
        c, v = v & 0x7f, v >> 7
        out.append(c | 0x80 if v else c)
        if not v:
            return bytes(out)


def zigzag(v):
    return varint(((v << 1) ^ (v >> 63)) & 0xffffffffffffffff)


def parse_pack(data):
    """(prev_hash, [entry]) of a pack body; an entry is a dict of its
    stored fields (values and salts as bytes, detail as its text), and the
    pack's version byte (its entries' format_version)."""
    r = fmt.PackReader(data)
    version = r.u8("version")
    if version not in (1, 2):
        raise fmt.PackError("version %d, neither 1 nor 2" % version)
    prev = r.take(32, "prev_hash")
    entries = []
    seq = 0
    while r.pos < len(data):
        f = r.u8("flags")
        e = {"flags": f, "version": version}
        start = r.pos
        seq = r.varint("seq") + (seq if entries else 0)
        e["seq"] = seq
        if r.u8("op") == 0:
            r.text("op")
        e["head"] = data[start:r.pos]
        e["logged_at"] = r.zigzag("logged_at")      # a delta after the first entry
        start = r.pos
        for _ in range(2 + bool(f & fmt.F_APP) + bool(f & fmt.F_ADDR)):
            n = r.varint("name")
            r.take(max(n - 1, 0), "name")
        e["names"] = data[start:r.pos]
        e["table_id"] = r.zigzag("table_id") if f & fmt.F_TABLE else None
        e["layout_id"] = e["row_image"] = None
        if f & fmt.F_IMAGE:
            e["layout_id"] = r.zigzag("layout_id")
            values = []
            for _ in range(r.varint("values")):
                m = r.varint("value")
                values.append(None if m == 0 else r.take(m - 1, "value"))
            e["row_image"] = values
        e["row_salts"] = r.take(r.varint("salts"), "salts") if f & fmt.F_SALTS else None
        e["old_digest"] = r.take(32, "old_digest") if f & fmt.F_OLD else None
        e["detail"] = r.text("detail") if f & fmt.F_DETAIL else None
        e["redacted"] = r.take(r.varint("redacted"), "redacted") if f & fmt.F_REDACTED else None
        e["entry_hash"] = r.take(32, "entry_hash")
        entries.append(e)
    return prev, entries


def build_pack(prev, entries):
    out = bytearray(bytes([entries[0]["version"] if entries else 1]) + prev)
    for e in entries:
        flags = e["flags"] & (fmt.F_APP | fmt.F_ADDR)
        for bit, field in [(fmt.F_TABLE, "table_id"), (fmt.F_IMAGE, "row_image"),
                           (fmt.F_SALTS, "row_salts"), (fmt.F_OLD, "old_digest"),
                           (fmt.F_DETAIL, "detail"), (fmt.F_REDACTED, "redacted")]:
            if e[field] is not None:
                flags |= bit
        out += bytes([flags]) + e["head"] + zigzag(e["logged_at"]) + e["names"]
        if e["table_id"] is not None:
            out += zigzag(e["table_id"])
        if e["row_image"] is not None:
            out += zigzag(e["layout_id"]) + varint(len(e["row_image"]))
            for v in e["row_image"]:
                out += varint(0) if v is None else varint(len(v) + 1) + v
        if e["row_salts"] is not None:
            out += varint(len(e["row_salts"])) + e["row_salts"]
        if e["old_digest"] is not None:
            out += e["old_digest"]
        if e["detail"] is not None:
            out += varint(len(e["detail"].encode())) + e["detail"].encode()
        if e["redacted"] is not None:
            out += varint(len(e["redacted"])) + e["redacted"]
        out += e["entry_hash"]
    return bytes(out)


class Packs:
    """notary.ledger_packs and the seqs of notary.ledger_entries of a
    database, to write SQL that changes entries wherever they are stored."""

    def __init__(self, db):
        self.packs = {}                 # (chain_id, first_pos) -> [last_pos, prev, entries]
        self.where = {}                 # seq -> ((chain_id, first_pos), index)
        for line in psql("SELECT chain_id, first_pos, last_pos, pg_catalog.encode(entries, 'hex') "
                         "FROM notary.ledger_packs", db=db).split():
            c, f, last, body = line.split("|")
            key = (int(c), int(f))
            prev, es = parse_pack(bytes.fromhex(body))
            self.packs[key] = [int(last), prev, es, bytes.fromhex(body)]
            for i, e in enumerate(es):
                self.where[e["seq"]] = (key, i)
        self.singles = set(int(s) for s in psql("SELECT seq FROM notary.ledger_entries", db=db).split())

    def round_trip(self):
        """The packs build_pack() writes differently from how they are stored."""
        return [k for k, (_, prev, es, body) in self.packs.items() if build_pack(prev, es) != body]

    def entry(self, seq):
        key, i = self.where[seq]
        return self.packs[key][2][i]

    def edit_sql(self, changes):
        """SQL that gives entries new values, {seq: {field: value}} with
        the values of an export line (hex for bytes), wherever each entry is
        stored; "logged_at_shift" moves logged_at by that many microseconds.
        A packed entry's prev_hash is stored only for the first of its pack
        (the others' is the entry before's entry_hash), and its logged_at as
        the difference from the entry before (the entry after's is
        adjusted, so that only this one moves)."""
        sql, touched = [], {}
        for seq, ch in sorted(changes.items()):
            if seq in self.singles:
                sets = []
                for field, v in ch.items():
                    if v is None:
                        sets.append("%s = NULL" % field)
                    elif field == "logged_at_shift":
                        sets.append("logged_at = logged_at + interval '%d microseconds'" % v)
                    elif field == "row_image":
                        sets.append("row_image = ARRAY[%s]::text[]" % ", ".join(
                            "NULL" if x is None else "'%s'" % x.replace("'", "''") for x in v))
                    elif field in ("prev_hash", "entry_hash", "row_salts", "old_digest", "redacted"):
                        sets.append("%s = '\\x%s'" % (field, v))
                    elif field == "detail":
                        sets.append("detail = '%s'::jsonb" % v.replace("'", "''"))
                    else:
                        sets.append("%s = %s" % (field, v))
                sql.append("UPDATE notary.ledger_entries SET %s WHERE seq = %d" % (", ".join(sets), seq))
                continue
            key, i = self.where[seq]
            pk = touched.setdefault(key, [self.packs[key][0], self.packs[key][1],
                                          copy.deepcopy(self.packs[key][2])])
            e = pk[2][i]
            for field, v in ch.items():
                if field == "prev_hash":
                    if i == 0:
                        pk[1] = bytes.fromhex(v)
                    elif v != (changes.get(pk[2][i - 1]["seq"], {}).get("entry_hash")
                               or pk[2][i - 1]["entry_hash"].hex()):
                        raise ValueError("seq %d: a packed entry's prev_hash is the entry before's hash" % seq)
                elif field == "logged_at_shift":
                    e["logged_at"] += v
                    if i + 1 < len(pk[2]):
                        pk[2][i + 1]["logged_at"] -= v
                elif field == "row_image":
                    e[field] = None if v is None else [None if x is None else x.encode() for x in v]
                elif field in ("entry_hash", "row_salts", "old_digest", "redacted"):
                    e[field] = None if v is None else bytes.fromhex(v)
                else:
                    e[field] = v
        for key, (last, prev, es) in touched.items():
            sql.append(self.set_sql(key, build_pack(prev, es)))
        return "; ".join(sql)

    @staticmethod
    def set_sql(key, body, last_pos=None):
        return ("UPDATE notary.ledger_packs SET entries = '\\x%s'%s WHERE chain_id = %d AND first_pos = %d"
                % (body.hex(), "" if last_pos is None else ", last_pos = %d" % last_pos, key[0], key[1]))

    def drop_sql(self, seq):
        """SQL that removes one entry: a single row, or the last entry of
        its pack (the pack ends one position earlier, or is deleted)."""
        if seq in self.singles:
            return "DELETE FROM notary.ledger_entries WHERE seq = %d" % seq
        key, i = self.where[seq]
        last, prev, es, _ = self.packs[key]
        if i != len(es) - 1:
            raise ValueError("seq %d is not the last entry of its pack" % seq)
        if i == 0:
            return "DELETE FROM notary.ledger_packs WHERE chain_id = %d AND first_pos = %d" % key
        return self.set_sql(key, build_pack(prev, es[:i]), last - 1)

    def cut_sql(self, chain, pos):
        """SQL that removes the entries of chain from position pos on,
        single or packed (a pack that holds pos loses its tail)."""
        sql = ["DELETE FROM notary.ledger_entries WHERE chain_id = %d AND chain_pos >= %d" % (chain, pos)]
        for (c, first), (last, prev, es, _) in self.packs.items():
            if c != chain or last < pos:
                continue
            if first >= pos:
                sql.append("DELETE FROM notary.ledger_packs WHERE chain_id = %d AND first_pos = %d" % (c, first))
            else:
                sql.append(self.set_sql((c, first), build_pack(prev, es[:pos - first]), pos - 1))
        return "; ".join(sql)


TAMPER = [
    ("row_image", "UPDATE notary.ledger_entries SET row_image[2] = '999' WHERE seq = (SELECT min(seq) FROM notary.ledger_entries WHERE op = 'UPDATE')",
     ["altered_entry"]),
    ("entry_hash", "UPDATE notary.ledger_entries SET entry_hash = decode(repeat('ab', 32), 'hex') WHERE seq = (SELECT seq FROM notary.ledger_entries ORDER BY seq OFFSET 3 LIMIT 1)",
     ["altered_entry", "broken_link"]),
    ("delete_middle", "DELETE FROM notary.ledger_entries WHERE seq = (SELECT seq FROM notary.ledger_entries ORDER BY seq OFFSET 5 LIMIT 1)",
     ["missing_entry"]),
    ("layout", "UPDATE notary.layouts SET column_names[2] = 'amount' WHERE layout_id = (SELECT min(layout_id) FROM notary.layouts)",
     ["altered_entry", "altered_layout"]),
    ("layout_digest", "UPDATE notary.layouts SET layout_digest = '\\x00' WHERE layout_id = (SELECT max(layout_id) FROM notary.layouts)",
     ["altered_layout"]),
    ("prev_hash", "UPDATE notary.ledger_entries SET prev_hash = decode(repeat('00', 32), 'hex') WHERE seq = (SELECT seq FROM notary.ledger_entries ORDER BY seq OFFSET 2 LIMIT 1)",
     ["altered_entry", "broken_link"]),
    ("detail", "UPDATE notary.ledger_entries SET detail = '{\"schema\": \"t\", \"tables\": 9}' WHERE op = 'ENABLE'",
     ["altered_entry"]),
    ("logged_at", "UPDATE notary.ledger_entries SET logged_at = logged_at - interval '1 day' WHERE op = 'DELETE'",
     ["altered_entry"]),
    ("unknown_layout", "UPDATE notary.ledger_entries SET layout_id = 9999 WHERE op = 'INSERT' AND seq = (SELECT max(seq) FROM notary.ledger_entries WHERE op = 'INSERT')",
     ["malformed_entry"]),
    ("short_hash", "UPDATE notary.ledger_entries SET entry_hash = '\\x00' WHERE seq = (SELECT seq FROM notary.ledger_entries ORDER BY seq OFFSET 4 LIMIT 1)",
     ["malformed_entry"]),
    ("salts", "UPDATE notary.ledger_entries SET row_salts = '\\x00' WHERE op = 'SNAPSHOT'",
     ["malformed_entry"]),
    ("first_entry", "DELETE FROM notary.ledger_entries WHERE chain_pos = 1",
     ["missing_entry"]),
    ("image_dims", "UPDATE notary.ledger_entries SET row_image = ARRAY[row_image, row_image] WHERE op = 'DELETE'",
     ["malformed_entry"]),
]


PACKED_WORKLOAD = [
    "BEGIN; INSERT INTO s.t (id, u) VALUES (500, 'pack-one'), (501, 'pack-two'), (502, 'pack-three'); "
    "UPDATE s.t SET u = 'pack-two!' WHERE id = 501; DELETE FROM s.t WHERE id = 502; COMMIT",
    "CREATE SCHEMA s2; CREATE TABLE s2.c (id int PRIMARY KEY, nik text, born date); "
    "INSERT INTO s2.c VALUES (1, '3171234567890001', '1990-01-02')",
    "SELECT notary.enable('s2')",
    "SELECT notary.classify('s2.c', 'nik', 'identifier')",
    "BEGIN; INSERT INTO s2.c VALUES (2, '3171234567890002', '1985-05-06'); "
    "UPDATE s2.c SET born = '1990-01-03' WHERE id = 1; DELETE FROM s2.c WHERE id = 2; "
    "INSERT INTO s.t (id, u) VALUES (503, 'pack-next'); COMMIT",
]

UNREADABLE = "unreadable"


def pack_tamper(db):
    """The corpus TAMPER again, on packed entries: the bytes of
    notary.ledger_packs.entries edited (or a pack's row), entries chosen in
    the clean database db.  Not repeated: an entry_hash of the wrong length
    and a two-dimensional image, which a pack cannot hold (its hashes are
    32 bytes, its image a list); a pack that does not decode stands for
    them.  Such a pack, and one holding text that is not UTF-8, make the
    view fail: (UNREADABLE, what notary.verify() reports)."""
    pk = Packs(db)
    led = {int(r[0]): (r[1], int(r[2]), int(r[3])) for r in findings_sql(
        "SELECT seq, op, chain_id, chain_pos FROM notary.ledger", db=db)}
    chain_end = {}
    for op, c, pos in led.values():
        chain_end[c] = max(chain_end.get(c, 0), pos)

    def followed(key):
        return chain_end[key[0]] > pk.packs[key][0]

    def packed(op):
        return sorted(q for q in pk.where if led[q][0] == op)

    def where(key):
        return "WHERE chain_id = %d AND first_pos = %d" % key
    # a pack of several entries, not first in its chain, followed by another
    big = [k for k in sorted(pk.packs, key=lambda k: -len(pk.packs[k][2]))
           if k[1] > 1 and followed(k) and len(pk.packs[k][2]) >= 3][0]
    other = [k for k in sorted(pk.packs) if k != big and k[1] > 1 and followed(k)][0]
    big_es = pk.packs[big][2]
    salted = [q for q in sorted(pk.where) if pk.entry(q)["row_salts"]][0]
    val = "pack-two!"
    return [
        ("pack_row_image",
         "UPDATE notary.ledger_packs SET entries = set_byte(entries, position(convert_to('%s', 'UTF8') IN entries) - 1, "
         "ascii('P')) WHERE position(convert_to('%s', 'UTF8') IN entries) > 0" % (val, val),
         ["altered_entry"]),
        # an entry_hash in the middle of a pack: the next entry's prev_hash
        # is not stored but is this hash, so the next entry is altered too
        # (the single rows' broken_link shows where a pack ends)
        ("pack_entry_hash", pk.edit_sql({big_es[1]["seq"]: {"entry_hash": "ab" * 32}}),
         ["altered_entry"]),
        ("pack_last_hash", pk.edit_sql({big_es[-1]["seq"]: {"entry_hash": "cd" * 32}}),
         ["altered_entry", "broken_link"]),
        ("pack_prev_hash", pk.edit_sql({big_es[0]["seq"]: {"prev_hash": "00" * 32}}),
         ["altered_entry", "broken_link"]),
        ("pack_xid", "UPDATE notary.ledger_packs SET xid = '12345'::xid8 " + where(other),
         ["altered_entry"]),
        ("pack_detail", pk.edit_sql({packed("ENABLE")[0]: {"detail": '{"schema": "t", "tables": 9}'}}),
         ["altered_entry"]),
        ("pack_logged_at", pk.edit_sql({packed("DELETE")[0]: {"logged_at_shift": -86400 * 10 ** 6}}),
         ["altered_entry"]),
        ("pack_unknown_layout", pk.edit_sql({packed("INSERT")[-1]: {"layout_id": 9999}}),
         ["malformed_entry"]),
        ("pack_salts", pk.edit_sql({salted: {"row_salts": "00"}}),
         ["malformed_entry"]),
        ("pack_image_count", pk.edit_sql({packed("DELETE")[-1]: {"row_image": [
            None if v is None else v.decode() for v in pk.entry(packed("DELETE")[-1])["row_image"]] + ["extra"]}}),
         ["malformed_entry"]),
        ("pack_delete_middle", "DELETE FROM notary.ledger_packs " + where(big),
         ["missing_entry"]),
        ("pack_first_entry", "DELETE FROM notary.ledger_packs WHERE first_pos = 1",
         ["missing_entry"]),
        ("pack_cut_short", "UPDATE notary.ledger_packs SET entries = substr(entries, 1, length(entries) - 40) "
         + where(big), (UNREADABLE, ["malformed_entry"])),
        ("pack_version", "UPDATE notary.ledger_packs SET entries = set_byte(entries, 0, 7) " + where(other),
         (UNREADABLE, ["malformed_entry"])),
        # a value byte that is not UTF-8 (a single row's text[] cannot hold
        # one): verify() checks the bytes, the view refuses to show them
        ("pack_invalid_utf8",
         "UPDATE notary.ledger_packs SET entries = set_byte(entries, position(convert_to('pack-three', 'UTF8') "
         "IN entries) - 1, 255) WHERE position(convert_to('pack-three', 'UTF8') IN entries) > 0",
         (UNREADABLE, ["altered_entry"])),
    ]


def sql_error(sql, db):
    """psql's exit status and its error message (with the SQLSTATE)."""
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose",
                        "-d", db, "-f", "-"], input=sql, capture_output=True, text=True, timeout=SQL_TIMEOUT)
    return r.returncode, r.stderr


def unreadable(db, name, expect):
    """A pack the view cannot show: notary.verify() reports it (expect:
    malformed_entry, with no seq, for one that does not decode) and goes
    on; the view refuses it (data corrupted, XX001), so no export can be
    made, by notary.export() or by notary-verify's own SQL, and
    notary-verify on the database must fail (exit 2), never call the
    ledger intact."""
    got = verify_pairs(db)
    check(sorted(set(p for p, _ in got)) == sorted(expect)
          and ("malformed_entry" not in expect or ("malformed_entry", -1) in got),
          "unreadable: %s: notary.verify() reports %s: %s" % (name, expect, got))
    rc, err = sql_error("SELECT * FROM notary.export();", db)
    check(rc != 0 and "XX001" in err, "unreadable: %s: notary.export() fails with XX001: %s"
          % (name, " ".join(err.split())[:160]))
    sql = subprocess.run([NV, "--print-export-sql"], capture_output=True, text=True, check=True).stdout
    rc, err = sql_error(sql, db)
    check(rc != 0 and "XX001" in err, "unreadable: %s: notary-verify's export SQL fails with XX001: %s"
          % (name, " ".join(err.split())[:160]))
    for args in (["--dbname", dburl(db)], ["--json", "--dbname", dburl(db)]):
        rc, out, err = nv(*args)
        check(rc == 2 and "cannot be read" in err and "intact" not in out,
              "unreadable: %s: notary-verify %s exits 2 with the server's error (got %d: %s%s)"
              % (name, " ".join(args[:-1]), rc, out.strip()[:80], " ".join(err.split())[:200]))


# Since 0.3 notary.ledger is a view over notary.ledger_entries (single
# entries) and notary.ledger_packs (packs, docs/format.md "Storage"): a
# superuser tampers with those tables, each behind its own guard.
GUARDS_OFF = ("ALTER TABLE notary.ledger_entries DISABLE TRIGGER ledger_append_only; "
              "ALTER TABLE notary.ledger_packs DISABLE TRIGGER ledger_packs_append_only; ")
GUARDS_ON = ("ALTER TABLE notary.ledger_entries ENABLE ALWAYS TRIGGER ledger_append_only; "
             "ALTER TABLE notary.ledger_packs ENABLE ALWAYS TRIGGER ledger_packs_append_only; ")
# a session whose entries are single rows of notary.ledger_entries (as
# every entry was before 0.3), for the tampering aimed at that table
SINGLE = "-c notary.pack_entries=off"


def tamper_sql(sql):
    return (GUARDS_OFF + "ALTER TABLE notary.layouts DISABLE TRIGGER layouts_append_only; "
            + sql + "; " + GUARDS_ON +
            "ALTER TABLE notary.layouts ENABLE ALWAYS TRIGGER layouts_append_only;")


def server_secret_key():
    ddir = psql("SHOW data_directory").strip()
    kf = psql("LOAD 'pg_notary'; SHOW notary.signing_key_file").strip()
    with open(os.path.join(ddir, kf) if not os.path.isabs(kf) else kf) as f:
        return f.read().strip()


def test_database():
    psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    odd = ("-c TimeZone=Asia/Jakarta -c DateStyle=SQL,DMY -c extra_float_digits=0 "
           "-c bytea_output=escape -c IntervalStyle=sql_standard -c lc_monetary=C "
           "-c application_name=odd_app -c search_path=s")
    # the corpus TAMPER changes these entries in notary.ledger_entries:
    # written as single rows
    psql(WORKLOAD, settings=odd + " " + SINGLE)
    # a few more sessions; two at once, so that the ledger has two chains
    psql("INSERT INTO s.t (id) VALUES (100)", settings=SINGLE)
    p = subprocess.Popen(["psql", "-X", "-q", "-d", DB, "-c",
                          "BEGIN; INSERT INTO s.t (id) VALUES (200); SELECT pg_sleep(2); COMMIT;"],
                         stdout=subprocess.DEVNULL, env=dict(os.environ, PGOPTIONS=SINGLE))
    psql("SELECT pg_sleep(0.7); INSERT INTO s.t (id) VALUES (300); UPDATE s.t SET u = 'x' WHERE id = 300",
         settings=SINGLE)
    p.wait()
    # then the default storage: packs, for PACK_TAMPER.  A transaction of
    # several statements (one pack), a new schema enabled and classified
    # (event entries with detail, salted entries), ...
    for sql in PACKED_WORKLOAD:
        psql(sql)
    # ... and chains that start with a pack: one session more than there are
    # chains, at once, so at least one of them writes to a new chain
    # (chain = backend id); each commits twice, so deleting its first pack
    # leaves a gap, not an empty chain
    ps = [subprocess.Popen(["psql", "-X", "-q", "-d", DB, "-c",
                            "BEGIN; INSERT INTO s.t (id, u) VALUES (%d, 'chain start'); SELECT pg_sleep(2); COMMIT; "
                            "INSERT INTO s.t (id, u) VALUES (%d, 'chain next')" % (600 + i, 700 + i)],
                           stdout=subprocess.DEVNULL)
          for i in range(int(psql("SELECT count(DISTINCT chain_id) FROM notary.ledger").strip()) + 1)]
    for p in ps:
        p.wait()
    packs = Packs(DB)
    check(packs.singles and len([k for k in packs.packs if len(packs.packs[k][2]) >= 3]) >= 2
          and any(first == 1 for _, first in packs.packs),
          "database: the ledger mixes %d single entries and %d packs, %d of them of 3 entries or more, "
          "%d at the start of a chain"
          % (len(packs.singles), len(packs.packs), len([k for k in packs.packs if len(packs.packs[k][2]) >= 3]),
             len([k for k in packs.packs if k[1] == 1])))
    check(packs.round_trip() == [], "database: this test reads every pack and writes it back byte for byte "
          "(docs/format.md, Storage): %s" % packs.round_trip())
    nchains = int(psql("SELECT count(DISTINCT chain_id) FROM notary.ledger").strip())
    nentries = int(psql("SELECT count(*) FROM notary.ledger").strip())
    check(nchains >= 2, "database: the workload wrote %d chains (concurrent sessions)" % nchains)
    fv = findings_sql("SELECT format_version, count(*) FROM notary.ledger GROUP BY 1 ORDER BY 1")
    ex_lines = [json.loads(l) for l in psql("SELECT * FROM notary.export()").splitlines()]
    check([r[0] for r in fv] == ["2"] and all(o.get("format_version") == 2 for o in ex_lines if o["type"] == "entry"),
          "database: 0.4 writes every entry in format 2, and the export says so on every line: %s" % fv)
    agree(DB, "clean")
    rc, doc, err = nvj("--dbname", dburl())
    check(rc == 0 and doc["entries"] == nentries and doc["chains"] == nchains,
          "database: notary-verify reads all %d entries in %d chains" % (nentries, nchains))

    # the auditor role: only SELECT on the ledger's tables
    psql("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'nv_auditor') THEN "
         "CREATE ROLE nv_auditor LOGIN IN ROLE notary_auditor; END IF; END$$")
    rc, doc, err = nvj("--dbname", dburl(user="nv_auditor"))
    check(rc == 0 and doc["entries"] == nentries,
          "database: a notary_auditor login (SELECT only) can verify: %s %s" % (rc, err.strip()))
    psql("CREATE ROLE nv_nobody LOGIN", db="postgres") if not psql(
        "SELECT 1 FROM pg_roles WHERE rolname = 'nv_nobody'").strip() else None
    rc, out, err = nv("--dbname", dburl(user="nv_nobody"))
    check(rc == 2 and "permission denied" in err, "database: a role that may not read the ledger -> exit 2: %s" % err.strip()[:120])
    rc, out, err = nv("--dbname", dburl(db="postgres"))
    check(rc == 2 and "not installed" in err, "database: a database without pg_notary -> exit 2")

    # the tampering corpus: each on a copy of the clean database
    for name, sql, expect in TAMPER + pack_tamper(DB):
        copy_db = "nv_t_" + name
        psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")
        psql("CREATE DATABASE %s TEMPLATE %s" % (copy_db, DB), db="postgres")
        try:
            psql(tamper_sql(sql), db=copy_db)
            if expect[0] == UNREADABLE:
                unreadable(copy_db, name, expect[1])
            else:
                agree(copy_db, name, expect)
        finally:
            psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")


def verify_checkpoint_sql(cp, key, db=DB):
    """The problems notary.verify_checkpoint() reports, sorted."""
    return sorted(r[0] for r in findings_sql(
        "SELECT problem FROM notary.verify_checkpoint('%s', '%s')"
        % (json.dumps(cp) if not isinstance(cp, str) else cp, key), db=db))


def rewrite_history(target, value="rewritten"):
    """Rewrite column u of entry target (seq, chain_id, chain_pos) and
    rehash its chain from there on, single entries and packs alike, so
    that notary.verify() finds nothing."""
    # lifting the guards is itself recorded (DDL entries, perhaps in the
    # victim's chain): read the ledger after it, then rewrite and rehash
    psql(GUARDS_OFF)
    objs = [json.loads(l) for l in psql("SELECT * FROM notary.export()").splitlines()]
    layouts = [o for o in objs if o["type"] == "layout"]
    chain = sorted((o for o in objs if o["type"] == "entry" and o["chain_id"] == target["chain_id"]),
                   key=lambda e: e["chain_pos"])
    victim = [e for e in chain if e["chain_pos"] == target["chain_pos"]][0]
    names = [l for l in layouts if l["layout_id"] == victim["layout_id"]][0]["column_names"]
    victim["row_image"][names.index("u")] = value
    rehash(layouts, chain)
    changes = {e["seq"]: {"prev_hash": e["prev_hash"], "entry_hash": e["entry_hash"]}
               for e in chain if e["chain_pos"] >= target["chain_pos"]}
    changes[victim["seq"]]["row_image"] = victim["row_image"]
    psql(Packs(DB).edit_sql(changes))
    psql(GUARDS_ON)


def test_database_checkpoints():
    # the first checkpoint creates the server's key (a fresh cluster has none)
    cp1 = psql("SELECT notary.checkpoint()").strip()
    cp1f = write("db_cp1.json", cp1)
    keyinfo = json.loads(psql("SELECT row_to_json(k) FROM notary.public_key() k").strip())
    pk = keyinfo["public_key"]
    pkf = write("server_pk.json", json.dumps(keyinfo))
    rc, doc, err = nvj("--dbname", dburl(), "--checkpoint", cp1f, "--public-key", pkf)
    check(rc == 0 and doc["notes"] == [], "db checkpoint: a fresh checkpoint verifies against the database: %s %s"
          % (problems(doc), err.strip()))
    ex, _ = export_db(DB, "db_cp1.jsonl")
    rc, doc, err = nvj("--export", ex, "--checkpoint", cp1f, "--public-key", pk)
    check(rc == 0 and doc["notes"] == [], "db checkpoint: ... and against the export (cluster known from its stored checkpoint)")

    # proofs from the extension, checked offline
    seqs = [int(s) for s in psql("SELECT seq FROM notary.ledger ORDER BY seq").split()]
    ok = True
    for s in seqs[:: max(1, len(seqs) // 12)]:
        pr = write("db_proof.json", psql("SELECT notary.proof(%d)" % s).strip())
        rc, out, err = nv("--proof", pr, "--public-key", pk)
        ok = ok and rc == 0
    check(ok, "db proof: notary.proof() documents verify offline")
    pr = json.loads(psql("SELECT notary.proof(%d)" % seqs[3]).strip())
    pr["entry"]["session_user_name"] = "mallory"
    rc, doc, err = nvj("--proof", write("db_proof_bad.json", json.dumps(pr)), "--public-key", pk)
    check(rc == 1 and "altered_entry" in problems(doc), "db proof: an edited proof entry -> altered_entry")

    # more history, then the consistent rewrite of an entry before cp1
    psql("INSERT INTO s.t (id, u) VALUES (400, 'after checkpoint')")
    target = json.loads(psql(
        "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos FROM notary.ledger "
        "WHERE op = 'INSERT' ORDER BY seq LIMIT 1 OFFSET 5) e").strip())
    rewrite_history(target)
    # (re-enabling is recorded too, in a session whose chain continues from
    # the rewritten head: the ledger stays consistent)
    check(verify_pairs(DB) == [], "db rewrite: notary.verify() finds nothing after a consistent rewrite")
    rc, doc, _ = nvj("--dbname", dburl())
    check(rc == 0, "db rewrite: notary-verify without a checkpoint finds nothing either")
    rc, doc, err = nvj("--dbname", dburl(), "--checkpoint", cp1f, "--public-key", pk)
    sqlp = sorted(r[0] for r in findings_sql("SELECT problem FROM notary.verify_checkpoint('%s')" % cp1))
    check(rc == 1 and problems(doc) == ["history_rewritten"] == sqlp
          and doc["findings"][0]["chain_id"] == target["chain_id"],
          "db rewrite: with the earlier checkpoint, notary-verify (database) reports history_rewritten on chain %d, as verify_checkpoint() does: %s / %s"
          % (target["chain_id"], problems(doc), sqlp))
    ex, _ = export_db(DB, "db_rewritten.jsonl")
    rc, doc, err = nvj("--export", ex, "--checkpoint", cp1f, "--public-key", pk)
    check(rc == 1 and problems(doc) == ["history_rewritten"],
          "db rewrite: ... and so does notary-verify on the export: %s" % problems(doc))

    # the same rewrite of a packed entry (a value of different length: the
    # pack is written anew), after a checkpoint that covers the first one
    cp1p = psql("SELECT notary.checkpoint()").strip()
    cp1pf = write("db_cp1p.json", cp1p)
    target = json.loads(psql(
        "SELECT row_to_json(e) FROM (SELECT seq, chain_id, chain_pos FROM notary.ledger "
        "WHERE op = 'INSERT' AND 'pack-one' = ANY (row_image)) e").strip())
    check(target["seq"] in Packs(DB).where, "db rewrite (packed): the entry rewritten is packed")
    rewrite_history(target, "pack-one, rewritten")
    check(verify_pairs(DB) == [], "db rewrite (packed): notary.verify() finds nothing after a consistent rewrite")
    rc, doc, _ = nvj("--dbname", dburl())
    check(rc == 0, "db rewrite (packed): notary-verify without a checkpoint finds nothing either")
    rc, doc, err = nvj("--dbname", dburl(), "--checkpoint", cp1pf, "--public-key", pk)
    sqlp = sorted(r[0] for r in findings_sql("SELECT problem FROM notary.verify_checkpoint('%s')" % cp1p))
    check(rc == 1 and problems(doc) == ["history_rewritten"] == sqlp
          and doc["findings"][0]["chain_id"] == target["chain_id"],
          "db rewrite (packed): with the earlier checkpoint, notary-verify (database) reports history_rewritten "
          "on chain %d, as verify_checkpoint() does: %s / %s" % (target["chain_id"], problems(doc), sqlp))
    ex, _ = export_db(DB, "db_rewritten_packed.jsonl")
    rc, doc, err = nvj("--export", ex, "--checkpoint", cp1pf, "--public-key", pk)
    check(rc == 1 and problems(doc) == ["history_rewritten"],
          "db rewrite (packed): ... and so does notary-verify on the export: %s" % problems(doc))

    # tail cut after a new checkpoint (cut in the session that lifts the guard)
    cp2 = psql("SELECT notary.checkpoint()").strip()
    cp2f = write("db_cp2.json", cp2)
    head = json.loads(cp2)["chains"][-1]
    psql(GUARDS_OFF + Packs(DB).cut_sql(head["chain_id"], head["position"] - 1), settings=SINGLE)
    check(verify_pairs(DB) == [], "db tail cut: notary.verify() alone cannot see it")
    rc, doc, err = nvj("--dbname", dburl(), "--checkpoint", cp2f, "--public-key", pk)
    sqlp = sorted(r[0] for r in findings_sql("SELECT problem FROM notary.verify_checkpoint('%s')" % cp2))
    check(rc == 1 and problems(doc) == ["entries_missing"] == sqlp,
          "db tail cut: notary-verify with the checkpoint reports entries_missing, as verify_checkpoint() does: %s / %s"
          % (problems(doc), sqlp))
    psql(GUARDS_ON)

    # forged, foreign and wrongly keyed checkpoints (the ledger is still cut
    # short of cp2: a checkpoint that is compared reports entries_missing)
    ex, _ = export_db(DB, "db_cut.jsonl")
    other_pk = keypair(9)[1]

    def both(name, cp, key, expect):
        f = write("db_%s.json" % name, json.dumps(cp))
        sqlp = verify_checkpoint_sql(cp, key)
        rc1, d1, _ = nvj("--dbname", dburl(), "--checkpoint", f, "--public-key", key)
        rc2, d2, _ = nvj("--export", ex, "--checkpoint", f, "--public-key", key)
        check(rc1 == rc2 == 1 and problems(d1) == problems(d2) == sqlp == sorted(expect),
              "db %s: notary-verify (database, export) = verify_checkpoint() = %s (got %s / %s / %s)"
              % (name, sorted(expect), problems(d1), problems(d2), sqlp))
    forged = json.loads(cp2)
    forged["entries"] += 1
    # once, not twice: the signature of an edited document is not checked
    both("forged", forged, pk, ["bad_signature"])
    both("forged_wrong_key", forged, other_pk, ["bad_signature"])
    secret = server_secret_key()
    check(subprocess.run([HELPER, "public", secret], capture_output=True, text=True).stdout.strip() == pk,
          "db other cluster: the server's key file holds the key notary.public_key() returns")
    # authentic, of another cluster: reported and compared (stored
    # checkpoint 2 is another document; the ledger was cut)
    other = seal(dict(json.loads(cp2), system_identifier="1"), secret, pk)
    both("other_cluster", other, pk, ["checkpoint_mismatch", "entries_missing", "other_cluster"])
    other_db = seal(dict(json.loads(cp2), database="elsewhere"), secret, pk)
    both("other_database", other_db, pk, ["checkpoint_mismatch", "entries_missing", "other_cluster"])
    # not authentic: reported, not compared
    both("wrong_key", json.loads(cp2), other_pk, ["wrong_key"])
    both("other_cluster_wrong_key", other, other_pk, ["other_cluster", "wrong_key"])
    bad_sig = dict(json.loads(cp2))
    bad_sig["signature"] = ("0" if bad_sig["signature"][0] != "0" else "1") + bad_sig["signature"][1:]
    both("bad_signature", bad_sig, pk, ["bad_signature"])

    # a tail cut of packs: two transactions, then a checkpoint; the chain
    # is cut from the first of their packs on (in a session that lifts the
    # guards and whose own entries are single rows, cut with the rest)
    psql("BEGIN; INSERT INTO s.t (id, u) VALUES (800, 'tail one'), (801, 'tail two'); "
         "UPDATE s.t SET u = 'tail two!' WHERE id = 801; COMMIT")
    psql("INSERT INTO s.t (id, u) VALUES (802, 'tail three')")
    cp3 = psql("SELECT notary.checkpoint()").strip()
    cp3f = write("db_cp3.json", cp3)
    packs = Packs(DB)
    key = [k for k, (_, _, es, body) in packs.packs.items() if "tail one".encode() in body][0]
    heads = {c["chain_id"]: c["position"] for c in json.loads(cp3)["chains"]}
    check(len(packs.packs[key][2]) >= 3 and any(k[0] == key[0] and last == heads[key[0]]
                                               for k, (last, _, _, _) in packs.packs.items()),
          "db tail cut (packed): the chain cut ends in a pack of the checkpoint")
    psql(GUARDS_OFF + packs.cut_sql(key[0], key[1]), settings=SINGLE)
    check(verify_pairs(DB) == [], "db tail cut (packed): notary.verify() alone cannot see it")
    rc, doc, _ = nvj("--dbname", dburl())
    check(rc == 0, "db tail cut (packed): nor notary-verify without the checkpoint")
    rc, doc, err = nvj("--dbname", dburl(), "--checkpoint", cp3f, "--public-key", pk)
    sqlp = sorted(r[0] for r in findings_sql("SELECT problem FROM notary.verify_checkpoint('%s')" % cp3))
    check(rc == 1 and problems(doc) == ["entries_missing"] == sqlp,
          "db tail cut (packed): notary-verify with the checkpoint reports entries_missing, as "
          "verify_checkpoint() does: %s / %s" % (problems(doc), sqlp))
    ex, _ = export_db(DB, "db_cut_packed.jsonl")
    rc, doc, err = nvj("--export", ex, "--checkpoint", cp3f, "--public-key", pk)
    check(rc == 1 and problems(doc) == ["entries_missing"],
          "db tail cut (packed): ... and so does notary-verify on the export: %s" % problems(doc))
    psql(GUARDS_ON)


# --- redaction and restore, on a live cluster -----------------------------------

REDACT_DB = "nv_redact_check"
REDACT_DB_PACKED = "nv_redact_check_packed"
SUBJECT_NIK = "3171234567890001"
REDACT_WORKLOAD = r"""
CREATE EXTENSION pg_notary;
CREATE SCHEMA r;
CREATE TABLE r.citizens (id int PRIMARY KEY, nik text, name text, born date, region text);
CREATE TABLE r.complaints (id int PRIMARY KEY, nik text, body text);
INSERT INTO r.citizens VALUES (1, '3171234567890001', 'Siti Rahayu', '1990-01-02', 'Jakarta');
SELECT notary.enable('r');
INSERT INTO r.citizens VALUES (2, '3171234567890002', 'Budi Santoso', '1985-05-06', 'Bandung');
SELECT notary.classify('r.citizens', 'nik', 'identifier');
SELECT notary.classify('r.citizens', 'name', 'identifier');
SELECT notary.classify('r.citizens', 'born', 'quasi_identifier');
SELECT notary.classify('r.complaints', 'nik', 'identifier');
INSERT INTO r.citizens VALUES (3, '3171234567890003', 'Dewi Lestari', '1979-09-10', 'Surabaya');
UPDATE r.citizens SET region = 'Bogor' WHERE id = 1;
INSERT INTO r.complaints VALUES (10, '3171234567890001', 'jalan rusak'), (11, '3171234567890003', 'banjir');
UPDATE r.citizens SET name = 'Siti R.' WHERE id = 1;
DELETE FROM r.complaints WHERE id = 10;
"""
# erased: Budi's name (entries before classification: unsalted), and
# everything personal of the subject, in both tables
ERASED = [SUBJECT_NIK, "Siti Rahayu", "Siti R.", "1990-01-02", "Budi Santoso"]
KEPT = ["3171234567890002", "1985-05-06", "Dewi Lestari", "3171234567890003", "Bogor"]


def export_objs(db):
    return [json.loads(l) for l in psql("SELECT * FROM notary.export()", db=db).splitlines()]


def forge_redaction_sql(db, seq, column, value_for_commitment=None, packs=None):
    """The UPDATE a superuser would write to erase one column of entry seq
    by hand, keeping a (position, commitment) record computed here from the
    value and salt (docs/format.md), without a REDACT entry; with packs
    (Packs), of whichever table holds the entry."""
    objs = export_objs(db)
    e = [o for o in objs if o["type"] == "entry" and o["seq"] == seq][0]
    layout = [o for o in objs if o["type"] == "layout" and o["layout_id"] == e["layout_id"]][0]
    redact_entry(e, layout, [column], value_for_commitment)
    if packs is not None:
        return packs.edit_sql({seq: {"row_image": e["row_image"], "row_salts": e["row_salts"],
                                     "redacted": e["redacted"]}})

    def literal(v):
        return "NULL" if v is None else "'%s'" % v.replace("'", "''")
    return ("UPDATE notary.ledger_entries SET row_image = ARRAY[%s]::text[], row_salts = %s, "
            "redacted = '\\x%s' WHERE seq = %d"
            % (", ".join(literal(v) for v in e["row_image"]),
               "'\\x%s'" % e["row_salts"] if e["row_salts"] is not None else "NULL",
               e["redacted"], seq))


def test_database_redaction(db=REDACT_DB, packed=False):
    """Redaction on a live cluster, and tampering with what it leaves.  The
    entries are single rows (notary.pack_entries off), or with packed,
    packs (the default storage), which redaction rewrites and the cases
    below edit byte by byte."""
    label = "redaction db (packed)" if packed else "redaction db"
    storage = "" if packed else SINGLE
    psql("DROP DATABASE IF EXISTS %s" % db, db="postgres")
    psql("CREATE DATABASE %s" % db, db="postgres")
    psql(REDACT_WORKLOAD, db=db, settings=storage)
    before = psql("SELECT * FROM notary.export()", db=db)
    check(all(v in before for v in ERASED + KEPT),
          label + ": before the redactions, the export holds the values to be erased")
    cp0 = psql("SELECT notary.checkpoint()", db=db).strip()
    pk = json.loads(psql("SELECT row_to_json(k) FROM notary.public_key() k", db=db).strip())["public_key"]
    n1 = int(psql("SELECT notary.redact('r.citizens', '{2}', '{name}', 'erasure request 2026/17')", db=db,
                  settings=storage))
    n2 = int(psql("SELECT notary.redact_subject('nik', '%s', 'erasure request 2026/18')" % SUBJECT_NIK, db=db,
                  settings=storage))
    nred = int(psql("SELECT count(*) FROM notary.ledger WHERE op = 'REDACT'", db=db))
    nerased = int(psql("SELECT count(*) FROM notary.ledger WHERE redacted IS NOT NULL", db=db))
    check(n1 > 0 and n2 > 0 and nred == 3 and nerased > 5,
          label + ": redact() erased %d and redact_subject() %d values; %d REDACT entries, %d entries redacted"
          % (n1, n2, nred, nerased))
    agree(db, "redacted")
    a, same = export_db(db, "redacted_export.jsonl")
    with open(a) as f:
        text_a = f.read()
    with open(path("redacted_export.jsonl.sql.jsonl")) as f:
        text_b = f.read()
    leaked = [v for v in ERASED if v in text_a or v in text_b]
    check(same and not leaked and all(v in text_a for v in KEPT),
          label + ": no erased value is left in notary.export() or notary-verify's export (leaked: %s), "
          "the others are" % leaked)

    # a checkpoint taken before the redactions still holds after them, but
    # for the entries sealed since: the checkpoint covers their stored hash,
    # not the seal that now vouches for what is left of them
    sqlp = verify_checkpoint_sql(cp0, pk, db=db)
    rc, doc, err = nvj("--dbname", dburl(db), "--checkpoint", write("red_cp0.json", cp0), "--public-key", pk)
    nsealed = len([o for o in export_objs(db) if o["type"] == "entry" and fmt.sealed_positions(o)])
    check(nsealed > 0 and rc == 1 and problems(doc) == sqlp == ["sealed_after_checkpoint"] * nsealed,
          label + ": the checkpoint taken before the redactions verifies after them, but for the %d entries "
          "sealed since: sealed_after_checkpoint (notary-verify %s, verify_checkpoint() %s)"
          % (nsealed, problems(doc), sqlp))
    # proofs of redacted entries, from the extension, checked offline
    psql("SELECT notary.checkpoint()", db=db)
    red_seqs = [int(x) for x in psql("SELECT seq FROM notary.ledger WHERE redacted IS NOT NULL ORDER BY seq",
                                     db=db).split()]
    # format 2: a column erased that was not personal when the entry was
    # written (Budi's name, the subject's entries before the classification)
    # is sealed, and the REDACT entry that erased it carries its seal
    objs = export_objs(db)
    sealed_seqs = [o["seq"] for o in objs if o["type"] == "entry" and o.get("format_version") == 2
                   and fmt.sealed_positions(o)]
    seals = {}
    for o in objs:
        if o["type"] == "entry" and o["op"] == "REDACT":
            for k in json.loads(o["detail"]).get("sealed", {}):
                seals.setdefault(int(k), []).append(o["seq"])
    check(sealed_seqs and sorted(seals) == sorted(sealed_seqs),
          label + ": the redactions sealed %s, and the REDACT entries carry a seal of each: %s" % (sealed_seqs, seals))
    bad = []
    for q in red_seqs:
        rc, doc, err = nvj("--proof", write("red_proof_db.json", psql("SELECT notary.proof(%d)" % q, db=db).strip()),
                           "--public-key", pk)
        # a sealed entry's proof proves the inclusion of its stored hash, not its content
        if (rc, problems(doc)) != ((1, ["sealed_entry"]) if q in sealed_seqs else (0, [])):
            bad.append((q, rc, problems(doc), err.strip()[-200:]))
    check(red_seqs and not bad, label + ": notary.proof() of every redacted entry verifies offline, "
          "and is sealed_entry for the sealed ones: %s" % bad)

    # tampering, each on a copy of the redacted database
    objs = export_objs(db)
    lay = {o["layout_id"]: o for o in objs if o["type"] == "layout"}
    ents = [o for o in objs if o["type"] == "entry"]
    # not redacted, salted: Dewi's INSERT; redacted and recorded: the subject's UPDATEs
    dewi = [e for e in ents if e["op"] == "INSERT" and e["row_image"] and e["row_image"][0] == "3"
            and lay[e["layout_id"]]["table_name"] == "citizens"][0]["seq"]
    red = [e for e in ents if e["op"] == "UPDATE" and e["redacted"]][0]
    red_seq = red["seq"]
    max_redact = max((e for e in ents if e["op"] == "REDACT"), key=lambda e: e["seq"])
    pos = int(red["redacted"][:4], 16) + 1      # 1-based, for SQL

    if packed:
        pks = Packs(db)
        check(all(q in pks.where for q in (dewi, red_seq, max_redact["seq"])),
              label + ": the entries tampered with below are packed")
        flipped = bytearray.fromhex(red["redacted"])
        flipped[9] ^= 1
        restored = list(red["row_image"])
        restored[pos - 1] = "x"
        huge = psql("SELECT jsonb_set(detail, '{entries}', (detail->'entries') || '1e30'::jsonb)::text "
                    "FROM notary.ledger WHERE seq = %d" % max_redact["seq"], db=db).strip()
        cases = [
            ("forged_redaction", forge_redaction_sql(db, dewi, "born", packs=pks),
             [("forged_redaction", dewi)]),
            ("forged_redaction_wrong_commitment", forge_redaction_sql(db, dewi, "born", "1979-09-11", pks),
             [("altered_entry", dewi), ("forged_redaction", dewi)]),
            ("redaction_commitment_changed", pks.edit_sql({red_seq: {"redacted": flipped.hex()}}),
             [("altered_entry", red_seq)]),
            ("redaction_value_restored", pks.edit_sql({red_seq: {"row_image": restored}}),
             [("malformed_entry", red_seq)]),
            ("redaction_cut_short", pks.edit_sql({red_seq: {"redacted": red["redacted"][:66]}}),
             [("malformed_entry", red_seq)]),
            ("redact_entry_huge_seq", pks.edit_sql({max_redact["seq"]: {"detail": huge}}),
             [("altered_entry", max_redact["seq"])]),
            ("redact_entry_deleted", pks.drop_sql(max_redact["seq"]), None),
        ]
    else:
        cases = [
            ("forged_redaction", forge_redaction_sql(db, dewi, "born"),
             [("forged_redaction", dewi)]),
            ("forged_redaction_wrong_commitment", forge_redaction_sql(db, dewi, "born", "1979-09-11"),
             [("altered_entry", dewi), ("forged_redaction", dewi)]),
            ("redaction_commitment_changed",
             "UPDATE notary.ledger_entries SET redacted = set_byte(redacted, 9, get_byte(redacted, 9) # 1) WHERE seq = %d" % red_seq,
             [("altered_entry", red_seq)]),
            ("redaction_value_restored",
             "UPDATE notary.ledger_entries SET row_image[%d] = 'x' WHERE seq = %d" % (pos, red_seq),
             [("malformed_entry", red_seq)]),
            ("redaction_cut_short",
             "UPDATE notary.ledger_entries SET redacted = substring(redacted FROM 1 FOR 33) WHERE seq = %d" % red_seq,
             [("malformed_entry", red_seq)]),
            # a number beyond bigint in a REDACT entry (content changed, so
            # altered_entry): the entries it names correctly still count
            ("redact_entry_huge_seq",
             "UPDATE notary.ledger_entries SET detail = jsonb_set(detail, '{entries}', "
             "(detail->'entries') || '1e30'::jsonb) WHERE seq = %d" % max_redact["seq"],
             [("altered_entry", max_redact["seq"])]),
            ("redact_entry_deleted",
             "DELETE FROM notary.ledger_entries WHERE seq = (SELECT max(seq) FROM notary.ledger WHERE op = 'REDACT')",
             None),
        ]
    # sealed entries, single or packed: what is left of one changed (its
    # seal no longer fits), the seals of a REDACT entry removed (that entry
    # is altered, and the entries only it sealed are unrecorded)
    pks = Packs(db)
    budi = [e for e in ents if e["seq"] in sealed_seqs and "Bandung" in (e["row_image"] or [])][0]
    image = list(budi["row_image"])
    image[image.index("Bandung")] = "Bandungan"
    first_redact = [e for e in ents if e["op"] == "REDACT" and "2026/17" in e["detail"]][0]
    only_first = sorted(q for q, by in seals.items() if by == [first_redact["seq"]])
    detail = json.loads(first_redact["detail"])
    detail.pop("sealed")
    check(budi["seq"] in only_first, label + ": Budi's entry is sealed by the first redaction only")
    cases += [
        ("sealed_rest_changed", pks.edit_sql({budi["seq"]: {"row_image": image}}),
         [("altered_entry", budi["seq"])]),
        ("seals_removed", pks.edit_sql({first_redact["seq"]: {"detail": json.dumps(detail)}}),
         [("altered_entry", first_redact["seq"])] + [("forged_redaction", q) for q in only_first]),
        # a sealed record's 32 bytes are hashed nowhere: they must be zeros
        ("sealed_record_not_zero", pks.edit_sql({budi["seq"]: {"redacted": budi["redacted"][:-2] + "01"}}),
         [("malformed_entry", budi["seq"])]),
    ]
    if not packed:
        # format_version of a single entry (a pack's is its version byte)
        v2 = [e for e in ents if e.get("format_version") == 2 and e["seq"] not in sealed_seqs
              and e["seq"] in pks.singles][0]["seq"]
        cases += [
            ("format_version_3", "UPDATE notary.ledger_entries SET format_version = 3 WHERE seq = %d" % v2,
             [("malformed_entry", v2)]),
            ("format_version_1", "UPDATE notary.ledger_entries SET format_version = 1 WHERE seq = %d" % v2,
             [("altered_entry", v2)]),
        ]
    for name, sql, expect in cases:
        copy_db = "nv_t_" + name + ("_p" if packed else "")
        psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")
        psql("CREATE DATABASE %s TEMPLATE %s" % (copy_db, db), db="postgres")
        try:
            psql(tamper_sql(sql), db=copy_db)
            if expect is not None:
                try:
                    got = verify_pairs(copy_db)
                except SystemExit as e:
                    check(False, label + ": %s: notary.verify() failed instead of reporting %s: %s"
                          % (name, sorted(expect), str(e).strip()[-200:]))
                    rc, doc, err = nvj("--dbname", dburl(copy_db))
                    check(pairs(doc) == sorted(expect), label + ": %s: notary-verify reports %s (got %s)"
                          % (name, sorted(expect), pairs(doc)))
                    continue

                check(got == sorted(expect), label + ": %s: notary.verify() = %s (got %s)"
                      % (name, sorted(expect), got))
                agree(copy_db, name + (" (packed)" if packed else ""))
            else:
                # the newest REDACT entry gone: what it recorded is unrecorded
                # (and a gap in its chain when the tampering session's own
                # DDL entry continued that chain)
                named = sorted(json.loads(max_redact["detail"])["entries"])
                got = verify_pairs(copy_db)
                check(sorted(q for p, q in got if p == "forged_redaction") == named
                      and set(p for p, _ in got) <= {"forged_redaction", "missing_entry"},
                      label + ": %s: notary.verify() reports forged_redaction at %s: %s" % (name, named, got))
                agree(copy_db, name + (" (packed)" if packed else ""))
        finally:
            psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")


def test_restore(src=REDACT_DB, packed=False):
    """A restored copy (another database) checked against its source's
    checkpoint: other_cluster, and compared all the same.  With packed, the
    source's entries are packs (which pg_restore copies as they are)."""
    dst = "nv_restored_check" + ("_packed" if packed else "")
    label = "restore (packed)" if packed else "restore"
    cp = psql("SELECT notary.checkpoint()", db=src).strip()
    cpf = write("restore_cp.json", cp)
    pk = json.loads(psql("SELECT row_to_json(k) FROM notary.public_key() k", db=src).strip())["public_key"]
    dump = path("restore.dump")
    subprocess.run(["pg_dump", "-Fc", "-f", dump, "-d", src], check=True)
    psql("DROP DATABASE IF EXISTS %s" % dst, db="postgres")
    psql("CREATE DATABASE %s" % dst, db="postgres")
    r = subprocess.run(["pg_restore", "--exit-on-error", "-d", dst, dump], capture_output=True, text=True,
                       env=dict(os.environ, PGOPTIONS="-c notary.restore_mode=on"))
    check(r.returncode == 0, label + ": pg_restore with notary.restore_mode on: %s" % r.stderr.strip()[:200])
    agree(dst, "restored" + (" (packed)" if packed else ""), [])
    sqlp = verify_checkpoint_sql(cp, pk, db=dst)
    rc, doc, err = nvj("--dbname", dburl(dst), "--checkpoint", cpf, "--public-key", pk)
    check(rc == 1 and problems(doc) == sqlp == ["other_cluster"],
          label + ": the source's checkpoint against the restored database: other_cluster and nothing else, "
          "from notary-verify and verify_checkpoint() (got %s / %s)" % (problems(doc), sqlp))
    ex, _ = export_db(dst, "restored.jsonl")
    rc, doc, err = nvj("--export", ex, "--checkpoint", cpf, "--public-key", pk)
    check(rc == 0, label + ": ... and the restored database's export verifies against it "
          "(its newest stored checkpoint names the source): %s %s" % (problems(doc), err.strip()))
    # compared, not just named: a restored copy missing the newest entries
    head = json.loads(cp)["chains"][-1]
    if packed:
        pks = Packs(dst)
        seq = int(psql("SELECT seq FROM notary.ledger WHERE chain_id = %d AND chain_pos = %d"
                       % (head["chain_id"], head["position"]), db=dst))
        check(seq in pks.where, label + ": the newest entry is packed")
        psql(GUARDS_OFF + pks.drop_sql(seq), db=dst)
    else:
        psql(GUARDS_OFF + "DELETE FROM notary.ledger_entries WHERE chain_id = %d AND chain_pos = %d"
             % (head["chain_id"], head["position"]), db=dst)
    sqlp = verify_checkpoint_sql(cp, pk, db=dst)
    ledger = [p for p, _ in verify_pairs(dst)]   # the REDACT entry cut is unrecorded, ...
    rc, doc, err = nvj("--dbname", dburl(dst), "--checkpoint", cpf, "--public-key", pk)
    check(rc == 1 and sqlp == ["entries_missing", "other_cluster"]
          and problems(doc) == sorted(sqlp + ledger),
          label + ": a restored copy cut short: entries_missing and other_cluster, from notary-verify "
          "(with what verify() finds) and verify_checkpoint() (got %s / %s + %s)" % (problems(doc), sqlp, ledger))
    psql("DROP DATABASE IF EXISTS %s" % dst, db="postgres")


UPGRADE_DB = "nv_upgrade_check"


def test_database_upgrade():
    """A ledger written by pg_notary 0.3 (format 1, no column
    format_version) read by notary-verify, then updated to 0.4 in the
    middle of a session: the same chain goes on in format 2."""
    db = UPGRADE_DB
    psql("DROP DATABASE IF EXISTS %s" % db, db="postgres")
    psql("CREATE DATABASE %s" % db, db="postgres")
    psql("CREATE EXTENSION pg_notary VERSION '0.3'; CREATE SCHEMA u; "
         "CREATE TABLE u.t (id int PRIMARY KEY, v text, nik text); SELECT notary.enable('u'); "
         "INSERT INTO u.t VALUES (1, 'a', '3171'), (2, 'b', '3172'); UPDATE u.t SET v = 'c' WHERE id = 1", db=db,
         settings=SINGLE)
    sql = subprocess.run([NV, "--print-export-sql"], capture_output=True, text=True, check=True).stdout
    lines = psql(sql, db=db, script=True)
    ex = write("upgrade_03.jsonl", lines)
    rc1, d1, e1 = nvj("--dbname", dburl(db))
    rc2, d2, e2 = nvj("--export", ex)
    check(verify_pairs(db) == [] and rc1 == rc2 == 0 and d1["entries"] == d2["entries"] > 3
          and "format_version" not in lines and '"redacted"' in lines,
          "upgrade: a 0.3 database (no format_version): notary-verify --dbname and its printed export "
          "script read it, without the member, intact (%s %s / %s %s)" % (rc1, e1.strip(), rc2, e2.strip()))
    # one session: entries before the update (format 1) and after (format 2)
    psql("INSERT INTO u.t VALUES (3, 'd', '3173'); ALTER EXTENSION pg_notary UPDATE TO '0.4'; "
         "INSERT INTO u.t VALUES (4, 'e', '3174'); UPDATE u.t SET v = 'f' WHERE id = 2", db=db, script=True,
         settings=SINGLE)
    # (single rows, for the tampering below; then a pack)
    psql("BEGIN; INSERT INTO u.t VALUES (5, 'g', '3175'); SELECT notary.classify('u.t', 'nik', 'identifier'); "
         "INSERT INTO u.t VALUES (6, 'h', '3176'); COMMIT", db=db, script=True)
    formats = {}
    for line in findings_sql("SELECT chain_id, format_version FROM notary.ledger", db=db):
        formats.setdefault(int(line[0]), set()).add(int(line[1]))
    mixed = [c for c, f in formats.items() if f == {1, 2}]
    check(mixed, "upgrade: a chain holds format-1 entries and, after ALTER EXTENSION UPDATE, format-2 ones: %s"
          % formats)
    agree(db, "upgraded to 0.4 (formats 1 and 2)", [])
    # (sealing entries of both formats: the format-1 ones keep a commitment)
    n = int(psql("SELECT sum(notary.redact('u.t', ARRAY[g::text], '{nik}', 'erasure')) "
                 "FROM generate_series(1, 6) g", db=db, settings=SINGLE))
    objs = export_objs(db)
    sealed = [o["seq"] for o in objs if o["type"] == "entry" and o.get("format_version") == 2
              and fmt.sealed_positions(o)]
    kept_v1 = [o["seq"] for o in objs if o["type"] == "entry" and o.get("format_version") == 1 and o["redacted"]]
    check(n > 0 and sealed and kept_v1,
          "upgrade: nik erased in both formats: format-2 entries sealed %s, format-1 ones kept commitments %s"
          % (sealed, kept_v1))
    agree(db, "upgraded and redacted", [])
    v1 = min(kept_v1)
    for name, sql, expect in [
            ("v1_as_v2", "UPDATE notary.ledger_entries SET format_version = 2 WHERE seq = %d" % v1,
             [("altered_entry", v1)]),
            ("sealed_as_v1", "UPDATE notary.ledger_entries SET format_version = 1 WHERE seq = %d" % min(sealed),
             [("malformed_entry", min(sealed))])]:
        copy_db = "nv_t_" + name
        psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")
        psql("CREATE DATABASE %s TEMPLATE %s" % (copy_db, db), db="postgres")
        try:
            if min(sealed) not in Packs(copy_db).singles and name == "sealed_as_v1":
                check(False, "upgrade: the sealed entry %d is not a single row" % min(sealed))
                continue
            psql(tamper_sql(sql), db=copy_db)
            agree(copy_db, "upgrade " + name, [p for p, _ in expect])
            check(verify_pairs(copy_db) == expect, "upgrade: %s -> %s" % (name, expect))
        finally:
            psql("DROP DATABASE IF EXISTS %s" % copy_db, db="postgres")
    psql("DROP DATABASE IF EXISTS %s" % db, db="postgres")


def test_progress():
    psql("CREATE TABLE s.bulk (id int PRIMARY KEY); INSERT INTO s.bulk SELECT generate_series(1, 120000)")
    rc, out, err = nv("--dbname", dburl(), "--progress")
    check("100000 entries checked" in err and rc in (0, 1),
          "progress: --progress reports every 100000 entries on stderr: %r" % err[-80:])
    rc, out, err = nv("--dbname", dburl())
    check("entries checked" not in err, "progress: none when stderr is not a TTY")


def wait_for_server():
    for _ in range(120):
        if subprocess.run(["pg_isready", "-q"]).returncode == 0:
            break
        subprocess.run(["sleep", "0.5"])


def test_null_layout_name(template=DB, position=1, layout="(SELECT min(layout_id) FROM notary.layouts)",
                          label="null column name"):
    """A layout column name set to NULL by a superuser: notary.verify() must
    report altered_layout (as notary-verify does), not crash.  Last, because
    a crash restarts the server."""
    db = "nv_t_null_name"
    psql("DROP DATABASE IF EXISTS %s" % db, db="postgres")
    psql("CREATE DATABASE %s TEMPLATE %s" % (db, template), db="postgres")
    psql(tamper_sql("UPDATE notary.layouts SET column_names[%d] = NULL WHERE layout_id = %s"
                    % (position, layout)), db=db)
    rc, doc, err = nvj("--dbname", dburl(db))
    check(rc == 1 and "altered_layout" in problems(doc),
          "%s: notary-verify reports altered_layout: %s" % (label, problems(doc)))
    try:
        agree(db, label.replace(" ", "_"))
    except SystemExit as e:
        check(False, "%s: notary.verify() failed instead of reporting altered_layout "
              "(server crash?): %s" % (label, str(e).strip()[-200:]))
        wait_for_server()
    psql("DROP DATABASE IF EXISTS %s" % db, db="postgres")


def test_null_layout_name_redacted():
    """The same, at a position an entry lists as redacted: the column has no
    name for a REDACT entry to name, and notary.verify() must not crash on
    it (notary-verify reports altered_layout and the layout's entries
    altered_entry, nothing about the redaction)."""
    e = [o for o in export_objs(REDACT_DB) if o["type"] == "entry" and o["redacted"]][-1]
    test_null_layout_name(REDACT_DB, int(e["redacted"][:4], 16) + 1, str(e["layout_id"]),
                          "null name of a redacted column")


def main():
    if NV is None:
        print("FAIL: notary-verify not found (PATH or $NOTARY_VERIFY)")
        sys.exit(1)
    build_helper()
    test_vectors()
    test_vectors_v2()
    layouts, entries = synthetic_ledger()
    test_synthetic(layouts, entries)
    sk, pk = test_checkpoints(layouts, entries)
    test_proofs(layouts, entries, sk, pk)
    test_redaction_synthetic(layouts, entries, sk, pk)
    test_format2(layouts, entries, sk, pk)
    test_malformed(layouts, entries)
    if os.environ.get("PGHOST"):
        try:
            test_database()
            test_database_checkpoints()
            test_database_redaction()
            test_database_redaction(REDACT_DB_PACKED, packed=True)
            test_restore()
            test_restore(REDACT_DB_PACKED, packed=True)
            test_database_upgrade()
            test_progress()
            test_null_layout_name()
            test_null_layout_name_redacted()
            psql("DROP DATABASE IF EXISTS %s" % REDACT_DB, db="postgres")
            psql("DROP DATABASE IF EXISTS %s" % REDACT_DB_PACKED, db="postgres")
            psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
        except Hung as e:
            # the backend may spin without checking for interrupts: leave the
            # database for the cluster's teardown
            check(False, "the server hung: a query " + str(e))
    else:
        print("note: PGHOST not set, database tests skipped")


if __name__ == "__main__":
    try:
        main()
    finally:
        if not FAILED:
            shutil.rmtree(TMP, ignore_errors=True)
        else:
            print("files kept in " + TMP)
    print("%d passed, %d failed" % (PASSED[0], len(FAILED)))
    sys.exit(1 if FAILED else 0)

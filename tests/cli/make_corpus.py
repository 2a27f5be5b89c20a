#!/usr/bin/env python3
"""Write the seed corpus of cli/fuzz_parsers (tests/cli/corpus/).

Small, valid documents of every kind the fuzz target parses: an export
(layouts, entries of three chains, a stored checkpoint), an export with a
redaction (an entry's "redacted" records and the REDACT entry naming them,
docs/redaction.md), an export in formats 1 and 2 with a sealed column and
the REDACT entry carrying its seal (docs/format.md "Format 2"), a
checkpoint, and proofs with and without a layout, of a redacted entry and
of a format-2 entry.  Signed with the key of RFC 8032 test 1,
whose public key the fuzz target uses, so the fuzzer starts from documents
that pass every check and mutates towards every branch.  Needs cc and
libsodium-dev (tests/cli/sign_helper.c).  Deterministic: rerunning it
rewrites the same files.
"""
import json
import os

import test_cli as t

RFC8032_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"


def main():
    out = os.path.join(t.HERE, "corpus")
    os.makedirs(out, exist_ok=True)
    t.build_helper()
    import subprocess
    sk, pk = subprocess.run([t.HELPER, "keypair", RFC8032_SEED], capture_output=True,
                            text=True, check=True).stdout.split()
    assert pk == RFC8032_PUBLIC
    layouts, entries = t.synthetic_ledger()
    small = [e for e in entries if e["chain_pos"] <= 2]
    cp = t.make_checkpoint(small, {3: 2, 5: 2, 9: 2}, sk, pk, database="d")

    def put(name, text):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.write(text)

    def put_ledger(name, es, cover, proved, layout):
        """export_NAME.jsonl with its checkpoint over cover, checkpoint_NAME.json,
        and proof_NAME.json of the entry proved."""
        cp = t.make_checkpoint(es, cover, sk, pk, database="d")
        put("export_%s.jsonl" % name, "".join(json.dumps(o, separators=(",", ":")) + "\n"
                                              for o in t.export(layouts, es, [cp])))
        put("checkpoint_%s.json" % name, json.dumps(cp, separators=(",", ":")))
        covered = sorted(es, key=lambda e: (e["chain_id"], e["chain_pos"]))
        leaves = [bytes.fromhex(e["entry_hash"]) for e in covered]
        m = covered.index(proved)
        put("proof_%s.json" % name, json.dumps({"format": "pg_notary-proof-v1", "checkpoint": cp,
                                                "layout": layout, "entry": proved, "leaf_index": m,
                                                "path": [h.hex() for h in t.audit_path(m, leaves)]},
                                               separators=(",", ":")))

    put("export.jsonl", "".join(json.dumps(o, separators=(",", ":")) + "\n"
                                for o in t.export(layouts, small, [cp])))
    put("checkpoint.json", json.dumps(cp, separators=(",", ":")))
    covered = sorted(small, key=lambda e: (e["chain_id"], e["chain_pos"]))
    leaves = [bytes.fromhex(e["entry_hash"]) for e in covered]
    for name, m in (("proof_layout.json", 2), ("proof_no_layout.json", 4)):
        e = covered[m]
        lay = [l for l in layouts if l["layout_id"] == e["layout_id"]]
        put(name, json.dumps({"format": "pg_notary-proof-v1", "checkpoint": cp,
                              "layout": lay[0] if lay else None, "entry": e, "leaf_index": m,
                              "path": [h.hex() for h in t.audit_path(m, leaves)]},
                             separators=(",", ":")))

    # a redaction: two columns of one entry, one of another, and the REDACT
    # entry that records them (its own chain)
    lay = {l["layout_id"]: l for l in layouts}
    red = [dict(e, row_image=list(e["row_image"]) if e["row_image"] else None) for e in small]

    def find(chain, pos):
        return [e for e in red if e["chain_id"] == chain and e["chain_pos"] == pos][0]
    t.redact_entry(find(5, 1), lay[2], ["nik", "born"])
    t.redact_entry(find(5, 2), lay[2], ["nik"])
    nxt = max(e["seq"] for e in red) + 1
    red.append(t.redact_line(nxt, 11, 1, 8, ["nik", "born"], [find(5, 1)["seq"], find(5, 2)["seq"]]))
    red = t.rehash(layouts, red)
    put_ledger("redacted", red, {3: 2, 5: 2, 9: 2, 11: 1}, find(5, 1), lay[2])

    # format 2 (docs/format.md): mixed formats, a personal column redacted,
    # a column sealed and the REDACT entry carrying its seal; a proof of a
    # format-2 entry
    f2 = [e for e in t.format2_ledger(layouts, entries) if e["chain_pos"] <= 3]

    def find2(chain, pos):
        return [e for e in f2 if e["chain_id"] == chain and e["chain_pos"] == pos][0]
    t.redact_entry(find2(5, 2), lay[2], ["nik"])
    t.seal_columns(find2(3, 3), lay[1], ["vendor"])
    nxt = max(e["seq"] for e in f2) + 1
    r = t.redact_line(nxt, 11, 1, 7, ["nik", "vendor"], [find2(5, 2)["seq"], find2(3, 3)["seq"]])
    r["format_version"] = 2
    f2.append(r)
    t.reseal(layouts, f2, r, [find2(3, 3)["seq"]])
    f2 = t.rehash(layouts, sorted(f2, key=lambda e: (e["chain_id"], e["chain_pos"])))
    put_ledger("format2", f2, {3: 3, 5: 3, 9: 3, 11: 1}, find2(5, 2), lay[2])

    # the documents must verify, or the corpus starts from the error paths
    rc, o, err = t.nv("--export", os.path.join(out, "export_format2.jsonl"),
                      "--checkpoint", os.path.join(out, "checkpoint_format2.json"), "--public-key", pk)
    assert rc == 0, (o, err)
    rc, o, err = t.nv("--export", os.path.join(out, "export_redacted.jsonl"),
                      "--checkpoint", os.path.join(out, "checkpoint_redacted.json"), "--public-key", pk)
    assert rc == 0, (o, err)
    for name in ("proof_layout.json", "proof_no_layout.json", "proof_redacted.json", "proof_format2.json"):
        rc, o, err = t.nv("--proof", os.path.join(out, name), "--public-key", pk)
        assert rc == 0, (name, o, err)
    rc, o, err = t.nv("--export", os.path.join(out, "export.jsonl"),
                      "--checkpoint", os.path.join(out, "checkpoint.json"), "--public-key", pk)
    assert rc == 0, (o, err)
    import shutil
    shutil.rmtree(t.TMP, ignore_errors=True)
    print("corpus written to " + out)


if __name__ == "__main__":
    main()

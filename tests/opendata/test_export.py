#!/usr/bin/env python3
"""Tests of open-data exports (docs/opendata.md, "Exports").

Against a live cluster (PGHOST/PGPORT, as the postgres OS user):
  - an export through SQL (notary.opendata_export_to) and one through the
    command line (notary-export, which streams notary.opendata_export);
  - every file: bytes and SHA-256 as datapackage.json and the manifest say,
    CSV parsed with Python's csv module gives the rows of the view, header
    = fields, NULL and the empty string told apart in the raw bytes;
  - the manifest's Ed25519 signature checked with PyNaCl (independent of
    the C code) against notary.public_key(); the manifest against
    datapackage.json, parsed here from docs/opendata.md;
  - datapackage.json validated with python3-jsonschema against the
    official v1 profiles shipped by the npm package "datapackage" (fetched
    with npm pack, never copied into the repository) and against
    datapackage-v2-requirements.schema.json, a schema WE wrote from the
    v2 specification's requirements (no package here ships the official
    v2 profile);
  - no NIK anywhere in any exported byte;
  - tampering: a CSV byte, a hash in datapackage.json, the signed title,
    a wrong key: notary-verify --datapackage reports each (exit 1);
  - progress of notary-export on a view of 20,000 rows;
  - the views are published with notary.publish() (a NIK column classified
    identifier and left out, a date generalised to the month).

Needs python3-nacl, python3-jsonschema, npm, psql; notary-export and
notary-verify from PATH.  Prints "ok:"/"FAIL:" per check, exits 1 on any
failure.
"""
import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import nacl.exceptions
import nacl.signing

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "notary_opendata_py"
TMP = tempfile.mkdtemp(prefix="od_test_")
os.chmod(TMP, 0o755)
FAILED = []
PASSED = [0]
NIKS = ["3273010101800001", "3201020202850002", "3171030303900003"]
V1_PACKAGE = "datapackage@1.1.10"


def check(cond, msg):
    if cond:
        PASSED[0] += 1
        print("ok: " + msg)
    else:
        FAILED.append(msg)
        print("FAIL: " + msg)


def psql(sql, db=DB):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (sql, r.stderr))
    return r.stdout.rstrip("\n")


def run(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def setup():
    psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres")
    psql("CREATE DATABASE %s" % DB, db="postgres")
    psql("""
SET client_min_messages = warning;
CREATE EXTENSION pg_notary;
CREATE SCHEMA s;
CREATE TABLE s.complaints (id int PRIMARY KEY, nik text NOT NULL, region text,
                           note text, filed date, amount numeric);
SELECT notary.enable('s');
INSERT INTO s.complaints VALUES
  (1, '%s', 'Bandung, Jawa Barat', 'says "jalan rusak"', '2024-03-01', 1.5),
  (2, '%s', 'Bogor', E'first line\\r\\nsecond line', NULL, NULL),
  (3, '%s', '', NULL, '2024-12-31', 0.25);
CREATE TABLE s.permits (id int PRIMARY KEY, nik text, days int, issued date);
INSERT INTO s.permits SELECT g, '31710303' || lpad(g::text, 8, '0'), g %% 90,
                             date '2024-01-01' + g %% 365 FROM generate_series(1, 20000) g;
SELECT notary.classify('s.complaints', 'nik', 'identifier');
SELECT notary.publish('s.complaints',
         '{"id": "keep", "region": "keep", "note": "keep", "filed": "keep", "amount": "keep"}',
         title => 'Complaints');
SELECT notary.publish('s.permits', '{"id": "keep", "days": "keep", "issued": "month"}',
         title => 'Permits');
""" % tuple(NIKS))


def files_of(d):
    return sorted(f for f in os.listdir(d) if not f.startswith("."))


# --- docs/opendata.md: the manifest -------------------------------------------

def parse_manifest(text):
    """The manifest as a dict: header fields, checkpoint, resources with fields."""
    lines = text.split("\n")
    assert lines[0] == "pg_notary-datapackage-v1", lines[0]
    assert lines[-1] == "", "the manifest ends with a newline"
    m = {"resources": []}
    for line in lines[1:-1]:
        key, _, rest = line.partition(" ")
        if key in ("name", "title", "description", "license", "created"):
            m[key] = json.loads(rest)
        elif key == "checkpoint":
            cid, digest, key_id = rest.split(" ")
            m["checkpoint"] = (int(cid), digest, key_id)
        elif key == "resource":
            sha, nbytes, rows, path = rest.split(" ", 3)
            m["resources"].append({"sha256": sha, "bytes": int(nbytes), "rows": int(rows),
                                   "path": json.loads(path), "fields": []})
        elif key == "field":
            ftype, name = rest.split(" ", 1)
            m["resources"][-1]["fields"].append((json.loads(name), ftype))
        elif key == "k_anonymity":
            m["resources"][-1]["k_anonymity"] = json.loads(rest)
        else:
            raise AssertionError("unknown manifest line " + line)
    return m


# --- the official v1 profiles, from npm ---------------------------------------

def v1_profiles():
    dest = os.path.join(TMP, "npm")
    os.makedirs(dest)
    env = dict(os.environ, npm_config_cache=os.path.join(dest, "cache"),
               npm_config_update_notifier="false", HOME=dest)
    r = subprocess.run(["npm", "pack", V1_PACKAGE, "--pack-destination", dest],
                       capture_output=True, text=True, env=env, cwd=dest)
    if r.returncode != 0:
        raise RuntimeError("npm pack %s failed: %s" % (V1_PACKAGE, r.stderr))
    tgz = os.path.join(dest, r.stdout.strip().splitlines()[-1])
    subprocess.run(["tar", "-xzf", tgz, "-C", dest], check=True)
    prof = os.path.join(dest, "package", "lib", "profiles")
    with open(os.path.join(prof, "data-package.json")) as f:
        package = json.load(f)
    with open(os.path.join(prof, "data-resource.json")) as f:
        resource = json.load(f)
    return package, resource


def schema_errors(validator_cls, schema, doc):
    return ["%s: %s" % ("/".join(map(str, e.path)), e.message)
            for e in validator_cls(schema).iter_errors(doc)]


# --- checks of one exported directory -----------------------------------------

def check_package(d, label, public_key, v1):
    with open(os.path.join(d, "datapackage.json"), encoding="utf-8") as f:
        dp = json.load(f)
    pg = dp["pg_notary"]
    man = parse_manifest(pg["manifest"])

    # signature, independently of the C code
    try:
        nacl.signing.VerifyKey(bytes.fromhex(public_key)).verify(
            pg["manifest"].encode("utf-8"), bytes.fromhex(pg["signature"]))
        good = True
    except nacl.exceptions.BadSignatureError:
        good = False
    check(good, "%s: the manifest's Ed25519 signature verifies with notary.public_key() (PyNaCl)" % label)
    check(pg["public_key"] == public_key, "%s: the package names the server's public key" % label)
    cp = pg["checkpoint"]
    try:
        nacl.signing.VerifyKey(bytes.fromhex(public_key)).verify(
            bytes.fromhex(cp["digest"]), bytes.fromhex(cp["signature"]))
        good = True
    except nacl.exceptions.BadSignatureError:
        good = False
    check(good, "%s: the checkpoint's signature over its digest verifies (PyNaCl)" % label)
    check(man["checkpoint"] == (cp["checkpoint_id"], cp["digest"], cp["key_id"]),
          "%s: the manifest names the package's checkpoint" % label)
    findings = psql("SELECT count(*) FROM notary.verify_checkpoint('%s'::jsonb, '%s')"
                    % (json.dumps(cp).replace("'", "''"), public_key))
    check(findings == "0", "%s: its checkpoint verifies against the ledger" % label)

    # manifest against datapackage.json
    check(man["name"] == dp["name"] and man["title"] == dp["title"] and
          man.get("description") == dp.get("description") and man["created"] == dp["created"] and
          man["license"] == dp["licenses"][0].get("name", dp["licenses"][0].get("path")),
          "%s: name, title, description, license, created agree with the manifest" % label)
    check([r["path"] for r in man["resources"]] == [r["path"] for r in dp["resources"]],
          "%s: the manifest signs every resource, in order" % label)

    # every file
    for mr, r in zip(man["resources"], dp["resources"]):
        with open(os.path.join(d, r["path"]), "rb") as f:
            raw = f.read()
        sha = hashlib.sha256(raw).hexdigest()
        check(r["bytes"] == len(raw) == mr["bytes"], "%s/%s: byte count %d" % (label, r["path"], len(raw)))
        check(r["hash"] == "sha256:" + sha and mr["sha256"] == sha, "%s/%s: SHA-256 matches" % (label, r["path"]))
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), strict=True))
        check(len(rows) - 1 == mr["rows"], "%s/%s: %d rows as signed" % (label, r["path"], mr["rows"]))
        check(rows[0] == [f["name"] for f in r["schema"]["fields"]] == [n for n, _ in mr["fields"]],
              "%s/%s: header = fields = manifest fields" % (label, r["path"]))
        check([f["type"] for f in r["schema"]["fields"]] == [t for _, t in mr["fields"]],
              "%s/%s: field types agree with the manifest" % (label, r["path"]))
        check(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""),
              "%s/%s: CRLF line ends" % (label, r["path"]))
        for nik in NIKS + ["3171030300000001"]:
            check(nik.encode() not in raw, "%s/%s: NIK %s is not in the file" % (label, r["path"], nik))
        if r["path"] == "complaints.csv":
            check(rows[1:] == [["1", "Bandung, Jawa Barat", 'says "jalan rusak"', "2024-03-01", "1.5"],
                               ["2", "Bogor", "first line\r\nsecond line", "", ""],
                               ["3", "", "", "2024-12-31", "0.25"]],
                  "%s/complaints.csv: csv module reads the view's values back" % label)
            check(b'\r\n3,"",,2024-12-31,0.25\r\n' in raw,
                  "%s/complaints.csv: the empty string is \"\", NULL an empty field" % label)
            check(b'"says ""jalan rusak"""' in raw and b'"Bandung, Jawa Barat"' in raw,
                  "%s/complaints.csv: quotes doubled, commas quoted" % label)
    with open(os.path.join(d, "datapackage.json"), "rb") as f:
        dpraw = f.read()
    check(not any(n.encode() in dpraw for n in NIKS), "%s: no NIK in datapackage.json" % label)

    # schema validation
    with open(os.path.join(HERE, "datapackage-v2-requirements.schema.json")) as f:
        v2req = json.load(f)
    errs = schema_errors(jsonschema.Draft7Validator, v2req, dp)
    check(not errs, "%s: valid against the v2 requirements schema written here %s" % (label, errs))
    v1_package, v1_resource = v1
    errs = schema_errors(jsonschema.Draft4Validator, v1_package, dp)
    check(not errs, "%s: valid against the official v1 data-package profile (npm %s) %s" % (label, V1_PACKAGE, errs))
    for r in dp["resources"]:
        errs = schema_errors(jsonschema.Draft4Validator, v1_resource, r)
        check(not errs, "%s: resource %s valid against the official v1 data-resource profile %s"
              % (label, r["name"], errs))
    return dp


def verify(d, key):
    return run("notary-verify", "--json", "--datapackage", d, "--public-key", key)


def problems(out):
    try:
        return sorted(f["problem"] for f in json.loads(out)["findings"])
    except ValueError:
        return None


def tamper_tests(d, key):
    rc, out, err = verify(d, key)
    check(rc == 0 and problems(out) == [], "notary-verify --datapackage: the CLI export is intact (%s)" % err.strip())

    t = os.path.join(TMP, "tampered_csv")
    shutil.copytree(d, t)
    p = os.path.join(t, "complaints.csv")
    with open(p, "rb") as f:
        raw = bytearray(f.read())
    raw[raw.index(b"1.5")] = ord("9")   # 1.5 -> 9.5: a value changed, same length
    with open(p, "wb") as f:
        f.write(raw)
    rc, out, _ = verify(t, key)
    check(rc == 1 and problems(out) == ["file_changed"], "one CSV byte changed: file_changed, exit 1 (%s)" % problems(out))

    t = os.path.join(TMP, "tampered_hash")
    shutil.copytree(d, t)
    p = os.path.join(t, "datapackage.json")
    with open(p, encoding="utf-8") as f:
        dp = json.load(f)
    dp["resources"][0]["hash"] = "sha256:" + "0" * 64
    with open(p, "w", encoding="utf-8") as f:
        json.dump(dp, f)
    rc, out, _ = verify(t, key)
    check(rc == 1 and problems(out) == ["manifest_mismatch"],
          "a hash in datapackage.json changed: manifest_mismatch (%s)" % problems(out))

    t = os.path.join(TMP, "tampered_manifest")
    shutil.copytree(d, t)
    p = os.path.join(t, "datapackage.json")
    with open(p, encoding="utf-8") as f:
        dp = json.load(f)
    dp["title"] = "Another title"
    dp["pg_notary"]["manifest"] = dp["pg_notary"]["manifest"].replace('title "', 'title "Another ', 1)
    with open(p, "w", encoding="utf-8") as f:
        json.dump(dp, f)
    rc, out, _ = verify(t, key)
    check(rc == 1 and "bad_signature" in (problems(out) or []),
          "the signed manifest changed: bad_signature (%s)" % problems(out))

    # what the manifest does not sign must still be what the export wrote:
    # each of these changes what a reader gets while every signed figure matches
    unsigned = [
        ("dialect", lambda dp: dp["resources"][0]["dialect"].update(delimiter=";")),
        ("missingValues", lambda dp: dp["resources"][0]["schema"].update(missingValues=["", "0"])),
        ("field format", lambda dp: dp["resources"][0]["schema"]["fields"][0].update(format="%d/%m/%Y")),
        ("second licence", lambda dp: dp["licenses"].append({"name": "proprietary"})),
        ("top-level member", lambda dp: dp.update(homepage="https://example.org/other")),
        ("resource encoding", lambda dp: dp["resources"][0].update(encoding="latin-1")),
        ("duplicate resource", lambda dp: dp["resources"].append(
            dict(dp["resources"][0], name="again", schema={"fields": [], "missingValues": [""]}))),
    ]
    for label, change in unsigned:
        t = os.path.join(TMP, "tampered_" + label.replace(" ", "_"))
        shutil.copytree(d, t)
        p = os.path.join(t, "datapackage.json")
        with open(p, encoding="utf-8") as f:
            dp = json.load(f)
        change(dp)
        with open(p, "w", encoding="utf-8") as f:
            json.dump(dp, f)
        rc, out, _ = verify(t, key)
        check(rc == 1 and "manifest_mismatch" in (problems(out) or []),
              "unsigned %s changed in datapackage.json: manifest_mismatch (%s)" % (label, problems(out)))

    other = nacl.signing.SigningKey(b"\x07" * 32).verify_key.encode().hex()
    rc, out, _ = verify(d, other)
    check(rc == 1 and "wrong_key" in (problems(out) or []), "another trusted key: wrong_key (%s)" % problems(out))
    rc, _, err = run("notary-verify", "--datapackage", d)
    check(rc == 2 and "public-key" in err, "--datapackage without --public-key: exit 2")
    rc, _, err = run("notary-verify", "--datapackage", os.path.join(TMP, "nonexistent"), "--public-key", key)
    check(rc == 2, "--datapackage of a missing directory: exit 2")


def main():
    setup()
    v1 = v1_profiles()
    # The validators must be able to fail: a descriptor without resources, and
    # a resource whose hash is not a hash, are rejected by the same schemas.
    with open(os.path.join(HERE, "datapackage-v2-requirements.schema.json")) as f:
        v2req = json.load(f)
    bad_package = {"name": "x", "resources": []}
    bad_resource = {"name": "x", "path": "x.csv", "hash": "not a hash", "bytes": -1}
    check(schema_errors(jsonschema.Draft4Validator, v1[0], {"name": "x"}),
          "the official v1 data-package profile (npm %s) rejects a package without resources" % V1_PACKAGE)
    check(schema_errors(jsonschema.Draft4Validator, v1[1], bad_resource),
          "the official v1 data-resource profile rejects a malformed resource")
    check(schema_errors(jsonschema.Draft7Validator, v2req, bad_package),
          "the v2 requirements schema written here rejects a package with no resources and no $schema")

    # through SQL, into a server directory (the server runs as this OS user)
    sql_dir = os.path.join(TMP, "sql_export")
    os.mkdir(sql_dir)
    psql("SELECT notary.opendata_export_to('%s', '{opendata.complaints,opendata.permits}', "
         "'Complaints and permits', 'CC-BY-4.0', 'LAPOR!-style complaints, OSS-style permits', "
         "'lapor-oss')" % sql_dir)
    key = psql("SELECT public_key FROM notary.public_key()")
    check(files_of(sql_dir) == ["complaints.csv", "datapackage.json", "permits.csv"],
          "SQL export wrote the two CSV files and datapackage.json, nothing else")
    check_package(sql_dir, "sql", key, v1)

    # through the command line, streaming
    cli_dir = os.path.join(TMP, "cli_export")
    rc, out, err = run("notary-export", "--progress", "-d", "dbname=" + DB, "-o", cli_dir,
                       "-t", "Complaints and permits", "-l", "CC-BY-4.0", "-n", "lapor-oss",
                       "-k", key, "opendata.complaints", "opendata.permits")
    check(rc == 0, "notary-export exit 0 (%s %s)" % (out.strip(), err.strip()[-300:]))
    check("permits.csv: 20000/20000 rows (100%)" in err and "permits.csv: 10000/20000 rows (50%)" in err,
          "notary-export shows rows and percent on stderr")
    check("intact" in out, "notary-export checked what it wrote: intact")
    check(files_of(cli_dir) == ["complaints.csv", "datapackage.json", "permits.csv"],
          "CLI export wrote the files, no temporary file left")
    cli_dp = check_package(cli_dir, "cli", key, v1)
    # same data, same bytes, whichever way it was exported
    for name in ("complaints.csv", "permits.csv"):
        with open(os.path.join(sql_dir, name), "rb") as a, open(os.path.join(cli_dir, name), "rb") as b:
            check(a.read() == b.read(), "%s: SQL and CLI exports are byte for byte the same" % name)
    check(cli_dp["resources"][1]["schema"]["fields"] == [{"name": "id", "type": "integer"},
                                                        {"name": "days", "type": "integer"},
                                                        {"name": "issued", "type": "yearmonth"}],
          "kept integers are typed integer, a date published by month yearmonth (%s)"
          % cli_dp["resources"][1]["schema"]["fields"])
    check(set(cli_dp["pg_notary"].get("k_anonymity", {})) == {"complaints", "permits"},
          "k-anonymity figures of notary.k_anonymity() per resource")

    # the CLI refuses to overwrite, and refuses a non-publication
    rc, _, err = run("notary-export", "-d", "dbname=" + DB, "-o", cli_dir, "-t", "T", "-l", "CC-BY-4.0",
                     "opendata.complaints")
    check(rc == 2 and "already holds" in err, "notary-export never overwrites a package (exit 2)")
    bad_dir = os.path.join(TMP, "bad_export")
    rc, _, err = run("notary-export", "-d", "dbname=" + DB, "-o", bad_dir, "-t", "T", "-l", "CC-BY-4.0",
                     "s.complaints")
    check(rc == 2 and "not a publication" in err and files_of(bad_dir) == [],
          "notary-export of a non-publication: exit 2, nothing written")

    tamper_tests(cli_dir, key)

    # the ledger records both exports and still verifies
    check(psql("SELECT count(*) FROM notary.ledger WHERE op = 'EXPORT'") == "2", "two EXPORT ledger entries")
    check(psql("SELECT count(*) FROM notary.verify()") == "0", "notary.verify() is clean after exporting")
    rc, out, err = run("notary-verify", "--dbname", "dbname=" + DB, "--public-key", key)
    check(rc == 0, "notary-verify --dbname is clean after exporting (%s)" % out.strip()[-200:])

    psql("DROP DATABASE %s" % DB, db="postgres")
    if not FAILED:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED[0], len(FAILED)))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""check-meta.py: META.json against the PGXN Meta Spec v1.0.0, stdlib only.

    python3 .ci/check-meta.py [META.json]

No validator of the spec is packaged for Debian (pgxnclient only installs),
so this checks what the spec (https://pgxn.org/meta/spec.txt) requires of
each key: the required keys, no unknown keys outside x_ / X_, SemVer
versions, Terms and Tags, the license names, version ranges, paths and
URIs.  Then it checks META.json against the tree: each provided
extension's file and docfile exist, the version is the control file's
default_version as SemVer (0.3 -> 0.3.0), and so is debian/changelog's.
Prints one line per problem and exits 1 if there is any.
"""
import json
import os
import re
import sys

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$", re.ASCII)
RANGE_PART = re.compile(r"^(?:(?:[=!]=|[<>]=?)\s*)?(\S+)$")
# A Term: at least two characters, no slash, backslash, space or control.
TERM = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
# A Tag: 2 to 255 characters, no slash, backslash or control character.
TAG = re.compile(r"^[^/\\\x00-\x1f\x7f]{2,255}$")
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
LICENSES = {
    "agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
    "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
    "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
    "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
    "restricted", "unrestricted", "unknown",
}
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONSHIPS = {"requires", "recommends", "suggests", "conflicts"}

errors = []


def error(where, message):
    errors.append("%s: %s" % (where, message))


def custom(key):
    return len(key) > 2 and key[:2] in ("x_", "X_")


def keys(where, value, allowed, required=(), one_of=()):
    """value is an object with only allowed (or custom) keys, the required
    ones, and at least one of one_of; returns whether it is an object."""
    if not isinstance(value, dict):
        error(where, "must be an object")
        return False
    for k in value:
        if k not in allowed and not custom(k):
            error(where, "unknown key %r" % k)
    for k in required:
        if k not in value:
            error(where, "required key %r is missing" % k)
    if one_of and not any(k in value for k in one_of):
        error(where, "needs one of %s" % ", ".join(one_of))
    return True


def string(where, value, pattern=None, what=None):
    if not isinstance(value, str) or not value:
        error(where, "must be a non-empty string")
    elif pattern is not None and not pattern.match(value):
        error(where, "%r is not %s" % (value, what))


def version(where, value):
    string(where, value, SEMVER, "a SemVer version (X.Y.Z)")


def version_range(where, value):
    if value == 0:
        return
    if not isinstance(value, str):
        error(where, "must be a version range string or 0")
        return
    for part in value.split(","):
        m = RANGE_PART.match(part.strip())
        if not m or (m.group(1) != "0" and not SEMVER.match(m.group(1))):
            error(where, "%r is not a version range (e.g. '>= 1.2.0, < 2.0.0')" % value)
            return


def path(where, value):
    string(where, value)
    if isinstance(value, str) and (len(value) < 2 or value.startswith("/")
                                   or "\\" in value or ".." in value.split("/")):
        error(where, "%r is not a relative Unix path in the distribution" % value)


def string_list(where, value, check, unique=True):
    """A string, or a non-empty array of them, each passing check."""
    items = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        error(where, "must not be empty")
    if unique and len(set(map(json.dumps, items))) != len(items):
        error(where, "has duplicates")
    for i, item in enumerate(items):
        check("%s[%d]" % (where, i) if isinstance(value, list) else where, item)


def check_license(where, value):
    if isinstance(value, dict):
        if not value:
            error(where, "must not be empty")
        for name, uri in value.items():
            string("%s.%s" % (where, name), uri, URI, "a URI")
    else:
        string_list(where, value,
                    lambda w, v: v in LICENSES or error(w, "%r is not a license the spec names" % (v,)))


def check_prereqs(where, value):
    if not keys(where, value, PHASES, one_of=sorted(PHASES)):
        return
    for phase, rels in value.items():
        if custom(phase):
            continue
        w = "%s.%s" % (where, phase)
        if not keys(w, rels, RELATIONSHIPS, one_of=sorted(RELATIONSHIPS)):
            continue
        for rel, prereqs in rels.items():
            if custom(rel):
                continue
            wr = "%s.%s" % (w, rel)
            if not isinstance(prereqs, dict) or not prereqs:
                error(wr, "must be a non-empty object")
                continue
            for name, rng in prereqs.items():
                string("%s key" % wr, name, TERM, "a Term")
                version_range("%s.%s" % (wr, name), rng)


def check_resources(where, value):
    if not keys(where, value, {"homepage", "bugtracker", "repository"},
                one_of=("homepage", "bugtracker", "repository")):
        return
    if "homepage" in value:
        string(where + ".homepage", value["homepage"], URI, "a URI")
    if "bugtracker" in value:
        bt = value["bugtracker"]
        if keys(where + ".bugtracker", bt, {"web", "mailto"}, one_of=("web", "mailto")):
            if "web" in bt:
                string(where + ".bugtracker.web", bt["web"], URI, "a URI")
            if "mailto" in bt:
                string(where + ".bugtracker.mailto", bt["mailto"], EMAIL, "an email address")
    if "repository" in value:
        repo = value["repository"]
        if keys(where + ".repository", repo, {"url", "web", "type"}):
            for k in ("url", "web"):
                if k in repo:
                    string("%s.repository.%s" % (where, k), repo[k], URI, "a URI")
            if "url" in repo and "type" not in repo:
                error(where + ".repository", "a url needs a type (git, ...)")
            if "type" in repo:
                string(where + ".repository.type", repo["type"], re.compile(r"^[a-z]+$"),
                       "a lower-case VCS name")


def check_meta(meta):
    top = {"name", "abstract", "version", "maintainer", "license", "provides",
           "meta-spec", "description", "generated_by", "tags", "no_index",
           "prereqs", "release_status", "resources"}
    required = ("name", "abstract", "version", "maintainer", "license",
                "provides", "meta-spec")
    if not keys("META.json", meta, top, required):
        return
    ms = meta.get("meta-spec")
    if keys("meta-spec", ms, {"version", "url"}, ("version",)):
        string("meta-spec.version", ms.get("version"), re.compile(r"^1\.0\.\d+$"),
               "1.0.x: this file follows version 1.0.0 of the spec")
        if "url" in ms and ms["url"] not in ("https://pgxn.org/meta/spec.txt",
                                             "http://pgxn.org/meta/spec.txt"):
            error("meta-spec.url", "must be https://pgxn.org/meta/spec.txt")
    if "name" in meta:
        string("name", meta["name"], TERM, "a Term (2+ characters, no /, \\, space)")
    if "version" in meta:
        version("version", meta["version"])
    for k in ("abstract", "description", "generated_by"):
        if k in meta:
            string(k, meta[k])
    if "maintainer" in meta:
        string_list("maintainer", meta["maintainer"], string)
    if "license" in meta:
        check_license("license", meta["license"])
    provides = meta.get("provides")
    if isinstance(provides, dict) and provides:
        for ext, spec in provides.items():
            w = "provides.%s" % ext
            string("provides key", ext, TERM, "a Term")
            if keys(w, spec, {"file", "version", "abstract", "docfile", "docpath"},
                    ("file", "version")):
                for k in ("file", "docfile"):
                    if k in spec:
                        path("%s.%s" % (w, k), spec[k])
                if "version" in spec:
                    version(w + ".version", spec["version"])
                for k in ("abstract", "docpath"):
                    if k in spec:
                        string("%s.%s" % (w, k), spec[k])
    elif "provides" in meta:
        error("provides", "must be a non-empty object")
    if "tags" in meta:
        if not isinstance(meta["tags"], list):
            error("tags", "must be an array")
        else:
            string_list("tags", meta["tags"],
                        lambda w, v: string(w, v, TAG, "a Tag (2 to 255 characters, no /, \\)"))
    if "no_index" in meta and keys("no_index", meta["no_index"], {"file", "directory"},
                                   one_of=("file", "directory")):
        for k in ("file", "directory"):
            if k in meta["no_index"]:
                string_list("no_index." + k, meta["no_index"][k], path)
    if "prereqs" in meta:
        check_prereqs("prereqs", meta["prereqs"])
    if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
        error("release_status", "must be stable, testing or unstable")
    if "resources" in meta:
        check_resources("resources", meta["resources"])


def semver_of(control_version):
    """'0.3' -> '0.3.0', as PGXN needs three numbers."""
    parts = control_version.split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def check_tree(meta, root):
    """META.json agrees with the files beside it."""
    for ext, spec in (meta.get("provides") or {}).items():
        if not isinstance(spec, dict):
            continue
        for k in ("file", "docfile"):
            if isinstance(spec.get(k), str) and not os.path.isfile(os.path.join(root, spec[k])):
                error("provides.%s.%s" % (ext, k), "%s does not exist" % spec[k])
        control = os.path.join(root, ext + ".control")
        if not os.path.isfile(control):
            continue
        with open(control) as f:
            m = re.search(r"^\s*default_version\s*=\s*'([^']*)'", f.read(), re.M)
        if m and spec.get("version") != semver_of(m.group(1)):
            error("provides.%s.version" % ext, "%r, but %s.control has default_version '%s'"
                  % (spec.get("version"), ext, m.group(1)))
        if m and meta.get("version") != semver_of(m.group(1)):
            error("version", "%r, but %s.control has default_version '%s'"
                  % (meta.get("version"), ext, m.group(1)))
    changelog = os.path.join(root, "debian", "changelog")
    if os.path.isfile(changelog):
        with open(changelog) as f:
            m = re.match(r"^\S+ \(([^)]+)\)", f.readline())
        if m and m.group(1).split("-")[0] != meta.get("version"):
            error("version", "%r, but debian/changelog is at %s" % (meta.get("version"), m.group(1)))


def main():
    meta_path = sys.argv[1] if len(sys.argv) > 1 else "META.json"
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        print("%s: %s" % (meta_path, e))
        return 1
    check_meta(meta)
    if isinstance(meta, dict):
        check_tree(meta, os.path.dirname(os.path.abspath(meta_path)))
    for e in errors:
        print("%s: %s" % (meta_path, e))
    if errors:
        return 1
    print("%s: valid PGXN Meta Spec %s, version %s" % (
        meta_path, meta["meta-spec"]["version"], meta["version"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

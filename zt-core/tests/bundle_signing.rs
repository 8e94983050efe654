#![cfg(test)]
//! Signed bundles (OPA's `.signatures.json`): a good signature activates; every tampering is
//! refused with its reason, before anything in the bundle is compiled.

use serde_json::{Value, json};
use std::path::PathBuf;
use zt_core::{AuthorizerConfig, BundleSignatureError, PolicyConfig, PolicyError, PolicyStore};
use zt_testkit::{file_digests, keys_dir, signatures_json, signatures_json_hmac, signed_bundle};

const POLICY: &[u8] = b"package zt.authz\nimport rego.v1\ndefault decision := false\ndecision if input.request.method in data.zt.methods\ntest_get if decision with input as {\"request\": {\"method\": \"GET\"}}\n";
const DATA: &[u8] = b"{\"zt\": {\"methods\": [\"GET\", \"HEAD\"]}}";
const MANIFEST: &[u8] = b"{\"revision\": \"r1\", \"roots\": [\"zt\"]}";

/// An issuer, so that the `[policy]` sections below are part of a valid configuration.
const ISSUER: &str = r#"
[[issuers]]
issuer = "https://idp.example.com"
audiences = ["api"]
algorithms = ["ES256"]
jwks = { keys = [{ kty = "EC", kid = "k1", crv = "P-256", x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }
"#;

fn parse(toml: &str) -> Result<AuthorizerConfig, zt_core::ConfigError> {
    AuthorizerConfig::from_toml_str(&format!("{ISSUER}{toml}"))
}

fn files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("authz.rego", POLICY),
        ("data.json", DATA),
        (".manifest", MANIFEST),
    ]
}

fn pub_pem(name: &str) -> String {
    keys_dir()
        .join(format!("{name}.pub.pem"))
        .display()
        .to_string()
}

/// `[policy]` with signing keys: `es` (ES256, PEM), `rs` (RS256, PEM), `ed` (EdDSA, JWK).
fn config(extra: &str) -> PolicyConfig {
    let toml = format!(
        r#"
        [policy.signing]
        {extra}
        [[policy.signing.keys]]
        keyid = "es"
        algorithm = "ES256"
        key_file = "{es}"
        [[policy.signing.keys]]
        keyid = "rs"
        algorithm = "RS256"
        key_file = "{rs}"
        [[policy.signing.keys]]
        keyid = "ed"
        algorithm = "EdDSA"
        jwk = {ed}
        "#,
        es = pub_pem("ec-p256"),
        rs = pub_pem("rsa2048-a"),
        ed = toml_inline(&zt_testkit::jwk("ed25519")),
    );
    parse(&toml)
        .map(|c| c.policy)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn toml_inline(v: &Value) -> String {
    let pairs: Vec<String> = v
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    format!("{{ {} }}", pairs.join(", "))
}

fn load(files: Vec<(String, Vec<u8>)>, config: PolicyConfig) -> Result<String, PolicyError> {
    PolicyStore::from_files(files, config).map(|s| s.active_revision())
}

fn problem(r: Result<String, PolicyError>) -> BundleSignatureError {
    match r {
        Err(PolicyError::Signature { problem }) => problem,
        other => panic!("expected a signature error, got {other:?}"),
    }
}

fn with_signatures(files: &[(&str, &[u8])], signatures: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, b)| ((*n).to_owned(), b.to_vec()))
        .collect();
    out.push((".signatures.json".to_owned(), signatures));
    out
}

fn replace(files: &mut [(String, Vec<u8>)], name: &str, bytes: &[u8]) {
    files.iter_mut().find(|(n, _)| n == name).unwrap().1 = bytes.to_vec();
}

#[test]
fn good_signatures_activate_with_each_key_kind() {
    for (key, alg, kid) in [
        ("ec-p256", "ES256", "es"),
        ("rsa2048-a", "RS256", "rs"),
        ("ed25519", "EdDSA", "ed"),
    ] {
        let signed = signed_bundle(&files(), key, alg, kid);
        assert_eq!(load(signed, config("")).unwrap(), "r1", "{alg}");
    }
}

#[test]
fn structured_files_are_compared_by_content_not_layout() {
    let mut signed = signed_bundle(&files(), "ec-p256", "ES256", "es");
    // Same document, other whitespace and key order: OPA's digest is unchanged.
    replace(
        &mut signed,
        "data.json",
        b"{\n  \"zt\" : {\n    \"methods\" : [ \"GET\", \"HEAD\" ]\n  }\n}\n",
    );
    replace(
        &mut signed,
        ".manifest",
        b"{\"roots\": [\"zt\"],\n \"revision\": \"r1\"}",
    );
    assert_eq!(load(signed.clone(), config("")).unwrap(), "r1");
    // A policy file is hashed byte for byte: one space more is a change.
    let mut policy = POLICY.to_vec();
    policy.push(b' ');
    replace(&mut signed, "authz.rego", &policy);
    assert_eq!(
        problem(load(signed, config(""))),
        BundleSignatureError::DigestMismatch {
            file: "authz.rego".into()
        }
    );
}

#[test]
fn tampered_files_are_refused_with_their_reason() {
    let signed = signed_bundle(&files(), "ec-p256", "ES256", "es");

    // A file changed after signing (data widened to allow POST).
    let mut changed = signed.clone();
    replace(
        &mut changed,
        "data.json",
        b"{\"zt\": {\"methods\": [\"GET\", \"HEAD\", \"POST\"]}}",
    );
    let p = problem(load(changed, config("")));
    assert_eq!(
        p,
        BundleSignatureError::DigestMismatch {
            file: "data.json".into()
        }
    );
    assert_eq!(p.code(), "digest_mismatch");

    // A file added after signing.
    let mut added = signed.clone();
    added.push(("backdoor.rego".into(), b"package zt.extra\n".to_vec()));
    assert_eq!(
        problem(load(added, config(""))),
        BundleSignatureError::FileNotSigned {
            file: "backdoor.rego".into()
        }
    );

    // A file removed after signing.
    let removed: Vec<_> = signed
        .iter()
        .filter(|(n, _)| n != "data.json")
        .cloned()
        .collect();
    assert_eq!(
        problem(load(removed, config(""))),
        BundleSignatureError::FileMissing {
            file: "data.json".into()
        }
    );

    // No signature at all.
    let unsigned: Vec<_> = signed
        .iter()
        .filter(|(n, _)| n != ".signatures.json")
        .cloned()
        .collect();
    let err = load(unsigned, config("")).unwrap_err();
    assert_eq!(err.code(), "policy_signature_invalid");
    assert_eq!(
        serde_json::to_value(&err).unwrap()["reason"],
        json!("missing")
    );
}

#[test]
fn listed_names_may_start_with_dot_slash_or_slash() {
    let mut digests = file_digests(&files());
    digests[0]["name"] = json!("./authz.rego");
    digests[1]["name"] = json!("/data.json");
    let sig = signatures_json(&json!({"files": digests}), "ec-p256", "ES256", Some("es"));
    assert_eq!(
        load(with_signatures(&files(), sig), config("")).unwrap(),
        "r1"
    );
}

#[test]
fn swapped_digests_are_refused_signed_or_not() {
    let mut digests = file_digests(&files());
    let (a, b) = (digests[0]["hash"].clone(), digests[1]["hash"].clone());
    digests[0]["hash"] = b;
    digests[1]["hash"] = a;
    // Signed by the real key: the files do not match their entries.
    let sig = signatures_json(&json!({"files": digests}), "ec-p256", "ES256", Some("es"));
    let p = problem(load(with_signatures(&files(), sig), config("")));
    assert!(
        matches!(p, BundleSignatureError::DigestMismatch { .. }),
        "{p:?}"
    );
    // Swapped in a signed payload without re-signing: the signature breaks.
    let good = signatures_json(
        &json!({"files": file_digests(&files())}),
        "ec-p256",
        "ES256",
        Some("es"),
    );
    let doc: Value = serde_json::from_slice(&good).unwrap();
    let jws = doc["signatures"][0].as_str().unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let forged_payload = zt_testkit::b64(json!({"files": digests}).to_string().as_bytes());
    let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let sig = json!({"signatures": [forged]}).to_string().into_bytes();
    assert_eq!(
        problem(load(with_signatures(&files(), sig), config(""))),
        BundleSignatureError::SignatureInvalid { keyid: "es".into() }
    );
}

#[test]
fn keys_and_algorithms_are_checked() {
    let payload = json!({"files": file_digests(&files())});
    let load_sig = |sig: Vec<u8>| load(with_signatures(&files(), sig), config(""));

    // Unknown key id.
    assert_eq!(
        problem(load_sig(signatures_json(
            &payload,
            "ec-p256",
            "ES256",
            Some("nobody")
        ))),
        BundleSignatureError::UnknownKey {
            keyid: "nobody".into()
        }
    );
    // No key id anywhere.
    assert_eq!(
        problem(load_sig(signatures_json(
            &payload, "ec-p256", "ES256", None
        ))),
        BundleSignatureError::NoKeyId
    );
    // The deprecated `keyid` claim still names the key.
    let mut with_claim = payload.clone();
    with_claim["keyid"] = json!("es");
    assert_eq!(
        load_sig(signatures_json(&with_claim, "ec-p256", "ES256", None)).unwrap(),
        "r1"
    );
    // Signed by another key of the same type under a configured id.
    assert_eq!(
        problem(load_sig(signatures_json(
            &payload,
            "rsa2048-b",
            "RS256",
            Some("rs")
        ))),
        BundleSignatureError::SignatureInvalid { keyid: "rs".into() }
    );
    // A right key with another algorithm than configured (PS256 with the RS256 key).
    let p = problem(load_sig(signatures_json(
        &payload,
        "rsa2048-a",
        "PS256",
        Some("rs"),
    )));
    assert_eq!(p.code(), "algorithm_not_allowed", "{p:?}");

    // `alg: none`.
    let none = format!(
        "{}.{}.",
        zt_testkit::b64(br#"{"alg":"none","kid":"es"}"#),
        zt_testkit::b64(payload.to_string().as_bytes())
    );
    let p = problem(load_sig(
        json!({"signatures": [none]}).to_string().into_bytes(),
    ));
    assert!(
        matches!(
            p,
            BundleSignatureError::AlgorithmNotAllowed { .. }
                | BundleSignatureError::Malformed { .. }
        ),
        "{p:?}"
    );
    // HS/RS confusion: HMAC keyed with the RSA public key's PEM text.
    let pem = std::fs::read(pub_pem("rsa2048-a")).unwrap();
    let p = problem(load_sig(signatures_json_hmac(
        &payload, &pem, "HS256", "rs",
    )));
    assert_eq!(
        p,
        BundleSignatureError::AlgorithmNotAllowed {
            keyid: "rs".into(),
            alg: "HS256".into(),
            expected: "RS256".into()
        }
    );
}

#[test]
fn pinned_key_scope_and_format_rules() {
    let payload = json!({"files": file_digests(&files())});
    // `keyid` in config pins the key: a signature by another configured key is refused.
    let by_rs = signatures_json(&payload, "rsa2048-a", "RS256", Some("rs"));
    let p = problem(load(
        with_signatures(&files(), by_rs),
        config(r#"keyid = "es""#),
    ));
    assert_eq!(p.code(), "algorithm_not_allowed", "{p:?}");

    // Scope must match.
    let scoped = signatures_json(
        &json!({"files": file_digests(&files()), "scope": "write"}),
        "ec-p256",
        "ES256",
        Some("es"),
    );
    assert_eq!(
        load(
            with_signatures(&files(), scoped.clone()),
            config(r#"scope = "write""#)
        )
        .unwrap(),
        "r1"
    );
    assert_eq!(
        problem(load(with_signatures(&files(), scoped), config(""))),
        BundleSignatureError::ScopeMismatch {
            expected: None,
            found: Some("write".into())
        }
    );

    // Exactly one JWS; plugins are not supported.
    let sig = signatures_json(&payload, "ec-p256", "ES256", Some("es"));
    let jws = serde_json::from_slice::<Value>(&sig).unwrap()["signatures"][0].clone();
    for doc in [
        json!({"signatures": [jws, jws]}),
        json!({"signatures": []}),
        json!({"signatures": [jws], "plugin": "kms"}),
        json!({"signature": [jws]}),
    ] {
        let p = problem(load(
            with_signatures(&files(), doc.to_string().into_bytes()),
            config(""),
        ));
        assert_eq!(p.code(), "malformed", "{doc}: {p:?}");
    }

    // Weak digests are refused.
    let mut digests = file_digests(&files());
    digests[0]["algorithm"] = json!("SHA-1");
    let sig = signatures_json(&json!({"files": digests}), "ec-p256", "ES256", Some("es"));
    assert_eq!(
        problem(load(with_signatures(&files(), sig), config(""))).code(),
        "hash_unsupported"
    );
}

#[test]
fn excluded_files_are_neither_verified_nor_loaded() {
    let mut signed = signed_bundle(&files(), "ec-p256", "ES256", "es");
    signed.push(("docs/notes.rego".into(), b"this is not rego".to_vec()));
    assert_eq!(
        problem(load(signed.clone(), config(""))),
        BundleSignatureError::FileNotSigned {
            file: "docs/notes.rego".into()
        }
    );
    assert_eq!(
        load(signed, config(r#"exclude_files = ["docs/*"]"#)).unwrap(),
        "r1"
    );
}

#[test]
fn signed_archives_and_directories_load_from_disk() {
    let dir = std::env::temp_dir().join(format!("zt-signed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let signed = signed_bundle(&files(), "ec-p256", "ES256", "es");
    // An OPA-built archive: names start with `/`.
    let archive = dir.join("bundle.tar.gz");
    {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&archive).unwrap(),
            flate2::Compression::default(),
        ));
        for (name, bytes) in &signed {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            // The raw name: the tar crate refuses to write absolute names itself.
            let name = format!("/{name}");
            let raw = &mut h.as_old_mut().name;
            raw.fill(0);
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, bytes.as_slice()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }
    let store = PolicyStore::load(&archive, config("")).unwrap();
    assert_eq!(store.active_revision(), "r1");

    // A directory with a README the signature does not list: refused; listed: accepted.
    let tree: PathBuf = dir.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for (name, bytes) in &signed {
        std::fs::write(tree.join(name), bytes).unwrap();
    }
    assert_eq!(
        PolicyStore::load(&tree, config(""))
            .unwrap()
            .active_revision(),
        "r1"
    );
    std::fs::write(tree.join("README.md"), "notes").unwrap();
    let err = PolicyStore::load(&tree, config("")).unwrap_err();
    assert_eq!(
        err,
        PolicyError::Signature {
            problem: BundleSignatureError::FileNotSigned {
                file: "README.md".into()
            }
        }
    );
    // Hidden files `opa sign` lists (a .gitignore) are verified, then not loaded.
    std::fs::remove_file(tree.join("README.md")).unwrap();
    let mut with_hidden: Vec<(&str, &[u8])> = files();
    with_hidden.push((".gitignore", b"target/\n"));
    with_hidden.push((".github/ci.rego", b"not rego at all"));
    std::fs::create_dir_all(tree.join(".github")).unwrap();
    for (name, bytes) in signed_bundle(&with_hidden, "ec-p256", "ES256", "es") {
        std::fs::write(tree.join(&name), bytes).unwrap();
    }
    assert_eq!(
        PolicyStore::load(&tree, config(""))
            .unwrap()
            .active_revision(),
        "r1"
    );
    std::fs::write(tree.join(".gitignore"), "changed").unwrap();
    assert_eq!(
        PolicyStore::load(&tree, config("")).unwrap_err(),
        PolicyError::Signature {
            problem: BundleSignatureError::DigestMismatch {
                file: ".gitignore".into()
            }
        }
    );
    std::fs::remove_file(tree.join(".gitignore")).unwrap();
    std::fs::remove_dir_all(tree.join(".github")).unwrap();
    // Without `policy.signing` the same tree loads as before (the signature is ignored).
    assert_eq!(
        PolicyStore::load(&tree, PolicyConfig::default())
            .unwrap()
            .active_revision(),
        "r1"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn signing_config_is_checked_at_load() {
    // Validation is pure: what needs a key file or a variable is refused when the authorizer is
    // built (at start, never at a reload), the shape already when the config is read.
    let bad = |keys: &str| {
        let toml = format!("[policy.signing]\n{keys}");
        let err = match parse(&toml) {
            Err(err) => zt_core::BuildError::from(err),
            Ok(config) => zt_core::Authorizer::new(config).unwrap_err(),
        };
        assert_eq!(err.code(), "config_invalid", "{keys}: {err}");
        err.to_string()
    };
    // A 1024-bit RSA key.
    let msg = bad(&format!(
        "[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"RS256\"\nkey_file = \"{}\"",
        pub_pem("rsa1024")
    ));
    assert!(msg.contains("2048"), "{msg}");
    // A private key where the public key belongs: refused without echoing it.
    let private = keys_dir().join("ec-p256.pem").display().to_string();
    let msg = bad(&format!(
        "[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"ES256\"\nkey_file = \"{private}\""
    ));
    assert!(
        msg.contains("private key") && !msg.contains("BEGIN"),
        "{msg}"
    );
    // A key of the wrong type for its algorithm.
    bad(&format!(
        "[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"ES256\"\nkey_file = \"{}\"",
        pub_pem("rsa2048-a")
    ));
    // HMAC from an unset variable; two sources; no keys; an unknown pinned key id.
    bad(
        "[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"HS256\"\nsecret_env = \"ZT_TEST_UNSET_VARIABLE\"",
    );
    bad(&format!(
        "[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"ES256\"\nkey_file = \"{}\"\nsecret_env = \"PATH\"",
        pub_pem("ec-p256")
    ));
    bad("keys = []");
    bad(&format!(
        "keyid = \"other\"\n[[policy.signing.keys]]\nkeyid = \"k\"\nalgorithm = \"ES256\"\nkey_file = \"{}\"",
        pub_pem("ec-p256")
    ));
}

#[test]
fn hmac_keys_come_from_the_environment() {
    // No test may set a variable (unsafe_code is forbidden); PATH is always set and long.
    let secret = std::env::var("PATH").unwrap();
    if secret.len() < 32 {
        return;
    }
    let toml = "[policy.signing]\n[[policy.signing.keys]]\nkeyid = \"h\"\nalgorithm = \"HS256\"\nsecret_env = \"PATH\"";
    let config = parse(toml).unwrap().policy;
    let payload = json!({"files": file_digests(&files())});
    let sig = signatures_json_hmac(&payload, secret.as_bytes(), "HS256", "h");
    assert_eq!(
        load(with_signatures(&files(), sig), config.clone()).unwrap(),
        "r1"
    );
    let sig = signatures_json_hmac(
        &payload,
        b"another secret of at least 32 bytes!",
        "HS256",
        "h",
    );
    assert_eq!(
        problem(load(with_signatures(&files(), sig), config)),
        BundleSignatureError::SignatureInvalid { keyid: "h".into() }
    );
}

// --- signing: `zt policy sign` / `build` (issue 28) ------------------------------------------

fn priv_pem(name: &str) -> Vec<u8> {
    std::fs::read(keys_dir().join(format!("{name}.pem"))).unwrap()
}

fn bundle_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-sign-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(dir.join("zt")).unwrap();
    std::fs::write(dir.join("zt/authz.rego"), POLICY).unwrap();
    // Whitespace and key order differ from any canonical form: digests must not care.
    std::fs::write(
        dir.join("zt/data.json"),
        b"{ \"methods\" : [\"GET\",\n \"HEAD\"] }",
    )
    .unwrap();
    std::fs::write(dir.join(".manifest"), MANIFEST).unwrap();
    dir
}

#[test]
fn zt_signs_what_zt_and_opa_style_verifiers_accept() {
    for (key, alg, kid) in [
        ("ec-p256", zt_core::Algorithm::ES256, "es"),
        ("rsa2048-a", zt_core::Algorithm::RS256, "rs"),
        ("ed25519", zt_core::Algorithm::EdDSA, "ed"),
    ] {
        let dir = bundle_dir(kid);
        let signer =
            zt_core::BundleSigner::new(alg, &priv_pem(key), Some(kid.to_owned()), None).unwrap();
        let sig = zt_core::sign_bundle_at(&dir, &PolicyConfig::default(), &signer).unwrap();
        let store = PolicyStore::load(&dir, config("")).unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(store.active_revision(), "r1");
        // The format: one JWS, header `kid`, payload listing every file with its SHA-256.
        let doc: Value = serde_json::from_slice(&sig).unwrap();
        let jws = doc["signatures"][0].as_str().unwrap();
        let part = |i: usize| -> Value {
            let b = jws.split('.').nth(i).unwrap();
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .unwrap();
            serde_json::from_slice(&raw).unwrap()
        };
        assert_eq!(part(0)["kid"], kid);
        assert_eq!(part(0)["alg"], alg.to_string());
        let payload = part(1);
        let names: Vec<&str> = payload["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, [".manifest", "zt/authz.rego", "zt/data.json"]);
        assert!(part(1)["files"][0]["algorithm"] == "SHA-256");
        // The same digests as the test kit's own (held-in) OPA-style signer computes.
        let data = std::fs::read(dir.join("zt/data.json")).unwrap();
        let expected = file_digests(&[
            (".manifest", MANIFEST),
            ("zt/authz.rego", POLICY),
            ("zt/data.json", &data),
        ]);
        assert_eq!(part(1)["files"], Value::Array(expected));
        // Changed after signing: refused.
        std::fs::write(
            dir.join("zt/authz.rego"),
            b"package zt.authz\ndecision := true\n",
        )
        .unwrap();
        let e = PolicyStore::load(&dir, config("")).unwrap_err();
        assert_eq!(
            problem(Err(e)),
            BundleSignatureError::DigestMismatch {
                file: "zt/authz.rego".to_owned()
            }
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn built_archives_load_signed_or_not_and_archives_are_signed_in_place() {
    let dir = bundle_dir("build");
    // Unsigned, with a new revision (the manifest's other keys kept).
    let out = dir.with_extension("tar.gz");
    let bytes =
        zt_core::build_bundle(&dir, &PolicyConfig::default(), Some("2026-12-07.1"), None).unwrap();
    std::fs::write(&out, &bytes).unwrap();
    let store = PolicyStore::load(&out, PolicyConfig::default()).unwrap();
    assert_eq!(store.active_revision(), "2026-12-07.1");
    assert_eq!(
        problem(PolicyStore::load(&out, config("")).map(|s| s.active_revision())),
        BundleSignatureError::Missing
    );
    // Signed in place: the archive is rewritten with `.signatures.json`.
    let signer = zt_core::BundleSigner::new(
        zt_core::Algorithm::ES256,
        &priv_pem("ec-p256"),
        Some("es".to_owned()),
        Some("write".to_owned()),
    )
    .unwrap();
    zt_core::sign_bundle_at(&out, &PolicyConfig::default(), &signer).unwrap();
    let store = PolicyStore::load(&out, config("scope = \"write\"")).unwrap();
    assert_eq!(store.active_revision(), "2026-12-07.1");
    // The scope is signed: another configured scope refuses it.
    assert!(matches!(
        problem(PolicyStore::load(&out, config("scope = \"read\"")).map(|s| s.active_revision())),
        BundleSignatureError::ScopeMismatch { .. }
    ));
    // Built and signed in one step, with an HMAC secret (the verifier reads it from an
    // environment variable: PATH, which every test process has and none changes).
    let secret = std::env::var("PATH").unwrap();
    assert!(secret.len() >= 32);
    let hs = zt_core::BundleSigner::new(
        zt_core::Algorithm::HS256,
        secret.as_bytes(),
        Some("h".into()),
        None,
    )
    .unwrap();
    let signed = zt_core::build_bundle(&dir, &PolicyConfig::default(), None, Some(&hs)).unwrap();
    let hmac = parse(
        "[policy.signing]\n[[policy.signing.keys]]\nkeyid = \"h\"\nalgorithm = \"HS256\"\nsecret_env = \"PATH\"",
    )
    .unwrap()
    .policy;
    let files = read_archive(&signed);
    assert_eq!(load(files, hmac).unwrap(), "r1");
    // A directory whose files would not load is refused before anything is written.
    std::fs::write(
        dir.join("zt/authz.rego"),
        b"package zt.authz\nthis is not rego\n",
    )
    .unwrap();
    assert!(zt_core::build_bundle(&dir, &PolicyConfig::default(), None, None).is_err());
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_file(&out).ok();
}

#[test]
fn a_key_that_cannot_sign_is_a_typed_error_without_its_material() {
    let pem = priv_pem("ec-p256");
    for (alg, key) in [
        (zt_core::Algorithm::RS256, pem.clone()),
        (zt_core::Algorithm::EdDSA, pem.clone()),
        (zt_core::Algorithm::HS256, b"too short".to_vec()),
    ] {
        let e = zt_core::BundleSigner::new(alg, &key, None, None).unwrap_err();
        assert_eq!(e.code(), "policy_signature_invalid");
        let PolicyError::Signature { problem } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(problem.code(), "signing_key");
        let text = e.to_string();
        assert!(
            !text.contains("BEGIN") && !text.contains("too short"),
            "{text}"
        );
    }
}

/// The files of a `.tar.gz` (test helper: the real reader is the loader's).
fn read_archive(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (name, b)
        })
        .collect()
}

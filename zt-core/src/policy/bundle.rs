//! Policy bundles: a directory of `.rego` and `data.json`/`data.yaml` files, or an OPA bundle
//! (`.tar.gz` with an optional `.manifest`).
//!
//! Data files follow OPA's layout: `a/b/data.json` is mounted at `data.a.b`. The revision is
//! the manifest's `revision` when present, otherwise `sha256:` and the first 16 hex digits of a
//! hash over every file's path and content, so the same content always has the same revision.
//!
//! # Security
//! - Per-file and per-bundle size limits, counted on decompressed bytes (no gzip bombs), and a
//!   limit on the number of files.
//! - Archive entries with `..` components, links or devices are refused (a leading `/`, as
//!   written by `opa build`, is relative to the bundle).
//! - With manifest `roots`, every package and data path must lie under one of them.

use super::signing::Verifier;
use crate::config::PolicyConfig;
use crate::error::{BundleSignatureError, PolicyError};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Component, Path};

/// Most files in one bundle.
const MAX_FILES: usize = 10_000;

/// Size limits for loading a bundle.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_file_bytes: u64,
    pub(crate) max_bundle_bytes: u64,
    /// Collect every file, not only policy and data (signature verification needs them all).
    pub(crate) all_files: bool,
}

/// A loaded (not yet compiled) bundle.
#[derive(Debug, Clone)]
pub(crate) struct Bundle {
    /// `.rego` modules: (path inside the bundle, source).
    pub(crate) modules: Vec<(String, String)>,
    /// Merged data document.
    pub(crate) data: Value,
    /// Revision (manifest or content hash).
    pub(crate) revision: String,
    /// Manifest roots, when given.
    pub(crate) roots: Option<Vec<String>>,
}

/// A file's name inside the bundle: `/` separators, without a leading `./` or `/` (archives
/// written by `opa build` use `/.manifest`); the same for archive entries, in-memory files and
/// the names a signature lists.
pub(crate) fn normalise_name(name: &str) -> String {
    let name = name.replace('\\', "/");
    let mut rest = name.as_str();
    loop {
        let next = rest.trim_start_matches('/');
        let next = next.strip_prefix("./").unwrap_or(next);
        if next == rest {
            return rest.to_owned();
        }
        rest = next;
    }
}

/// Whether a directory walk skips `name` (hidden files and directories: `.git`, editor files),
/// except the `.manifest`.
fn hidden(name: &str) -> bool {
    name.split('/')
        .any(|c| c.starts_with('.') && c != ".manifest")
}

/// The signature verifier `[policy.signing]` asks for, if any.
fn verifier(opts: &PolicyConfig) -> Result<Option<Verifier>, PolicyError> {
    opts.signing
        .as_ref()
        .map(|c| {
            Verifier::from_config(c).map_err(|detail| PolicyError::Signature {
                problem: BundleSignatureError::Keys { detail },
            })
        })
        .transpose()
}

fn limits(opts: &PolicyConfig, verifier: Option<&Verifier>) -> Limits {
    let mut l = opts.limits();
    l.all_files = verifier.is_some();
    l
}

/// Verify the signature (when configured), keep policy and data files, and assemble.
/// `from_dir`: hidden files were collected for the signature only (`opa sign` lists them).
fn finish(
    mut files: Vec<(String, Vec<u8>)>,
    verifier: Option<&Verifier>,
    from_dir: bool,
) -> Result<Bundle, PolicyError> {
    if let Some(v) = verifier {
        v.verify(&files)
            .map_err(|problem| PolicyError::Signature { problem })?;
        files
            .retain(|(name, _)| relevant(name) && !v.excluded(name) && !(from_dir && hidden(name)));
    }
    assemble(files)
}

/// Load a bundle from a directory or a `.tar.gz` file, verifying its signature when
/// `opts.signing` is set.
pub(crate) fn load(path: &Path, opts: &PolicyConfig) -> Result<Bundle, PolicyError> {
    let verifier = verifier(opts)?;
    let limits = limits(opts, verifier.as_ref());
    let mut files = Vec::new();
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, &e))?;
    if meta.is_dir() {
        let mut total = 0u64;
        walk(path, path, limits, &mut total, &mut files, 0)?;
    } else {
        read_tar_gz(path, limits, &mut files)?;
    }
    finish(files, verifier.as_ref(), meta.is_dir())
}

/// Build a bundle from the bytes of an OPA bundle archive (bundle service, fuzzing, tooling).
pub(crate) fn from_archive_bytes(bytes: &[u8], opts: &PolicyConfig) -> Result<Bundle, PolicyError> {
    let verifier = verifier(opts)?;
    let mut files = Vec::new();
    read_archive(
        bytes,
        Path::new("<memory>"),
        limits(opts, verifier.as_ref()),
        &mut files,
    )?;
    finish(files, verifier.as_ref(), false)
}

/// Build a bundle from in-memory files (path, bytes): `policy_files` / `PolicyStore::from_files`.
pub(crate) fn from_files(
    files: Vec<(String, Vec<u8>)>,
    opts: &PolicyConfig,
) -> Result<Bundle, PolicyError> {
    let verifier = verifier(opts)?;
    let limits = opts.limits();
    let mut total = 0u64;
    let files: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .map(|(name, bytes)| (normalise_name(&name), bytes))
        .collect();
    for (name, bytes) in &files {
        check_size(name, bytes.len() as u64, limits, &mut total)?;
    }
    finish(files, verifier.as_ref(), false)
}

pub(super) fn io_err(path: &Path, e: &std::io::Error) -> PolicyError {
    PolicyError::Io {
        path: path.display().to_string(),
        kind: e.kind().to_string(),
    }
}

fn check_size(name: &str, size: u64, limits: Limits, total: &mut u64) -> Result<(), PolicyError> {
    if size > limits.max_file_bytes {
        return Err(PolicyError::TooLarge {
            file: name.to_owned(),
            limit: limits.max_file_bytes,
        });
    }
    *total = total.saturating_add(size);
    if *total > limits.max_bundle_bytes {
        return Err(PolicyError::TooLarge {
            file: "bundle".to_owned(),
            limit: limits.max_bundle_bytes,
        });
    }
    Ok(())
}

fn relevant(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    name.ends_with(".rego") || matches!(base, "data.json" | "data.yaml" | "data.yml" | ".manifest")
}

pub(super) fn walk(
    root: &Path,
    dir: &Path,
    limits: Limits,
    total: &mut u64,
    files: &mut Vec<(String, Vec<u8>)>,
    depth: usize,
) -> Result<(), PolicyError> {
    if depth > 32 {
        return Err(PolicyError::Bundle {
            detail: format!("`{}` nests directories too deeply", dir.display()),
        });
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, &e))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| io_err(&path, &e))?;
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        // Hidden files and directories (.git, editor files) are skipped, except when the
        // signature is checked: `opa sign` lists them, and they are dropped after the check.
        if !limits.all_files && hidden(&rel) {
            continue;
        }
        if ft.is_dir() {
            walk(root, &path, limits, total, files, depth + 1)?;
        } else if ft.is_file() && (limits.all_files || relevant(&rel)) {
            let size = entry.metadata().map_err(|e| io_err(&path, &e))?.len();
            check_size(&rel, size, limits, total)?;
            let bytes = read_limited(
                std::fs::File::open(&path).map_err(|e| io_err(&path, &e))?,
                &rel,
                limits,
            )?;
            files.push((rel, bytes));
            if files.len() > MAX_FILES {
                return Err(PolicyError::Bundle {
                    detail: format!("more than {MAX_FILES} files"),
                });
            }
        }
    }
    Ok(())
}

fn read_limited(r: impl Read, name: &str, limits: Limits) -> Result<Vec<u8>, PolicyError> {
    let mut bytes = Vec::new();
    r.take(limits.max_file_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| PolicyError::Io {
            path: name.to_owned(),
            kind: e.kind().to_string(),
        })?;
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(PolicyError::TooLarge {
            file: name.to_owned(),
            limit: limits.max_file_bytes,
        });
    }
    Ok(bytes)
}

pub(super) fn read_tar_gz(
    path: &Path,
    limits: Limits,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), PolicyError> {
    let file = std::fs::File::open(path).map_err(|e| io_err(path, &e))?;
    read_archive(file, path, limits, files)
}

/// Read an OPA bundle archive (gzip-compressed tar) from any reader.
pub(crate) fn read_archive(
    reader: impl Read,
    path: &Path,
    limits: Limits,
    files: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), PolicyError> {
    let bad = |detail: String| PolicyError::Bundle { detail };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = archive.entries().map_err(|_| {
        bad(format!(
            "`{}` is not a gzip-compressed tar archive",
            path.display()
        ))
    })?;
    let mut total = 0u64;
    for entry in entries {
        let entry = entry.map_err(|_| bad(format!("`{}` is a corrupt archive", path.display())))?;
        let kind = entry.header().entry_type();
        let raw = entry
            .path()
            .map_err(|_| bad("an archive entry has an invalid path".to_owned()))?
            .into_owned();
        // `opa build` writes absolute-looking names (`/.manifest`): they are bundle-relative.
        let name = normalise_name(&raw.to_string_lossy());
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "archive entry `{name}` is a link or special file"
            )));
        }
        if raw
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
        {
            return Err(bad(format!("archive entry `{name}` escapes the bundle")));
        }
        if !limits.all_files && !relevant(&name) {
            continue;
        }
        // Count decompressed bytes, not the header's claim.
        let bytes = read_limited(entry, &name, limits)?;
        check_size(&name, bytes.len() as u64, limits, &mut total)?;
        files.push((name, bytes));
        if files.len() > MAX_FILES {
            return Err(bad(format!("more than {MAX_FILES} files")));
        }
    }
    Ok(())
}

pub(super) fn assemble(mut files: Vec<(String, Vec<u8>)>) -> Result<Bundle, PolicyError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let revision_hash = {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for (name, bytes) in &files {
            ctx.update(&(name.len() as u64).to_be_bytes());
            ctx.update(name.as_bytes());
            ctx.update(&(bytes.len() as u64).to_be_bytes());
            ctx.update(bytes);
        }
        let digest = ctx.finish();
        let hex: String = digest
            .as_ref()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    };
    let mut modules = Vec::new();
    let mut data = Value::Object(Map::new());
    let mut revision = None;
    let mut roots = None;
    for (name, bytes) in files {
        let text = || {
            String::from_utf8(bytes.clone()).map_err(|_| PolicyError::Parse {
                file: name.clone(),
                message: "not UTF-8".to_owned(),
            })
        };
        if name.ends_with(".rego") {
            // regorus 0.14.1 reads a NUL byte as the end of the file, even in a comment or a
            // string, and silently drops every rule after it.
            if let Some(at) = bytes.iter().position(|b| *b == 0) {
                let line = 1 + bytes.iter().take(at).filter(|b| **b == b'\n').count();
                return Err(PolicyError::Parse {
                    file: name.clone(),
                    message: format!(
                        "line {line}: a NUL byte (regorus would ignore the rest of the file)"
                    ),
                });
            }
            modules.push((name.clone(), text()?));
            continue;
        }
        if name == ".manifest" {
            let (rev, r) = parse_manifest(&bytes)?;
            revision = rev;
            roots = r;
            continue;
        }
        let doc: Value = if name.ends_with(".json") {
            let map =
                crate::util::json::parse_object(&bytes, 64).map_err(|e| PolicyError::Parse {
                    file: name.clone(),
                    message: e.as_str().to_owned(),
                })?;
            Value::Object(map)
        } else {
            serde_yaml_ng::from_str(&text()?).map_err(|e| PolicyError::Parse {
                file: name.clone(),
                message: e.to_string(),
            })?
        };
        if !doc.is_object() {
            return Err(PolicyError::Parse {
                file: name,
                message: "a data document must be an object".to_owned(),
            });
        }
        let prefix: Vec<&str> = name
            .rsplit_once('/')
            .map(|(dir, _)| dir.split('/').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        merge_at(&mut data, &prefix, doc).map_err(|message| PolicyError::Parse {
            file: name.clone(),
            message,
        })?;
    }
    if modules.is_empty() {
        return Err(PolicyError::Bundle {
            detail: "the bundle holds no .rego file".to_owned(),
        });
    }
    let bundle = Bundle {
        modules,
        data,
        revision: revision.unwrap_or(revision_hash),
        roots,
    };
    check_roots(&bundle)?;
    Ok(bundle)
}

fn parse_manifest(bytes: &[u8]) -> Result<(Option<String>, Option<Vec<String>>), PolicyError> {
    let bad = |detail: &str| PolicyError::Manifest {
        detail: detail.to_owned(),
    };
    let m = crate::util::json::parse_object(bytes, 8).map_err(|e| bad(e.as_str()))?;
    let revision = match m.get("revision") {
        None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() <= 256 && !s.chars().any(char::is_control) => {
            Some(s.clone())
        }
        Some(_) => return Err(bad("`revision` must be a string of at most 256 characters")),
    };
    let roots = match m.get("roots") {
        None => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|r| r.as_str().map(|s| s.trim_matches('/').to_owned()))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("`roots` must be a list of strings"))?,
        ),
        Some(_) => return Err(bad("`roots` must be a list of strings")),
    };
    Ok((revision, roots))
}

/// Merge `doc` into `data` at `path`; overlapping non-object values are an error.
fn merge_at(data: &mut Value, path: &[&str], doc: Value) -> Result<(), String> {
    let mut cur = data;
    for seg in path {
        let Value::Object(map) = cur else {
            return Err(format!("data path `{}` is not an object", path.join(".")));
        };
        cur = map
            .entry((*seg).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    merge(cur, doc)
}

fn merge(into: &mut Value, from: Value) -> Result<(), String> {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge(existing, v)?,
                    None => {
                        a.insert(k, v);
                    }
                }
            }
            Ok(())
        }
        _ => Err("two data files set the same key".to_owned()),
    }
}

/// The package path of a module (`package a.b` → `a/b`), read from its source.
pub(crate) fn package_of(source: &str) -> Option<String> {
    source.lines().find_map(|l| {
        let l = l.trim();
        l.strip_prefix("package ").map(|p| {
            p.trim()
                .trim_end_matches(';')
                .split('.')
                .map(|s| {
                    s.trim()
                        .trim_matches('"')
                        .trim_matches('[')
                        .trim_matches(']')
                })
                .collect::<Vec<_>>()
                .join("/")
        })
    })
}

fn under_roots(path: &str, roots: &[String]) -> bool {
    roots
        .iter()
        .any(|r| r.is_empty() || path == r || path.starts_with(&format!("{r}/")))
}

fn check_roots(b: &Bundle) -> Result<(), PolicyError> {
    let Some(roots) = &b.roots else {
        return Ok(());
    };
    for (file, src) in &b.modules {
        let pkg = package_of(src).unwrap_or_default();
        if !under_roots(&pkg, roots) {
            return Err(PolicyError::OutsideRoots {
                file: file.clone(),
                path: pkg,
            });
        }
    }
    if let Value::Object(top) = &b.data {
        let mut stack: Vec<(String, &Value)> = top.iter().map(|(k, v)| (k.clone(), v)).collect();
        while let Some((path, v)) = stack.pop() {
            if under_roots(&path, roots) {
                continue;
            }
            match v {
                Value::Object(m) if roots.iter().any(|r| r.starts_with(&format!("{path}/"))) => {
                    stack.extend(m.iter().map(|(k, v)| (format!("{path}/{k}"), v)));
                }
                _ => {
                    return Err(PolicyError::OutsideRoots {
                        file: "data".to_owned(),
                        path,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PolicyConfig {
        PolicyConfig {
            max_file_bytes: 1024,
            max_bundle_bytes: 4096,
            ..PolicyConfig::default()
        }
    }

    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(n, c)| ((*n).to_owned(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn data_is_mounted_by_directory_and_revision_is_stable() {
        let f = files(&[
            ("a/policy.rego", "package a\nallow := true"),
            ("data.json", r#"{"top": 1}"#),
            ("a/b/data.yaml", "k: v\n"),
        ]);
        let b1 = from_files(f.clone(), &limits()).unwrap();
        assert_eq!(b1.data["top"], 1);
        assert_eq!(b1.data["a"]["b"]["k"], "v");
        let b2 = from_files(f.into_iter().rev().collect(), &limits()).unwrap();
        assert_eq!(b1.revision, b2.revision);
        assert!(b1.revision.starts_with("sha256:"));
        let b3 = from_files(
            files(&[("a/policy.rego", "package a\nallow := false")]),
            &limits(),
        )
        .unwrap();
        assert_ne!(b1.revision, b3.revision);
    }

    #[test]
    fn manifest_and_roots() {
        let ok = from_files(
            files(&[
                (".manifest", r#"{"revision": "v42", "roots": ["zt"]}"#),
                ("zt/authz.rego", "package zt.authz\nallow := true"),
                ("zt/data.json", r#"{"x": 1}"#),
            ]),
            &limits(),
        )
        .unwrap();
        assert_eq!(ok.revision, "v42");
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                "bad manifest json",
                &[(".manifest", "{"), ("p.rego", "package zt")],
                "manifest",
            ),
            (
                "revision not string",
                &[
                    (".manifest", r#"{"revision": 1}"#),
                    ("p.rego", "package zt"),
                ],
                "revision",
            ),
            (
                "roots not list",
                &[
                    (".manifest", r#"{"roots": "zt"}"#),
                    ("p.rego", "package zt"),
                ],
                "roots",
            ),
            (
                "package outside roots",
                &[
                    (".manifest", r#"{"roots": ["zt"]}"#),
                    ("p.rego", "package other"),
                ],
                "p.rego",
            ),
            (
                "data outside roots",
                &[
                    (".manifest", r#"{"roots": ["zt"]}"#),
                    ("p.rego", "package zt"),
                    ("data.json", r#"{"other": 1}"#),
                ],
                "other",
            ),
            ("no rego", &[("data.json", "{}")], "no .rego"),
            (
                "conflicting data",
                &[
                    ("p.rego", "package zt"),
                    ("data.json", r#"{"a": {"b": 1}}"#),
                    ("a/data.json", r#"{"b": 2}"#),
                ],
                "same key",
            ),
            (
                "duplicate json key",
                &[
                    ("p.rego", "package zt"),
                    ("data.json", r#"{"a": 1, "a": 2}"#),
                ],
                "duplicate",
            ),
            ("too large", &[("p.rego", &"#".repeat(2000))], "p.rego"),
        ];
        for (name, list, needle) in cases {
            let err = from_files(files(list), &limits()).unwrap_err().to_string();
            assert!(err.contains(needle), "case {name}: {err}");
        }
    }

    #[test]
    fn package_paths() {
        assert_eq!(
            package_of("# c\npackage zt.authz\n").as_deref(),
            Some("zt/authz")
        );
        assert_eq!(package_of("package a").as_deref(), Some("a"));
    }
}

//! Writing bundles: signing one in place (`zt policy sign`, like `opa sign`) and building an
//! archive from a directory (`zt policy build`, like `opa build`).

use super::bundle;
use super::compile;
use super::signing::{BundleSigner, SIGNATURES_FILE, sign_bundle};
use crate::config::PolicyConfig;
use crate::error::PolicyError;
use serde_json::{Map, Value};
use std::path::Path;

/// Every file of a bundle at `path` (directory or `.tar.gz`) that a signature covers: what
/// the loader reads when `policy.signing` is set (a directory's hidden files too), within
/// `opts`'s size limits, `.signatures.json` left out.
fn signable_files(path: &Path, opts: &PolicyConfig) -> Result<Vec<(String, Vec<u8>)>, PolicyError> {
    let mut limits = opts.limits();
    limits.all_files = true;
    let mut files = Vec::new();
    let meta = std::fs::metadata(path).map_err(|e| bundle::io_err(path, &e))?;
    if meta.is_dir() {
        bundle::walk(path, path, limits, &mut 0, &mut files, 0)?;
    } else {
        bundle::read_tar_gz(path, limits, &mut files)?;
    }
    files.retain(|(n, _)| n != SIGNATURES_FILE);
    Ok(files)
}

/// Sign the bundle at `path` in place, as `opa sign` does: a directory gets a
/// `.signatures.json` at its root; an archive is rewritten with it (replacing an old one).
/// Returns the signature file's bytes.
///
/// ```
/// use zt_core::{Algorithm, BundleSigner, PolicyConfig};
/// let dir = std::env::temp_dir().join(format!("zt-sign-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("authz.rego"), "package zt.authz\nimport rego.v1\ndecision := true\n").unwrap();
/// let signer = BundleSigner::new(Algorithm::HS256, &[7u8; 32], Some("ci".into()), None).unwrap();
/// zt_core::sign_bundle_at(&dir, &PolicyConfig::default(), &signer).unwrap();
/// assert!(dir.join(".signatures.json").exists());
/// # std::fs::remove_dir_all(&dir).ok();
/// ```
pub fn sign_bundle_at(
    path: &Path,
    opts: &PolicyConfig,
    signer: &BundleSigner,
) -> Result<Vec<u8>, PolicyError> {
    let mut files = signable_files(path, opts)?;
    let signature = sign_bundle(&files, signer)?;
    if path.is_dir() {
        write_atomically(&path.join(SIGNATURES_FILE), &signature)?;
    } else {
        files.push((SIGNATURES_FILE.to_owned(), signature.clone()));
        write_atomically(path, &archive(&files)?)?;
    }
    Ok(signature)
}

/// Build an OPA bundle archive from the directory `dir`, as `opa build` does: its policy and
/// data files (hidden files left out) and a `.manifest` whose `revision` is `revision` when
/// given (the directory's own `.manifest` is kept otherwise, its other keys always), signed by
/// `signer` when given. Returns the `.tar.gz` bytes; the result loads with
/// [`PolicyStore::load`](crate::PolicyStore::load) and verifies with the signer's key.
pub fn build_bundle(
    dir: &Path,
    opts: &PolicyConfig,
    revision: Option<&str>,
    signer: Option<&BundleSigner>,
) -> Result<Vec<u8>, PolicyError> {
    let mut files = Vec::new();
    let meta = std::fs::metadata(dir).map_err(|e| bundle::io_err(dir, &e))?;
    if !meta.is_dir() {
        return Err(PolicyError::Bundle {
            detail: format!("`{}` is not a directory", dir.display()),
        });
    }
    bundle::walk(dir, dir, opts.limits(), &mut 0, &mut files, 0)?;
    if let Some(rev) = revision {
        let mut manifest = match files.iter().position(|(n, _)| n == ".manifest") {
            Some(i) => {
                let (_, bytes) = files.remove(i);
                crate::util::json::parse_object(&bytes, 8).map_err(|e| PolicyError::Parse {
                    file: ".manifest".to_owned(),
                    message: format!("not a JSON object ({})", e.as_str()),
                })?
            }
            None => Map::new(),
        };
        manifest.insert("revision".to_owned(), Value::String(rev.to_owned()));
        let bytes = serde_json::to_vec(&manifest).map_err(|e| PolicyError::Bundle {
            detail: format!("the manifest: {e}"),
        })?;
        files.push((".manifest".to_owned(), bytes));
    }
    // What the archive will hold must load: parse it (policies and data) now, not at
    // deployment.
    let b = bundle::assemble(files.clone())?;
    compile::load_engine(&b)?;
    if let Some(signer) = signer {
        let signature = sign_bundle(&files, signer)?;
        files.push((SIGNATURES_FILE.to_owned(), signature));
    }
    archive(&files)
}

/// A gzip-compressed tar of `files` (sorted by name, regular files, mode 0644, time 0).
fn archive(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, PolicyError> {
    let io = |e: std::io::Error| PolicyError::Bundle {
        detail: format!("writing the archive: {e}"),
    };
    let mut sorted: Vec<&(String, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes.as_slice())
            .map_err(io)?;
    }
    tar.into_inner().map_err(io)?.finish().map_err(io)
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), PolicyError> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| bundle::io_err(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        std::fs::remove_file(&tmp).ok();
        bundle::io_err(path, &e)
    })
}

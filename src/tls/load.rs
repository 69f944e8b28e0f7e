//! Reading certificates and keys from PEM files.
//!
//! Errors name the file and what is wrong with it: they end up in the log
//! (and, at start, on stderr), where an operator has to find the bad file.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Every certificate in a PEM file, in order (a chain: the leaf first).
pub fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |why: String| format!("Failed to load certificate: {path}: {why}");
    let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no certificate in the file".into()));
    }
    Ok(certs)
}

/// The private key in a PEM file; `pass` decrypts an `ENCRYPTED PRIVATE KEY`
/// (PKCS#8 with PBES2, what `openssl genpkey -aes256` and `openssl pkcs8
/// -topk8 -v2 aes-256-cbc` write).
pub fn key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let fail = |why: &str| format!("Failed to load private key: {path}: {why}");
    let pem = std::fs::read(path).map_err(|e| fail(&e.to_string()))?;
    if memchr::memmem::find(&pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----").is_some() {
        if pass.is_empty() {
            return Err(fail("the key is encrypted and no passphrase is set"));
        }
        return decrypt(&pem, pass).map_err(|e| fail(&e));
    }
    if memchr::memmem::find(&pem, b"Proc-Type: 4,ENCRYPTED").is_some() {
        // OpenSSL's old per-format encryption (MD5-derived keys): not read here.
        return Err(fail(
            "a legacy encrypted PEM key; convert it: openssl pkcs8 -topk8 -v2 aes-256-cbc",
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| fail(&e.to_string()))
}

/// Decrypts the first `ENCRYPTED PRIVATE KEY` section of `pem`.
fn decrypt(pem: &[u8], pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    use pkcs8::der::pem::PemLabel as _;
    let at = memchr::memmem::find(pem, b"-----BEGIN ENCRYPTED PRIVATE KEY-----").unwrap_or(0);
    let end_marker = b"-----END ENCRYPTED PRIVATE KEY-----";
    let end = memchr::memmem::find(&pem[at..], end_marker)
        .map(|e| at + e + end_marker.len())
        .ok_or("unterminated ENCRYPTED PRIVATE KEY")?;
    let (label, der) =
        pkcs8::der::pem::decode_vec(&pem[at..end]).map_err(|e| format!("bad PEM: {e}"))?;
    if label != pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL {
        return Err(format!("unexpected PEM section {label}"));
    }
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
        .map_err(|e| format!("bad encrypted key: {e}"))?;
    let doc = info
        .decrypt(pass.as_bytes())
        .map_err(|e| format!("cannot decrypt the key (wrong passphrase?): {e}"))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec())))
}

/// CA certificates from a file and/or every PEM file of a directory (OpenSSL
/// reads a directory through hashed names; here every file that holds
/// certificates counts, so `c_rehash` is not needed).
pub fn roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let fail = |why: String| format!("Failed to configure CA certificate(s) file/directory: {why}");
    let mut roots = RootCertStore::empty();
    if !file.is_empty() {
        for c in certs(file).map_err(fail)? {
            roots.add(c).map_err(|e| fail(format!("{file}: {e}")))?;
        }
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir).map_err(|e| fail(format!("{dir}: {e}")))?;
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths.iter().filter(|p| p.is_file()) {
            // Anything that is not a PEM certificate (a CRL, a README) is skipped.
            let Ok(pem) = std::fs::read(p) else { continue };
            let found: Vec<_> =
                CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
            roots.add_parsable_certificates(found);
        }
        if roots.is_empty() {
            return Err(fail(format!("{}: no certificate in it", Path::new(dir).display())));
        }
    }
    Ok(roots)
}

//! Whom to trust and who we are over TLS, the same for both clients: certificates and a key given as PEM, decoded
//! once when the config is built, handed to each client as DER.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::InvalidInput;

/// The kind of a private key, from its PEM label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `-----BEGIN PRIVATE KEY-----`: PKCS #8, any algorithm.
    Pkcs8,
    /// `-----BEGIN RSA PRIVATE KEY-----`: PKCS #1.
    Pkcs1,
    /// `-----BEGIN EC PRIVATE KEY-----`: SEC 1.
    Sec1,
}

/// A client certificate chain and its private key, for servers that ask who the client is (mutual TLS). The key
/// never appears in `Debug`.
#[derive(Clone)]
pub struct ClientIdentity {
    chain: Arc<[Vec<u8>]>,
    key: Arc<[u8]>,
    format: KeyFormat,
}

impl ClientIdentity {
    /// The certificates, leaf first, as DER.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The private key, as DER, and its format.
    pub fn key(&self) -> (&[u8], KeyFormat) {
        (&self.key, self.format)
    }

    /// The private key as PEM again, for a TLS library that reads its format from the label. (ureq 3.5 takes a
    /// key from DER only with a `KeyKind` it does not export, so sendkit-ureq hands it this.)
    pub fn key_pem(&self) -> String {
        let label = match self.format {
            KeyFormat::Pkcs8 => "PRIVATE KEY",
            KeyFormat::Pkcs1 => "RSA PRIVATE KEY",
            KeyFormat::Sec1 => "EC PRIVATE KEY",
        };
        let encoded = crate::proxy::base64(&self.key);
        let lines: Vec<&str> =
            encoded.as_bytes().chunks(64).map(|line| std::str::from_utf8(line).unwrap_or_default()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("certificates", &self.chain.len()).field("key", &"[redacted]").finish()
    }
}

/// The certificates of a PEM text, in order; none is an error.
pub(crate) fn certificates(pem: &[u8], setting: &'static str) -> Result<Vec<Vec<u8>>, InvalidInput> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .map(|certificate| certificate.map(|der| der.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_error(setting, error))?;
    if certificates.is_empty() {
        return Err(InvalidInput::Setting { setting, reason: "holds no -----BEGIN CERTIFICATE----- block".into() });
    }
    Ok(certificates)
}

/// A certificate chain and one private key from a PEM text.
pub(crate) fn identity(pem: &[u8]) -> Result<ClientIdentity, InvalidInput> {
    const SETTING: &str = "client_identity_pem";
    let fail = |reason: &str| InvalidInput::Setting { setting: SETTING, reason: reason.to_owned() };
    // An encrypted key is a section the TLS stack skips: said for what it is, not as "no private key".
    let text = String::from_utf8_lossy(pem);
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(fail(
            "holds an encrypted private key: give the key unencrypted (openssl pkey -in key.pem -out plain.pem), in a \
             file only you can read",
        ));
    }
    let chain = certificates(pem, SETTING)?;
    let keys =
        PrivateKeyDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().map_err(|error| pem_error(SETTING, error))?;
    let mut keys = keys.into_iter();
    let key = keys.next().ok_or_else(|| fail("holds no private key block"))?;
    if keys.next().is_some() {
        return Err(fail("holds more than one private key"));
    }
    let format = match &key {
        PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
        PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
        _ => KeyFormat::Pkcs8,
    };
    Ok(ClientIdentity { chain: chain.into(), key: key.secret_der().into(), format })
}

/// What was wrong with the PEM text, in words that name the setting and never quote the text (it may be a key).
fn pem_error(setting: &'static str, error: pem::Error) -> InvalidInput {
    let reason = match error {
        pem::Error::MissingSectionEnd { .. } => "a block has no end line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a -----BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a block is not valid base64".to_owned(),
        pem::Error::SectionTooLarge => "a block is too large".to_owned(),
        _ => "is not PEM".to_owned(),
    };
    InvalidInput::Setting { setting, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_decode_and_bad_ones_are_named() {
        let pem = b"junk\n-----BEGIN CERTIFICATE-----\nZm9v\nYmFy\n-----END CERTIFICATE-----\n";
        assert_eq!(certificates(pem, "trust_pem").unwrap(), [b"foobar".to_vec()]);
        assert!(certificates(b"nothing here", "trust_pem").unwrap_err().to_string().contains("no -----BEGIN"));
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----";
        assert!(certificates(broken, "trust_pem").unwrap_err().to_string().contains("not valid base64"));
        let both = b"-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n-----BEGIN EC PRIVATE KEY-----\nYmFy\n-----END EC PRIVATE KEY-----\n";
        let identity = identity(both).unwrap();
        assert_eq!(identity.key(), (&b"bar"[..], KeyFormat::Sec1));
        assert!(!format!("{identity:?}").contains("bar"));
        assert_eq!(identity.key_pem(), "-----BEGIN EC PRIVATE KEY-----\nYmFy\n-----END EC PRIVATE KEY-----\n");
    }

    #[test]
    fn an_encrypted_key_and_text_after_padding_are_refused_for_what_they_are() {
        let encrypted = b"-----BEGIN CERTIFICATE-----\nZm9v\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nYmFy\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let said = identity(encrypted).unwrap_err().to_string();
        assert!(said.contains("encrypted private key") && !said.contains("base64"), "{said}");
        // Text after the padding was dropped in silence; now it is an error.
        let trailing = b"-----BEGIN CERTIFICATE-----\nZm9v\nYg==Zm9v\n-----END CERTIFICATE-----\n";
        assert!(certificates(trailing, "trust_pem").is_err());
    }
}

//! Whom to trust and who we are over TLS, the same for both clients: certificates and a key given as PEM, decoded
//! once when the config is built, handed to each client as DER.

use std::fmt;
use std::sync::Arc;

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

    /// The private key as PEM again, for a TLS library that reads its format from the label.
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

/// The certificates of a PEM text, as DER; refused when it holds none, or a block that is not valid base64.
pub(crate) fn certificates(pem: &[u8], setting: &'static str) -> Result<Vec<Vec<u8>>, InvalidInput> {
    let certificates: Vec<Vec<u8>> =
        blocks(pem, setting)?.into_iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der).collect();
    if certificates.is_empty() {
        return Err(InvalidInput::Setting { setting, reason: "holds no -----BEGIN CERTIFICATE----- block".into() });
    }
    Ok(certificates)
}

/// A certificate chain and one private key from a PEM text (or two texts put together).
pub(crate) fn identity(pem: &[u8]) -> Result<ClientIdentity, InvalidInput> {
    const SETTING: &str = "client_identity_pem";
    let blocks = blocks(pem, SETTING)?;
    let chain: Vec<Vec<u8>> =
        blocks.iter().filter(|(label, _)| label == "CERTIFICATE").map(|(_, der)| der.clone()).collect();
    let mut keys = blocks.into_iter().filter_map(|(label, der)| {
        let format = match label.as_str() {
            "PRIVATE KEY" => KeyFormat::Pkcs8,
            "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
            "EC PRIVATE KEY" => KeyFormat::Sec1,
            _ => return None,
        };
        Some((format, der))
    });
    let fail = |reason: &str| InvalidInput::Setting { setting: SETTING, reason: reason.to_owned() };
    let (format, key) = keys.next().ok_or_else(|| fail("holds no private key block"))?;
    if keys.next().is_some() {
        return Err(fail("holds more than one private key"));
    }
    if chain.is_empty() {
        return Err(fail("holds no -----BEGIN CERTIFICATE----- block"));
    }
    Ok(ClientIdentity { chain: chain.into(), key: key.into(), format })
}

/// Each `-----BEGIN LABEL-----` ... `-----END LABEL-----` block: its label and its decoded bytes.
fn blocks(pem: &[u8], setting: &'static str) -> Result<Vec<(String, Vec<u8>)>, InvalidInput> {
    let text = String::from_utf8_lossy(pem);
    let mut found = Vec::new();
    let mut rest = text.as_ref();
    while let Some(begin) = rest.find("-----BEGIN ") {
        let after = &rest[begin + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else { break };
        let label = after[..label_end].to_owned();
        let body = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = body.find(&end_marker) else {
            return Err(InvalidInput::Setting { setting, reason: format!("a {label} block has no end line") });
        };
        let der = base64_decode(&body[..end])
            .ok_or_else(|| InvalidInput::Setting { setting, reason: format!("a {label} block is not valid base64") })?;
        found.push((label, der));
        rest = &body[end + end_marker.len()..];
    }
    Ok(found)
}

/// Standard base64, whitespace ignored, padding optional.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        if c == b'=' {
            break;
        }
        buffer = (buffer << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
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
}

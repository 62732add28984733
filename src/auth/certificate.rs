//! Certificate credentials (Microsoft identity platform "certificate credentials"): a client
//! assertion JWT signed with the certificate's private key, PS256 with `x5t#S256` by default,
//! RS256 with `x5t` (SHA-1) as the legacy option; `aud` = the token endpoint, a fresh `jti`, a
//! ten-minute `exp`. Signed with `ring` (the constant-time RSA that rustls already brings), not
//! the `rsa` crate (RUSTSEC-2023-0071: timing side channels on the private key).

use base64::Engine;
use ring::signature::RsaKeyPair;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// `tenant.certificate_signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// RSASSA-PSS with SHA-256 and the certificate's SHA-256 thumbprint (`x5t#S256`).
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and the SHA-1 thumbprint (`x5t`), as older MSAL sent.
    Rs256,
}

/// A certificate and its private key, ready to sign assertions.
pub struct ClientCertificate {
    der: Vec<u8>,
    key: RsaKeyPair,
    signature: Signature,
}

/// An RSA private key from PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) DER.
fn rsa_key(der: &[u8], pkcs1: bool) -> Result<RsaKeyPair, String> {
    let parsed = if pkcs1 {
        RsaKeyPair::from_der(der)
    } else {
        RsaKeyPair::from_pkcs8(der)
    };
    parsed.map_err(|e| format!("its private key is not an RSA key Entra accepts ({e})"))
}

/// `header.claims.signature`, each base64url.
fn sign_jwt(
    key: &RsaKeyPair,
    header: &serde_json::Value,
    claims: &impl Serialize,
    pss: bool,
) -> Result<String, String> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut message = b64(&json(header)?);
    message.push('.');
    message.push_str(&b64(&json(claims)?));
    let padding: &dyn ring::signature::RsaEncoding = if pss {
        &ring::signature::RSA_PSS_SHA256
    } else {
        &ring::signature::RSA_PKCS1_SHA256
    };
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the client assertion failed".to_string())?;
    message.push('.');
    message.push_str(&b64(&sig));
    Ok(message)
}

/// A header or the claims as JSON.
fn json(v: &impl Serialize) -> Result<Vec<u8>, String> {
    serde_json::to_vec(v).map_err(|e| format!("cannot encode the client assertion ({e})"))
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ClientCertificate(x5t#S256={})",
            thumbprint_sha256(&self.der)
        )
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// base64url of the SHA-256 of the certificate's DER.
pub fn thumbprint_sha256(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// base64url of the SHA-1 of the certificate's DER.
pub fn thumbprint_sha1(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha1::digest(der))
}

impl ClientCertificate {
    /// Reads a PEM file holding the certificate (leaf first) and its RSA private key. The error
    /// says what is missing.
    pub fn from_pem(text: &[u8], signature: Signature) -> Result<ClientCertificate, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("it is not PEM ({e})"))?;
        let der = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .map(|b| b.contents().to_vec())
            .ok_or("it holds no CERTIFICATE block")?;
        let key_block = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or(
                "it holds no unencrypted PRIVATE KEY block (the key must sit in the same file)",
            )?;
        let key = rsa_key(key_block.contents(), key_block.tag() == "RSA PRIVATE KEY")?;
        Ok(ClientCertificate {
            der,
            key,
            signature,
        })
    }

    /// Reads a PKCS#12 (PFX) file with its password: the first private key and its chain.
    pub fn from_pfx(
        bytes: &[u8],
        password: &str,
        signature: Signature,
    ) -> Result<ClientCertificate, String> {
        let store = p12_keystore::KeyStore::from_pkcs12(
            bytes,
            password,
            p12_keystore::Pkcs12ImportPolicy::Strict,
        )
        .map_err(|e| format!("it cannot be opened with that password ({e})"))?;
        let (_, chain) = store
            .private_key_chain()
            .ok_or("it holds no private key with its certificate")?;
        let der = chain
            .certs()
            .first()
            .ok_or("its private key has no certificate")?
            .as_der()
            .to_vec();
        let key = rsa_key(chain.key().as_der(), false)?;
        Ok(ClientCertificate {
            der,
            key,
            signature,
        })
    }

    /// A signed client assertion for `client_id` at the token endpoint `audience`.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let header = match self.signature {
            Signature::Ps256 => serde_json::json!({
                "typ": "JWT", "alg": "PS256", "x5t#S256": thumbprint_sha256(&self.der),
            }),
            Signature::Rs256 => serde_json::json!({
                "typ": "JWT", "alg": "RS256", "x5t": thumbprint_sha1(&self.der),
            }),
        };
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            aud: audience,
            iss: client_id,
            sub: client_id,
            jti: format!("{:032x}", rand::random::<u128>()),
            nbf: now,
            iat: now,
            exp: now + 600,
        };
        sign_jwt(
            &self.key,
            &header,
            &claims,
            self.signature == Signature::Ps256,
        )
    }
}

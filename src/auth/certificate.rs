//! Certificate credentials (Microsoft identity platform "certificate credentials"): a client
//! assertion JWT signed with the certificate's private key, PS256 with `x5t#S256` by default,
//! RS256 with `x5t` (SHA-1) as the legacy option; `aud` = the token endpoint, a fresh `jti`, a
//! ten-minute `exp`.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
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
    key: EncodingKey,
    signature: Signature,
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
        let key = EncodingKey::from_rsa_pem(pem::encode(key_block).as_bytes())
            .map_err(|e| format!("its private key is not an RSA key Entra accepts ({e})"))?;
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
        let key_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", chain.key().as_der().to_vec()));
        let key = EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|e| format!("its private key is not an RSA key Entra accepts ({e})"))?;
        Ok(ClientCertificate {
            der,
            key,
            signature,
        })
    }

    /// A signed client assertion for `client_id` at the token endpoint `audience`.
    pub fn assertion(&self, client_id: &str, audience: &str) -> Result<String, String> {
        let mut header = match self.signature {
            Signature::Ps256 => {
                let mut h = Header::new(Algorithm::PS256);
                h.x5t_s256 = Some(thumbprint_sha256(&self.der));
                h
            }
            Signature::Rs256 => {
                let mut h = Header::new(Algorithm::RS256);
                h.x5t = Some(thumbprint_sha1(&self.der));
                h
            }
        };
        header.typ = Some("JWT".into());
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
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("signing the client assertion failed ({e})"))
    }
}

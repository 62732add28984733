//! Certificate client assertions as Entra checks them: the header's thumbprint names the
//! certificate, its RSA key verifies the PS256 or RS256 signature (ring, constant-time), and the
//! claims must be for this app at this token endpoint and within their validity.

use base64::Engine;
use serde_json::Value;

/// Why an assertion was refused: a bad signature (AADSTS700027) or bad claims (AADSTS50013).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Signature(String),
    Claims(String),
}

fn b64(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// The header of a compact JWT, if it is one.
pub fn header(jwt: &str) -> Option<Value> {
    serde_json::from_slice(&b64(jwt.split('.').next()?)?).ok()
}

/// The `RSAPublicKey` inside a `PUBLIC KEY` (SubjectPublicKeyInfo) DER: the contents of its
/// BIT STRING, after the unused-bits byte. ring verifies RSA against that form.
fn rsa_public_key(spki: &[u8]) -> Option<Vec<u8>> {
    /// (tag, contents, rest) of the DER element at the start of `b`.
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, b) = b.split_first()?;
        let (&first, mut b) = b.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || b.len() < n {
                return None;
            }
            let len = b[..n]
                .iter()
                .fold(0usize, |l, x| (l << 8) | usize::from(*x));
            b = &b[n..];
            len
        };
        (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
    }
    let (0x30, spki, _) = element(spki)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = element(spki)? else {
        return None;
    };
    let (0x03, bits, _) = element(rest)? else {
        return None;
    };
    let (0, key) = bits.split_first()? else {
        return None;
    };
    Some(key.to_vec())
}

/// An RSA public key PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`) as the `RSAPublicKey` DER ring
/// verifies with.
pub fn rsa_public_key_pem(text: &str) -> Result<Vec<u8>, String> {
    let block = pem::parse(text).map_err(|e| e.to_string())?;
    match block.tag() {
        "RSA PUBLIC KEY" => Ok(block.contents().to_vec()),
        _ => rsa_public_key(block.contents()).ok_or_else(|| "not an RSA public key".to_string()),
    }
}

/// Verifies `jwt` with `key` (an `RSAPublicKey` DER) and checks its claims: `aud` is
/// `audience`, `iss` and `sub` are `client_id`, `exp` not passed (60 s leeway, as Entra allows
/// for skew), `nbf` reached.
pub fn verify(jwt: &str, key: &[u8], audience: &str, client_id: &str) -> Result<Value, Refusal> {
    let sig = |m: &str| Refusal::Signature(m.to_string());
    let claims_err = |m: String| Refusal::Claims(m);
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(sig("Client assertion is not a compact JWT."));
    };
    let header = header(jwt).ok_or_else(|| sig("Client assertion header is not JSON."))?;
    let algorithm: &dyn ring::signature::VerificationAlgorithm = match header["alg"].as_str() {
        Some("PS256") => &ring::signature::RSA_PSS_2048_8192_SHA256,
        Some("RS256") => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        _ => {
            return Err(sig(
                "Client assertion failed signature validation. [Reason - The provided signature algorithm is not supported.]",
            ))
        }
    };
    let signature = b64(s).ok_or_else(|| sig("Client assertion contains an invalid signature."))?;
    ring::signature::UnparsedPublicKey::new(algorithm, key)
        .verify(format!("{h}.{c}").as_bytes(), &signature)
        .map_err(|_| sig("Client assertion contains an invalid signature."))?;
    let claims: Value = b64(c)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| {
            claims_err("Assertion failed validation: the claims are not JSON.".into())
        })?;
    for required in ["exp", "aud", "iss", "sub"] {
        if claims.get(required).is_none() {
            return Err(claims_err(format!(
                "Assertion failed validation: the claim {required} is missing."
            )));
        }
    }
    let now = chrono::Utc::now().timestamp();
    if claims["exp"].as_i64().is_none_or(|exp| exp + 60 < now) {
        return Err(claims_err(
            "Assertion failed validation: it has expired.".into(),
        ));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf - 60 > now) {
        return Err(claims_err(
            "Assertion failed validation: it is not valid yet.".into(),
        ));
    }
    if claims["aud"] != audience {
        return Err(claims_err(format!(
            "Assertion failed validation: the audience is not {audience}."
        )));
    }
    if claims["iss"] != client_id {
        return Err(claims_err(
            "Assertion failed validation: the issuer is not the client.".into(),
        ));
    }
    if claims["sub"] != client_id {
        return Err(claims_err(
            "Assertion failed validation: the subject is not the client.".into(),
        ));
    }
    Ok(claims)
}

/// A certificate uploaded to the app registration: its thumbprints and public key.
pub(crate) struct RegisteredCertificate {
    pub(crate) sha256: String,
    pub(crate) sha1: String,
    /// Its RSA public key (`RSAPublicKey` DER), which verifies assertions.
    pub(crate) key: Vec<u8>,
}

impl std::fmt::Debug for RegisteredCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RegisteredCertificate({})", self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test-only key of the repository's `testdata/keys/`.
    fn key_of(name: &str, form: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/../../testdata/keys/test-only-{name}.{form}.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn key(form: &str) -> String {
        key_of("a", form)
    }

    fn signed(claims: Value, alg: &str) -> String {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let pair =
            ring::signature::RsaKeyPair::from_pkcs8(pem::parse(key("key")).unwrap().contents())
                .unwrap();
        let head = serde_json::json!({"alg": alg, "typ": "JWT", "x5t": "t"});
        let msg = format!(
            "{}.{}",
            b64(head.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; pair.public().modulus_len()];
        let padding: &dyn ring::signature::RsaEncoding = if alg == "PS256" {
            &ring::signature::RSA_PSS_SHA256
        } else {
            &ring::signature::RSA_PKCS1_SHA256
        };
        pair.sign(
            padding,
            &ring::rand::SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .unwrap();
        format!("{msg}.{}", b64(&sig))
    }

    #[test]
    fn assertions_verify_only_with_their_key_and_claims() {
        let public = rsa_public_key_pem(&key("pub")).unwrap();
        let now = chrono::Utc::now().timestamp();
        let good =
            serde_json::json!({"aud": "A", "iss": "C", "sub": "C", "exp": now + 600, "nbf": now});
        for alg in ["PS256", "RS256"] {
            let jwt = signed(good.clone(), alg);
            assert!(verify(&jwt, &public, "A", "C").is_ok(), "{alg}");
            let mut tampered = jwt.clone();
            tampered.insert(tampered.find('.').unwrap() + 3, 'x');
            assert!(matches!(
                verify(&tampered, &public, "A", "C"),
                Err(Refusal::Signature(_))
            ));
            assert!(matches!(
                verify(&jwt, &public, "B", "C"),
                Err(Refusal::Claims(_))
            ));
        }
        let mut expired = good.clone();
        expired["exp"] = (now - 3600).into();
        assert!(matches!(
            verify(&signed(expired, "PS256"), &public, "A", "C"),
            Err(Refusal::Claims(_))
        ));
        let other = rsa_public_key_pem(&key("pub").replace('A', "B"));
        assert!(
            other.is_err() || verify(&signed(good, "PS256"), &other.unwrap(), "A", "C").is_err()
        );
        assert!(
            rsa_public_key(b"\x30\x03\x02\x01\x00").is_none(),
            "not an SPKI"
        );
    }
}

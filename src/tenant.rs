//! A configured tenant's identity. `tenant.id` may be written as a GUID or as a domain
//! (`contoso.onmicrosoft.com`); events, metrics and the state file always carry the GUID, the
//! `tid` of the tenant's own access token, so the checkpoint does not depend on which form the
//! config uses. A GUID is taken as written (lowercased) without a network call; a domain is
//! resolved once, from the first token.

use tokio::sync::OnceCell;

/// `8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21`, any case.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The key a configured id has before resolution: a GUID lowercased, a domain as written.
pub fn provisional_key(configured: &str) -> String {
    if is_guid(configured) {
        configured.to_ascii_lowercase()
    } else {
        configured.to_string()
    }
}

/// One configured tenant, shared by its streams: the id as written and, once known, its GUID.
#[derive(Debug)]
pub struct TenantId {
    configured: String,
    provisional: String,
    guid: OnceCell<String>,
}

impl TenantId {
    pub fn new(configured: &str) -> TenantId {
        TenantId {
            configured: configured.to_string(),
            provisional: provisional_key(configured),
            guid: OnceCell::new(),
        }
    }

    /// `tenant.id` as the config writes it.
    pub fn configured(&self) -> &str {
        &self.configured
    }

    /// The GUID once resolved; before that the configured id (a GUID lowercased).
    pub fn key(&self) -> &str {
        self.guid.get().unwrap_or(&self.provisional)
    }

    pub fn is_resolved(&self) -> bool {
        self.guid.initialized()
    }

    /// The GUID, resolving it once with `resolve` (given the configured id) unless the config
    /// already names it. `adopt` runs once, right after, with (configured id, GUID): the state
    /// migration of sections kept under the configured form.
    pub async fn resolve<E, R, A>(&self, resolve: R, adopt: A) -> Result<&str, E>
    where
        R: AsyncFnOnce() -> Result<String, E>,
        A: AsyncFnOnce(&str, &str) -> Result<(), E>,
    {
        self.guid
            .get_or_try_init(|| async {
                let guid = if is_guid(&self.configured) {
                    self.provisional.clone()
                } else {
                    resolve().await?.to_ascii_lowercase()
                };
                adopt(&self.configured, &guid).await?;
                Ok(guid)
            })
            .await
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_domains() {
        assert!(is_guid("8F1B6C2E-4f5a-4c3d-9e2b-7a6d5c4b3a21"));
        assert!(!is_guid("contoso.onmicrosoft.com"));
        assert!(!is_guid("8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a2"));
        assert!(!is_guid("8f1b6c2e04f5a-4c3d-9e2b-7a6d5c4b3a21"));
        assert_eq!(
            provisional_key("8F1B6C2E-4F5A-4C3D-9E2B-7A6D5C4B3A21"),
            "8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21"
        );
    }

    #[tokio::test]
    async fn a_domain_resolves_once_and_a_guid_never_asks() {
        let t = TenantId::new("contoso.onmicrosoft.com");
        assert_eq!(t.key(), "contoso.onmicrosoft.com");
        let calls = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..2 {
            let g = t
                .resolve(
                    async || {
                        calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        Ok::<_, ()>("AAAAAAAA-0000-4000-8000-00000000000A".to_string())
                    },
                    async |_, _| Ok(()),
                )
                .await
                .unwrap();
            assert_eq!(g, "aaaaaaaa-0000-4000-8000-00000000000a");
        }
        assert_eq!(calls.into_inner(), 1);
        assert_eq!(t.key(), "aaaaaaaa-0000-4000-8000-00000000000a");
        let g = TenantId::new("AAAAAAAA-0000-4000-8000-00000000000A");
        let r: Result<&str, ()> = g
            .resolve(async || panic!("no token for a GUID"), async |_, _| Ok(()))
            .await;
        assert_eq!(r.unwrap(), "aaaaaaaa-0000-4000-8000-00000000000a");
    }
}

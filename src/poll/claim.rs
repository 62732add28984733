//! Which configured entry polls a tenant, decided once its GUID is known. Two mistakes would
//! otherwise emit the same records twice: one tenant listed twice in one config (by domain and
//! by GUID, or under two apps: both tokens carry the same `tid`, both entries write the same
//! state section), and a tenant `state export --remove` moved to another store that this
//! store's config still names. The first entry to reach a GUID keeps it; a later one, and a
//! moved tenant, are refused with what to do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::PollError;
use crate::graph::GraphClient;
use crate::state::{StateStore, StreamCheckpoint};
use crate::tenant::TenantId;

/// The tenant's GUID, resolved once per tenant (the `tid` of its token, unless the config names
/// the GUID), claimed for this entry, with the state sections kept under the configured form
/// moved to it. Every Graph stream and Event Hub of the tenant calls it; the first does it.
pub async fn resolve<'t>(
    tenant: &'t TenantId,
    client: &GraphClient,
    checkpoint: &StreamCheckpoint,
    claims: &Claims,
) -> Result<&'t str, PollError> {
    tenant
        .resolve(
            async || Ok::<_, PollError>(client.tenant_guid().await?),
            async |configured: &str, guid: &str| {
                let moved = checkpoint
                    .tenant(|st| {
                        claims.claim(st, configured, guid)?;
                        Ok(st.adopt_tenant_alias(configured, guid))
                    })
                    .await
                    .map_err(PollError::Refused)?;
                if moved {
                    checkpoint.commit().await?;
                }
                Ok(())
            },
        )
        .await
}

/// GUID → the `tenant.id` (as configured) of the entry that polls it.
#[derive(Clone, Default)]
pub struct Claims(Arc<Mutex<HashMap<String, String>>>);

impl Claims {
    /// `configured` resolved to `guid`: `Err` with the reason when another entry of this config
    /// already polls that tenant, or this store gave it away.
    pub fn claim(&self, state: &StateStore, configured: &str, guid: &str) -> Result<(), String> {
        if let Some(m) = state.moved(guid, configured) {
            return Err(format!(
                "tenant {configured} ({guid}) was moved out of {} by `state export --remove` on {}, to {}: its records are another store's now, and polling it here would emit them again. Take it out of this config, or bring it back with `entra-source state import {}`",
                state.path().display(),
                m.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                m.to,
                m.to
            ));
        }
        let mut claims = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match claims.get(guid) {
            Some(first) if first != configured => Err(format!(
                "tenant entries {first} and {configured} are the same tenant ({guid}, the tid of both tokens): polling both would emit every record twice, so {configured} is refused; list the tenant once"
            )),
            Some(_) => Ok(()),
            None => {
                claims.insert(guid.to_string(), configured.to_string());
                Ok(())
            }
        }
    }
}

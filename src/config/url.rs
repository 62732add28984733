//! URLs a config names: `https://`, or `http://` to loopback only.

use std::net::IpAddr;

use url::Url;

use super::error::{invalid, ConfigError};

/// `https://` anywhere; `http://` only to a loopback address.
pub fn validate_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim_end_matches('/'))
        .map_err(|e| invalid(key, format!("\"{value}\""), format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(invalid(
            key,
            format!("\"{value}\""),
            "plain http:// is refused except to loopback (127.0.0.1, ::1, localhost); use https://",
        )),
        other => {
            return Err(invalid(
                key,
                format!("\"{value}\""),
                format!("scheme {other}:// is not supported; use https://"),
            ))
        }
    }
    if url.host_str().is_none() {
        return Err(invalid(key, format!("\"{value}\""), "the URL has no host"));
    }
    Ok(url)
}

/// Whether the URL's host is a loopback address.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

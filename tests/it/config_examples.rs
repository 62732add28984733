//! Every config in `config-examples/` parses and validates, and the binary accepts it.

use std::path::PathBuf;

use entra_source::config::Config;

#[test]
fn every_example_config_validates() {
    // Loading reads no credential: the examples' ENTRA_CLIENT_SECRET need not be set.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if !text.contains("[tenant]") && !text.contains("[[tenants]]") {
            continue; // a host config (Vector), not an entra-source one
        }
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!config.tenants.is_empty());
        assert!(!config.tenants[0].streams.is_empty());
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} example configs found");
}

#[test]
fn the_multi_tenant_example_gives_each_tenant_its_streams_and_a_fair_share() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("config-examples/entra-source-multi-tenant.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.tenants.len(), 3);
    assert_eq!(c.tenants[0].streams.len(), 3);
    assert_eq!(
        c.tenants[2].streams.len(),
        1,
        "the third tenant reads audits only"
    );
    assert_eq!(c.throttle.app_reports_per_10s, 122);
    assert_eq!(c.throttle.reports_share(3), 5);
    assert!(c.metrics_listen.is_some());
}

#[test]
fn the_apps_example_reads_each_tenant_with_its_app_and_budget() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config-examples/entra-source-apps.toml");
    let c = Config::load(&path).unwrap();
    let apps: Vec<&str> = c.tenants.iter().map(|t| t.app.name.as_str()).collect();
    assert_eq!(
        apps,
        ["msp-collector-1", "msp-collector-1", "msp-collector-2"]
    );
    assert_eq!(
        c.tenants[2].client_id,
        "00000000-0000-0000-0000-000000000002"
    );
    assert_eq!(c.tenants[2].streams.len(), 1);
    assert!(c.tenants.iter().all(|t| t.app.reports_per_10s == 122));
}

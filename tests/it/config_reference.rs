//! `docs/configuration.md` is generated from the doc comments of `src/config/raw.rs` (the
//! schema the parser uses): this test renders it again and fails on any difference, so the
//! reference cannot drift from the code. `ENTRA_SOURCE_BLESS=1 cargo test --test it
//! config_reference` rewrites the file.

use std::path::PathBuf;

/// The type as a user writes it.
fn kind(rust: &str) -> &'static str {
    let t = rust.trim().trim_end_matches(',');
    let inner = t
        .strip_prefix("Option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(t);
    match inner {
        "bool" => "boolean",
        "i64" | "u32" | "u64" | "usize" => "integer",
        "String" => "string",
        "PathBuf" => "path",
        "LateArrival" => "duration or list of durations",
        t if t.starts_with("Vec<Raw") => "array of tables",
        t if t.starts_with("Vec<") => "array",
        t if t.starts_with("Raw") => "table",
        _ => "value",
    }
}

/// The Markdown reference of `raw` (the text of `src/config/raw.rs`).
fn render(raw: &str) -> String {
    let mut out = String::from(
        "# Configuration reference\n\n\
         Generated from the doc comments of `src/config/raw.rs`, the schema the parser uses, by\n\
         `tests/it/config_reference.rs`, which fails when this file and the code differ\n\
         (`ENTRA_SOURCE_BLESS=1 cargo test --test it config_reference` rewrites it). Unknown keys\n\
         are errors; every duration is written like `\"90s\"`, `\"20m\"`, `\"1h\"` or `\"14d\"`.\n",
    );
    let mut doc: Vec<String> = Vec::new();
    let mut in_struct = false;
    for line in raw.lines() {
        let l = line.trim();
        if let Some(d) = l.strip_prefix("///") {
            doc.push(d.trim().to_string());
            continue;
        }
        if l.starts_with("#[") {
            continue;
        }
        if let Some(name) = l
            .strip_prefix("pub struct Raw")
            .and_then(|r| r.strip_suffix(" {"))
        {
            let joined = doc.join(" ");
            // "`[table]`: what it is." → a heading of the table's name and a paragraph.
            let (title, about) = match joined.split_once(": ") {
                _ if name == "Config" => ("The file's top level".to_string(), String::new()),
                Some((t, rest)) if t.starts_with('`') => {
                    let mut about = rest.to_string();
                    if let Some(first) = about.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    (t.to_string(), format!("{about}\n\n"))
                }
                _ => (joined.clone(), String::new()),
            };
            out.push_str(&format!(
                "\n## {title}\n\n{about}| key | type | what |\n|---|---|---|\n"
            ));
            in_struct = true;
            doc.clear();
            continue;
        }
        if in_struct && l == "}" {
            in_struct = false;
        } else if in_struct {
            if let Some((field, ty)) = l.strip_prefix("pub ").and_then(|f| f.split_once(':')) {
                let what = match (doc.is_empty(), kind(ty)) {
                    (false, _) => doc.join(" "),
                    (true, "table") => "a table of its own (below)".to_string(),
                    (true, _) => "UNDOCUMENTED".to_string(),
                };
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    field.trim(),
                    kind(ty),
                    what.replace('|', "\\|")
                ));
            }
        }
        doc.clear();
    }
    out
}

#[test]
fn config_reference_is_generated_from_the_schema() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(root.join("src/config/raw.rs")).unwrap();
    let want = render(&raw);
    let path = root.join("docs/configuration.md");
    if std::env::var_os("ENTRA_SOURCE_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/configuration.md differs from the doc comments of src/config/raw.rs: run `ENTRA_SOURCE_BLESS=1 cargo test --test it config_reference` and commit the file"
    );
    // Every key the parser knows is in it, with a description.
    assert!(want.contains("| `late_arrival` | duration or list of durations |"));
    assert!(want.contains("| `tail_check` | string |"));
    assert!(
        !want.contains("UNDOCUMENTED"),
        "a key of src/config/raw.rs has no doc comment: write one, it is the reference"
    );
}

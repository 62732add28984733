//! `[output] path`: whole lines appended and fsynced before the checkpoint, size rotation, and a
//! partial line left by a crash cut off on the next start.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::common::*;
use entra_simulator::Spread;

fn files(path: &Path, keep: u32) -> Vec<PathBuf> {
    let mut out = vec![path.to_path_buf()];
    for n in 1..=keep + 1 {
        out.push(PathBuf::from(format!("{}.{n}", path.display())));
    }
    out.into_iter().filter(|p| p.exists()).collect()
}

fn ids_in(paths: &[PathBuf]) -> Vec<String> {
    let mut ids = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends mid-line",
            p.display()
        );
        ids.extend(event_ids(&parse_lines(&text)));
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_to_a_rotated_file_in_whole_lines() {
    let h = Harness::new("").await;
    let out = h.dir.path().join("events.ndjson");
    h.write_streams(&format!(
        "[output]\npath = \"{}\"\nmax_line_bytes = 65536\nrotate_size_bytes = 400000\nrotate_keep = 40\n\n[streams.directory_audits]\n",
        out.display()
    ));
    let ids = h.audits(3000, between_minutes_ago(50, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "events go to the file, not stdout");
    let written = files(&out, 40);
    assert!(written.len() > 5, "{written:?}");
    for f in &written {
        assert!(
            std::fs::metadata(f).unwrap().len() <= 400_000,
            "{} outgrew its size",
            f.display()
        );
    }
    // They hold UPNs and IP addresses: owner-only, as is the state file.
    for f in written.iter().chain([&h.state]) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", f.display());
    }
    let got = ids_in(&written);
    assert_unique(&got);
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect()
    );

    // Only rotate_keep rotated files are kept (a fresh file, 2000 more records).
    let kept = h.dir.path().join("kept.ndjson");
    h.write_streams(&format!(
        "[output]\npath = \"{}\"\nmax_line_bytes = 65536\nrotate_size_bytes = 400000\nrotate_keep = 2\n\n[streams.directory_audits]\n",
        kept.display()
    ));
    h.audits(2000, Spread::Between(seconds_ago(50), seconds_ago(2)));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let names: Vec<PathBuf> = files(&kept, 5);
    assert_eq!(
        names,
        vec![
            kept.clone(),
            PathBuf::from(format!("{}.1", kept.display())),
            PathBuf::from(format!("{}.2", kept.display()))
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_line_left_by_a_crash_is_cut_and_its_records_written_again() {
    let h = Harness::new("").await;
    let out = h.dir.path().join("events.ndjson");
    h.write_streams(&format!(
        "[output]\npath = \"{}\"\n\n[streams.directory_audits]\n",
        out.display()
    ));
    let first = h.audits(20, between_minutes_ago(10, 2));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    // A crash in the middle of writing a later page leaves half a line behind.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&out)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"{\"event\":{\"id\":\"half"))
        .unwrap();
    let second = h.audits(5, Spread::Between(seconds_ago(30), seconds_ago(2)));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("cutting a partial last line"),
        "{}",
        r.stderr
    );
    let got = ids_in(std::slice::from_ref(&out));
    assert_unique(&got);
    let expected: HashSet<String> = first.into_iter().chain(second).collect();
    assert_eq!(got.into_iter().collect::<HashSet<_>>(), expected);
}

/// `rotate_keep = 0` was accepted and every rotation deleted the file just written (593 events
/// emitted and checkpointed, 11 left on disk).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_keep_zero_is_refused_before_anything_is_written() {
    let h = Harness::new("").await;
    let out = h.dir.path().join("events.ndjson");
    h.audits(50, between_minutes_ago(30, 1));
    for keep in ["0", "4294967295"] {
        h.write_streams(&format!(
            "[output]\npath = \"{}\"\nrotate_keep = {keep}\n\n[streams.directory_audits]\n",
            out.display()
        ));
        let r = h.run_once().await;
        r.fails_with(2, &["output.rotate_keep", "from 1 to"]);
        assert!(!out.exists() && !h.state.exists());
    }
}

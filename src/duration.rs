//! Durations written as `"90s"`, `"20m"`, `"1h"` or `"14d"` in the config file.

use std::time::Duration;

/// Parses `"<whole number><unit>"` with unit `s`, `m`, `h` or `d`.
///
/// Returns a human-readable reason on failure; the caller adds the key name.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("\"{text}\" has no unit"))?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("\"{text}\" does not start with a number"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("\"{text}\" is too large"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => return Err(format!("\"{other}\" is not a unit (use s, m, h or d)")),
    };
    n.checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("\"{text}\" is too large"))
}

/// Formats a duration the way the config file writes it (largest whole unit).
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("20m").unwrap(), Duration::from_secs(1200));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("14d").unwrap(),
            Duration::from_secs(14 * 86400)
        );
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for bad in ["", "20", "m", "20x", "1.5h", "-1h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn formats_with_the_largest_unit() {
        assert_eq!(format_duration(Duration::from_secs(48 * 3600)), "2d");
        assert_eq!(format_duration(Duration::from_secs(1200)), "20m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}

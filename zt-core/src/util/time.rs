//! Wall-clock time where no injected [`Clock`](crate::Clock) reaches (background pollers and
//! uploaders stamping their own status), and the RFC 3339 form of decision-log timestamps.

/// Milliseconds since the Unix epoch from the system clock (0 before 1970).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// RFC 3339 UTC timestamp with milliseconds from Unix milliseconds.
pub(crate) fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let ms = unix_ms % 1000;
    let days = secs / 86_400;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_table() {
        let cases = [
            ("epoch", 0, "1970-01-01T00:00:00.000Z"),
            ("leap day", 951_782_400_123, "2000-02-29T00:00:00.123Z"),
            ("zt NOW", 1_800_000_000_000, "2027-01-15T08:00:00.000Z"),
            ("end of 2026", 1_798_761_599_999, "2026-12-31T23:59:59.999Z"),
        ];
        for (name, ms, want) in cases {
            assert_eq!(rfc3339(ms), want, "{name}");
        }
    }
}

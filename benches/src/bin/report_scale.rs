//! `zt report` at scale (issue 29): a generated decision log of N records (default 1,000,000,
//! about 1 KiB each, so about 1 GB), reported on in one streaming pass; prints records/s and
//! the process's peak resident memory, next to the raw dependency alone (serde_json parsing
//! each line into a `Value`) on the same file.
//!
//! `cargo run --release -p zt-benches --bin report_scale -- [-n N]`

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]

use std::io::{BufRead as _, Write as _};
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .iter()
        .position(|a| a == "-n")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::env::temp_dir().join(format!("zt-report-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("decisions.log");
    let started = Instant::now();
    {
        let mut w = std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(&path).expect("create"),
        );
        // A month of decisions from 5,000 subjects on 200 routes; one in eight denied.
        let t0: u64 = 1_796_083_200_000; // 2026-12-01T00:00:00Z
        let step = 30 * 86_400_000 / n.max(1);
        let pad = "x".repeat(420);
        for i in 0..n {
            let deny = i % 8 == 0;
            let sub = i % 5000;
            let ts = zt_benches_time(t0 + i * step);
            let total = 8_000 + (i * 7919) % 40_000;
            let line = format!(
                concat!(
                    r#"{{"timestamp":"{ts}","service":"orders","entrypoint":"data.zt.authz.decision","decision_id":"{i:016x}","#,
                    r#""outcome":"{o}","evaluated":"{o}","enforced":true,"mode":"enforce","warning":null,"reasons":{r},"#,
                    r#""policy_reasons":["{pr}"],"step_up":null,"obligations":{{}},"policy_revision":"sha256:abc","#,
                    r#""timings_ns":{{"token":{t1},"posture":900,"input":1500,"policy":{t2},"shadow":0,"total":{total}}},"shadow":null,"#,
                    r#""input":{{"request":{{"method":"GET","path":"/api/r{route}/orders/{i}","headers":{{"x-pad":"{pad}"}}}},"#,
                    r#""subject":{{"id":"user-{sub}","issuer":"https://idp.example.com","groups":["{g}"]}}}},"#,
                    r#""result":{{"allow":{a},"reasons":["{pr}"],"step_up":null,"obligations":{{}}{grants}}}}}"#,
                    "\n"
                ),
                ts = ts,
                i = i,
                o = if deny { "deny" } else { "allow" },
                r = if deny { r#"["policy_denied"]"# } else { "[]" },
                pr = if deny {
                    "rbac_not_permitted"
                } else {
                    "rbac_granted"
                },
                t1 = total / 4,
                t2 = total / 2,
                total = total,
                route = i % 200,
                pad = pad,
                sub = sub,
                g = if sub % 50 == 0 { "admin" } else { "viewer" },
                a = !deny,
                grants = if deny {
                    ""
                } else {
                    r#","grants":["orders:read"]"#
                },
            );
            w.write_all(line.as_bytes()).expect("write");
        }
        w.flush().expect("flush");
    }
    let bytes = std::fs::metadata(&path).expect("size").len();
    println!(
        "generated {n} records, {:.2} GB in {:.1} s; peak RSS so far {:.1} MiB",
        bytes as f64 / 1e9,
        started.elapsed().as_secs_f64(),
        peak_rss_mib()
    );

    // The raw dependency alone: serde_json on every line.
    let t = Instant::now();
    let mut parsed = 0u64;
    let file =
        std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&path).expect("open"));
    for line in file.lines() {
        let line = line.expect("line");
        if serde_json::from_str::<serde_json::Value>(&line).is_ok() {
            parsed += 1;
        }
    }
    let raw_s = t.elapsed().as_secs_f64();
    println!(
        "raw serde_json::Value per line: {parsed} lines in {raw_s:.2} s, {:.0} records/s; peak RSS {:.1} MiB",
        parsed as f64 / raw_s,
        peak_rss_mib()
    );

    let bundle = zt_testkit::sample_bundle_dir();
    for (name, opts) in [
        ("zt report", zt_core::ReportOptions::default()),
        (
            "zt report --bundle (least privilege)",
            zt_core::ReportOptions::new(None, None, Some(bundle)),
        ),
    ] {
        let t = Instant::now();
        let r = zt_core::report_files(std::slice::from_ref(&path), &opts).expect("report");
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name}: {} decisions in {s:.2} s, {:.0} records/s ({:.2}x the raw parse's time), {:.0} MB/s; peak RSS {:.1} MiB; deny rate {:.3}, p99 {} us, routes {}, subjects {}",
            r.decisions,
            r.decisions as f64 / s,
            s / raw_s,
            bytes as f64 / 1e6 / s,
            peak_rss_mib(),
            r.deny_rate,
            r.latency_us.p99,
            r.routes.len(),
            r.least_privilege.as_ref().map_or(0, |l| l.subjects)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// RFC 3339 (UTC, milliseconds) of Unix ms, as zt writes it.
fn zt_benches_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        ms % 1000
    )
}

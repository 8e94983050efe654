//! Replay throughput: records/s of `zt_core::replay` over a decision log written by the
//! authorizer itself (sample bundle, file sink), next to the raw parts on the same lines —
//! `serde_json` parsing alone, and parsing plus one raw regorus RVM evaluation — so that
//! replay's own cost shows as a ratio.
//!
//! `cargo run --release -p zt-benches --bin replay [-- -n RECORDS]`

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]

use std::io::BufRead as _;
use std::time::Instant;
use zt_benches::{Policy, authorizer, request, tokens};
use zt_core::{CompiledBundle, PolicyConfig, ReplayOptions};

/// A decision log of `n` records written by the authorizer itself (sample bundle, file sink),
/// read back as lines.
fn write_log(log: &std::path::Path, n: usize) -> Vec<String> {
    let _ = std::fs::remove_file(log);
    {
        let authz = authorizer(10_000, "file", Policy::Sample, Some(log));
        let toks = tokens(jsonwebtoken::Algorithm::ES256, 500);
        for (i, t) in toks.iter().cycle().take(n).enumerate() {
            let _ = authz.authorize_sync(&request(t));
            if i % 50_000 == 0 {
                authz.flush();
            }
        }
        authz.flush();
    }
    let bytes = std::fs::metadata(log).map(|m| m.len()).unwrap_or(0);
    let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(log).expect("log"))
        .lines()
        .map_while(Result::ok)
        .collect();
    println!(
        "{} records, {:.0} bytes/record (2 vCPU note: noisy machine, compare ratios)",
        lines.len(),
        bytes as f64 / lines.len().max(1) as f64
    );
    lines
}

fn main() {
    let n: usize = std::env::args()
        .skip_while(|a| a != "-n")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let log = std::env::temp_dir().join(format!("zt-replay-bench-{}.jsonl", std::process::id()));
    let lines = write_log(&log, n);

    let opts = PolicyConfig::default();
    let same = CompiledBundle::load(&zt_testkit::sample_bundle_dir(), &opts).expect("bundle");
    let rate = |label: &str, secs: f64| {
        println!("  {label:<44} {:>9.0} records/s", lines.len() as f64 / secs);
        secs
    };

    let t = Instant::now();
    for l in &lines {
        std::hint::black_box(serde_json::from_str::<serde_json::Value>(l).ok());
    }
    let parse = rate(
        "raw: serde_json parse of each line",
        t.elapsed().as_secs_f64(),
    );

    let (_, _, mut vm) = zt_benches::raw_regorus(Policy::Sample);
    let t = Instant::now();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("json");
        if let Some(input) = v.get("input") {
            vm.set_input(regorus::Value::from(input.clone()));
            std::hint::black_box(vm.execute().ok());
        }
    }
    let raw = rate("raw: parse + regorus RVM eval", t.elapsed().as_secs_f64());

    // The same two steps as replay takes, single-threaded: regorus's own JSON parser for the
    // input (compact storage), then the RVM.
    #[derive(serde::Deserialize)]
    struct Raw<'a> {
        #[serde(borrow)]
        input: &'a serde_json::value::RawValue,
    }
    let inputs: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Raw<'_>>(l).ok())
        .map(|r| r.input.get().to_owned())
        .collect();
    let t = Instant::now();
    for i in &inputs {
        std::hint::black_box(regorus::Value::from_json_str(i).ok());
    }
    rate(
        "raw: regorus from_json_str of the input",
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    for i in &inputs {
        if let Ok(v) = regorus::Value::from_json_str(i) {
            vm.set_input(v);
            std::hint::black_box(vm.execute().ok());
        }
    }
    let raw_compact = rate(
        "raw: regorus from_json_str + RVM eval",
        t.elapsed().as_secs_f64(),
    );

    // zt's route for the input: serde_json, then zt's direct conversion to regorus values.
    let t = Instant::now();
    for i in &inputs {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(i) {
            std::hint::black_box(zt_core::internal::policy_input_unverified(&v));
        }
    }
    rate(
        "zt: serde_json + direct conversion of the input",
        t.elapsed().as_secs_f64(),
    );
    let t = Instant::now();
    for i in &inputs {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(i) {
            let input = zt_core::internal::policy_input_unverified(&v);
            std::hint::black_box(same.evaluate(&input).is_ok());
        }
    }
    rate(
        "zt: that + CompiledBundle::evaluate, 1 thread",
        t.elapsed().as_secs_f64(),
    );

    for (label, baseline) in [
        ("zt replay, same bundle", false),
        ("zt replay, with baseline check", true),
    ] {
        let mut o = ReplayOptions::default();
        o.baseline = baseline.then_some(&*same);
        let t = Instant::now();
        let r = zt_core::replay(
            std::io::BufReader::new(std::fs::File::open(&log).expect("log")),
            &same,
            &o,
        );
        let secs = rate(label, t.elapsed().as_secs_f64());
        println!(
            "    flips {} · replayed {} · time vs raw serde parse+eval {:.2}×, vs raw from_json_str+eval {:.2}×, vs serde parse alone {:.2}×",
            r.flips,
            r.replayed,
            secs / raw,
            secs / raw_compact,
            secs / parse
        );
    }
    let _ = std::fs::remove_file(&log);
}

//! Heap allocations per decision, counted by dhat's global allocator (in this binary only; zt
//! itself never installs an allocator): cached-token `authorize_sync` with the sample bundle and
//! with a one-line policy, the new-token path, and the raw dependencies on the same input.
//!
//! ```text
//! cargo run --release -p zt-benches --bin allocs
//! ```

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]
#![expect(clippy::indexing_slicing, reason = "in-range indices")]

use jsonwebtoken::Algorithm as JwtAlg;
use std::hint::black_box;
use zt_benches::{Policy, authorizer, input_document, raw_decoding, raw_vm, request, tokens};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations (blocks) and bytes per call of `f`, over `n` calls after a warm-up.
fn count(n: u64, mut f: impl FnMut(usize)) -> (f64, f64) {
    for i in 0..64 {
        f(i);
    }
    let before = dhat::HeapStats::get();
    for i in 0..n as usize {
        f(i);
    }
    let after = dhat::HeapStats::get();
    (
        (after.total_blocks - before.total_blocks) as f64 / n as f64,
        (after.total_bytes - before.total_bytes) as f64 / n as f64,
    )
}

fn main() {
    let rs = tokens(JwtAlg::RS256, 64);
    let requests: Vec<_> = rs.iter().map(|t| request(t)).collect();
    let cached = authorizer(10_000, "none", Policy::Sample, None);
    let one_line = authorizer(10_000, "none", Policy::OneLine, None);
    let uncached = authorizer(0, "none", Policy::Sample, None);
    let raw_input = regorus::Value::from(input_document());
    let mut vm_sample = raw_vm(Policy::Sample);
    let mut vm_one = raw_vm(Policy::OneLine);
    let (key, validation) = raw_decoding(JwtAlg::RS256);

    let _profiler = dhat::Profiler::builder().testing().build();
    let first = &requests[0];
    let rows: Vec<(&str, (f64, f64))> = vec![
        (
            "cached authorize_sync, sample bundle",
            count(2000, |_| {
                black_box(cached.authorize_sync(first));
            }),
        ),
        (
            "raw RVM eval, sample bundle, same input",
            count(2000, |_| {
                vm_sample.set_input(raw_input.clone());
                black_box(vm_sample.execute().ok());
            }),
        ),
        (
            "cached authorize_sync, one-line policy",
            count(2000, |_| {
                black_box(one_line.authorize_sync(first));
            }),
        ),
        (
            "raw RVM eval, one-line policy, same input",
            count(2000, |_| {
                vm_one.set_input(raw_input.clone());
                black_box(vm_one.execute().ok());
            }),
        ),
        (
            "new RS256 token authorize_sync, sample bundle",
            count(500, |i| {
                black_box(uncached.authorize_sync(&requests[i % requests.len()]));
            }),
        ),
        (
            "raw jsonwebtoken decode + RVM eval, sample bundle",
            count(500, |i| {
                let t =
                    jsonwebtoken::decode::<serde_json::Value>(&rs[i % rs.len()], &key, &validation)
                        .expect("valid");
                vm_sample.set_input(raw_input.clone());
                black_box((t, vm_sample.execute().ok()));
            }),
        ),
    ];
    println!("| path | allocations per call | bytes per call |");
    println!("| --- | --- | --- |");
    for (name, (blocks, bytes)) in rows {
        println!("| {name} | {blocks:.1} | {bytes:.0} |");
    }
}

//! Rule index load time and memory (issue 27): route tables of 1,000 and 10,000 definitions in
//! each of OPA's documented styles, loaded with and without the index. Each measurement runs
//! in a fresh process (this binary again) so that resident memory starts from the same place.
//! Live heap is counted by dhat's allocator (this binary only) in a second process, since
//! counting slows the load itself: what the loaded bundle holds, without what the compile
//! freed but the allocator kept.
//!
//! `cargo run --release -p zt-benches --bin index_load`

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]

use std::process::Command;
use std::time::Instant;
use zt_benches::{RouteStyle, route_table};
use zt_core::{PolicyConfig, PolicyStore};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4
}

/// One load in this process: prints `ms rss_kib heap_kib programs program_kib` (heap 0 unless
/// `count_heap`, the time meaningless when it is), or `error <code>`.
fn one(style: RouteStyle, n: usize, indexing: bool, count_heap: bool) {
    let _profiler = count_heap.then(|| dhat::Profiler::builder().testing().build());
    let live = || {
        if count_heap {
            dhat::HeapStats::get().curr_bytes
        } else {
            0
        }
    };
    let files = route_table(style, n);
    let heap_before = live();
    let mut config = PolicyConfig::default();
    config.indexing = indexing;
    config.run_tests_on_load = false;
    let before = rss_kib();
    let started = Instant::now();
    let store = match PolicyStore::from_files(files, config) {
        Ok(s) => s,
        Err(e) => {
            println!("error {}", e.code());
            return;
        }
    };
    let ms = started.elapsed().as_millis();
    let after = rss_kib();
    let heap = live().saturating_sub(heap_before);
    let index = store.active().index().clone();
    println!(
        "{ms} {} {} {} {}",
        after.saturating_sub(before),
        heap / 1024,
        index.programs,
        index.program_bytes / 1024
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let me = std::env::current_exe().expect("exe");
    if let [_, flag, style, n, indexing, heap] = args.as_slice()
        && flag == "--one"
    {
        let style = RouteStyle::ALL
            .into_iter()
            .find(|s| s.name() == style)
            .expect("style");
        one(
            style,
            n.parse().expect("n"),
            indexing == "true",
            heap == "heap",
        );
        return;
    }
    let run = |style: RouteStyle, n: usize, indexing: bool, heap: bool| {
        let out = Command::new(&me)
            .args([
                "--one",
                style.name(),
                &n.to_string(),
                &indexing.to_string(),
                if heap { "heap" } else { "time" },
            ])
            .output()
            .expect("run");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    println!(
        "| style | routes | index | load | resident growth | live heap | programs | program tables |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for style in RouteStyle::ALL {
        for n in [1000usize, 10_000] {
            for indexing in [true, false] {
                let line = run(style, n, indexing, false);
                let heap_line = run(style, n, indexing, true);
                let f: Vec<&str> = line.split_whitespace().collect();
                let heap = heap_line.split_whitespace().nth(2).unwrap_or("0");
                let row = match f.as_slice() {
                    [ms, rss, _, programs, kib] => {
                        let mib = |s: &str| s.parse::<f64>().unwrap_or(0.0) / 1024.0;
                        format!(
                            "{ms} ms | {:.1} MiB | {:.1} MiB | {programs} | {:.1} MiB",
                            mib(rss),
                            mib(heap),
                            mib(kib)
                        )
                    }
                    _ => format!("{line} | | | |"),
                };
                println!(
                    "| {} | {n} | {} | {row} |",
                    style.name(),
                    if indexing { "on" } else { "off" }
                );
            }
        }
    }
}

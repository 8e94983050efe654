//! Latency percentiles of `authorize_sync` over many decisions, one thread and two:
//! the cached-token path, the new-token path (RS256, verified-token cache off), and decision
//! logging to a file at a paced 50,000 decisions/s against the same pace without a log (with
//! the one-line policy, so that one thread can offer that rate).
//!
//! ```text
//! cargo run --release -p zt-benches --bin latency [-- -n 200000]
//! ```
//!
//! Each decision is timed alone (`Instant` before and after, ~25 ns of its own), so the
//! percentiles include the rare slow decision that a mean hides. The machine is shared: read
//! the numbers against each other, not as absolutes.

#![expect(clippy::expect_used, reason = "bench setup fails loudly")]
#![expect(clippy::indexing_slicing, reason = "in-range indices")]
#![expect(clippy::panic, reason = "usage errors end the run")]

use jsonwebtoken::Algorithm as JwtAlg;
use std::hint::black_box;
use std::time::{Duration, Instant};
use zt_benches::{Policy, authorizer, request, tokens};
use zt_core::{Authorizer, Request};

/// A collector accepting `POST /logs` on 127.0.0.1, served from a thread of its own; its URL
/// and the channel that stops it when dropped.
fn collector() -> (String, std::sync::mpsc::Sender<()>) {
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/logs",
                axum::routing::post(|body: axum::body::Bytes| async move {
                    black_box(body.len());
                    axum::http::StatusCode::NO_CONTENT
                }),
            );
            let served = zt_testkit::serve_for(app, Duration::from_secs(600))
                .await
                .expect("collector");
            url_tx.send(served.url("")).expect("url");
            while stop_rx.try_recv() == Err(std::sync::mpsc::TryRecvError::Empty) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
    });
    (url_rx.recv().expect("collector url"), stop_tx)
}

struct Row {
    name: String,
    samples: Vec<u64>,
    note: String,
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Decide `n` requests on each of `threads` threads (round-robin over `requests`), optionally
/// paced at `rate` decisions/s per thread; every decision's latency in nanoseconds.
fn run(
    authz: &Authorizer,
    requests: &[Request],
    n: usize,
    threads: usize,
    rate: Option<u64>,
) -> Vec<u64> {
    let mut all = Vec::with_capacity(n * threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(n);
                    let start = Instant::now();
                    for i in 0..n {
                        if let Some(r) = rate {
                            let due = start + Duration::from_nanos(i as u64 * 1_000_000_000 / r);
                            while Instant::now() < due {
                                std::hint::spin_loop();
                            }
                        }
                        let req = &requests[(i + t * 7) % requests.len()];
                        let t0 = Instant::now();
                        black_box(authz.authorize_sync(req));
                        out.push(t0.elapsed().as_nanos() as u64);
                    }
                    out
                })
            })
            .collect();
        for h in handles {
            all.extend(h.join().expect("bench thread"));
        }
    });
    all
}

/// One raw evaluation, not inlined so that a profiler can count it alone.
#[inline(never)]
fn raw_eval(vm: &mut regorus::rvm::RegoVM, doc: &regorus::Value) {
    vm.set_input(doc.clone());
    black_box(vm.execute().ok());
}

/// `--profile tower-on|tower-off`: `n` in-process round trips through an axum router with and
/// without the layer (one-line policy), on a current-thread runtime.
fn profile_tower(layer: bool, token: &str, n: usize) {
    use tower::ServiceExt as _;
    let routes = axum::Router::new().route("/orders/{id}", axum::routing::get(|| async { "ok" }));
    let app = if layer {
        routes.layer(zt_tower::ZtLayer::new(authorizer(
            10_000,
            "none",
            Policy::OneLine,
            None,
        )))
    } else {
        routes
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let bearer = format!("Bearer {token}");
    for _ in 0..n {
        let req = axum::http::Request::get("/orders/42")
            .header("authorization", bearer.as_str())
            .body(axum::body::Body::empty())
            .expect("request");
        let resp = rt.block_on(app.clone().oneshot(req)).expect("response");
        assert_eq!(resp.status(), 200);
    }
}

/// `--profile MODE`: only decide `n` requests (or evaluate, or round-trip), for a profiler.
fn profile(which: &str, n: usize, rs: &[String], requests: &[Request]) {
    if let Some(policy) = which.strip_prefix("raw-") {
        // regorus alone on the same document (for instruction counts: toggle on `raw_eval`).
        let mut vm = zt_benches::raw_vm(if policy == "one-line" {
            Policy::OneLine
        } else {
            Policy::Sample
        });
        let doc = regorus::Value::from(zt_benches::input_document());
        for _ in 0..n {
            raw_eval(&mut vm, &doc);
        }
        return;
    }
    if which.starts_with("tower") {
        profile_tower(which == "tower-on", &rs[0], n);
        return;
    }
    let authz = match which {
        "sample" => authorizer(10_000, "none", Policy::Sample, None),
        "one-line" => authorizer(10_000, "none", Policy::OneLine, None),
        "new" => authorizer(0, "none", Policy::Sample, None),
        "new-one-line" => authorizer(0, "none", Policy::OneLine, None),
        other => panic!("--profile takes sample, one-line, new or new-one-line, not {other}"),
    };
    for i in 0..n {
        black_box(authz.authorize_sync(&requests[i % requests.len()]));
    }
}

/// Decision logging: the same paced load with sink `none`, a file sink and an upload.
fn logging_rows(requests: &[Request], n: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    // Decision logging: the same paced load with sink `none` and with a file sink.
    const RATE: u64 = 50_000;
    let dir = std::env::temp_dir().join(format!("zt-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("decisions.jsonl");
    // The one-line policy, so that one thread can offer 50,000 decisions/s on a slow machine;
    // the records still carry the whole input document.
    let none = authorizer(10_000, "none", Policy::OneLine, None);
    let file = authorizer(10_000, "file", Policy::OneLine, Some(&path));
    // A collector on 127.0.0.1 that accepts every upload (OPA's decision-log API).
    let collector = collector();
    let upload = authorizer(
        10_000,
        &format!("service={}", collector.0),
        Policy::OneLine,
        None,
    );
    for (name, authz) in [
        ("sink none", &none),
        ("sink file", &file),
        ("sink service (upload to 127.0.0.1)", &upload),
    ] {
        for r in requests {
            black_box(authz.authorize_sync(r));
        }
        authz.flush();
        let before = authz.metrics().decision_log;
        let started = Instant::now();
        let samples = run(authz, requests, n, 1, Some(RATE));
        let wall = started.elapsed();
        authz.flush();
        let after = authz.metrics().decision_log;
        let note = format!(
            "{:.0} decisions/s achieved; log: written {}, dropped {}",
            n as f64 / wall.as_secs_f64(),
            after.written - before.written,
            after.dropped - before.dropped
        );
        rows.push(Row {
            name: format!("cached token, one-line policy, paced {RATE}/s, {name}"),
            samples,
            note,
        });
    }
    drop(file);
    drop(upload);
    drop(collector);
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args
        .iter()
        .position(|a| a == "-n")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<usize>().expect("-n takes a number"))
        .unwrap_or(200_000);
    // `--only cached|new|cache|log`: one group of rows.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let want = |group: &str| only.as_deref().is_none_or(|o| o == group);
    let rs = tokens(JwtAlg::RS256, 512);
    let requests: Vec<Request> = rs.iter().map(|t| request(t)).collect();
    // `--profile sample|one-line|new|new-one-line|raw-sample|raw-one-line|tower-on|tower-off`: only decide
    // `n` requests (or evaluate, or round-trip), for a profiler
    // (`valgrind --tool=callgrind`, `perf record`).
    if let Some(which) = args
        .iter()
        .position(|a| a == "--profile")
        .and_then(|i| args.get(i + 1))
    {
        profile(which, n, &rs, &requests);
        return;
    }
    let cached = authorizer(10_000, "none", Policy::Sample, None);
    let uncached = authorizer(0, "none", Policy::Sample, None);
    for r in &requests {
        assert!(cached.authorize_sync(r).is_allowed());
    }
    let mut rows = Vec::new();
    for threads in [1, 2].into_iter().filter(|_| want("cached")) {
        rows.push(Row {
            name: format!("cached token, {threads} thread(s)"),
            samples: run(&cached, &requests, n, threads, None),
            note: String::new(),
        });
    }
    for threads in [1, 2].into_iter().filter(|_| want("new")) {
        rows.push(Row {
            name: format!("new RS256 token, {threads} thread(s)"),
            samples: run(&uncached, &requests, n, threads, None),
            note: String::new(),
        });
    }

    // The verified-token cache's admission cost: 20,000 distinct ES256 tokens, each seen once,
    // with the cache on (every decision inserts) and off.
    let es = tokens(JwtAlg::ES256, 20_000);
    let es_requests: Vec<Request> = es.iter().map(|t| request(t)).collect();
    for (name, entries) in [
        ("cache on, every token inserted", 100_000),
        ("cache off", 0),
    ] {
        let authz = authorizer(entries, "none", Policy::Sample, None);
        rows.push(Row {
            name: format!("new ES256 token, {name}"),
            samples: run(&authz, &es_requests, es_requests.len(), 1, None),
            note: String::new(),
        });
    }

    if want("log") {
        rows.extend(logging_rows(&requests, n));
    }

    println!("| path | decisions | p50 | p95 | p99 | max | note |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for mut row in rows {
        row.samples.sort_unstable();
        let us = |ns: u64| format!("{:.2} µs", ns as f64 / 1000.0);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.samples.len(),
            us(pct(&row.samples, 0.50)),
            us(pct(&row.samples, 0.95)),
            us(pct(&row.samples, 0.99)),
            us(*row.samples.last().unwrap_or(&0)),
            row.note
        );
    }
}

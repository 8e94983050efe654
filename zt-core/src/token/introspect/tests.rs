use super::gate::Gate;
use super::*;

fn gate(rate: f64, burst: f64, threshold: u64) -> Gate {
    Gate {
        tokens: burst,
        refilled: Instant::now(),
        rate_per_s: rate,
        burst,
        failures: 0,
        failure_threshold: threshold,
        open_for: Duration::from_secs(30),
        open_until: None,
        trial: None,
        tickets: 0,
        opened_at: 0,
    }
}

#[test]
fn the_bucket_allows_its_burst_then_its_rate() {
    let mut g = gate(10.0, 3.0, 5);
    let t0 = Instant::now();
    for _ in 0..3 {
        assert!(g.admit(t0).is_ok());
    }
    assert_eq!(g.admit(t0), Err(IntrospectionProblem::RateLimited));
    // 100 ms at 10/s refills one call.
    let t1 = t0 + Duration::from_millis(100);
    assert!(g.admit(t1).is_ok());
    assert_eq!(g.admit(t1), Err(IntrospectionProblem::RateLimited));
    // Never more than the burst, however long the pause.
    let t2 = t1 + Duration::from_secs(3600);
    for _ in 0..3 {
        assert!(g.admit(t2).is_ok());
    }
    assert_eq!(g.admit(t2), Err(IntrospectionProblem::RateLimited));
}

#[test]
fn the_breaker_opens_then_lets_one_trial_through() {
    let mut g = gate(1000.0, 1000.0, 3);
    let t0 = Instant::now();
    // A call admitted before the circuit opens, finishing while it is open.
    let early = g.admit(t0).unwrap();
    for _ in 0..3 {
        let t = g.admit(t0).unwrap();
        g.record(t, false, t0);
    }
    assert!(g.is_open());
    assert_eq!(g.admit(t0), Err(IntrospectionProblem::CircuitOpen));
    // Half-open after `open_for`: exactly one trial call.
    let t1 = t0 + Duration::from_secs(31);
    let trial = g.admit(t1).unwrap();
    assert_eq!(g.admit(t1), Err(IntrospectionProblem::CircuitOpen));
    // The early call's success neither closes the circuit nor frees the trial slot.
    g.record(early, true, t1);
    assert!(g.is_open());
    assert_eq!(g.admit(t1), Err(IntrospectionProblem::CircuitOpen));
    // A failed trial opens it again at once.
    g.record(trial, false, t1);
    assert_eq!(g.admit(t1), Err(IntrospectionProblem::CircuitOpen));
    let t2 = t1 + Duration::from_secs(31);
    let trial = g.admit(t2).unwrap();
    g.record(trial, true, t2);
    // A successful trial closes it.
    assert!(!g.is_open());
    assert!(g.admit(t2).is_ok());
    assert!(g.admit(t2).is_ok());
    // A failure of a call admitted before the circuit opened does not count afterwards.
    g.record(early, false, t2);
    for _ in 0..2 {
        let t = g.admit(t2).unwrap();
        g.record(t, false, t2);
    }
    assert!(!g.is_open(), "two new failures of three");
}

#[test]
fn opaque_tokens_are_told_from_jws() {
    assert!(is_opaque("2YotnFZFEjr1zCsicMWpAA"));
    assert!(is_opaque("a.b"));
    // RFC 6750's own example has two dots, but no JSON header.
    assert!(is_opaque("mF_9.B5f-4.1JqM"));
    assert!(!is_opaque("eyJhbGciOiJFUzI1NiJ9.e30.c2ln"));
    // A JSON header with leading whitespace is still a JWS (`" {"` is `IHsi`).
    assert!(!is_opaque("IHsiYWxnIjoiRVMyNTYifQ.e30.c2ln"));
    assert!(!is_opaque("ewoiYWxnIjoiRVMyNTYifQ.e30.c2ln"));
    // A JWE (five parts) is not introspected: the JWT path refuses it.
    assert!(!is_opaque("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"));
    assert!(is_b64token("mF_9.B5f-4.1JqM"));
    assert!(is_b64token("abc=="));
    assert!(!is_b64token("a b"));
    assert!(!is_b64token("==="));
    assert!(!is_b64token("tok\u{e9}n"));
}

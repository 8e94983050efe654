//! Property tests: mutated tokens never verify; cached results never outlive `exp`.

#![cfg(test)]

use proptest::prelude::*;
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use zt_core::{Algorithm, AuthorizerConfig, IssuerConfig, ManualClock, Reason, TokenVerifier};
use zt_testkit::{ISS, NOW, jwks, mint};

fn verifier(clock: &ManualClock, leeway_s: u64) -> TokenVerifier {
    let mut issuer = IssuerConfig::new(ISS, ["api"], [Algorithm::RS256, Algorithm::ES256]);
    issuer.jwks = Some(jwks(&["rsa2048-a", "ec-p256"]));
    issuer.leeway_s = leeway_s;
    let mut config = AuthorizerConfig::new(vec![issuer]);
    config.token.cache_ttl_s = 3600;
    TokenVerifier::with_clock(&config, Arc::new(clock.clone())).unwrap()
}

fn tokens() -> &'static [String; 2] {
    static T: OnceLock<[String; 2]> = OnceLock::new();
    T.get_or_init(|| {
        let c = json!({"iss": ISS, "sub": "alice", "aud": "api", "iat": NOW, "exp": NOW + 600,
                       "groups": ["dev"], "device": {"managed": true}});
        [mint("rsa2048-a", "RS256", &c), mint("ec-p256", "ES256", &c)]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_never_verifies(which in 0usize..2, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let clock = ManualClock::at_unix(NOW);
        let v = verifier(&clock, 60);
        let token = &tokens()[which];
        // The original verifies (and is now cached), so a mutant hitting the cache would show.
        prop_assert!(v.verify(token).is_ok());
        let mut bytes = token.clone().into_bytes();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        // The API takes &str: a mutation that is not UTF-8 cannot even be presented.
        if let Ok(mutant) = String::from_utf8(bytes) {
            prop_assert!(v.verify(&mutant).is_err(), "mutant at {} verified", i);
        }
    }

    #[test]
    fn cached_result_is_never_returned_after_exp(lifetime in 1u64..3600, offset in 0u64..7200) {
        let clock = ManualClock::at_unix(NOW);
        // Leeway 0: after exp no fresh verification can succeed, so an Ok would come from the cache.
        let v = verifier(&clock, 0);
        let c = json!({"iss": ISS, "sub": "bob", "aud": "api", "iat": NOW, "exp": NOW + lifetime});
        let token = mint("ec-p256", "ES256", &c);
        prop_assert!(v.verify(&token).is_ok());
        clock.advance(Duration::from_secs(offset));
        let got = v.verify(&token).map(|_| ()).map_err(|e| e.reason());
        if offset >= lifetime {
            prop_assert_eq!(got, Err(Reason::TokenExpired));
        } else {
            prop_assert_eq!(got, Ok(()));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Hostile input never panics: arbitrary tokens, and arbitrary key-set documents.
    #[test]
    fn arbitrary_input_is_rejected_without_panicking(
        token in "[A-Za-z0-9_.\\-=+/ ]{0,300}",
        segs in prop::collection::vec(any::<Vec<u8>>(), 3),
        jwks_doc in any::<Vec<u8>>(),
    ) {
        let clock = ManualClock::at_unix(NOW);
        let v = verifier(&clock, 60);
        prop_assert!(v.verify(&token).is_err());
        use base64::Engine as _;
        let b = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        let crafted = format!("{}.{}.{}", b(&segs[0]), b(&segs[1]), b(&segs[2]));
        prop_assert!(v.verify(&crafted).is_err());
        let _ = zt_core::internal::verify_jws_for_tests(&tokens()[0], Some(&jwks_doc), None);
        let json_keys = format!(r#"{{"keys":[{{"kty":"RSA","kid":"rsa2048-a","n":"{}","e":"{}"}}]}}"#, b(&segs[0]), b(&segs[1]));
        prop_assert!(zt_core::internal::verify_jws_for_tests(&tokens()[0], Some(json_keys.as_bytes()), None).is_err());
    }
}

#[test]
fn cache_respects_its_own_ttl_and_revalidates() {
    let clock = ManualClock::at_unix(NOW);
    let mut issuer = IssuerConfig::new(ISS, ["api"], [Algorithm::ES256]);
    issuer.jwks = Some(jwks(&["ec-p256"]));
    let mut config = AuthorizerConfig::new(vec![issuer]);
    config.token.cache_ttl_s = 60;
    let v = TokenVerifier::with_clock(&config, Arc::new(clock.clone())).unwrap();
    let token = &tokens()[1];
    let a = v.verify(token).unwrap();
    clock.advance(Duration::from_secs(61));
    // Past the cache TTL the token is verified again (and still valid).
    let b = v.verify(token).unwrap();
    assert_eq!(a.subject(), b.subject());
    v.clear_cache();
    v.verify(token).unwrap();
}

#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = zt_core::internal::rule_index(data) {
        panic!("{e}");
    }
});

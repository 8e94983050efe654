#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| zt_core::internal::introspection_answer(data));

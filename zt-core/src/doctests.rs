//! The examples of the README and of every page under docs/ compile and run as doctests.

/// The README's examples.
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

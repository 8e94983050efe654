//! The ground floor: building blocks that import nothing of zt (clocks, strict JSON, HTTP
//! polling, sharded counters, time and text helpers). Everything above may use them.

pub(crate) mod clock;
pub(crate) mod counters;
pub(crate) mod json;
pub(crate) mod poll;
pub(crate) mod text;
pub(crate) mod time;
pub(crate) mod worker;

//! Integration tests of the wire core, one module per feature, in one test
//! binary so linking stays fast.

mod conn_pair;
mod defences;
mod frame_diff;
mod hpack_diff;
mod reference;
mod support;

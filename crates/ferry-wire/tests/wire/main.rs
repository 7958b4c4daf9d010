//! Integration tests of the wire core, one module per feature, in one test
//! binary so linking stays fast.

//! What a run measured, as text for people and JSON for scripts.

use std::fmt::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::json;

use crate::Args;
use crate::run::Errors;

/// The measured part of a run.
#[derive(Debug)]
pub(crate) struct RunResult {
    pub(crate) args: Args,
    /// How long measuring lasted.
    pub(crate) elapsed: Duration,
    /// Calls (or streamed messages) completed while measuring.
    pub(crate) calls: u64,
    /// Calls completed during the whole run, warm-up included (for the
    /// server's CPU time per call, which is measured over the whole run).
    pub(crate) all_calls: u64,
    /// Message bytes moved while measuring, both directions.
    pub(crate) bytes: u64,
    /// This process's CPU time while measuring, in seconds.
    pub(crate) cpu: Option<f64>,
    /// Failed calls by gRPC status code, with a sample message.
    pub(crate) errors: Errors,
    /// Latency in nanoseconds (streams: the gap between messages).
    pub(crate) latency: Option<Histogram<u64>>,
}

/// The canonical name of a gRPC status code.
pub(crate) fn code_name(code: i32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| format!("CODE_{code}"), |name| (*name).to_owned())
}

const PERCENTILES: [(&str, f64); 4] =
    [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9)];

impl RunResult {
    fn seconds(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Calls (or messages) per second.
    pub(crate) fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds()
    }

    /// Bytes per second.
    pub(crate) fn throughput(&self) -> f64 {
        self.bytes as f64 / self.seconds()
    }

    /// One JSON object; latencies in microseconds.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let latency = self.latency.as_ref().map(|h| {
            let mut o = serde_json::Map::new();
            for (name, q) in PERCENTILES {
                o.insert(name.into(), json!(h.value_at_percentile(q) as f64 / 1e3));
            }
            o.insert("max".into(), json!(h.max() as f64 / 1e3));
            o.insert("mean".into(), json!(h.mean() / 1e3));
            o.insert("count".into(), json!(h.len()));
            serde_json::Value::Object(o)
        });
        let errors: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(code, (n, _))| (code_name(*code), json!(n)))
            .collect();
        let samples: serde_json::Map<String, serde_json::Value> = self
            .errors
            .iter()
            .map(|(code, (_, message))| (code_name(*code), json!(message)))
            .collect();
        json!({
            "target": self.args.target,
            "client": format!("{:?}", self.args.client).to_lowercase(),
            "protocol": format!("{:?}", self.args.protocol).to_lowercase(),
            "call": format!("{:?}", self.args.call),
            "method": self.args.method.clone().unwrap_or_else(|| self.args.call.default_method().to_owned()),
            "size": self.args.size,
            "connections": self.args.connections,
            "concurrency": self.args.concurrency,
            "elapsed_s": self.seconds(),
            "calls": self.calls,
            "all_calls": self.all_calls,
            "client_cpu_s": self.cpu,
            "client_cpu_us_per_call": self.cpu.filter(|_| self.calls > 0).map(|c| c * 1e6 / self.calls as f64),
            "calls_per_s": self.rate(),
            "bytes": self.bytes,
            "bytes_per_s": self.throughput(),
            "errors": errors,
            "error_messages": samples,
            "latency_us": latency,
        })
    }

    /// A short human-readable summary.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        let a = &self.args;
        let _ = writeln!(
            out,
            "{:?} {} on {} ({} client over {}, {} connection(s), {} in flight, {}-byte payload)",
            a.call,
            a.method.as_deref().unwrap_or(a.call.default_method()),
            a.target,
            format!("{:?}", a.client).to_lowercase(),
            format!("{:?}", a.protocol).to_lowercase(),
            a.connections,
            a.concurrency,
            a.size
        );
        let _ = writeln!(
            out,
            "  {} calls in {:.2} s: {:.0} calls/s, {:.1} MB/s",
            self.calls,
            self.seconds(),
            self.rate(),
            self.throughput() / 1e6
        );
        if let Some(h) = &self.latency {
            let _ = write!(out, "  latency");
            for (name, q) in PERCENTILES {
                let _ = write!(out, " {name} {}", micros(h.value_at_percentile(q)));
            }
            let _ = writeln!(out, " max {}", micros(h.max()));
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "  no errors");
        } else {
            for (code, (n, message)) in &self.errors {
                let _ = writeln!(out, "  {n} x {}: {message}", code_name(*code));
            }
        }
        out
    }
}

fn micros(nanos: u64) -> String {
    let us = nanos as f64 / 1e3;
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{us:.1} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::code_name;

    #[test]
    fn code_names_are_the_canonical_ones() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(14), "UNAVAILABLE");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(42), "CODE_42");
    }
}

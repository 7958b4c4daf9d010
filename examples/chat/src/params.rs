//! From a `ChatRequest` to the model's [`Sampling`]: defaults for the
//! fields left at zero, and INVALID_ARGUMENT for the values that make no
//! sense.
//!
//! proto3 cannot tell an unset number from zero, and the seed's own client
//! sends only a prompt, so 0 means "the server's default" for `max_length`,
//! `top_p` and `temperature`. `python/chat_model.py` applies the same rules.

use std::fmt;

use crate::aihub::ChatRequest;
use crate::model::{Sampling, is_blank};

/// Reply length when the request says 0: long enough for a few sentences,
/// short enough to stream in about two seconds at the server's default
/// token delay.
pub const DEFAULT_MAX_LENGTH: usize = 64;
/// The longest reply the server generates: a bound on the work one request
/// can ask for.
pub const MAX_LENGTH_LIMIT: usize = 2048;
/// Temperature when the request says 0: a little sharper than the corpus's
/// own frequencies.
pub const DEFAULT_TEMPERATURE: f64 = 0.8;
/// top_p when the request says 0: leaves out the rarest tenth of the
/// weight.
pub const DEFAULT_TOP_P: f64 = 0.9;

/// What is wrong with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in `chat.proto`.
    pub field: &'static str,
    /// Why the value was refused.
    pub reason: String,
}

/// Every field of a request that was refused; becomes INVALID_ARGUMENT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The refused fields, in the order of `chat.proto`.
    pub errors: Vec<FieldError>,
}

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for BadRequest {}

impl From<BadRequest> for ferry::Status {
    fn from(bad: BadRequest) -> ferry::Status {
        ferry::Status::invalid_argument(bad.to_string())
    }
}

/// Checks `request` and fills in the defaults.
pub fn sampling(request: &ChatRequest) -> Result<Sampling, BadRequest> {
    let mut errors = Vec::new();
    let mut refuse = |field, reason: String| errors.push(FieldError { field, reason });

    if is_blank(&request.prompt) {
        refuse(
            "prompt",
            "is empty (or only spaces); send the text the model should reply to".to_owned(),
        );
    }

    let max_length = match request.max_length {
        0 => DEFAULT_MAX_LENGTH,
        n if n < 0 => {
            refuse(
                "max_length",
                format!(
                    "{n} is negative; send the most tokens the reply may have, or 0 for the \
                     server's default ({DEFAULT_MAX_LENGTH})"
                ),
            );
            DEFAULT_MAX_LENGTH
        }
        n if n as usize > MAX_LENGTH_LIMIT => {
            refuse(
                "max_length",
                format!("{n} is above the server's limit of {MAX_LENGTH_LIMIT} tokens"),
            );
            DEFAULT_MAX_LENGTH
        }
        n => n as usize,
    };

    let top_p = f64::from(request.top_p);
    let top_p = if top_p.is_nan() {
        refuse("top_p", "is NaN; send a number in (0, 1]".to_owned());
        DEFAULT_TOP_P
    } else if top_p < 0.0 {
        refuse(
            "top_p",
            format!(
                "{} is negative; send a share of the probability in (0, 1], or 0 for the \
                 server's default ({DEFAULT_TOP_P})",
                request.top_p
            ),
        );
        DEFAULT_TOP_P
    } else if top_p > 1.0 {
        refuse(
            "top_p",
            format!(
                "{} is above 1; send a share of the probability in (0, 1], or 0 for the \
                 server's default ({DEFAULT_TOP_P})",
                request.top_p
            ),
        );
        DEFAULT_TOP_P
    } else if top_p == 0.0 {
        DEFAULT_TOP_P
    } else {
        top_p
    };

    let temperature = f64::from(request.temperature);
    let temperature = if !temperature.is_finite() {
        refuse(
            "temperature",
            format!(
                "{} is not a finite number; send a positive number",
                request.temperature
            ),
        );
        DEFAULT_TEMPERATURE
    } else if temperature < 0.0 {
        refuse(
            "temperature",
            format!(
                "{} is negative; send a positive number (lower is more predictable), or 0 for \
                 the server's default ({DEFAULT_TEMPERATURE})",
                request.temperature
            ),
        );
        DEFAULT_TEMPERATURE
    } else if temperature == 0.0 {
        DEFAULT_TEMPERATURE
    } else {
        temperature
    };

    if errors.is_empty() {
        Ok(Sampling {
            max_length,
            temperature,
            top_p,
        })
    } else {
        Err(BadRequest { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(prompt: &str) -> ChatRequest {
        ChatRequest {
            prompt: prompt.to_owned(),
            ..ChatRequest::default()
        }
    }

    fn refused(request: &ChatRequest) -> Vec<&'static str> {
        sampling(request)
            .expect_err("refused")
            .errors
            .iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn zeros_take_the_defaults() {
        assert_eq!(
            sampling(&request("hi")),
            Ok(Sampling {
                max_length: DEFAULT_MAX_LENGTH,
                temperature: DEFAULT_TEMPERATURE,
                top_p: DEFAULT_TOP_P,
            })
        );
        // -0.0 is zero, not negative.
        let mut r = request("hi");
        r.temperature = -0.0;
        r.top_p = -0.0;
        assert!(sampling(&r).is_ok());
    }

    #[test]
    fn values_pass_through() {
        let mut r = request("hi");
        r.max_length = 7;
        r.top_p = 1.0;
        r.temperature = 0.5;
        assert_eq!(
            sampling(&r),
            Ok(Sampling {
                max_length: 7,
                temperature: 0.5,
                top_p: 1.0,
            })
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(refused(&request("")), ["prompt"]);
        assert_eq!(refused(&request(" \n\t")), ["prompt"]);
        let mut r = request("hi");
        r.max_length = -1;
        assert_eq!(refused(&r), ["max_length"]);
        r.max_length = MAX_LENGTH_LIMIT as i32 + 1;
        assert_eq!(refused(&r), ["max_length"]);
        let mut r = request("hi");
        r.top_p = 1.5;
        assert_eq!(refused(&r), ["top_p"]);
        r.top_p = -0.25;
        assert_eq!(refused(&r), ["top_p"]);
        r.top_p = f32::NAN;
        assert_eq!(refused(&r), ["top_p"]);
        let mut r = request("hi");
        r.temperature = -2.0;
        assert_eq!(refused(&r), ["temperature"]);
        r.temperature = f32::INFINITY;
        assert_eq!(refused(&r), ["temperature"]);
    }

    #[test]
    fn the_message_says_which_field_and_why() {
        let mut r = request("");
        r.max_length = -5;
        r.top_p = 1.5;
        r.temperature = -0.5;
        let status = ferry::Status::from(sampling(&r).unwrap_err());
        assert_eq!(status.code(), ferry::Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "prompt: is empty (or only spaces); send the text the model should reply to; \
             max_length: -5 is negative; send the most tokens the reply may have, or 0 for the \
             server's default (64); \
             top_p: 1.5 is above 1; send a share of the probability in (0, 1], or 0 for the \
             server's default (0.9); \
             temperature: -0.5 is negative; send a positive number (lower is more \
             predictable), or 0 for the server's default (0.8)"
        );
    }
}

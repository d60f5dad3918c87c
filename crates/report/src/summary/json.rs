//! `summary.json`: the [`Summary`] as JSON (schema `servebench.summary/1`), every figure with
//! its interval, for programs that read a report (`docs/results-schema.md`).

use serde::{Deserialize, Serialize};

use super::Summary;

/// The schema `summary.json` carries.
pub const SUMMARY_SCHEMA: &str = "servebench.summary/1";

#[derive(Serialize)]
struct Out<'a> {
    schema: &'static str,
    #[serde(flatten)]
    summary: &'a Summary,
}

#[derive(Deserialize)]
struct In {
    schema: String,
    #[serde(flatten)]
    summary: Summary,
}

impl Summary {
    /// The summary as `summary.json` (pretty-printed, schema [`SUMMARY_SCHEMA`]).
    pub fn to_json(&self) -> String {
        // A summary holds only strings, numbers, booleans, lists and maps with string keys.
        serde_json::to_string_pretty(&Out { schema: SUMMARY_SCHEMA, summary: self })
            .unwrap_or_else(|e| unreachable!("a summary serializes: {e}"))
    }

    /// Reads a `summary.json` back; `Err` says why it is not one.
    pub fn from_json(text: &str) -> std::result::Result<Self, String> {
        let v: In = serde_json::from_str(text).map_err(|e| format!("malformed summary: {e}"))?;
        if v.schema != SUMMARY_SCHEMA {
            return Err(format!("unsupported schema `{}` (this report reads `{SUMMARY_SCHEMA}`)", v.schema));
        }
        Ok(v.summary)
    }
}

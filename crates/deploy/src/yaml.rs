//! A block-style YAML writer for JSON values: enough for Anyscale service files, without a
//! YAML dependency. Strings are always double-quoted with JSON escapes, which YAML reads
//! the same way, so no value can change type or meaning. In every mapping `name` comes
//! first, then the other keys in order.

use serde_json::Value;

/// `value` (an object) as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Array(a) if a.is_empty() => "[]".to_owned(),
        Value::Object(m) if m.is_empty() => "{}".to_owned(),
        // Non-empty containers are written in block style by the callers.
        other => other.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    match value {
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
        _ => false,
    }
}

fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { k.to_owned() } else { Value::String(k.to_owned()).to_string() }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    let pad = " ".repeat(indent);
    let entries = map
        .iter()
        .filter(|(k, _)| k.as_str() == "name")
        .chain(map.iter().filter(|(k, _)| k.as_str() != "name"));
    for (k, v) in entries {
        out.push_str(&pad);
        out.push_str(&key(k));
        out.push(':');
        match v {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                write_map(out, m, indent + 2);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_list(out, a, indent);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn write_list(out: &mut String, list: &[Value], indent: usize) {
    let pad = " ".repeat(indent);
    for item in list {
        out.push_str(&pad);
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => {
                let mut inner = String::new();
                write_map(&mut inner, m, indent + 2);
                // The first line goes after "- ", without its indentation.
                out.push_str(inner.trim_start_matches(' '));
            }
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                write_list(out, a, indent + 2);
            }
            other => {
                debug_assert!(!is_block(other));
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

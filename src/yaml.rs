//! YAML that every reader reads the same.
//!
//! serde_yaml writes YAML 1.2, where `off`, `no` and `y` are strings, and
//! leaves them unquoted. YAML 1.1 readers (PyYAML, the one most scripts
//! use) read them as booleans: a fusion file's association `off: 1.06`
//! becomes `False: 1.06`, and the words `off` and `no` collide. [`to_string`]
//! quotes those words wherever they stand alone as a key or a value, so the
//! file means the same to both.

use serde::Serialize;

/// The plain scalars YAML 1.1 reads as booleans that YAML 1.2 reads as
/// strings (`true` and `false` are booleans in both, and serde_yaml quotes
/// them already).
const YAML_1_1_BOOLEANS: &[&str] = &[
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF",
];

/// `serde_yaml::to_string`, with the YAML 1.1 booleans quoted.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_yaml::Error> {
    Ok(quote_yaml_1_1_booleans(&serde_yaml::to_string(value)?))
}

fn quote_if_boolean(scalar: &str) -> String {
    if YAML_1_1_BOOLEANS.contains(&scalar) {
        format!("'{scalar}'")
    } else {
        scalar.to_owned()
    }
}

/// Quotes the YAML 1.1 booleans of serde_yaml's block-style output: plain
/// keys and plain values that are one of those words, outside block
/// scalars (`|`), whose lines are left as they are.
fn quote_yaml_1_1_booleans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // The column a block scalar's lines are indented beyond.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let indent = body.len() - body.trim_start().len();
        if let Some(column) = block {
            if body.trim().is_empty() || indent > column {
                out.push_str(line);
                continue;
            }
            block = None;
        }
        let mut column = indent;
        let mut rest = &body[indent..];
        while let Some(after) = rest.strip_prefix("- ") {
            column += 2;
            rest = after;
        }
        out.push_str(&body[..column]);
        // `key: value`, `key:` or a lone scalar. A plain value holds no
        // ": ", so the last one ends the key; where a quoted key holds one,
        // the pieces are not booleans and go back unchanged.
        let value = if let Some((key, value)) = rest.rsplit_once(": ") {
            out.push_str(&quote_if_boolean(key));
            out.push_str(": ");
            value
        } else if let Some(key) = rest.strip_suffix(':') {
            out.push_str(&quote_if_boolean(key));
            out.push(':');
            ""
        } else {
            // A sequence item's own block scalar is indented beyond its dash.
            column = indent;
            rest
        };
        if value.starts_with('|') || value.starts_with('>') {
            block = Some(column);
        }
        out.push_str(&quote_if_boolean(value));
        out.push_str(&line[body.len()..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml::Value;
    use std::collections::BTreeMap;

    #[test]
    fn yaml_1_1_booleans_are_quoted_as_keys_and_values_and_nothing_else() {
        let mut words = BTreeMap::new();
        words.insert("off", 1.5);
        words.insert("offset", 0.5);
        words.insert("no", 2.0);
        let value = serde_json::json!({
            "associations": {"on": words, "y": {"n": 1.0}},
            "cases": [
                {"id": "a", "title": "off", "impact": "line one\noff: kept\n- no\n"},
                {"title": "yes", "tags": ["no", "NO", "nope", "Off"]},
                {"a": "one\noff", "b": "no"},
            ],
            "key: with colon": "off",
            "'quoted' key": "ON",
            "plain": "yes: and more",
        });
        let text = to_string(&value).unwrap();
        for quoted in [
            "'on':",
            "'off': 1.5",
            "offset: 0.5",
            "'no': 2.0",
            "'y':",
            "'n': 1.0",
            "title: 'off'",
            "title: 'yes'",
            "- 'no'",
            "- 'NO'",
            "- nope",
            "- 'Off'",
            ": 'ON'",
            "  off: kept",
            "  - no",
            "- a: |-\n    one\n    off\n  b: 'no'",
            "'key: with colon': 'off'",
        ] {
            assert!(text.contains(quoted), "{quoted:?} not in\n{text}");
        }
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, serde_yaml::to_value(&value).unwrap());
    }
}

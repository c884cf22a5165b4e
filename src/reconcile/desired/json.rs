//! Strict JSON reading for the desired-state document.
//!
//! Owns two things: a reader that turns bytes into a `serde_json::Value`
//! while rejecting duplicate object keys (serde_json's own `Value` keeps the
//! last one silently) and bounding the number of JSON values (so a 4 MiB
//! `[0,0,0,...]` cannot grow into tens of MiB of tree), and a walker over an
//! object that knows its JSON path, so every schema error names the exact key
//! (`desired_state.guests[3].cores`).
//!
//! Trusts nothing: the bytes come from a file or the hub. Nesting depth is
//! bounded by serde_json's recursion limit (128).
//!
//! Walker rules: each accessor marks its key as seen; [`Obj::finish`] rejects
//! any key no accessor asked for. A key present with `null` counts as absent
//! (a hub serializing an unset optional field as `null` means "not managed").

use super::DesiredError;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

/// Longest key quoted back in an error; keys are untrusted and an error
/// message must stay one readable line.
const MAX_QUOTED_KEY: usize = 64;

/// An untrusted key as an error shows it: bare when it is a plain name
/// (`cores`), else cut to [`MAX_QUOTED_KEY`] characters and quoted with its
/// control characters escaped (`"x\nX audit: ..."`), so an error message,
/// wherever it is printed or logged, stays one line and shows what the
/// document really holds.
fn shown_key(key: &str) -> String {
    let cut: String = key.chars().take(MAX_QUOTED_KEY).collect();
    let plain = !cut.is_empty()
        && cut
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain { cut } else { format!("{cut:?}") }
}

/// Parses `bytes` as one JSON value, with at most `max_values` values in it.
pub(super) fn read_strict(bytes: &[u8], max_values: usize) -> Result<Value, DesiredError> {
    let budget = Cell::new(max_values);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed { budget: &budget }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| syntax(&e))?;
    Ok(value)
}

fn syntax(e: &serde_json::Error) -> DesiredError {
    DesiredError::Syntax {
        line: e.line(),
        column: e.column(),
        detail: e.to_string(),
    }
}

/// Deserializes one value, charging it to the shared budget.
#[derive(Clone, Copy)]
struct Seed<'b> {
    budget: &'b Cell<usize>,
}

impl Seed<'_> {
    fn charge<E: de::Error>(&self) -> Result<(), E> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(E::custom("document has too many JSON values")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge()?;
        // Kept as a number so the walker can say "expected an integer".
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge()?;
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {}",
                    shown_key(&key)
                )));
            }
            let v = map.next_value_seed(self)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// An object being read, with its JSON path.
pub(super) struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    seen: BTreeSet<&'a str>,
}

impl<'a> Obj<'a> {
    pub(super) fn new(path: String, v: &'a Value) -> Result<Obj<'a>, DesiredError> {
        match v {
            Value::Object(map) => Ok(Obj {
                path,
                map,
                seen: BTreeSet::new(),
            }),
            other => Err(DesiredError::WrongType {
                path: display_path(&path),
                expected: "an object",
                found: kind(other),
            }),
        }
    }

    pub(super) fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(key)?;
        self.seen.insert(k.as_str());
        (!v.is_null()).then_some(v)
    }

    fn wrong(&self, key: &str, expected: &'static str, found: &Value) -> DesiredError {
        DesiredError::WrongType {
            path: self.path(key),
            expected,
            found: kind(found),
        }
    }

    fn required<T>(&self, key: &str, v: Option<T>) -> Result<T, DesiredError> {
        v.ok_or_else(|| DesiredError::MissingKey {
            path: self.path(key),
        })
    }

    pub(super) fn opt_u64(&mut self, key: &str) -> Result<Option<u64>, DesiredError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative integer", v)),
            Some(other) => Err(self.wrong(key, "a non-negative integer", other)),
        }
    }

    pub(super) fn u64(&mut self, key: &str) -> Result<u64, DesiredError> {
        let v = self.opt_u64(key)?;
        self.required(key, v)
    }

    pub(super) fn opt_str(&mut self, key: &str) -> Result<Option<&'a str>, DesiredError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub(super) fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, DesiredError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A key's value as is (`None` if absent or `null`), for a nested
    /// object parsed by its own walker.
    pub(super) fn opt_value(&mut self, key: &str) -> Option<&'a Value> {
        self.get(key)
    }

    pub(super) fn obj(&mut self, key: &str) -> Result<Obj<'a>, DesiredError> {
        let v = self.get(key);
        let v = self.required(key, v)?;
        Obj::new(self.path(key), v)
    }

    pub(super) fn array(&mut self, key: &str) -> Result<&'a [Value], DesiredError> {
        match self.get(key) {
            None => Err(DesiredError::MissingKey {
                path: self.path(key),
            }),
            Some(Value::Array(items)) => Ok(items.as_slice()),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    /// Rejects keys that no accessor consumed.
    pub(super) fn finish(&self) -> Result<(), DesiredError> {
        match self.map.keys().find(|k| !self.seen.contains(k.as_str())) {
            Some(k) => Err(DesiredError::UnknownKey {
                path: self.path(&shown_key(k)),
            }),
            None => Ok(()),
        }
    }
}

fn display_path(path: &str) -> String {
    if path.is_empty() {
        "(root)".to_string()
    } else {
        path.to_string()
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() => "an integer",
        Value::Number(n) if n.is_i64() => "a negative integer",
        Value::Number(_) => "a number with a fraction or exponent",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

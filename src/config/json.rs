//! A strict walker over a parsed JSON object that knows its own path, so
//! every schema error names the exact key (`proxmox.tls.ca_file`).
//!
//! Each accessor marks its key as seen; [`Obj::finish`] rejects any key that
//! no accessor asked for. A key present with `null` counts as absent.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::fmt;

/// A schema problem at a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

impl std::error::Error for PathError {}

pub struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
    seen: BTreeSet<&'a str>,
}

impl<'a> Obj<'a> {
    pub fn root(v: &'a Value) -> Result<Obj<'a>, PathError> {
        Obj::new(String::new(), v)
    }

    fn new(path: String, v: &'a Value) -> Result<Obj<'a>, PathError> {
        match v {
            Value::Object(map) => Ok(Obj {
                path,
                map,
                seen: BTreeSet::new(),
            }),
            other => Err(PathError {
                path,
                message: format!("expected an object, found {}", kind(other)),
            }),
        }
    }

    fn child_path(&self, key: &str) -> String {
        match (self.path.is_empty(), key.is_empty()) {
            (_, true) => self.path.clone(),
            (true, false) => key.to_string(),
            (false, false) => format!("{}.{key}", self.path),
        }
    }

    /// An error at `self.path.key` (or at `self.path` when `key` is empty).
    pub fn error(&self, key: &str, message: &str) -> PathError {
        PathError {
            path: self.child_path(key),
            message: message.to_string(),
        }
    }

    fn get(&mut self, key: &str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(key)?;
        self.seen.insert(k.as_str());
        (!v.is_null()).then_some(v)
    }

    fn missing(&self, key: &str) -> PathError {
        self.error(key, "required key is missing")
    }

    fn wrong(&self, key: &str, expected: &str, found: &Value) -> PathError {
        self.error(key, &format!("expected {expected}, found {}", kind(found)))
    }

    pub fn str(&mut self, key: &str) -> Result<&'a str, PathError> {
        self.opt_str(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_str(&mut self, key: &str) -> Result<Option<&'a str>, PathError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    pub fn opt_u64(&mut self, key: &str) -> Result<Option<u64>, PathError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a non-negative integer", v)),
            Some(other) => Err(self.wrong(key, "a non-negative integer", other)),
        }
    }

    pub fn opt_bool(&mut self, key: &str) -> Result<Option<bool>, PathError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(key, "true or false", other)),
        }
    }

    /// A required array (its items are checked by the caller, which names
    /// them `key[i]`).
    pub fn array(&mut self, key: &str) -> Result<&'a [Value], PathError> {
        match self.get(key) {
            None => Err(self.missing(key)),
            Some(Value::Array(items)) => Ok(items.as_slice()),
            Some(other) => Err(self.wrong(key, "an array", other)),
        }
    }

    pub fn obj(&mut self, key: &str) -> Result<Obj<'a>, PathError> {
        self.opt_obj(key)?.ok_or_else(|| self.missing(key))
    }

    pub fn opt_obj(&mut self, key: &str) -> Result<Option<Obj<'a>>, PathError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => Obj::new(self.child_path(key), v).map(Some),
        }
    }

    /// The object's keys, sorted (serde_json's map, without its
    /// `preserve_order` feature, keeps no document order).
    pub fn keys(&self) -> Vec<&'a str> {
        self.map.keys().map(String::as_str).collect()
    }

    /// Rejects keys that no accessor consumed.
    pub fn finish(&self) -> Result<(), PathError> {
        match self.map.keys().find(|k| !self.seen.contains(k.as_str())) {
            Some(k) => Err(self.error(k, "unknown key")),
            None => Ok(()),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

//! Loading TOML configuration files with errors that name the file, the line and the field.
//!
//! Every configuration file of mortalsim (device files, later experiment files) is read through
//! [`parse_toml`]: serde does the typing, and any error — a syntax error, an unknown field, a wrong
//! type, or a range check found later by validation ([`ConfigError::at_field`]) — is reported as
//! `FILE:LINE:COLUMN: field `a.b`: message`.

use serde::de::DeserializeOwned;
use std::fmt;
use toml::de::{DeTable, DeValue};

/// An error in a configuration file, located by file, line, column and field path.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The file's path (or a label such as `preset ideal` for embedded files).
    pub file: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending value, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending field (`response.dw_min`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the whole file (it cannot be read, for example).
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_string(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// An error about the field at dotted `path` in the TOML source `src`; the line and column
    /// are those of the field's value, or of its table when the field is absent.
    pub fn at_field(src: &str, file: &str, path: &str, message: impl Into<String>) -> Self {
        let (line, column) = match locate(src, path) {
            Some(offset) => {
                let (l, c) = line_col(src, offset);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ConfigError {
            file: file.to_string(),
            line,
            column,
            field: Some(path.to_string()),
            message: message.into(),
        }
    }
}

/// Reads a text file, saying what is wrong in words a user can act on: a UTF-16 file (as some
/// Windows editors save) is named as such, any other non-UTF-8 file as not UTF-8.
pub fn read_text(path: &std::path::Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let utf16 = bytes.starts_with(&[0xFF, 0xFE])
        || bytes.starts_with(&[0xFE, 0xFF])
        || (bytes.len() >= 4 && (bytes[1] == 0 && bytes[3] == 0 || bytes[0] == 0 && bytes[2] == 0));
    String::from_utf8(bytes).map_err(|e| {
        if utf16 {
            "the file is UTF-16 text; save it as UTF-8".to_string()
        } else {
            format!("not UTF-8 text ({e})")
        }
    })
}

/// Parses `src` (the contents of `file`) into `T`, turning serde/TOML errors into [`ConfigError`]s
/// with line, column and the path of the field whose value is at fault.
pub fn parse_toml<T: DeserializeOwned>(src: &str, file: &str) -> Result<T, ConfigError> {
    // As a plain TOML table first: an integer beyond TOML's 64-bit signed range (which a `u64`
    // field alone would take, and which no table could hold again) is refused at its place.
    toml::from_str::<toml::Table>(src)
        .map(drop)
        .and_then(|()| toml::from_str::<T>(src))
        .map_err(|e| {
            let (line, column, field) = match e.span() {
                Some(span) => {
                    let (l, c) = line_col(src, span.start);
                    (Some(l), Some(c), field_at(src, span.start))
                }
                None => (None, None, None),
            };
            ConfigError {
                file: file.to_string(),
                line,
                column,
                field,
                message: match e.message().trim() {
                    m if m.contains("value was too large") => format!(
                    "{m}: TOML integers go up to {} (use a float, e.g. 1e20, where one is allowed)",
                    i64::MAX
                ),
                    m => m.to_string(),
                },
            }
        })
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Byte offset of the value at dotted `path` (a numeric segment indexes an array:
/// `sweep.1.values`); when the field is absent, the offset of the deepest table or value on the
/// path that exists.
fn locate(src: &str, path: &str) -> Option<usize> {
    let root = DeTable::parse(src).ok()?;
    let mut value: Option<&toml::de::DeValue<'_>> = None;
    let mut table: Option<&DeTable<'_>> = Some(root.get_ref());
    let mut found = None;
    for key in path.split('.') {
        let next = match (table, value) {
            (Some(t), _) => t
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == key)
                .map(|(k, v)| {
                    let at = if v.get_ref().is_table() {
                        k.span().start
                    } else {
                        v.span().start
                    };
                    (at, v.get_ref())
                }),
            (None, Some(DeValue::Array(a))) => key
                .parse::<usize>()
                .ok()
                .and_then(|i| a.get(i))
                .map(|v| (v.span().start, v.get_ref())),
            _ => None,
        };
        let Some((at, v)) = next else {
            return found;
        };
        found = Some(at);
        table = match v {
            DeValue::Table(t) => Some(t),
            _ => None,
        };
        value = Some(v);
    }
    found
}

/// Dotted path of the innermost key whose key or value span contains `offset`.
fn field_at(src: &str, offset: usize) -> Option<String> {
    fn search(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>) -> bool {
        for (k, v) in table.iter() {
            path.push(k.get_ref().to_string());
            // A `[section]` table's own span covers only its header: always look inside.
            if let DeValue::Table(t) = v.get_ref() {
                if search(t, offset, path) {
                    return true;
                }
            }
            let (ks, vs) = (k.span(), v.span());
            let hit =
                |s: std::ops::Range<usize>| s.start <= offset && offset < s.end.max(s.start + 1);
            if hit(ks) || (!v.get_ref().is_table() && hit(vs)) {
                return true;
            }
            path.pop();
        }
        false
    }
    let root = DeTable::parse(src).ok()?;
    let mut path = Vec::new();
    search(root.get_ref(), offset, &mut path).then(|| path.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        x: f64,
    }
    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    #[test]
    fn wrong_type_names_line_and_field() {
        let src = "name = \"a\"\n[inner]\nx = \"oops\"\n";
        let e = parse_toml::<Outer>(src, "f.toml").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.field.as_deref(), Some("inner.x"));
        assert!(e.to_string().starts_with("f.toml:3:"), "{e}");
    }

    #[test]
    fn unknown_field_is_named() {
        let src = "name = \"a\"\n[inner]\nx = 1.0\ny = 2\n";
        let e = parse_toml::<Outer>(src, "f.toml").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("unknown field `y`"), "{e}");
    }

    #[test]
    fn validation_error_locates_value() {
        let src = "name = \"a\"\n[inner]\nx = -1.0\n";
        let e = ConfigError::at_field(src, "f.toml", "inner.x", "must be > 0");
        assert_eq!((e.line, e.column), (Some(3), Some(5)));
        assert_eq!(e.to_string(), "f.toml:3:5: field `inner.x`: must be > 0");
    }

    #[test]
    fn array_elements_are_located() {
        let src = "a = 1\n[[sweep]]\npath = \"x\"\n[[sweep]]\npath = \"y\"\nvalues = [1, 2]\n";
        let e = ConfigError::at_field(src, "f.toml", "sweep.1.values", "bad");
        assert_eq!(e.line, Some(6));
        let e = ConfigError::at_field(src, "f.toml", "sweep.1.values.1", "bad");
        assert_eq!((e.line, e.column), (Some(6), Some(14)));
        let e = ConfigError::at_field(src, "f.toml", "sweep.0.path", "bad");
        assert_eq!(e.line, Some(3));
    }
}

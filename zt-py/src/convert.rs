//! Python values ⇄ zt-core values, without a detour through JSON text on the request path.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted in a `device` or `resource` value (a hostile value cannot exhaust
/// the stack).
const MAX_DEPTH: u32 = 64;

fn type_error(name: &str, what: &str) -> PyErr {
    PyTypeError::new_err(format!("`{name}` {what}"))
}

/// A JSON-like Python value (dict with str keys, list, tuple, str, int, float, bool, None) as a
/// JSON value; anything else is a `TypeError` naming the argument.
pub(crate) fn to_value(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(name, obj, 0)
}

fn to_value_at(name: &str, obj: &Bound<'_, PyAny>, depth: u32) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(type_error(name, "is nested too deeply"));
    }
    let not_json = || {
        type_error(
            name,
            "must hold only dict (str keys), list, tuple, str, int, float, bool and None values",
        )
    };
    if obj.is_none() {
        Ok(Value::Null)
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Ok(Value::Bool(b.is_true()))
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(Value::String(text(name, s)?))
    } else if obj.cast::<PyInt>().is_ok() {
        if let Ok(i) = obj.extract::<i64>() {
            Ok(Value::from(i))
        } else if let Ok(u) = obj.extract::<u64>() {
            Ok(Value::from(u))
        } else {
            Err(type_error(name, "holds an integer out of the 64-bit range"))
        }
    } else if let Ok(f) = obj.cast::<PyFloat>() {
        Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| type_error(name, "holds a NaN or infinite float"))
    } else if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let k = k.cast::<PyString>().map_err(|_| not_json())?;
            map.insert(text(name, k)?, to_value_at(name, &v, depth + 1)?);
        }
        Ok(Value::Object(map))
    } else if let Ok(l) = obj.cast::<PyList>() {
        l.iter()
            .map(|v| to_value_at(name, &v, depth + 1))
            .collect::<PyResult<_>>()
            .map(Value::Array)
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        t.iter()
            .map(|v| to_value_at(name, &v, depth + 1))
            .collect::<PyResult<_>>()
            .map(Value::Array)
    } else {
        Err(not_json())
    }
}

/// A Python `str` as UTF-8 (lone surrogates are a `TypeError` naming the argument).
fn text(name: &str, s: &Bound<'_, PyString>) -> PyResult<String> {
    s.to_cow()
        .map(|c| c.into_owned())
        .map_err(|_| type_error(name, "holds a str that is not valid Unicode"))
}

/// A `str` argument.
pub(crate) fn string(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let s = obj
        .cast::<PyString>()
        .map_err(|_| type_error(name, "must be a str"))?;
    text(name, s)
}

/// A `str` or `bytes` header name or value as bytes.
fn header_bytes(name: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        Ok(b.as_bytes().to_vec())
    } else if let Ok(s) = obj.cast::<PyString>() {
        Ok(text(name, s)?.into_bytes())
    } else {
        Err(type_error(name, "must hold str or bytes names and values"))
    }
}

/// Headers given as a dict (`{name: value}`) or an iterable of `(name, value)` pairs, names and
/// values `str` or `bytes` (ASGI gives bytes; WSGI and users give str).
pub(crate) fn header_pairs(
    name: &str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<Vec<(Vec<u8>, Vec<u8>)>> {
    if let Ok(d) = obj.cast::<PyDict>() {
        return d
            .iter()
            .map(|(k, v)| Ok((header_bytes(name, &k)?, header_bytes(name, &v)?)))
            .collect();
    }
    if obj.cast::<PyString>().is_ok() || obj.cast::<PyBytes>().is_ok() {
        return Err(type_error(
            name,
            "must be a dict or a list of (name, value) pairs",
        ));
    }
    let iter = obj
        .try_iter()
        .map_err(|_| type_error(name, "must be a dict or a list of (name, value) pairs"))?;
    let mut out = Vec::new();
    for item in iter {
        let item = item?;
        let pair = item
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .map(|t| (t.get_item(0), t.get_item(1)));
        let pair = match pair {
            Some((Ok(k), Ok(v))) => (k, v),
            _ => {
                let list = item.cast::<PyList>().ok().filter(|l| l.len() == 2);
                match list.map(|l| (l.get_item(0), l.get_item(1))) {
                    Some((Ok(k), Ok(v))) => (k, v),
                    _ => return Err(type_error(name, "must hold (name, value) pairs")),
                }
            }
        };
        out.push((header_bytes(name, &pair.0)?, header_bytes(name, &pair.1)?));
    }
    Ok(out)
}

/// Header pairs as text for [`zt_core::Request::header`]; pairs that are not UTF-8 are left
/// out (zt-core reads only configured headers, and only as text).
pub(crate) fn text_headers(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(String, String)> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((String::from_utf8(k).ok()?, String::from_utf8(v).ok()?)))
        .collect()
}

/// A serialisable zt value as a Python object (dict, list, str, int, float, bool, None).
pub(crate) fn to_py<'py>(
    py: Python<'py>,
    value: &impl serde::Serialize,
) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(value).map_err(|e| PyValueError::new_err(e.to_string()))?;
    value_to_py(py, &value)
}

fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for v in a {
                list.append(value_to_py(py, v)?)?;
            }
            list.into_any()
        }
        Value::Object(m) => {
            let dict = PyDict::new(py);
            for (k, v) in m {
                dict.set_item(k, value_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

//! The model's own JSON form of a shape, for storing generated types: `to_json` writes a value as the
//! awsJson protocol would, `from_json` reads it back, so a service persists model types without
//! hand-written serde shapes.

use crate::model::Model;
use crate::typed::{ConvertError, FromValue, IntoValue};

fn shape_id(model: &Model, shape: &str) -> Result<usize, ConvertError> {
    model
        .shape_named(shape)
        .ok_or_else(|| ConvertError(format!("the model has no shape {shape}")))
}

/// `value` (of the model's shape `shape`) as JSON.
pub fn to_json<T: IntoValue>(
    model: &Model,
    shape: &str,
    value: T,
) -> Result<serde_json::Value, ConvertError> {
    let id = shape_id(model, shape)?;
    Ok(crate::json::write(model, id, &value.into_value(), None))
}

/// A value of the model's shape `shape` from JSON written by [`to_json`].
pub fn from_json<T: FromValue>(
    model: &Model,
    shape: &str,
    json: &serde_json::Value,
) -> Result<T, ConvertError> {
    let id = shape_id(model, shape)?;
    let value =
        crate::json::read(model, id, json, None).map_err(|e| ConvertError(e.to_string()))?;
    T::from_value(value)
}

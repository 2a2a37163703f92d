//! The OpenAPI document served at `/api/v1/openapi.json`, kept beside the code as JSON.

pub const DOCUMENT: &str = include_str!("../openapi.json");

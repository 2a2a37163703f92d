//! The OpenAPI document served at `/api/v1/openapi.json`, kept beside the code as JSON and
//! filled in with the running configuration (the hashtag cap, the default language).

use serde_json::Value;

pub const DOCUMENT: &str = include_str!("../openapi.json");

/// The document as this deployment behaves.
pub fn configured(
    max_hashtags: usize,
    default_language: &str,
) -> Result<String, serde_json::Error> {
    let mut document: Value = serde_json::from_str(DOCUMENT)?;
    let request = &mut document["components"]["schemas"]["GenerateRequest"]["properties"];
    request["hashtagCount"]["maximum"] = max_hashtags.into();
    request["hashtagCount"]["default"] = max_hashtags.into();
    request["language"]["default"] = default_language.into();
    serde_json::to_string(&document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_carries_the_configuration() {
        let document: Value = serde_json::from_str(&configured(3, "en-US").unwrap()).unwrap();
        let request = &document["components"]["schemas"]["GenerateRequest"]["properties"];
        assert_eq!(request["hashtagCount"]["maximum"], 3);
        assert_eq!(request["hashtagCount"]["default"], 3);
        assert_eq!(request["language"]["default"], "en-US");
    }

    /// The size limits the document states are the ones the code enforces.
    #[test]
    fn the_documented_size_limits_are_enforced_ones() {
        let document: Value = serde_json::from_str(DOCUMENT).unwrap();
        let limit = |path: &str, method: &str| {
            document["paths"][path][method]["responses"]["413"]["description"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let check = |path: &str, method: &str, bytes: usize| {
            let text = limit(path, method);
            assert!(text.contains(&bytes.to_string()), "{method} {path}: {text}");
        };
        check("/api/v1/generate", "post", generation::MAX_BODY_BYTES);
        check("/api/v1/drafts/{id}", "patch", crate::edit::MAX_EDIT_BYTES);
        check(
            "/api/v1/accounts/{id}/voice",
            "put",
            crate::voice::MAX_VOICE_BYTES,
        );
        check(
            "/api/v1/drafts/{id}/approve",
            "post",
            crate::body::MAX_ACTION_BODY_BYTES,
        );
    }
}

//! Public media: the stored images Instagram downloads when it publishes, and the
//! placeholder shown while an image is still being made. No token: Instagram fetches these
//! itself, and the keys are random.

use worker::{Env, Headers, Response};

use crate::reply::ApiError;

use platform::media::MEDIA_BINDING;

const PENDING_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="1080" height="1080" viewBox="0 0 1080 1080"><rect width="1080" height="1080" fill="#ece8f2"/><text x="540" y="560" font-family="sans-serif" font-size="44" text-anchor="middle" fill="#6b5b86">Image is being generated</text></svg>"##;

pub fn pending_placeholder() -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-type", "image/svg+xml")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("cache-control", "public, max-age=3600")?;
    Ok(Response::ok(PENDING_SVG)?.with_headers(headers))
}

pub async fn serve(env: &Env, key: &str) -> Result<Response, ApiError> {
    // Only keys this system writes; anything else is not looked up at all.
    if !key.starts_with("images/") || key.contains("..") {
        return Err(ApiError::NotFound("no such media".into()));
    }
    let object = env
        .bucket(MEDIA_BINDING)?
        .get(key)
        .execute()
        .await?
        .ok_or_else(|| ApiError::NotFound("no such media".into()))?;
    let content_type = object
        .http_metadata()
        .content_type
        .unwrap_or_else(|| "image/jpeg".into());
    let bytes = object
        .body()
        .ok_or_else(|| ApiError::NotFound("no such media".into()))?
        .bytes()
        .await?;
    let headers = Headers::new();
    headers.set("content-type", &content_type)?;
    // Keys are never reused, so the bytes behind one never change.
    headers.set("cache-control", "public, max-age=31536000, immutable")?;
    headers.set("etag", &object.http_etag())?;
    // The type is ours, never guessed from the bytes.
    headers.set("x-content-type-options", "nosniff")?;
    Ok(Response::from_bytes(bytes)?.with_headers(headers))
}

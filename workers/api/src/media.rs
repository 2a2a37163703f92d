//! Public media: the stored images Instagram downloads when it publishes, and the
//! placeholder shown while an image is still being made. No token: Instagram fetches these
//! itself, and the keys are random.

use worker::{Conditional, Env, Headers, Range as R2Range, Request, Response};

use crate::reply::ApiError;

use platform::media::{IMAGE_PREFIX, MEDIA_BINDING};

const PENDING_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="1080" height="1080" viewBox="0 0 1080 1080"><rect width="1080" height="1080" fill="#ece8f2"/><text x="540" y="560" font-family="sans-serif" font-size="44" text-anchor="middle" fill="#6b5b86">Image is being generated</text></svg>"##;

pub fn pending_placeholder() -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-type", "image/svg+xml")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("cache-control", "public, max-age=3600")?;
    Ok(Response::ok(PENDING_SVG)?.with_headers(headers))
}

/// `GET /media/{key}`: streamed from R2, with conditional (`If-None-Match` -> 304) and
/// single byte-range (`Range` -> 206, or 416 when it cannot be met) requests.
pub async fn serve(req: &Request, env: &Env, key: &str) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound("no such media".into());
    // Only keys this system writes; anything else is not looked up at all.
    if !key.starts_with(IMAGE_PREFIX) || key.contains("..") {
        return Err(not_found());
    }
    let bucket = env.bucket(MEDIA_BINDING)?;
    let if_none_match = req.headers().get("if-none-match")?;
    let range = req
        .headers()
        .get("range")?
        .and_then(|h| ByteRange::parse(&h));

    // A range needs the size first, to answer 416 or the exact Content-Range.
    let mut span = None;
    if let Some(range) = range {
        let head = bucket.head(key).await?.ok_or_else(not_found)?;
        let size = head.size();
        match range.resolve(size) {
            Some(resolved) => span = Some((resolved, size)),
            None => return unsatisfiable(size),
        }
    }
    let mut get = bucket.get(key);
    if let Some(tags) = if_none_match.as_deref().map(entity_tags) {
        match tags.as_slice() {
            // The common case, one tag: R2 compares it in the same round trip.
            [EntityTag::Tag(tag)] => {
                get = get.only_if(Conditional {
                    etag_does_not_match: Some(tag.clone()),
                    ..Conditional::default()
                });
            }
            // `*`, or a list: compare weakly with the current tag first (RFC 9110, 13.1.2).
            _ => {
                let head = bucket.head(key).await?.ok_or_else(not_found)?;
                let current = head.etag();
                let matches = tags.iter().any(|t| match t {
                    EntityTag::Any => true,
                    EntityTag::Tag(tag) => *tag == current,
                });
                if matches {
                    let headers = object_headers(&head.http_etag())?;
                    return Ok(Response::empty()?.with_status(304).with_headers(headers));
                }
            }
        }
    }
    if let Some(((offset, length), _)) = span {
        get = get.range(R2Range::OffsetWithLength { offset, length });
    }
    let object = get.execute().await?.ok_or_else(not_found)?;

    let headers = object_headers(&object.http_etag())?;
    let Some(body) = object.body() else {
        // The precondition failed: the client's copy is current.
        return Ok(Response::empty()?.with_status(304).with_headers(headers));
    };
    let content_type = object
        .http_metadata()
        .content_type
        .unwrap_or_else(|| "image/jpeg".into());
    headers.set("content-type", &content_type)?;
    let mut status = 200;
    if let Some(((offset, length), size)) = span {
        status = 206;
        headers.set(
            "content-range",
            &format!("bytes {offset}-{}/{size}", offset + length - 1),
        )?;
    }
    Ok(Response::from_body(body.response_body()?)?
        .with_status(status)
        .with_headers(headers))
}

/// One entry of an `If-None-Match` list, weak tags compared as strong ones (`W/` dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntityTag {
    Any,
    Tag(String),
}

pub(crate) fn entity_tags(header: &str) -> Vec<EntityTag> {
    header
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t == "*" {
                EntityTag::Any
            } else {
                let t = t.strip_prefix("W/").unwrap_or(t);
                EntityTag::Tag(t.trim_matches('"').to_owned())
            }
        })
        .collect()
}

/// What every answer about a stored object carries, a 304 included.
fn object_headers(etag: &str) -> Result<Headers, ApiError> {
    let headers = Headers::new();
    headers.set("etag", etag)?;
    // Keys are never reused, so the bytes behind one never change.
    headers.set("cache-control", "public, max-age=31536000, immutable")?;
    headers.set("accept-ranges", "bytes")?;
    // The type is ours, never guessed from the bytes.
    headers.set("x-content-type-options", "nosniff")?;
    Ok(headers)
}

fn unsatisfiable(size: u64) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("content-range", &format!("bytes */{size}"))?;
    headers.set("accept-ranges", "bytes")?;
    Ok(Response::empty()?.with_status(416).with_headers(headers))
}

/// One byte range of a `Range: bytes=...` header. Several ranges, or another unit, are
/// ignored (the whole object is sent), as RFC 9110 allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ByteRange {
    From(u64),
    FromTo(u64, u64),
    Last(u64),
}

impl ByteRange {
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (start, end) = spec.split_once('-')?;
        let number = |text: &str| text.trim().parse::<u64>().ok();
        match (start.trim().is_empty(), end.trim().is_empty()) {
            (true, false) => number(end).map(ByteRange::Last),
            (false, true) => number(start).map(ByteRange::From),
            (false, false) => {
                let (start, end) = (number(start)?, number(end)?);
                (start <= end).then_some(ByteRange::FromTo(start, end))
            }
            (true, true) => None,
        }
    }

    /// `(offset, length)` within an object of `size` bytes; `None` when unsatisfiable.
    pub(crate) fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From(start) if start < size => Some((start, size - start)),
            ByteRange::FromTo(start, end) if start < size => {
                Some((start, end.min(size - 1) - start + 1))
            }
            ByteRange::Last(n) if n > 0 && size > 0 => {
                let n = n.min(size);
                Some((size - n, n))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let tag = |t: &str| EntityTag::Tag(t.into());
        assert_eq!(entity_tags(r#""abc""#), vec![tag("abc")]);
        assert_eq!(entity_tags(r#"W/"abc""#), vec![tag("abc")]);
        assert_eq!(entity_tags(r#""x", W/"abc""#), vec![tag("x"), tag("abc")]);
        assert_eq!(entity_tags("*"), vec![EntityTag::Any]);
        assert_eq!(entity_tags(""), vec![]);
    }

    #[test]
    fn byte_ranges() {
        let check = |header: &str, size: u64, expected: Option<Option<(u64, u64)>>| {
            let got = ByteRange::parse(header).map(|r| r.resolve(size));
            assert_eq!(got, expected, "{header} of {size}");
        };
        check("bytes=0-99", 1000, Some(Some((0, 100))));
        check("bytes=900-", 1000, Some(Some((900, 100))));
        check("bytes=-100", 1000, Some(Some((900, 100))));
        check("bytes=-5000", 1000, Some(Some((0, 1000))));
        check("bytes=500-5000", 1000, Some(Some((500, 500))));
        check("bytes=1000-", 1000, Some(None));
        check("bytes=1000-1001", 1000, Some(None));
        check("bytes=-0", 1000, Some(None));
        // Ignored: the whole object is sent.
        check("bytes=5-1", 1000, None);
        check("bytes=0-1,5-6", 1000, None);
        check("items=0-1", 1000, None);
        check("bytes=x-", 1000, None);
    }
}

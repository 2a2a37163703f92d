//! What every review page shares: the layout (a `maud` template: text and attribute values
//! are escaped unless marked otherwise), times, the JSON data block, and the security headers.

use maud::{Markup, PreEscaped, html};
use worker::{Headers, Response};

use crate::reply::ApiError;

/// JSON for a `<script type="application/json">` block: `<` is escaped so the text can never
/// close the element, whatever a caption contains (the one place text goes in unescaped by
/// the templates: a script element's text is not HTML).
pub fn json_block(id: &str, value: &serde_json::Value) -> Markup {
    let json = value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    html! { script type="application/json" id=(id) { (PreEscaped(json)) } }
}

/// No inline script or style anywhere: the page's code is `app.js`, its looks `app.css`.
/// Images come only from this Worker (`/media/...`), and `data:` for the empty favicon.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Browsers that saw this over HTTPS use nothing else for the host for two years.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";

/// The headers every page and page asset carries.
pub fn security_headers(headers: &Headers) -> Result<(), ApiError> {
    // A page that set its own (the accounts page, which sends its form on to Instagram
    // Login) keeps it.
    if headers.get("content-security-policy")?.is_none() {
        headers.set("content-security-policy", CSP)?;
    }
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("x-frame-options", "DENY")?;
    headers.set("referrer-policy", "same-origin")?;
    headers.set("cross-origin-opener-policy", "same-origin")?;
    headers.set(
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    )?;
    Ok(())
}

pub fn page_response(status: u16, html: String) -> Result<Response, ApiError> {
    let headers = Headers::new();
    security_headers(&headers)?;
    headers.set("content-type", "text/html; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(html)?
        .with_status(status)
        .with_headers(headers))
}

/// A page whose forms may also go on to `origin` (a form's answer that redirects there is
/// held to `form-action` too).
pub fn page_response_sending_forms_to(
    status: u16,
    html: String,
    origin: &str,
) -> Result<Response, ApiError> {
    let response = page_response(status, html)?;
    let csp = CSP.replace(
        "form-action 'self'",
        &format!("form-action 'self' {origin}"),
    );
    response.headers().set("content-security-policy", &csp)?;
    Ok(response)
}

pub fn redirect(location: &str, cookie: Option<&str>) -> Result<Response, ApiError> {
    let headers = Headers::new();
    security_headers(&headers)?;
    headers.set("location", location)?;
    headers.set("cache-control", "no-store")?;
    if let Some(cookie) = cookie {
        headers.set("set-cookie", cookie)?;
    }
    Ok(Response::empty()?.with_status(303).with_headers(headers))
}

/// The frame of every page. `reviewer` is `None` on the sign-in page.
pub fn layout(title: &str, reviewer: Option<&str>, body: Markup) -> String {
    html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Review" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/review/assets/app.css";
                // `api.js` first: the scripts after it use what it defines.
                script src="/review/assets/api.js" defer {}
                script src="/review/assets/app.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    // Signed out (sign-in, a client's link) the name leads nowhere.
                    @if let Some(name) = reviewer {
                        a class="brand" href="/review" { "Post review" }
                        (navigation(name))
                    } @else {
                        span class="brand" { "Post review" }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
    .into_string()
}

fn navigation(reviewer: &str) -> Markup {
    html! {
        nav aria-label="Main" {
            a href="/review" { "Drafts" }
            a href="/review/up-next" { "Up next" }
            a href="/review/calendar" { "Calendar" }
            a href="/review/accounts" { "Accounts" }
            a href="/review/failures" { "Failures" }
            a href="/review/voice" { "Voice" }
            a href="/review/charts" { "Charts" }
            a href="/review/links" { "Client links" }
            form method="post" action="/review/logout" {
                button type="submit" class="link" { "Sign out " (reviewer) }
            }
            form method="post" action="/review/logout/everywhere" {
                button type="submit" class="link" title="Ends your sessions on every device" { "Sign out everywhere" }
            }
        }
    }
}

/// A `<time>` the page script shows in the reader's own zone, with the zone spelled out.
pub fn time(rfc3339: &str) -> Markup {
    html! { time datetime=(rfc3339) data-local { (rfc3339) } }
}

/// Publishing errors in words a person understands, by the classes the publish consumer
/// writes (`domain::error_class`, the one list: a class added there is a compile error here).
pub fn error_class_words(class: &str) -> &'static str {
    use domain::error_class::ErrorClass;
    match ErrorClass::parse(class) {
        Some(ErrorClass::TokenInvalid) => {
            "Instagram no longer accepts the access token: an operator must renew it"
        }
        Some(ErrorClass::RateLimited) => {
            "Instagram asked us to slow down (rate limit or publishing quota)"
        }
        Some(ErrorClass::Transient) => "Instagram had a temporary problem",
        Some(ErrorClass::Unavailable) => "Instagram could not be reached",
        Some(ErrorClass::NoAnswer) => "Instagram gave no answer in time",
        Some(ErrorClass::NotReady) => "Instagram was still processing the image",
        Some(ErrorClass::NeedsNewContainer) => {
            "Instagram's upload expired or failed; a new one was needed"
        }
        Some(ErrorClass::Permanent) => "Instagram refused the post",
        Some(ErrorClass::Malformed) => "Instagram answered with something unreadable",
        None => "Publishing failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Images on the pages come from this Worker only (and the empty `data:` favicon), not
    /// from any https site.
    #[test]
    fn images_only_from_this_site() {
        let img_src = CSP
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("img-src"))
            .unwrap();
        assert_eq!(img_src, "img-src 'self' data:");
    }

    /// Every class the consumer writes has its own words; a name off the list has none.
    #[test]
    fn every_error_class_written_has_its_words() {
        use domain::error_class::ErrorClass;
        let fallback = error_class_words("");
        let mut words: Vec<&str> = ErrorClass::ALL
            .iter()
            .map(|class| error_class_words(class.as_str()))
            .collect();
        assert!(!words.contains(&fallback));
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), ErrorClass::ALL.len());
        assert_eq!(error_class_words("quota"), fallback);
    }

    #[test]
    fn text_never_becomes_markup() {
        let hostile = r#"<img src=x onerror="alert(1)">'&"#;
        let page = layout(
            hostile,
            Some(hostile),
            html! { p title=(hostile) { (hostile) } },
        );
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains(r#"onerror="alert"#), "{page}");
        assert!(page.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'&amp;"));
        let block = json_block(
            "d",
            &serde_json::json!({ "caption": "</script><script>alert(1)</script>&" }),
        )
        .into_string();
        assert!(!block[..block.len() - "</script>".len()].contains("</script"));
        assert!(block.contains(r"\u003c/script\u003e"));
    }
}

//! Connecting an account: Instagram Login's authorization code flow (the authorize URL, the
//! code exchanged for a short-lived token, that token for a long-lived one) and the check of
//! a token against the Graph API (`/me`, or the account by id), as requests to send and
//! parsers of the answers.
//!
//! **Architecture Invariant:** no error built here quotes a token, a code or the app secret:
//! the requests carry them only in a form body or a query the shell never reports, and the
//! parsers' errors name what is wrong, never a value read.

use serde_json::Value;

use crate::error::{GraphError, clean_message};
use crate::request::{GraphRequest, form_urlencode};
use crate::response::{MAX_TOKEN_CHARS, RefreshedToken, parse_refreshed_token};

/// The permissions asked for: reading the account, publishing to it, and a post's first
/// comment.
pub const SCOPE: &str = "instagram_business_basic,instagram_business_content_publish,instagram_business_manage_comments";

/// Where Instagram Login's three hosts are: the authorization page (`www.instagram.com`),
/// the code exchange (`api.instagram.com`) and the Graph API (`graph.instagram.com`), and
/// the Instagram app.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginConfig {
    pub authorize_base_url: String,
    pub token_base_url: String,
    pub graph_base_url: String,
    pub app_id: String,
    pub app_secret: String,
}

impl std::fmt::Debug for LoginConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginConfig")
            .field("authorize_base_url", &self.authorize_base_url)
            .field("token_base_url", &self.token_base_url)
            .field("graph_base_url", &self.graph_base_url)
            .field("app_id", &self.app_id)
            .field("app_secret", &"[redacted]")
            .finish()
    }
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl LoginConfig {
    /// The page the reviewer's browser is sent to: it comes back to `redirect_uri` with
    /// `code` and `state`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        let query = form_urlencode(&[
            ("client_id".into(), self.app_id.clone()),
            ("redirect_uri".into(), redirect_uri.into()),
            ("response_type".into(), "code".into()),
            ("scope".into(), SCOPE.into()),
            ("state".into(), state.into()),
        ]);
        format!("{}/oauth/authorize?{query}", base(&self.authorize_base_url))
    }

    /// `POST /oauth/access_token`: the code for a short-lived token. The secret and the
    /// code travel in the form body only.
    pub fn exchange_code(&self, redirect_uri: &str, code: &str) -> GraphRequest {
        GraphRequest {
            method: "POST",
            url: format!("{}/oauth/access_token", base(&self.token_base_url)),
            form: vec![
                ("client_id".into(), self.app_id.clone()),
                ("client_secret".into(), self.app_secret.clone()),
                ("grant_type".into(), "authorization_code".into()),
                ("redirect_uri".into(), redirect_uri.into()),
                ("code".into(), code.into()),
            ],
            token_in_query: false,
        }
    }

    /// `GET /access_token?grant_type=ig_exchange_token&client_secret=...`: a short-lived
    /// token for a long-lived one (60 days). Meta takes the token as the `access_token`
    /// parameter here ([`GraphRequest::token_in_query`]); the URL holds the secret, so the
    /// shell reports no error text that could quote it.
    pub fn exchange_for_long_lived(&self) -> GraphRequest {
        let query = form_urlencode(&[
            ("grant_type".into(), "ig_exchange_token".into()),
            ("client_secret".into(), self.app_secret.clone()),
        ]);
        GraphRequest {
            method: "GET",
            url: format!("{}/access_token?{query}", base(&self.graph_base_url)),
            form: Vec::new(),
            token_in_query: true,
        }
    }
}

/// `GET {base}/{version}/me?fields=user_id,username`: whose token it is (Instagram Login).
pub fn me(graph_base_url: &str, api_version: &str) -> GraphRequest {
    GraphRequest {
        method: "GET",
        url: format!(
            "{}/{api_version}/me?fields=user_id,username",
            base(graph_base_url)
        ),
        form: Vec::new(),
        token_in_query: false,
    }
}

/// `GET {base}/{version}/{id}?fields=id,username`: the Instagram account a Facebook Login
/// (or system user) token is for, read with that token.
pub fn account(graph_base_url: &str, api_version: &str, id: &str) -> GraphRequest {
    GraphRequest {
        method: "GET",
        url: format!(
            "{}/{api_version}/{id}?fields=id,username",
            base(graph_base_url)
        ),
        form: Vec::new(),
        token_in_query: false,
    }
}

/// A token and the account it is for. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct ShortLivedToken {
    pub access_token: String,
    pub user_id: String,
}

impl std::fmt::Debug for ShortLivedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShortLivedToken")
            .field("access_token", &"[redacted]")
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// Whose a token is: the account's id and username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountIdentity {
    pub user_id: String,
    pub username: String,
}

/// The answer to the code exchange: `{"access_token": "...", "user_id": 17841400000000001,
/// "permissions": "..."}` (`user_id` a JSON number of 17 digits: read as an integer, never
/// through a float), or `{"data": [{...}]}` as Meta has also answered it. Errors come in
/// api.instagram.com's shape, `{"error_type", "code", "error_message"}`, or the Graph API's.
pub fn parse_short_lived(status: u16, body: &str) -> Result<ShortLivedToken, GraphError> {
    let value = oauth_success(status, body)?;
    let value = match value["data"].get(0) {
        Some(first) => first.clone(),
        None => value,
    };
    let access_token = token(&value["access_token"])?;
    let user_id = user_id(&value["user_id"])
        .ok_or_else(|| malformed("the code exchange named no user_id"))?;
    Ok(ShortLivedToken {
        access_token,
        user_id,
    })
}

/// The answer to the long-lived exchange: the same shape as a refresh's.
pub fn parse_long_lived(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<RefreshedToken, GraphError> {
    parse_refreshed_token(status, retry_after, body)
}

/// The answer to [`me`] or [`account`]: `user_id` (a number or a string of digits) or, when
/// absent, `id`; and `username`.
pub fn parse_identity(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
) -> Result<AccountIdentity, GraphError> {
    if !(200..=299).contains(&status) {
        return Err(crate::error::classify(status, retry_after, body));
    }
    let value: Value =
        serde_json::from_str(body).map_err(|_| malformed("the account's answer is not JSON"))?;
    if !value["error"].is_null() {
        return Err(crate::error::classify(status, retry_after, body));
    }
    let user_id = user_id(&value["user_id"])
        .or_else(|| user_id(&value["id"]))
        .ok_or_else(|| malformed("the account's answer has no user id"))?;
    let username = match value["username"].as_str() {
        Some(name) if domain::account::is_username(name) => name.to_owned(),
        Some(_) => return Err(malformed("the account's username is not a username")),
        None => return Err(malformed("the account's answer has no username")),
    };
    Ok(AccountIdentity { user_id, username })
}

/// An id as a JSON integer or a string of 1 to 30 digits; never a float.
fn user_id(value: &Value) -> Option<String> {
    let text = match value {
        Value::Number(n) => n.as_u64()?.to_string(),
        Value::String(s) => s.clone(),
        _ => return None,
    };
    (!text.is_empty()
        && text.len() <= domain::account::MAX_ID_DIGITS
        && text.bytes().all(|b| b.is_ascii_digit())
        && text != "0")
        .then_some(text)
}

fn token(value: &Value) -> Result<String, GraphError> {
    match value.as_str() {
        Some(token)
            if (1..=MAX_TOKEN_CHARS).contains(&token.len())
                && token.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(token.to_owned())
        }
        Some(_) => Err(malformed("the access_token given is not a token")),
        None => Err(malformed("the answer has no access_token")),
    }
}

/// A 2xx body without an error, or the error in either of Meta's shapes.
fn oauth_success(status: u16, body: &str) -> Result<Value, GraphError> {
    let value: Option<Value> = serde_json::from_str(body).ok();
    if let Some(value) = &value
        && let Some(message) = value["error_message"].as_str()
    {
        return Err(GraphError::Permanent {
            code: value["code"].as_i64(),
            subcode: None,
            message: clean_message(message),
        });
    }
    if !(200..=299).contains(&status) || value.as_ref().is_some_and(|v| !v["error"].is_null()) {
        return Err(crate::error::classify(status, None, body));
    }
    value.ok_or_else(|| malformed("the answer is not JSON"))
}

fn malformed(reason: &str) -> GraphError {
    GraphError::Malformed(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoginConfig {
        LoginConfig {
            authorize_base_url: "https://www.instagram.com/".into(),
            token_base_url: "https://api.instagram.com".into(),
            graph_base_url: "https://graph.instagram.com".into(),
            app_id: "990602627938098".into(),
            app_secret: "app-secret-value".into(),
        }
    }

    #[test]
    fn requests_carry_secrets_only_where_meta_reads_them() {
        let c = config();
        let url = c.authorize_url("https://x.example/review/accounts/callback", "st&ate");
        assert!(url.starts_with("https://www.instagram.com/oauth/authorize?client_id=990602627938098&redirect_uri=https%3A%2F%2Fx.example%2Freview%2Faccounts%2Fcallback&response_type=code&scope=instagram_business_basic%2Cinstagram_business_content_publish%2Cinstagram_business_manage_comments&state=st%26ate"), "{url}");
        assert!(!url.contains("app-secret-value"));
        let exchange = c.exchange_code("https://x/cb", "the-code");
        assert_eq!(exchange.url, "https://api.instagram.com/oauth/access_token");
        assert!(!exchange.url.contains("the-code"));
        assert!(exchange.body().unwrap().contains("code=the-code"));
        let long = c.exchange_for_long_lived();
        assert!(long.token_in_query);
        assert_eq!(
            long.url,
            "https://graph.instagram.com/access_token?grant_type=ig_exchange_token&client_secret=app-secret-value"
        );
        assert!(!format!("{c:?}").contains("app-secret-value"));
        assert_eq!(
            me("https://graph.instagram.com", "v25.0").url,
            "https://graph.instagram.com/v25.0/me?fields=user_id,username"
        );
    }

    #[test]
    fn a_17_digit_user_id_is_read_exactly() {
        let body = r#"{"access_token":"IGAAshort","user_id":17841405822304915,"permissions":"x"}"#;
        let token = parse_short_lived(200, body).unwrap();
        assert_eq!(token.user_id, "17841405822304915");
        assert_eq!(token.access_token, "IGAAshort");
        assert!(!format!("{token:?}").contains("IGAAshort"));
        let data = r#"{"data":[{"access_token":"t","user_id":"17841405822304915"}]}"#;
        assert_eq!(
            parse_short_lived(200, data).unwrap().user_id,
            "17841405822304915"
        );
        for bad in [
            r#"{"access_token":"t","user_id":1.7841405822304915e16}"#,
            r#"{"access_token":"t","user_id":-1}"#,
            r#"{"access_token":"t"}"#,
            r#"{"user_id":1}"#,
            "not json",
        ] {
            assert!(parse_short_lived(200, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn oauth_errors_are_clear_and_quote_nothing_secret() {
        let body = r#"{"error_type":"OAuthException","code":400,"error_message":"This authorization code has been used"}"#;
        let error = parse_short_lived(400, body).unwrap_err().to_string();
        assert!(
            error.contains("authorization code has been used"),
            "{error}"
        );
        let graph = r#"{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190}}"#;
        let error = parse_identity(400, None, graph).unwrap_err();
        assert!(error.to_string().contains("190"), "{error}");
    }

    #[test]
    fn identities() {
        let me = parse_identity(
            200,
            None,
            r#"{"user_id":17841405822304914,"username":"local_simulator","id":"1"}"#,
        )
        .unwrap();
        assert_eq!(me.user_id, "17841405822304914");
        assert_eq!(me.username, "local_simulator");
        let by_id =
            parse_identity(200, None, r#"{"id":"17841405822304914","username":"shop"}"#).unwrap();
        assert_eq!(by_id.user_id, "17841405822304914");
        for bad in [
            r#"{"user_id":1,"username":"a b"}"#,
            r#"{"user_id":1}"#,
            r#"{"username":"x"}"#,
            r#"[]"#,
        ] {
            assert!(parse_identity(200, None, bad).is_err(), "{bad}");
        }
    }
}

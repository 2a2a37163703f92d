//! The fetch shell around `instagram`: sends each [`GraphRequest`] for one account with its
//! token as a bearer header (or, for the one request Meta documents so, as the
//! `access_token` parameter), within a deadline, and hands the answer to the crate's parsers.

use std::fmt;

use domain::error_class::ErrorClass;
use domain::publish::Trouble;
use instagram::{
    Comment, ContainerStatus, GraphConfig, GraphError, GraphRequest, MediaPage, PostFields,
    PublishingLimit, RefreshedToken,
};
use platform::http::{HttpError, send_graph};

use crate::accounts::{Account, NoToken};
use crate::settings::Settings;

/// Why a Graph API call gave no usable result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Meta answered, and the answer is classified.
    Graph(GraphError),
    /// No answer (a timeout, a dropped connection): whether the call took effect is unknown.
    NoAnswer(String),
}

impl Failure {
    /// Its class, from the one list (`domain::error_class`).
    pub fn error_class(&self) -> ErrorClass {
        match self {
            Failure::Graph(error) => error.error_class(),
            Failure::NoAnswer(_) => ErrorClass::NoAnswer,
        }
    }

    /// Its class's stored name (`publish_logs.error_class`).
    pub fn class(&self) -> &'static str {
        self.error_class().as_str()
    }

    /// What the failure means to the publish machine.
    pub fn trouble(&self) -> Trouble {
        match self {
            Failure::Graph(error) => error.trouble(),
            Failure::NoAnswer(reason) => Trouble::Unclear(reason.clone()),
        }
    }

    pub fn code(&self) -> Option<i64> {
        match self {
            Failure::Graph(error) => error.code(),
            Failure::NoAnswer(_) => None,
        }
    }

    pub fn subcode(&self) -> Option<i64> {
        match self {
            Failure::Graph(error) => error.subcode(),
            Failure::NoAnswer(_) => None,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Graph(error) => error.fmt(f),
            Failure::NoAnswer(reason) => write!(f, "no answer from the Graph API: {reason}"),
        }
    }
}

impl From<GraphError> for Failure {
    fn from(error: GraphError) -> Self {
        Failure::Graph(error)
    }
}

/// What came back: the parts the `instagram` parsers read.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    usage: Option<String>,
    body: String,
}

/// The Graph API as one account: its base URL, user id and token.
pub struct Graph {
    config: GraphConfig,
    token: String,
    timeout_ms: u64,
}

impl Graph {
    /// `Err` when the account's token cannot be opened (the reason names no token).
    pub fn new(settings: &Settings, account: &Account) -> Result<Self, NoToken> {
        Ok(Self {
            config: account.graph(&settings.api_version),
            token: account.token.clone()?,
            timeout_ms: settings.graph_timeout_ms,
        })
    }

    /// The account without a token, for a run that calls nothing (its draft only waits);
    /// a call made with it would be refused as unauthenticated.
    pub fn without_token(settings: &Settings, account: &Account) -> Self {
        Self {
            config: account.graph(&settings.api_version),
            token: String::new(),
            timeout_ms: settings.graph_timeout_ms,
        }
    }

    /// `POST /{user}/media`: the new container's id.
    pub async fn create_container(
        &self,
        image_url: &str,
        caption: &str,
        alt_text: &str,
        fields: &PostFields<'_>,
    ) -> Result<String, Failure> {
        let request = self
            .config
            .create_container(image_url, caption, alt_text, fields);
        self.call(&request, instagram::parse_created_id).await
    }

    /// `POST /{user}/media` with `is_carousel_item=true`: the child container's id.
    pub async fn create_carousel_item(
        &self,
        image_url: &str,
        alt_text: &str,
    ) -> Result<String, Failure> {
        let request = self.config.create_carousel_item(image_url, alt_text);
        self.call(&request, instagram::parse_created_id).await
    }

    /// `POST /{user}/media` with `media_type=CAROUSEL`: the parent container's id.
    pub async fn create_carousel(
        &self,
        children: &[String],
        caption: &str,
        fields: &PostFields<'_>,
    ) -> Result<String, Failure> {
        let request = self.config.create_carousel(children, caption, fields);
        self.call(&request, instagram::parse_created_id).await
    }

    /// `POST /{media-id}/comments`: the comment's id.
    pub async fn post_comment(&self, media_id: &str, message: &str) -> Result<String, Failure> {
        let request = self.config.post_comment(media_id, message);
        self.call(&request, instagram::parse_created_id).await
    }

    /// `GET /{media-id}/comments`: the post's comments.
    pub async fn comments(&self, media_id: &str) -> Result<Vec<Comment>, Failure> {
        let request = self.config.comments(media_id);
        self.call(&request, instagram::parse_comments).await
    }

    pub async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, Failure> {
        let request = self.config.container_status(container_id);
        self.call(&request, instagram::parse_container_status).await
    }

    /// `POST /{user}/media_publish`: the media id. Any failure but a refusal leaves the
    /// outcome unknown; the caller reads the container status before anything else.
    pub async fn publish(&self, container_id: &str) -> Result<String, Failure> {
        let request = self.config.publish(container_id);
        self.call(&request, instagram::parse_created_id).await
    }

    pub async fn permalink(&self, media_id: &str) -> Result<String, Failure> {
        let request = self.config.media_permalink(media_id);
        self.call(&request, instagram::parse_permalink).await
    }

    /// The account's publishing quota. Also the scheduler's cheap call to check a token.
    pub async fn publishing_limit(&self) -> Result<PublishingLimit, Failure> {
        let request = self.config.publishing_limit();
        self.call(&request, instagram::parse_publishing_limit).await
    }

    /// One page of the account's media, newest first; `after` is the previous page's cursor.
    pub async fn recent_media(
        &self,
        limit: u32,
        after: Option<&str>,
    ) -> Result<MediaPage, Failure> {
        let request = self.config.recent_media(limit, after);
        self.call(&request, instagram::parse_media_page).await
    }

    /// `refresh_access_token`: a new long-lived token for this account's (Instagram Login).
    pub async fn refresh_token(&self) -> Result<RefreshedToken, Failure> {
        let request = instagram::refresh_access_token(&self.config.base_url);
        self.call(&request, instagram::parse_refreshed_token).await
    }

    async fn call<T>(
        &self,
        request: &GraphRequest,
        parse: fn(u16, Option<&str>, &str) -> Result<T, GraphError>,
    ) -> Result<T, Failure> {
        let answer = self.send(request).await?;
        parse(answer.status, answer.retry_after.as_deref(), &answer.body).map_err(|error| {
            error
                .with_business_use_case_usage(answer.usage.as_deref())
                .into()
        })
    }

    async fn send(&self, request: &GraphRequest) -> Result<Answer, Failure> {
        // The deadline covers the body too: an answer that stalls halfway is no answer.
        let timeout_ms = self.timeout_ms;
        match send_graph(request, Some(&self.token), timeout_ms).await {
            Ok(answer) => Ok(Answer {
                status: answer.status,
                retry_after: answer.header("retry-after"),
                usage: answer.header("x-business-use-case-usage"),
                body: answer.body,
            }),
            // The runtime's error text can quote the URL, which then holds the token.
            Err(HttpError::Transport(_)) if request.token_in_query => Err(Failure::NoAnswer(
                "the request failed (its error is not kept: it can quote the token's URL)".into(),
            )),
            Err(HttpError::Transport(error)) => {
                Err(Failure::NoAnswer(format!("the request failed: {error}")))
            }
            Err(HttpError::Timeout(_)) => Err(Failure::NoAnswer(format!(
                "no answer within {timeout_ms} ms"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every class the Graph client writes is on the one list, under the name the client
    /// gives it, and every class on the list is written by some failure.
    #[test]
    fn the_classes_written_are_the_list() {
        let answers: [(u16, &str); 8] = [
            (500, r#"{"error":{"code":2,"message":"x"}}"#),
            (400, r#"{"error":{"code":4,"message":"x"}}"#),
            (
                400,
                r#"{"error":{"code":9007,"error_subcode":2207027,"message":"x"}}"#,
            ),
            (
                400,
                r#"{"error":{"code":9007,"error_subcode":2207020,"message":"x"}}"#,
            ),
            (400, r#"{"error":{"code":190,"message":"x"}}"#),
            (400, r#"{"error":{"code":100,"message":"x"}}"#),
            (503, "down"),
            (200, "not json"),
        ];
        let mut written = Vec::new();
        for (status, body) in answers {
            let error = instagram::classify(status, None, body);
            let failure = Failure::Graph(error.clone());
            assert_eq!(failure.class(), error.class(), "{status} {body}");
            written.push(failure.error_class());
        }
        written.push(Failure::NoAnswer("timeout".into()).error_class());
        for class in ErrorClass::ALL {
            assert!(written.contains(&class), "{class:?} is never written");
        }
    }
}

//! The Graph API requests of single-image publishing, built without the access token.

/// The content type of every POST body built here.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Where and as whom to publish. Host and version are configuration: Instagram Login uses
/// `https://graph.instagram.com`, Facebook Login for Business `https://graph.facebook.com`,
/// and tests point the client at a local fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// Scheme and host, with or without a trailing slash.
    pub base_url: String,
    /// The path's version segment, such as `v25.0`.
    pub api_version: String,
    /// The Instagram professional account's id.
    pub user_id: String,
}

/// A request for the shell to send as it is, adding only `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRequest {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The full URL, query included.
    pub url: String,
    /// The fields of a POST body, in order; empty for a GET.
    pub form: Vec<(String, String)>,
    /// Meta documents the token of this request as the `access_token` query parameter
    /// (`refresh_access_token`): the shell appends it to the URL instead of the header, and
    /// then reports no error text that could quote the URL.
    pub token_in_query: bool,
}

impl GraphRequest {
    /// The encoded body to send with [`FORM_CONTENT_TYPE`]; `None` for a GET.
    pub fn body(&self) -> Option<String> {
        (self.method != "GET").then(|| form_urlencode(&self.form))
    }

    /// The `Content-Type` header that goes with [`GraphRequest::body`].
    pub fn content_type(&self) -> Option<&'static str> {
        (self.method != "GET").then_some(FORM_CONTENT_TYPE)
    }
}

/// What a post (a single image, or a carousel's parent) carries besides its image and
/// caption; empty fields are left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostFields<'a> {
    /// Instagram usernames invited as collaborators (Meta allows up to five).
    pub collaborators: &'a [String],
    /// A Facebook Page id of a place.
    pub location_id: Option<&'a str>,
    /// Shows Instagram's "AI info" label.
    pub is_ai_generated: bool,
}

impl PostFields<'_> {
    fn add_to(&self, form: &mut Vec<(String, String)>) {
        if !self.collaborators.is_empty() {
            // Meta reads the list as a JSON array of usernames.
            let list = serde_json::to_string(self.collaborators).unwrap_or_default();
            form.push(field("collaborators", &list));
        }
        if let Some(location_id) = self.location_id.filter(|id| !id.is_empty()) {
            form.push(field("location_id", location_id));
        }
        if self.is_ai_generated {
            form.push(field("is_ai_generated", "true"));
        }
    }
}

impl GraphConfig {
    /// Step 1: `POST /{user}/media` makes a container; Meta then downloads `image_url` itself,
    /// so it must be publicly reachable. An empty `alt_text` is left out rather than sent
    /// blank, as it is optional.
    pub fn create_container(
        &self,
        image_url: &str,
        caption: &str,
        alt_text: &str,
        fields: &PostFields<'_>,
    ) -> GraphRequest {
        let mut form = vec![field("image_url", image_url), field("caption", caption)];
        if !alt_text.is_empty() {
            form.push(field("alt_text", alt_text));
        }
        fields.add_to(&mut form);
        self.post(&[&self.user_id, "media"], form)
    }

    /// A carousel's child: `is_carousel_item=true`, its image and alt text, and no caption
    /// (Meta takes the caption, collaborators and place on the parent only).
    pub fn create_carousel_item(&self, image_url: &str, alt_text: &str) -> GraphRequest {
        let mut form = vec![
            field("is_carousel_item", "true"),
            field("image_url", image_url),
        ];
        if !alt_text.is_empty() {
            form.push(field("alt_text", alt_text));
        }
        self.post(&[&self.user_id, "media"], form)
    }

    /// A carousel's parent: `media_type=CAROUSEL` over its `FINISHED` children, in order,
    /// with the caption and the post's fields. It is polled and published like a single
    /// image's container.
    pub fn create_carousel(
        &self,
        children: &[String],
        caption: &str,
        fields: &PostFields<'_>,
    ) -> GraphRequest {
        let mut form = vec![
            field("media_type", "CAROUSEL"),
            field("children", &children.join(",")),
            field("caption", caption),
        ];
        fields.add_to(&mut form);
        self.post(&[&self.user_id, "media"], form)
    }

    /// `POST /{media-id}/comments`: a comment on a live post. Meta takes no idempotency key:
    /// the caller records the send first and reconciles a doubtful one with
    /// [`Self::comments`].
    pub fn post_comment(&self, media_id: &str, message: &str) -> GraphRequest {
        self.post(&[media_id, "comments"], vec![field("message", message)])
    }

    /// `GET /{media-id}/comments`: the post's comments, with their text.
    pub fn comments(&self, media_id: &str) -> GraphRequest {
        let mut request = self.get(&[media_id, "comments"], "id,text,username");
        request.url.push_str("&limit=100");
        request
    }

    /// Step 2: the container's `status_code`; `status` carries the subcode of an `ERROR`.
    pub fn container_status(&self, container_id: &str) -> GraphRequest {
        self.get(&[container_id], "status_code,status")
    }

    /// Step 3: publishes a `FINISHED` container. Meta takes no idempotency key here, so the
    /// caller sends this once and reconciles a doubtful outcome with [`Self::container_status`].
    pub fn publish(&self, container_id: &str) -> GraphRequest {
        self.post(
            &[&self.user_id, "media_publish"],
            vec![field("creation_id", container_id)],
        )
    }

    /// The live publishing quota; Meta's pages disagree on its size, so it is read, not assumed.
    pub fn publishing_limit(&self) -> GraphRequest {
        self.get(
            &[&self.user_id, "content_publishing_limit"],
            "quota_usage,config",
        )
    }

    /// The public link of a published post.
    pub fn media_permalink(&self, media_id: &str) -> GraphRequest {
        self.get(&[media_id], "permalink")
    }

    /// The account's newest posts, newest first, with their captions. A container's status
    /// says that it was published but not as which media, so a publish whose answer was lost
    /// finds its media id here, by the caption it sent.
    /// A page of the account's media, newest first; `after` is the cursor of the page before.
    pub fn recent_media(&self, limit: u32, after: Option<&str>) -> GraphRequest {
        let mut request = self.get(&[&self.user_id, "media"], "id,caption,timestamp");
        request.url.push_str(&format!("&limit={limit}"));
        if let Some(cursor) = after {
            request.url.push_str("&after=");
            encode_into(&mut request.url, cursor);
        }
        request
    }

    fn get(&self, segments: &[&str], fields: &str) -> GraphRequest {
        GraphRequest {
            method: "GET",
            url: format!("{}?fields={fields}", self.url(segments)),
            form: Vec::new(),
            token_in_query: false,
        }
    }

    fn post(&self, segments: &[&str], form: Vec<(String, String)>) -> GraphRequest {
        GraphRequest {
            method: "POST",
            url: self.url(segments),
            form,
            token_in_query: false,
        }
    }

    /// Ids are percent-encoded as path segments, so a corrupt id cannot change the path or
    /// smuggle a query into the URL.
    fn url(&self, segments: &[&str]) -> String {
        let mut url = self.base_url.trim_end_matches('/').to_owned();
        let version = self.api_version.trim_matches('/');
        // An empty version suits a fake server that serves the paths without one.
        if !version.is_empty() {
            url.push('/');
            encode_into(&mut url, version);
        }
        for segment in segments {
            url.push('/');
            encode_into(&mut url, segment);
        }
        url
    }
}

/// `GET {base}/refresh_access_token?grant_type=ig_refresh_token`: a new long-lived
/// Instagram Login token (60 days) for one that is at least a day old and not expired. The
/// path has no version, as Meta documents it; the token goes in the query
/// ([`GraphRequest::token_in_query`]), added by the shell.
pub fn refresh_access_token(base_url: &str) -> GraphRequest {
    GraphRequest {
        method: "GET",
        url: format!(
            "{}/refresh_access_token?grant_type=ig_refresh_token",
            base_url.trim_end_matches('/')
        ),
        form: Vec::new(),
        token_in_query: true,
    }
}

fn field(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// Encodes `pairs` as `application/x-www-form-urlencoded`, as the WHATWG URL standard
/// serializes forms: letters, digits and `*-._` stay, a space becomes `+`, every other byte
/// of the UTF-8 text becomes `%XX`. So `#`, `&`, `+`, `=`, newlines and emoji in a caption
/// reach Instagram unchanged.
pub fn form_urlencode(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Percent-encodes `text` as one path segment or query value: the form encoding, with a space
/// as `%20` (the form encoding writes a literal `+` as `%2B`, so each `+` it gives is a space).
fn encode_into(out: &mut String, text: &str) {
    for piece in form_urlencoded::byte_serialize(text.as_bytes()) {
        out.push_str(if piece == "+" { "%20" } else { piece });
    }
}

#[cfg(test)]
mod tests;

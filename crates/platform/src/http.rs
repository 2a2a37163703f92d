//! Outgoing HTTP with a deadline: the one way out, for text and bytes. Workers' `fetch` has no timeout of its own, and a model or
//! API that hangs must not hold a request or a queue batch for minutes.

use futures::future::{Either, select};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Delay, Headers, js_sys, web_sys};

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("request failed: {0}")]
    Transport(String),
}

/// Waits for `future` at most `timeout_ms`; `None` when the deadline came first. The future
/// is dropped then, which stops waiting but cannot cancel work the runtime already started.
pub async fn within<F: Future>(future: F, timeout_ms: u64) -> Option<F::Output> {
    let deadline = Delay::from(std::time::Duration::from_millis(timeout_ms));
    match select(Box::pin(future), Box::pin(deadline)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

/// An outgoing call, as plain data: no `worker::Request` is built (that wrapper reads the
/// method, URL and headers back from JS).
pub struct Call<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: Option<&'a str>,
}

/// A JSON `POST` to `url` with `api_key` as its bearer token (the OpenAI-style APIs), made by
/// `fetch` ([`fetch_text`] or [`fetch_bytes`], with the caller's deadline).
pub async fn post_json_with_bearer<T>(
    url: &str,
    api_key: &str,
    body: &str,
    fetch: impl AsyncFnOnce(&Call<'_>) -> T,
) -> T {
    let authorization = format!("Bearer {api_key}");
    let call = Call {
        method: "POST",
        url,
        headers: &[
            ("content-type", "application/json"),
            ("authorization", &authorization),
        ],
        body: Some(body),
    };
    fetch(&call).await
}

/// Sends a Graph API `request` with `token`: as the bearer token, or as `access_token` in the
/// query where Meta documents it so; none for a call made before there is a token. The answer
/// is read whole within `timeout_ms`.
pub async fn send_graph(
    request: &instagram::GraphRequest,
    token: Option<&str>,
    timeout_ms: u64,
) -> Result<TextAnswer, HttpError> {
    let authorization = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    let url = match token {
        Some(token) if request.token_in_query => format!(
            "{}&{}",
            request.url,
            instagram::form_urlencode(&[("access_token".into(), token.to_owned())])
        ),
        _ => {
            if let Some(authorization) = &authorization {
                headers.push(("authorization", authorization.as_str()));
            }
            request.url.clone()
        }
    };
    let body = request.body();
    if let Some(content_type) = request.content_type() {
        headers.push(("content-type", content_type));
    }
    let call = Call {
        method: request.method,
        url: &url,
        headers: &headers,
        body: body.as_deref(),
    };
    fetch_text(&call, timeout_ms).await
}

/// A whole answer: status, headers and the body, as text ([`fetch_text`]) or bytes
/// ([`fetch_bytes`]).
pub struct Answer<B> {
    pub status: u16,
    pub headers: Headers,
    pub body: B,
}

pub type TextAnswer = Answer<String>;
pub type BytesAnswer = Answer<Vec<u8>>;

impl<B> Answer<B> {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }
}

/// A bytes answer that could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BytesError {
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Longer than the caller takes, by its `Content-Length` or by what came.
    #[error("the answer is over {0} bytes")]
    TooLong(usize),
}

/// One deadline for one or more calls (a provider's answer and the download it points at):
/// the runtime's own `AbortSignal.timeout`, which aborts a request, its connection and the
/// body read.
pub struct Deadline {
    signal: web_sys::AbortSignal,
    ms: u64,
}

impl Deadline {
    pub fn after(ms: u64) -> Self {
        Self {
            signal: web_sys::AbortSignal::timeout_with_f64(ms as f64),
            ms,
        }
    }

    fn error(&self, error: JsValue) -> HttpError {
        if self.signal.aborted() {
            HttpError::Timeout(self.ms)
        } else {
            HttpError::Transport(worker::Error::from(error).to_string())
        }
    }
}

/// Makes `call` and reads the whole body as text, both within `timeout_ms`: an answer that
/// stalls halfway is no answer.
pub async fn fetch_text(call: &Call<'_>, timeout_ms: u64) -> Result<TextAnswer, HttpError> {
    let deadline = Deadline::after(timeout_ms);
    let read = async {
        let response = send(call, &deadline).await?;
        let body = JsFuture::from(response.text()?).await?;
        Ok::<_, JsValue>(Answer {
            status: response.status(),
            headers: Headers(response.headers()),
            body: body.as_string().unwrap_or_default(),
        })
    };
    read.await.map_err(|error| deadline.error(error))
}

/// Makes `call` and reads the whole body as bytes, in one call by the runtime (not chunk by
/// chunk through wasm), before `deadline`; a body over `max_bytes`, declared or read, is
/// refused.
pub async fn fetch_bytes(
    call: &Call<'_>,
    deadline: &Deadline,
    max_bytes: usize,
) -> Result<BytesAnswer, BytesError> {
    let response = send(call, deadline)
        .await
        .map_err(|error| deadline.error(error))?;
    let headers = Headers(response.headers());
    let declared = headers
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > max_bytes) {
        return Err(BytesError::TooLong(max_bytes));
    }
    let read = async {
        let buffer: js_sys::ArrayBuffer =
            JsFuture::from(response.array_buffer()?).await?.dyn_into()?;
        Ok::<_, JsValue>(buffer)
    };
    let buffer = read.await.map_err(|error| deadline.error(error))?;
    if buffer.byte_length() as usize > max_bytes {
        return Err(BytesError::TooLong(max_bytes));
    }
    Ok(Answer {
        status: response.status(),
        headers,
        body: js_sys::Uint8Array::new(&buffer).to_vec(),
    })
}

/// Sends `call` with `deadline`'s signal; the answer's body is still to be read.
async fn send(call: &Call<'_>, deadline: &Deadline) -> Result<web_sys::Response, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in call.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(call.method);
    init.set_headers(&headers);
    if let Some(body) = call.body {
        init.set_body(&JsValue::from_str(body));
    }
    init.set_signal(Some(&deadline.signal));
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    JsFuture::from(global.fetch_with_str_and_init(call.url, &init))
        .await?
        .dyn_into()
}

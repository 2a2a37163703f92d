//! `POST /api/v1/generate`: validate, ask for the image, write the texts with the chain, store
//! the draft, answer at once.
//!
//! Order matters for "nothing is lost, nothing half-made is visible":
//! 1. the D1 row goes in first, because the image consumer reads the prompt from it and may
//!    start before the text is written;
//! 2. the image message and the chain run at the same time;
//! 3. the KV text is written last: a draft without text is invisible to readers, and a failed
//!    chain deletes the row again.

use domain::content::PostText;
use domain::draft::DraftId;
use domain::message::{Action, QueueMessage, format_rfc3339};
use generation::{
    ChainStep, GenerateRequest, GenerateRules, GenerationChain, parse_generate_request,
};
use observe::langsmith::RunType;
use platform::clock::{now, random_bytes};
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{DraftStore, KeyClaim, NewDraft};
use platform::trace::{LangSmith, Tracer};
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response};

use crate::config::ApiConfig;
use crate::drafts::{self, DraftDocument, WriterInfo};
use crate::model::Writer;
use crate::reply::{self, ApiError};

/// Briefs are short; anything larger is a mistake or an attack.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

pub async fn handle(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    let config = ApiConfig::from_env(env)?;
    let body = read_json_body(req).await?;
    let rules = GenerateRules {
        default_language: config.default_language.clone(),
        max_hashtags: config.max_hashtags,
        now: now(),
    };
    let request = parse_generate_request(&body, &rules).map_err(ApiError::Validation)?;
    let idempotency_key = idempotency_key(req)?;
    let origin = drafts::origin(req);

    let store = DraftStore::from_env(env)?;
    let id = DraftId::from_random_bytes(random_bytes::<16>());
    if let Some(key) = &idempotency_key {
        match store
            .claim_idempotency_key(key, &request.fingerprint(), id, now())
            .await?
        {
            KeyClaim::Claimed => {}
            KeyClaim::Taken {
                fingerprint,
                draft_id,
            } => {
                return replay(
                    env,
                    &store,
                    &origin,
                    &config,
                    &request,
                    &fingerprint,
                    &draft_id,
                )
                .await;
            }
        }
    }

    let outcome = create_draft(env, ctx, &store, &config, &request, id).await;
    match outcome {
        Ok(document) => {
            let row = store
                .get(id)
                .await?
                .ok_or_else(|| ApiError::Internal("draft row vanished".into()))?;
            reply::json(
                201,
                &drafts::view(&origin, &row, &document, config.max_hashtags),
            )
        }
        Err(error) => {
            // Nothing half-made stays behind, and the key is free for the client's retry.
            match store.discard_unreviewed(id).await {
                Ok(None) => {}
                // The image was made while the text was being written.
                Ok(Some(image_key)) => {
                    if let Err(e) = delete_image(env, &image_key).await {
                        worker::console_error!(
                            "deleting image {image_key} of discarded draft {id}: {e}"
                        );
                    }
                }
                Err(e) => worker::console_error!("discarding draft {id} after a failure: {e}"),
            }
            if let Some(key) = &idempotency_key
                && let Err(e) = store.release_idempotency_key(key).await
            {
                worker::console_error!("releasing an idempotency key: {e}");
            }
            Err(error)
        }
    }
}

async fn delete_image(env: &Env, key: &str) -> worker::Result<()> {
    env.bucket(crate::media::MEDIA_BINDING)?.delete(key).await
}

async fn create_draft(
    env: &Env,
    ctx: &Context,
    store: &DraftStore,
    config: &ApiConfig,
    request: &GenerateRequest,
    id: DraftId,
) -> Result<DraftDocument, ApiError> {
    let writer = &config.writer;
    let started = now();
    let image_prompt = request
        .image_prompt
        .clone()
        .unwrap_or_else(|| request.brief.clone());
    store
        .insert(&NewDraft {
            id,
            language: &request.language,
            provider: writer.provider(),
            image_prompt: &image_prompt,
            scheduled_at: request.scheduled_at,
            now: started,
        })
        .await?;

    let request_json =
        serde_json::to_value(request).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut tracer = Tracer::start(
        "generate",
        json!({ "draftId": id.to_string(), "request": request_json }),
        json!({ "workflow": "generate", "provider": writer.provider(), "model": writer.model() }),
    );
    if writer.is_offline() {
        worker::console_log!(
            "draft {id}: written by the offline template writer (no LLM_PROVIDER configured)"
        );
    }

    let image_message = QueueMessage::new(id, Action::GenerateImage, 1, started);
    let (queued, written) = futures::join!(
        send(env, IMAGE_QUEUE, &image_message, 0),
        write_post(env, config, request, &mut tracer)
    );

    let text = match written {
        Ok(text) => text,
        Err(error) => {
            send_trace(env, ctx, tracer, Err(error.to_string()), writer);
            return Err(error);
        }
    };
    if let Err(error) = queued {
        // The text is good and worth keeping; the reviewer sees why there is no image.
        worker::console_error!("draft {id}: queueing the image failed: {error}");
        store
            .image_failed(id, "the image request could not be queued", now())
            .await?;
    }

    let created_at = format_rfc3339(started);
    let document = DraftDocument {
        draft_id: id.to_string(),
        request: request_json,
        text: text.to_raw(),
        writer: WriterInfo {
            provider: writer.provider().into(),
            model: writer.model().map(str::to_owned),
            offline: writer.is_offline(),
        },
        revision: 1,
        created_at: created_at.clone(),
        updated_at: created_at,
    };
    drafts::save_document(env, &document, id).await?;
    send_trace(
        env,
        ctx,
        tracer,
        Ok(json!({ "draftId": id.to_string(), "text": document.text })),
        writer,
    );
    Ok(document)
}

/// Runs the chain: prompt, model, parse; one repair round with the problems fed back.
async fn write_post(
    env: &Env,
    config: &ApiConfig,
    request: &GenerateRequest,
    tracer: &mut Tracer,
) -> Result<PostText, ApiError> {
    let writer = &config.writer;
    // Provider messages may echo the key in forms `generation` cannot recognise.
    let secrets = writer.secrets();
    let redact = |message: String| observe::redact::redact_text(&message, &secrets);
    let mut chain = GenerationChain::new(request, config.max_hashtags);
    loop {
        let prompt = chain.prompt();
        let prompt_json = serde_json::to_value(&prompt.messages).unwrap_or(Value::Null);
        let call = tracer.start_child(
            "chat_model",
            RunType::Llm,
            json!({ "messages": prompt_json }),
        );
        let answer = writer
            .complete(env, &prompt, request, config.model_timeout_ms)
            .await;
        let metadata = json!({ "provider": writer.provider(), "model": writer.model(), "attempt": chain.attempts() + 1 });
        match answer {
            Err(error) => {
                tracer.finish_child(call, Err(error.to_string()), metadata);
                return Err(ApiError::BadGateway(redact(format!(
                    "the caption model ({}) failed: {error}",
                    writer.provider()
                ))));
            }
            Ok(answer) => {
                tracer.finish_child(call, Ok(json!({ "answer": answer })), metadata);
                match chain.accept(&answer) {
                    ChainStep::Done(text) => return Ok(text),
                    ChainStep::Repair => continue,
                    ChainStep::Failed(error) => {
                        return Err(ApiError::BadGateway(redact(format!(
                            "the caption model ({}) gave no usable answer: {error}",
                            writer.provider()
                        ))));
                    }
                }
            }
        }
    }
}

fn send_trace(
    env: &Env,
    ctx: &Context,
    tracer: Tracer,
    result: Result<Value, String>,
    writer: &Writer,
) {
    let Some(langsmith) = LangSmith::from_env(env) else {
        return;
    };
    let trace = tracer.finish(result);
    let secrets: Vec<String> = writer.secrets().into_iter().map(str::to_owned).collect();
    let api_token = platform::config::optional(env, "API_TOKEN");
    ctx.wait_until(async move {
        let mut all: Vec<&str> = secrets.iter().map(String::as_str).collect();
        if let Some(token) = &api_token {
            all.push(token);
        }
        langsmith.send(&trace, &all).await;
    });
}

/// A repeated request with the same key returns the draft the first one made.
async fn replay(
    env: &Env,
    store: &DraftStore,
    origin: &str,
    config: &ApiConfig,
    request: &GenerateRequest,
    fingerprint: &str,
    draft_id: &str,
) -> Result<Response, ApiError> {
    if fingerprint != request.fingerprint() {
        return Err(ApiError::Unprocessable(
            "Idempotency-Key was already used with a different request body".into(),
        ));
    }
    let id = drafts::parse_id(draft_id)?;
    let in_progress = || {
        ApiError::Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly".into(),
        )
    };
    let row = store.get(id).await?.ok_or_else(in_progress)?;
    let document = drafts::load_document(env, id)
        .await?
        .ok_or_else(in_progress)?;
    let mut response = reply::json(
        200,
        &drafts::view(origin, &row, &document, config.max_hashtags),
    )?;
    response.headers_mut().set("idempotent-replayed", "true")?;
    Ok(response)
}

fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(key) = req.headers().get("idempotency-key")? else {
        return Ok(None);
    };
    let valid = !key.is_empty()
        && key.chars().count() <= MAX_IDEMPOTENCY_KEY_CHARS
        && key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        )));
    }
    Ok(Some(key))
}

/// Checks type and size before reading, so an oversized body is refused without buffering.
async fn read_json_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if media_type != "application/json" {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        return Err(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    let body = req.bytes().await?;
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::TooLarge(MAX_BODY_BYTES));
    }
    Ok(body)
}

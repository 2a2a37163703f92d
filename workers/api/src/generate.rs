//! `POST /api/v1/generate`: validate, ask for the image, write the texts with the chain, store
//! the draft, answer at once.
//!
//! Order matters for "nothing is lost, nothing half-made is visible", and for speed (no
//! storage call waits for another it does not need):
//! 1. the D1 row goes in first, without text, because the image consumer reads the prompt
//!    from it; the image message follows it, while the chain runs beside both;
//! 2. the text is written into the row in one conditional change, batched with finishing
//!    the idempotency key; the change returns the row, so nothing is read back;
//! 3. the KV read copy is refreshed after the response.
//!
//! A row without text is invisible, and housekeeping removes it if its request died.

use domain::content::{PostText, RawPostText};
use domain::draft::{DraftId, DraftState, ImageStatus, Status};
use domain::idempotency::{KeyVerdict, judge};
use domain::message::{Action, QueueMessage};
use domain::voice::Voice;
use generation::{
    ChainStep, GenerateRequest, GenerateRules, GenerationChain, MAX_BODY_BYTES, ModelError,
    parse_generate_request,
};
use observe::langsmith::RunType;
use platform::clock::{now, random_bytes};
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore, Expected, NewDraft, applied_row};
use platform::trace::{ChildRun, LangSmith, Outcome, Tracer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use worker::{Context, D1PreparedStatement, Env, Request, Response};

mod key;

use key::{Claim, OwnedKey, claim, idempotency_key, replay, request_fingerprint};

use crate::config::ApiConfig;
use crate::drafts::{self, WriterInfo};
use crate::model::{Completion, Writer};
use crate::reply::{self, ApiError};

pub async fn handle(req: &mut Request, env: &Env, ctx: &Context) -> Result<Response, ApiError> {
    let config = ApiConfig::from_env(env)?;
    let body = crate::body::read_json(req, MAX_BODY_BYTES).await?;
    let idempotency_key = idempotency_key(req)?;
    let origin = drafts::origin(req);
    let started = now();
    let rules = GenerateRules {
        default_language: config.default_language.clone(),
        max_hashtags: config.max_hashtags,
        now: started,
    };
    let parsed = parse_generate_request(&body, &rules);
    let store = DraftStore::from_env(env)?;
    // The fingerprint is of the body as sent, before defaults and clock checks, so a
    // byte-identical retry replays even after a settings change or once scheduledAt passed.
    let fingerprint = match &idempotency_key {
        Some(_) => Some(request_fingerprint(&body).await?),
        None => None,
    };
    let keyed = idempotency_key.as_deref().zip(fingerprint.as_deref());

    let request = match parsed {
        Ok(request) => request,
        Err(problems) => {
            if let Some((key, fingerprint)) = keyed
                && let Some(held) = store.held_key(key, started).await?
                && let KeyVerdict::Replay { draft_id } = judge(&held, fingerprint, started)
            {
                return replay(&store, &origin, &config, &draft_id).await;
            }
            return Err(ApiError::Validation(problems));
        }
    };

    // The account it is for: the one named, else the default (the oldest), named on the row
    // so lists by account find it by index.
    let account_id = draft_account(env, &request).await?;
    let voice = crate::voice::of_account(env, account_id.as_deref()).await?;
    let request = in_voice_language(&body, request, rules, &voice)?;

    let owned = match keyed {
        None => None,
        Some((key, fingerprint)) => {
            match claim(&store, &config, key, fingerprint, started).await? {
                Claim::Owned(owned) => Some(owned),
                Claim::Replay(draft_id) => {
                    return replay(&store, &origin, &config, &draft_id).await;
                }
            }
        }
    };

    let id = DraftId::from_random_bytes(random_bytes::<16>());
    match create_draft(
        env,
        ctx,
        &store,
        &config,
        &request,
        &voice,
        id,
        owned.as_ref(),
        account_id.as_deref(),
        started,
    )
    .await
    {
        Ok(row) => {
            drafts::refresh_copy(env, ctx, &row);
            let view = drafts::DraftView::of(&origin, &row, config.max_hashtags)
                .ok_or_else(|| ApiError::Internal("the text just written is missing".into()))?;
            reply::json(201, &view)
        }
        Err(error) => {
            discard(env, &store, id, owned.as_ref()).await;
            Err(error)
        }
    }
}

/// Written in the account's voice, whose language is the default for a request that names
/// none: the body is read again with it (pure, and the fingerprint is the body's).
fn in_voice_language(
    body: &[u8],
    request: GenerateRequest,
    rules: GenerateRules,
    voice: &Voice,
) -> Result<GenerateRequest, ApiError> {
    match voice.language() {
        Some(language) if language != rules.default_language => {
            let rules = GenerateRules {
                default_language: language.to_owned(),
                ..rules
            };
            parse_generate_request(body, &rules).map_err(ApiError::Validation)
        }
        _ => Ok(request),
    }
}

/// The id of the account a request is for: the one `account` names (a problem on `account`
/// when none is connected by that name), else the default account; `None` while there is
/// no account at all (the draft then goes to whichever becomes the default).
async fn draft_account(env: &Env, request: &GenerateRequest) -> Result<Option<String>, ApiError> {
    let accounts = platform::accounts::AccountStore::from_env(env)?
        .all()
        .await?;
    match &request.account {
        Some(named) => crate::scope::find(&accounts, named)
            .map(|account| Some(account.id.clone()))
            .map_err(ApiError::from),
        None => Ok(accounts.first().map(|account| account.id.clone())),
    }
}

/// Nothing half-made stays behind, and the key is free for the client's retry. What fails
/// here is logged and left to housekeeping, which removes textless rows and orphan images.
async fn discard(env: &Env, store: &DraftStore, id: DraftId, owned: Option<&OwnedKey>) {
    let id_text = id.to_string();
    let mut statements = Vec::new();
    match store.discard_textless_statement(&id_text) {
        Ok(statement) => statements.push(statement),
        Err(e) => worker::console_error!("discarding draft {id}: {e}"),
    }
    if let Some(owned) = owned {
        match store.release_key_statement(&owned.key, &owned.owner) {
            Ok(statement) => statements.push(statement),
            Err(e) => worker::console_error!("releasing an idempotency key: {e}"),
        }
    }
    let results = match store.batch(statements).await {
        Ok(results) => results,
        Err(e) => {
            worker::console_error!("discarding draft {id} after a failure: {e}");
            return;
        }
    };
    #[derive(serde::Deserialize)]
    struct Discarded {
        image_key: Option<String>,
    }
    // The image was made while the text was being written.
    let image_key = results
        .first()
        .and_then(|r| r.first::<Discarded>().ok().flatten())
        .and_then(|row| row.image_key);
    if let Some(key) = image_key
        && let Err(e) = delete_image(env, &key).await
    {
        worker::console_error!("deleting image {key} of discarded draft {id}: {e}");
    }
}

async fn delete_image(env: &Env, key: &str) -> worker::Result<()> {
    env.bucket(platform::media::MEDIA_BINDING)?
        .delete(key)
        .await
}

#[allow(clippy::too_many_arguments)]
async fn create_draft(
    env: &Env,
    ctx: &Context,
    store: &DraftStore,
    config: &ApiConfig,
    request: &GenerateRequest,
    voice: &Voice,
    id: DraftId,
    owned: Option<&OwnedKey>,
    account_id: Option<&str>,
    started: OffsetDateTime,
) -> Result<DraftRow, ApiError> {
    let writer = &config.writer;
    let (insert, request_json) = insert_draft(store, writer, request, id, account_id, started)?;
    let mut tracer = tracer_for(env, id, &request_json, writer);
    if writer.is_offline() {
        worker::console_log!(
            "draft {id}: written by the offline template writer (LLM_PROVIDER is template)"
        );
    }

    // A post of photos: no image to make, and the text is written from the photos once they
    // are there (the page asks for it); until then it is empty.
    if request.photos {
        platform::d1::run(insert)
            .await
            .map_err(|e| ApiError::Internal(format!("inserting draft {id}: {e}")))?;
        return store_text(store, id, &RawPostText::default(), owned).await;
    }
    // The row must exist before the image message: the consumer reads its prompt there.
    let image_message = QueueMessage::new(id, Action::GenerateImage, 1, started);
    let stored_and_queued = async {
        platform::d1::run(insert).await.map_err(Stage::Insert)?;
        send(env, IMAGE_QUEUE, &image_message, 0)
            .await
            .map_err(Stage::Queue)
    };
    let (stored, written) = futures::join!(
        stored_and_queued,
        write_post(env, config, request, voice, &mut tracer)
    );

    let text = match (stored, written) {
        (Err(Stage::Insert(e)), _) => {
            send_trace(
                env,
                ctx,
                tracer,
                Err(&"the draft could not be stored"),
                writer,
            );
            return Err(ApiError::Internal(format!("inserting draft {id}: {e}")));
        }
        (_, Err(error)) => {
            send_trace(env, ctx, tracer, Err(&error), writer);
            return Err(error);
        }
        (queued, Ok(text)) => {
            if let Err(Stage::Queue(error)) = queued {
                image_not_queued(store, id, &error).await;
            }
            text
        }
    };

    let raw = text.to_raw();
    let row = store_text(store, id, &raw, owned).await?;
    if tracer.is_on() {
        let outputs = json!({ "draftId": id.to_string(), "text": raw });
        send_trace(env, ctx, tracer, Ok(outputs), writer);
    }
    Ok(row)
}

/// The insert of the draft's row (without text), and the request as stored.
fn insert_draft(
    store: &DraftStore,
    writer: &Writer,
    request: &GenerateRequest,
    id: DraftId,
    account_id: Option<&str>,
    started: OffsetDateTime,
) -> Result<(D1PreparedStatement, Value), ApiError> {
    let image_prompt = request
        .image_prompt
        .clone()
        .unwrap_or_else(|| request.brief.clone());
    let request_json =
        serde_json::to_value(request).map_err(|e| ApiError::Internal(e.to_string()))?;
    let writer_json = serde_json::to_string(&WriterInfo {
        provider: writer.provider().into(),
        model: writer.model().map(str::to_owned),
        offline: writer.is_offline(),
    })
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let insert = store.insert_statement(&NewDraft {
        id,
        language: &request.language,
        provider: writer.provider(),
        image_prompt: &image_prompt,
        scheduled_at: request.scheduled_at,
        request: &request_json.to_string(),
        writer: &writer_json,
        account_id,
        photos: request.photos,
        now: started,
    })?;
    Ok((insert, request_json))
}

/// The trace is built only when it goes somewhere: it costs CPU on every request.
fn tracer_for(env: &Env, id: DraftId, request_json: &Value, writer: &Writer) -> Tracer {
    if LangSmith::from_env(env).is_none() {
        return Tracer::off();
    }
    Tracer::start(
        "generate",
        json!({ "draftId": id.to_string(), "request": request_json }),
        json!({ "workflow": "generate", "provider": writer.provider(), "model": writer.model() }),
    )
}

/// The row as inserted: a draft without text, its image pending.
const INSERTED: Expected = Expected {
    state: DraftState {
        status: Status::Draft,
        image: ImageStatus::Pending,
        has_text: false,
    },
    revision: None,
};

/// The text is good and worth keeping; the reviewer sees why there is no image.
async fn image_not_queued(store: &DraftStore, id: DraftId, error: &worker::Error) {
    worker::console_error!("draft {id}: queueing the image failed: {error}");
    let failed = store
        .apply(
            id,
            INSERTED,
            &Change::ImageFailed {
                claim: None,
                reason: "the image request could not be queued",
            },
            now(),
        )
        .await;
    if let Err(e) = failed {
        worker::console_error!("draft {id}: recording the image failure: {e}");
    }
}

/// Writes the text, batched with finishing the idempotency key. The image consumer may have
/// changed the image meanwhile: the text write depends only on the text not being there yet.
async fn store_text(
    store: &DraftStore,
    id: DraftId,
    raw: &RawPostText,
    owned: Option<&OwnedKey>,
) -> Result<DraftRow, ApiError> {
    let mut statements = vec![
        store
            .apply_statement(id, INSERTED, &Change::TextWritten { text: raw }, now())
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    ];
    if let Some(owned) = owned {
        statements.push(store.finish_key_statement(&owned.key, &owned.owner, id)?);
    }
    let results = store.batch(statements).await?;
    results
        .first()
        .map(applied_row)
        .transpose()?
        .flatten()
        .ok_or_else(|| ApiError::Internal(format!("draft {id} vanished before its text")))
}

/// Which of the two storage steps before the text failed.
enum Stage {
    Insert(worker::Error),
    Queue(worker::Error),
}

/// Runs the chain in the account's `voice`: prompt, model, parse; one repair round with the
/// problems fed back.
pub(crate) async fn write_post(
    env: &Env,
    config: &ApiConfig,
    request: &GenerateRequest,
    voice: &Voice,
    tracer: &mut Tracer,
) -> Result<PostText, ApiError> {
    let writer = &config.writer;
    let mut chain = GenerationChain::new(request, config.max_hashtags, voice);
    loop {
        let prompt = chain.prompt();
        let inputs = if tracer.is_on() {
            json!({ "messages": serde_json::to_value(&prompt.messages).unwrap_or(Value::Null) })
        } else {
            Value::Null
        };
        let call = tracer.start_child("chat_model", RunType::Llm, inputs);
        let answer = writer
            .complete(env, &prompt, &chain, config.model_timeout_ms)
            .await;
        let metadata = json!({ "provider": writer.provider(), "model": writer.model(), "attempt": chain.attempts() + 1 });
        let completion = answered(tracer, call, answer, metadata, "caption", config)?;
        match chain.accept(&completion.text) {
            ChainStep::Done(text) => return Ok(text),
            ChainStep::Repair => continue,
            ChainStep::Failed(error) => {
                return Err(no_usable_answer(writer, "caption", &error, ""));
            }
        }
    }
}

/// A model call's answer, recorded as the trace's child run `call`: the completion, or what
/// the client is told ([`model_failure`]). The provider's own words and transport details
/// (which can name the base URL) go only to the log, without the writer's keys. `which`
/// model it is: `caption` or `vision`.
pub(crate) fn answered(
    tracer: &mut Tracer,
    call: ChildRun,
    answer: Result<Completion, ModelError>,
    metadata: Value,
    which: &str,
    config: &ApiConfig,
) -> Result<Completion, ApiError> {
    let writer = &config.writer;
    match answer {
        Err(error) => {
            tracer.finish_child(call, Err(&error), metadata);
            let (provider, said) = (writer.provider(), redacted(writer, &error));
            worker::console_error!("the {which} model ({provider}) failed: {said}");
            Err(model_failure(writer, &error, config.model_timeout_ms))
        }
        Ok(completion) => {
            let outputs = if tracer.is_on() {
                json!({ "answer": completion.text, "usage": completion.usage(), "params": completion.params() })
            } else {
                Value::Null
            };
            tracer.finish_child(call, Ok(outputs), metadata);
            Ok(completion)
        }
    }
}

/// The `which` model's answers were not usable, also after the repair round: why goes to
/// the log, the client hears which model (and `then`, what that left).
pub(crate) fn no_usable_answer(
    writer: &Writer,
    which: &str,
    error: &dyn std::fmt::Display,
    then: &str,
) -> ApiError {
    let (provider, said) = (writer.provider(), redacted(writer, error));
    worker::console_error!("the {which} model ({provider}) gave no usable answer: {said}");
    ApiError::BadGateway(format!(
        "the {which} model ({provider}) gave no usable answer, also after one repair round{then}"
    ))
}

/// An error as the log may show it: provider messages may echo the key in forms
/// `generation` cannot recognise, so the writer's keys are removed.
fn redacted(writer: &Writer, error: &dyn std::fmt::Display) -> String {
    observe::redact::redact_text(&error.to_string(), &writer.secrets())
}

/// What the client is told when the model call failed: a rate limit is a 503 it may retry
/// after the provider's wait; anything else a 502 naming the kind of failure only.
pub(crate) fn model_failure(writer: &Writer, error: &ModelError, timeout_ms: u64) -> ApiError {
    let provider = writer.provider();
    let reason = match error {
        ModelError::RateLimited {
            retry_after_seconds,
        } => {
            return ApiError::Unavailable {
                message: format!(
                    "the caption model ({provider}) is rate limiting requests; nothing was stored, retry later"
                ),
                retry_after_seconds: Some(retry_after_seconds.unwrap_or(30)),
            };
        }
        ModelError::Timeout => format!("did not answer within {timeout_ms} ms"),
        ModelError::Unavailable { status } => format!("is unavailable (HTTP {status})"),
        ModelError::Rejected { status, .. } => format!("rejected the request (HTTP {status})"),
        ModelError::Malformed(_) => "answered with something that is not a usable response".into(),
        ModelError::Transport(_) => "could not be reached".into(),
    };
    ApiError::BadGateway(format!(
        "the caption model ({provider}) {reason}; nothing was stored"
    ))
}

pub(crate) fn send_trace(
    env: &Env,
    ctx: &Context,
    tracer: Tracer,
    result: Outcome<'_>,
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

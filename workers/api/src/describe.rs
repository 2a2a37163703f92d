//! `POST /api/v1/drafts/{id}/describe {revision}`: the caption, the hashtags and each
//! photo's alt text written from the photos by a vision model, with the draft's brief and its
//! account's voice.
//!
//! The fitted JPEGs of the draft's items are read from R2 (all of them ready, their sizes
//! bounded together), sent with the prompt, and the answer goes through the vision chain
//! (`generation::vision`: the text rules, one repair round). The text and the items' alt texts
//! are written in one conditional change, at the revision the caller named and with the items
//! as read: a draft changed meanwhile is a 409 and nothing is written. Not a decision: the
//! API token may call it, and no comment is recorded.
//!
//! Traced to LangSmith as the text chain is: a run with a child run per model call, whose
//! inputs are the prompt's text and the photos' sizes, never their bytes.

use domain::content::RawPostText;
use domain::post_format::{ItemImage, MediaItems};
use generation::vision::{self, Description, VisionChain, VisionStep};
use generation::{FieldError, GenerateRequest};
use observe::langsmith::RunType;
use platform::clock::now;
use platform::media::MEDIA_BINDING;
use platform::store::{Change, DraftRow};
use platform::trace::{LangSmith, Tracer};
use serde_json::{Value, json};
use worker::{Env, Response};

use crate::config::ApiConfig;
use crate::decide::{self, DraftCall, OpenTo, Target};
use crate::generate::{answered, no_usable_answer};
use crate::model::Writer;
use crate::reply::{self, ApiError};
use crate::{body, drafts};

/// `{revision}`: the revision the caller saw.
struct DescribeRequest {
    revision: i64,
}

impl decide::Action for DescribeRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

fn parse_describe(body: &[u8]) -> Result<DescribeRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(body, &["revision"])?;
    let revision = body::revision(&fields, &mut problems);
    match revision {
        Some(revision) if problems.is_empty() => Ok(DescribeRequest { revision }),
        _ => Err(problems),
    }
}

/// One photo as sent: its item, its size, and its bytes as a `data:` URL.
struct Photo {
    item_id: String,
    bytes: usize,
    width: u32,
    height: u32,
    data_url: String,
}

impl Photo {
    /// What the trace says of it: sizes only.
    fn traced(&self) -> Value {
        json!({ "itemId": self.item_id, "bytes": self.bytes, "width": self.width, "height": self.height })
    }
}

pub async fn handle(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let open_to = OpenTo::under_review("only a draft under review can be described");
    let (_, target) = Target::open_action(&mut call, parse_describe, open_to).await?;
    let (env, ctx) = (call.env, call.ctx);
    let row = &target.row;
    let items_read = row.media_items.clone().ok_or_else(|| {
        ApiError::Conflict("the draft has no photos to describe; add photos first".into())
    })?;
    let items = MediaItems::from_json(&items_read)
        .map_err(|e| ApiError::Internal(format!("draft {}: {e}", target.id)))?;
    not_ready(&items)?;

    let config = ApiConfig::from_env(env)?;
    let request = crate::actions::stored_request(row, &config)?;
    let voice = crate::voice::of_account(env, row.account_id.as_deref()).await?;
    let writer = &config.writer;
    let model = writer.vision_model(env);
    // The offline writer does not look at the photos: they are not read.
    let photos = if writer.is_offline() {
        offline_photos(&items)
    } else {
        read_photos(env, &items).await?
    };

    let mut tracer = tracer_for(env, &target, &request, &photos, writer, model.as_deref());
    let described = describe(
        env,
        &config,
        &request,
        &voice,
        &photos,
        model.as_deref(),
        &mut tracer,
    )
    .await;
    let outcome = match &described {
        Ok(description) => Ok(json!({
            "text": description.text.to_raw(),
            "altTexts": description.alt_texts,
        })),
        Err(error) => Err(error as &dyn std::fmt::Display),
    };
    crate::generate::send_trace(env, ctx, tracer, outcome, writer);
    let description = described?;

    let pairs: Vec<(&str, &str)> = photos
        .iter()
        .map(|photo| photo.item_id.as_str())
        .zip(description.alt_texts.iter().map(String::as_str))
        .collect();
    let row = record(
        &target,
        &items,
        &items_read,
        &pairs,
        &description.text.to_raw(),
    )
    .await?;
    drafts::refresh_copy(env, ctx, &row);
    answer(&target, &row, &pairs, writer, model.as_deref())
}

/// The draft as it is now, with what the model said of each photo.
fn answer(
    target: &Target,
    row: &DraftRow,
    pairs: &[(&str, &str)],
    writer: &Writer,
    model: Option<&str>,
) -> Result<Response, ApiError> {
    let mut view = target.view(row)?;
    let alt_texts: Vec<Value> = pairs
        .iter()
        .map(|(item_id, alt_text)| json!({ "itemId": item_id, "altText": alt_text }))
        .collect();
    view["description"] = json!({
        "provider": writer.provider(),
        "model": model,
        "offline": writer.is_offline(),
        "altTexts": alt_texts,
    });
    reply::json(200, &view)
}

/// Writes the text and each item's alt text at the revision read, unless the draft or its
/// items moved on while the model ran (a 409 with the draft as it is now; nothing written).
async fn record(
    target: &Target,
    items: &MediaItems,
    items_read: &str,
    pairs: &[(&str, &str)],
    text: &RawPostText,
) -> Result<DraftRow, ApiError> {
    let written = items.with_alt_texts(pairs).to_json();
    let change = Change::Described {
        text,
        items: &written,
        items_read,
    };
    let applied = target
        .store
        .apply(target.id, target.expected(), &change, now())
        .await
        .map_err(|e| ApiError::Conflict(e.to_string()))?;
    match applied {
        Some(row) => Ok(row),
        None => {
            let now_row = drafts::visible_row(&target.store, target.id).await?;
            Err(target.conflict(&now_row))
        }
    }
}

/// A 409 naming the first item whose photo is not ready.
fn not_ready(items: &MediaItems) -> Result<(), ApiError> {
    for (index, item) in items.items().iter().enumerate() {
        let state = match &item.image {
            ItemImage::Ready { .. } => continue,
            ItemImage::Pending { .. } => "still being prepared",
            ItemImage::Failed { .. } => "failed",
        };
        return Err(ApiError::Conflict(format!(
            "photo {} ({}) is {state}; the photos are described once every one is ready",
            index + 1,
            item.id
        )));
    }
    Ok(())
}

fn offline_photos(items: &MediaItems) -> Vec<Photo> {
    items
        .items()
        .iter()
        .map(|item| {
            let (width, height) = match item.image {
                ItemImage::Ready { width, height, .. } => (width, height),
                _ => (0, 0),
            };
            Photo {
                item_id: item.id.clone(),
                bytes: 0,
                width,
                height,
                data_url: String::new(),
            }
        })
        .collect()
}

/// The fitted JPEGs, in item order, their total size checked before any body is read.
async fn read_photos(env: &Env, items: &MediaItems) -> Result<Vec<Photo>, ApiError> {
    let bucket = env.bucket(MEDIA_BINDING)?;
    let gets = items.items().iter().map(|item| {
        let bucket = &bucket;
        async move {
            let ItemImage::Ready { key, width, height } = &item.image else {
                return Err(ApiError::Internal("an item that is not ready".into()));
            };
            let object = bucket.get(key.as_str()).execute().await?;
            let object = object.ok_or_else(|| {
                ApiError::Conflict(format!(
                    "the photo of item {} is missing from storage; upload it again",
                    item.id
                ))
            })?;
            Ok((item.id.clone(), *width, *height, object))
        }
    });
    let objects = futures::future::try_join_all(gets).await?;
    let sizes: Vec<usize> = objects
        .iter()
        .map(|(_, _, _, object)| usize::try_from(object.size()).unwrap_or(usize::MAX))
        .collect();
    vision::check_photo_sizes(&sizes).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let reads = objects
        .into_iter()
        .map(|(item_id, width, height, object)| async move {
            let body = object.body().ok_or_else(|| {
                ApiError::Internal(format!("the photo of item {item_id} has no body"))
            })?;
            let bytes = body.bytes().await?;
            Ok::<_, ApiError>(Photo {
                item_id,
                bytes: bytes.len(),
                width,
                height,
                data_url: vision::data_url(&bytes),
            })
        });
    futures::future::try_join_all(reads).await
}

/// The trace is built only when it goes somewhere.
fn tracer_for(
    env: &Env,
    target: &Target,
    request: &GenerateRequest,
    photos: &[Photo],
    writer: &Writer,
    model: Option<&str>,
) -> Tracer {
    if LangSmith::from_env(env).is_none() {
        return Tracer::off();
    }
    let photos: Vec<Value> = photos.iter().map(Photo::traced).collect();
    Tracer::start(
        "describe",
        json!({ "draftId": target.id.to_string(), "revision": target.revision, "request": request, "photos": photos }),
        json!({ "workflow": "describe", "provider": writer.provider(), "model": model }),
    )
}

/// Runs the vision chain: prompt and photos, model, parse; one repair round with the
/// problems fed back.
async fn describe(
    env: &Env,
    config: &ApiConfig,
    request: &GenerateRequest,
    voice: &domain::voice::Voice,
    photos: &[Photo],
    model: Option<&str>,
    tracer: &mut Tracer,
) -> Result<Description, ApiError> {
    let writer = &config.writer;
    let urls: Vec<String> = photos.iter().map(|photo| photo.data_url.clone()).collect();
    let sizes: Vec<Value> = photos.iter().map(Photo::traced).collect();
    let mut chain = VisionChain::new(request, photos.len(), config.max_hashtags, voice);
    loop {
        let prompt = chain.prompt();
        let inputs = if tracer.is_on() {
            json!({ "messages": serde_json::to_value(&prompt.messages).unwrap_or(Value::Null), "photos": sizes })
        } else {
            Value::Null
        };
        let call = tracer.start_child("vision_model", RunType::Llm, inputs);
        let started = now();
        let answer = writer
            .describe(env, model, &prompt, &chain, &urls, config.model_timeout_ms)
            .await;
        let metadata = json!({
            "provider": writer.provider(),
            "model": model,
            "attempt": chain.attempts() + 1,
            "photoBytes": photos.iter().map(|p| p.bytes).sum::<usize>(),
            "elapsedMs": (now() - started).whole_milliseconds() as u64,
        });
        let completion = answered(tracer, call, answer, metadata, "vision", config)?;
        match chain.accept(&completion.text) {
            VisionStep::Done(description) => return Ok(description),
            VisionStep::Repair => continue,
            VisionStep::Failed(error) => {
                let then = "; nothing was stored";
                return Err(no_usable_answer(writer, "vision", &error, then));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_bodies() {
        assert!(matches!(
            parse_describe(br#"{"revision": 3}"#),
            Ok(DescribeRequest { revision: 3 })
        ));
        let problems = parse_describe(br#"{"revision": 0, "photos": 1}"#)
            .err()
            .unwrap_or_default();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["photos", "revision"]);
        let missing = parse_describe(b"{}").err().unwrap_or_default();
        assert_eq!(missing.len(), 1);
        assert!(missing[0].reason.contains("required"), "{missing:?}");
    }

    #[test]
    fn an_item_not_ready_is_named() {
        let items = MediaItems::from_json(
            r#"[{"id":"a","source":"uploaded","altText":"","image":{"state":"ready","key":"k","width":1,"height":1}},
                {"id":"b","source":"uploaded","altText":"","image":{"state":"pending","upload":"u"}}]"#,
        )
        .unwrap();
        let Err(ApiError::Conflict(message)) = not_ready(&items) else {
            panic!("a pending item is not described");
        };
        assert_eq!(
            message,
            "photo 2 (b) is still being prepared; the photos are described once every one is ready"
        );
    }
}

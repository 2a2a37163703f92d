//! A post's images and options through the API:
//!
//! - `POST /api/v1/drafts/{id}/images?name=<file name>`: one photo as the raw body
//!   (`Content-Type: image/*`). The body is counted as it streams and dropped at
//!   [`MAX_UPLOAD_BYTES`] (413), its type is told by its bytes (JPEG, PNG or WebP, else 415),
//!   its size read from its header (at least 320 px a side, at most 16 Mpx, else 422); each
//!   refusal names the file and keeps nothing. Kept, it goes to R2 as
//!   `uploads/<draft>/<item id>`, the item is added `pending`, and a `fit_uploads` message
//!   asks the image consumer to fit it.
//! - `PUT /api/v1/drafts/{id}/images`: `{revision, items: [ids]}`, the images in the order
//!   wanted; an image left out is removed, and `"generated"` names the draft's generated
//!   image, so it can be part of a carousel.
//! - `PATCH /api/v1/drafts/{id}/options`: `{revision, firstComment?, collaborators?,
//!   locationId?, aiLabel?}`, each checked, every problem by field path.
//!
//! A person's change names the revision they saw; the list is also compared with the one
//! read, as the image consumer records fitted uploads without a new revision.

use domain::draft::{DraftId, Status};
use domain::message::{Action, QueueMessage};
use domain::post_format::edit::{self, ItemsChangeError, first_comment_problems};
use domain::post_format::{
    AiLabel, ItemImage, MAX_ITEMS, MediaItem, MediaItems, MediaSource, PostOptions,
};
use generation::FieldError;
use media::{MAX_UPLOAD_BYTES, inspect_upload};
use platform::clock::{now, random_hex};
use platform::media::MEDIA_BINDING;
use platform::queue::{IMAGE_QUEUE, send};
use platform::store::{Change, DraftRow, DraftStore, Expected};
use serde_json::{Map, Value, json};
use worker::{Context, Env, Request, Response};

use crate::auth::Actor;
use crate::body::{self, problem};
use crate::decide::{self, OpenTo, Target};
use crate::drafts;
use crate::item_view::{generated, stored_items};
use crate::reply::{self, ApiError};

/// Where raw uploads wait for the image consumer; never served.
pub const UPLOAD_PREFIX: &str = "uploads/";
/// The longest file name kept, in characters.
const MAX_NAME_CHARS: usize = 200;
/// A write that lost its race to the image consumer is tried again this many times.
const TRIES: usize = 4;
/// The generated image's id when it is one of the items.
const GENERATED_ID: &str = "generated";

/// `POST /api/v1/drafts/{id}/images?name=...`
pub async fn upload(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let id = drafts::parse_id(id)?;
    let store = DraftStore::from_env(env)?;
    let row = drafts::visible_row(&store, id).await?;
    // The query from the URL's text: parsing it as a `Url` would link the url crate's IDNA tables.
    let query = drafts::query_pairs(&req.inner().url());
    let name = file_name(body::value(&query, "name"))?;
    let refuse = |reason: String| format!("{name}: {reason}");
    let content_type = req
        .headers()
        .get("content-type")?
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.trim().starts_with("image/") {
        return Err(ApiError::UnsupportedType(refuse(format!(
            "sent as {:?}; a photo is sent as image/jpeg, image/png or image/webp",
            content_type.trim()
        ))));
    }
    open_for_images(&row)?;
    let count = items_of(&row)?.len();
    if count >= MAX_ITEMS {
        return Err(ApiError::Conflict(refuse(format!(
            "the post has {count} images, the most a carousel takes"
        ))));
    }
    let bytes = body::read(req, MAX_UPLOAD_BYTES)
        .await
        .map_err(|error| match error {
            ApiError::TooLarge(max) => ApiError::UploadTooLarge(refuse(format!(
                "the file is larger than {} MiB, the most a photo may be",
                max / (1024 * 1024)
            ))),
            other => other,
        })?;
    let info = inspect_upload(&bytes).map_err(|error| {
        if error.is_wrong_type() {
            ApiError::UnsupportedType(refuse(error.to_string()))
        } else {
            ApiError::Unprocessable(refuse(error.to_string()))
        }
    })?;

    let item_id = random_hex::<8>();
    let upload = format!("{UPLOAD_PREFIX}{id}/{item_id}");
    let bucket = env.bucket(MEDIA_BINDING)?;
    let metadata = worker::HttpMetadata {
        content_type: Some(format!(
            "image/{}",
            info.format.as_str().to_ascii_lowercase()
        )),
        ..Default::default()
    };
    bucket
        .put(&upload, bytes)
        .http_metadata(metadata)
        .execute()
        .await?;
    let item = MediaItem {
        id: item_id,
        source: MediaSource::Uploaded,
        alt_text: String::new(),
        image: ItemImage::Pending {
            upload: upload.clone(),
        },
    };
    let written = add_item(&store, id, row, item).await;
    let row = match written {
        Ok(row) => row,
        Err(error) => {
            // Not recorded: nobody will ever fit it.
            if let Err(e) = bucket.delete(&upload).await {
                worker::console_warn!("draft {id}: removing unrecorded upload {upload}: {e}");
            }
            return Err(error);
        }
    };
    // Recorded: if the message cannot be sent, the item stays pending and a later upload's
    // message fits it too; the page shows it waiting.
    let message = QueueMessage::new(id, Action::FitUploads, 1, now());
    if let Err(e) = send(env, IMAGE_QUEUE, &message, 0).await {
        worker::console_error!("draft {id}: queueing the fitting of {upload}: {e}");
    }
    let origin = drafts::origin(req);
    let max_hashtags = crate::config::max_hashtags(env)?;
    drafts::refresh_copy(env, ctx, &row);
    let details = json!({ "upload": name, "format": info.format.as_str(), "width": info.width, "height": info.height });
    crate::review_trace::event(env, ctx, actor, "add_image", &row, details);
    let view = drafts::view(&origin, &row, max_hashtags)
        .ok_or_else(|| ApiError::Internal("a visible draft without text".into()))?;
    reply::json(201, &view)
}

/// The file name as the answers name it: given, short, without control characters.
fn file_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name.map(str::trim).unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::Validation(vec![problem(
            "name",
            "required: the file's name, as a query parameter",
        )]));
    }
    Ok(name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect())
}

/// Only a draft under review takes changes to its images and options.
fn open_for_images(row: &DraftRow) -> Result<(), ApiError> {
    if row.status() != Status::Draft {
        return Err(decide::Refused::Status(
            row.status(),
            "only a draft under review changes its images and options",
        )
        .into());
    }
    Ok(())
}

/// The draft's images as a person changes them: the stored list, or its generated image.
fn items_of(row: &DraftRow) -> Result<Vec<MediaItem>, ApiError> {
    let stored = stored_items(row)?;
    Ok(MediaItems::current_or_generated(stored, generated(row)))
}

/// Adds `item` to the draft's images, read as `row`; a list changed meanwhile by the image
/// consumer is read again.
async fn add_item(
    store: &DraftStore,
    id: DraftId,
    row: DraftRow,
    item: MediaItem,
) -> Result<DraftRow, ApiError> {
    let mut row = row;
    for _ in 0..TRIES {
        let items = MediaItems::appended(items_of(&row)?, item.clone()).map_err(|e| {
            ApiError::Conflict(match e {
                ItemsChangeError::Items(e) => e.to_string(),
                other => other.to_string(),
            })
        })?;
        let change = Change::ItemsEdited {
            previous: row.media_items.as_deref(),
            items: Some(&items),
        };
        let expected = Expected {
            revision: Some(row.revision),
            ..row.expected()
        };
        if let Some(written) = apply(store, id, expected, &change).await? {
            return Ok(written);
        }
        row = drafts::visible_row(store, id).await?;
        open_for_images(&row)?;
    }
    Err(ApiError::Conflict(
        "the draft kept changing while the photo was added; try again".into(),
    ))
}

async fn apply(
    store: &DraftStore,
    id: DraftId,
    expected: Expected,
    change: &Change<'_>,
) -> Result<Option<DraftRow>, ApiError> {
    store
        .apply(id, expected, change, now())
        .await
        .map_err(|e| ApiError::Conflict(e.to_string()))
}

/// `{revision, items}` of `PUT .../images`.
struct OrderRequest {
    revision: i64,
    ids: Vec<String>,
}

impl decide::Action for OrderRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

fn parse_order(bytes: &[u8]) -> Result<OrderRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(bytes, &["revision", "items"])?;
    let revision = body::revision(&fields, &mut problems);
    let ids = strings(&fields, "items", &mut problems);
    match (revision, ids) {
        (Some(revision), Some(ids)) if problems.is_empty() => Ok(OrderRequest { revision, ids }),
        (_, None) if problems.is_empty() => Err(vec![problem(
            "items",
            "required: the images' ids in the order wanted",
        )]),
        _ => Err(problems),
    }
}

/// An optional array of strings; `null` counts as absent.
fn strings(
    fields: &Map<String, Value>,
    name: &str,
    problems: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Array(values)) => {
            let mut out = Vec::with_capacity(values.len());
            for (i, value) in values.iter().enumerate() {
                match value.as_str() {
                    Some(text) => out.push(text.to_owned()),
                    None => problems.push(problem(
                        &format!("{name}[{i}]"),
                        format!("expected a string, got {value}"),
                    )),
                }
            }
            Some(out)
        }
        Some(other) => {
            problems.push(problem(
                name,
                format!("expected an array of strings, got {other}"),
            ));
            None
        }
    }
}

/// `PUT /api/v1/drafts/{id}/images`: the images in the order given; any left out removed.
pub async fn order(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let (request, target) = Target::open_action(
        req,
        env,
        id,
        parse_order,
        OpenTo(
            &[Status::Draft],
            "only a draft under review changes its images",
        ),
    )
    .await?;
    let mut row = target.row.clone();
    for _ in 0..TRIES {
        let mut current = items_of(&row)?;
        // The generated image may join the list by its id.
        if request.ids.iter().any(|i| i == GENERATED_ID)
            && !current.iter().any(|item| item.id == GENERATED_ID)
        {
            let generated = MediaItems::current_or_generated(None, generated(&row));
            current.extend(generated);
        }
        let problems: Vec<FieldError> = request
            .ids
            .iter()
            .enumerate()
            .filter(|(_, wanted)| !current.iter().any(|item| &item.id == *wanted))
            .map(|(i, wanted)| {
                problem(
                    &format!("items[{i}]"),
                    format!("the post has no image {wanted:?}"),
                )
            })
            .collect();
        if !problems.is_empty() {
            return Err(ApiError::Validation(problems));
        }
        let kept: Vec<MediaItem> = current
            .iter()
            .filter(|item| request.ids.contains(&item.id))
            .cloned()
            .collect();
        let items = if kept.is_empty() {
            None
        } else {
            let all = MediaItems::new(kept)
                .map_err(|e| ApiError::Validation(vec![problem("items", e.to_string())]))?;
            Some(
                all.reordered(&request.ids)
                    .map_err(|e| ApiError::Validation(vec![problem("items", e.to_string())]))?,
            )
        };
        let removed: Vec<&MediaItem> = current
            .iter()
            .filter(|item| !request.ids.contains(&item.id))
            .collect();
        let change = Change::ItemsEdited {
            previous: row.media_items.as_deref(),
            items: items.as_ref(),
        };
        if let Some(written) = apply(&target.store, target.id, target.expected(), &change).await? {
            remove_uploads(env, ctx, &removed);
            let details = json!({ "items": request.ids });
            let view = target.recorded(env, ctx, actor, "order_images", &written, details)?;
            return reply::json(200, &view);
        }
        row = drafts::visible_row(&target.store, target.id).await?;
        if row.revision != target.revision {
            return Err(target.conflict(&row));
        }
    }
    Err(ApiError::Conflict(
        "the images kept changing meanwhile; try again".into(),
    ))
}

/// A removed upload that is still waiting leaves its raw file; the fitted ones are the
/// orphan sweep's, once no draft names them.
fn remove_uploads(env: &Env, ctx: &Context, removed: &[&MediaItem]) {
    let uploads: Vec<String> = removed
        .iter()
        .filter_map(|item| match &item.image {
            ItemImage::Pending { upload } => Some(upload.clone()),
            _ => None,
        })
        .collect();
    if uploads.is_empty() {
        return;
    }
    let env = env.clone();
    ctx.wait_until(async move {
        if let Ok(bucket) = env.bucket(MEDIA_BINDING) {
            for upload in uploads {
                if let Err(e) = bucket.delete(&upload).await {
                    worker::console_warn!("removing upload {upload}: {e}");
                }
            }
        }
    });
}

/// What `PATCH .../options` changes: each field given, `null` to clear.
struct OptionsRequest {
    revision: i64,
    first_comment: Option<Option<String>>,
    collaborators: Option<Vec<String>>,
    location_id: Option<Option<String>>,
    ai_label: Option<AiLabel>,
}

impl decide::Action for OptionsRequest {
    fn revision(&self) -> Option<i64> {
        Some(self.revision)
    }
}

const OPTION_FIELDS: [&str; 5] = [
    "revision",
    "firstComment",
    "collaborators",
    "locationId",
    "aiLabel",
];

fn parse_options(bytes: &[u8]) -> Result<OptionsRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(bytes, &OPTION_FIELDS)?;
    let revision = body::revision(&fields, &mut problems);
    let first_comment = match fields.get("firstComment") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => {
            for reason in first_comment_problems(text) {
                problems.push(problem("firstComment", reason));
            }
            Some(Some(text.trim().to_owned()))
        }
        Some(other) => {
            problems.push(problem(
                "firstComment",
                format!("expected a string or null, got {other}"),
            ));
            None
        }
    };
    let collaborators =
        strings(&fields, "collaborators", &mut problems).and_then(
            |names| match edit::collaborators(&names) {
                Ok(names) => Some(names),
                Err(found) => {
                    for (index, reason) in found {
                        let path = index.map_or("collaborators".to_owned(), |i| {
                            format!("collaborators[{i}]")
                        });
                        problems.push(problem(&path, reason));
                    }
                    None
                }
            },
        );
    let location_id = match fields.get("locationId") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(id)) => match edit::location_id(id) {
            Ok(id) => Some(Some(id)),
            Err(reason) => {
                problems.push(problem("locationId", reason));
                None
            }
        },
        Some(other) => {
            problems.push(problem(
                "locationId",
                format!("expected a string of digits or null, got {other}"),
            ));
            None
        }
    };
    let ai_label = match fields.get("aiLabel") {
        None => None,
        Some(value) => match value.as_str() {
            Some("auto") => Some(AiLabel::Auto),
            Some("yes") => Some(AiLabel::Yes),
            _ => {
                problems.push(problem(
                    "aiLabel",
                    format!("expected \"auto\" or \"yes\", got {value}"),
                ));
                None
            }
        },
    };
    let nothing = fields.len() == usize::from(fields.contains_key("revision"));
    if nothing && problems.is_empty() {
        problems.push(problem(
            "",
            "nothing to change: give at least one of firstComment, collaborators, locationId, aiLabel",
        ));
    }
    match revision {
        Some(revision) if problems.is_empty() => Ok(OptionsRequest {
            revision,
            first_comment,
            collaborators,
            location_id,
            ai_label,
        }),
        _ => Err(problems),
    }
}

/// `PATCH /api/v1/drafts/{id}/options`
pub async fn options(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    actor: &Actor,
    id: &str,
) -> Result<Response, ApiError> {
    let (request, target) = Target::open_action(
        req,
        env,
        id,
        parse_options,
        OpenTo(
            &[Status::Draft],
            "only a draft under review changes its options",
        ),
    )
    .await?;
    let mut options = PostOptions::from_json(target.row.post_options.as_deref())
        .map_err(|e| ApiError::Internal(format!("draft {}: options: {e}", target.id)))?;
    if let Some(first_comment) = request.first_comment {
        options.first_comment = first_comment;
    }
    if let Some(collaborators) = request.collaborators {
        options.collaborators = collaborators;
    }
    if let Some(location_id) = request.location_id {
        options.location_id = location_id;
    }
    if let Some(ai_label) = request.ai_label {
        options.ai_label = ai_label;
    }
    let change = Change::OptionsEdited { options: &options };
    let row = target
        .apply(target.expected(), &change, &target.row)
        .await?;
    let details = json!({ "options": options });
    let view = target.recorded(env, ctx, actor, "options", &row, details)?;
    reply::json(200, &view)
}

/// Why a draft with these images cannot be approved yet, if it cannot: each item ready, or
/// for a draft without items, its generated image.
pub fn approvable(row: &DraftRow) -> Result<(), ApiError> {
    match stored_items(row)? {
        Some(items) => match items.unready() {
            Some(reason) => Err(ApiError::Conflict(format!(
                "the images are not all ready: {reason}"
            ))),
            None => Ok(()),
        },
        None if row.image_key.is_none() => Err(ApiError::Conflict(
            "the post has no image yet: add a photo".into(),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: &str) -> Vec<(String, String)> {
        match parse_options(body.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(found) => found.into_iter().map(|p| (p.path, p.reason)).collect(),
        }
    }

    #[test]
    fn each_option_problem_names_its_field() {
        assert!(problems(r#"{"revision": 2, "firstComment": "more #cafe", "collaborators": ["@aiko"], "locationId": "123", "aiLabel": "yes"}"#).is_empty());
        assert!(
            problems(r#"{"revision": 2, "firstComment": null, "locationId": null}"#).is_empty()
        );
        let found = problems(
            r#"{"revision": 2, "firstComment": "a\u202eb", "collaborators": ["ok", "bad name"], "locationId": "Tokyo", "aiLabel": "maybe"}"#,
        );
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["firstComment", "collaborators[1]", "locationId", "aiLabel"]
        );
        assert_eq!(problems(r#"{"revision": 2}"#)[0].0, "");
        assert_eq!(problems(r#"{"firstComment": "x"}"#)[0].0, "revision");
        let six = r#"{"revision": 1, "collaborators": ["a","b","c","d","e","f"]}"#;
        assert_eq!(problems(six)[0].0, "collaborators");
    }

    #[test]
    fn an_order_names_ids() {
        assert_eq!(
            parse_order(br#"{"revision": 3, "items": ["b", "a"]}"#)
                .map(|o| o.ids)
                .ok(),
            Some(vec!["b".to_owned(), "a".to_owned()])
        );
        assert_eq!(
            parse_order(br#"{"revision": 3}"#)
                .err()
                .map(|p| p[0].path.clone()),
            Some("items".to_owned())
        );
        assert_eq!(
            parse_order(br#"{"revision": 3, "items": [1]}"#)
                .err()
                .map(|p| p[0].path.clone()),
            Some("items[0]".to_owned())
        );
    }
}

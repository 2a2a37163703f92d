//! A post's images and options through the API:
//!
//! - `POST /api/v1/drafts/{id}/images?name=<file name>`: one photo as the raw body
//!   (`Content-Type: image/*`). The body is counted as it streams and dropped at
//!   [`MAX_UPLOAD_BYTES`](media::MAX_UPLOAD_BYTES) (413), its type is told by its bytes (JPEG, PNG or WebP, else 415),
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
use domain::post_format::edit::ItemsChangeError;
use domain::post_format::{ItemImage, MediaItem, MediaItems};
use generation::FieldError;
use platform::clock::now;
use platform::media::MEDIA_BINDING;
use platform::store::{Change, DraftRow, DraftStore, Expected};
use serde_json::{Map, Value, json};
use worker::{Context, Env, Response};

use crate::body::{self, problem};
use crate::decide::{self, DraftCall, OpenTo, Target};
use crate::drafts;
use crate::item_view::{generated, stored_items};
use crate::reply::{self, ApiError};

mod options;
mod upload;

pub use options::options;
pub use upload::upload;

/// Where raw uploads wait for the image consumer; never served.
pub const UPLOAD_PREFIX: &str = "uploads/";
/// A write that lost its race to the image consumer is tried again this many times.
const TRIES: usize = 4;
/// The generated image's id when it is one of the items.
const GENERATED_ID: &str = "generated";

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
pub async fn order(mut call: DraftCall<'_>) -> Result<Response, ApiError> {
    let open_to = OpenTo::under_review("only a draft under review changes its images");
    let (request, target) = Target::open_action(&mut call, parse_order, open_to).await?;
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
        let problems = unknown_ids(&request.ids, &current);
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
            remove_uploads(call.env, call.ctx, &removed);
            let details = json!({ "items": request.ids });
            let view = target.recorded(&call, "order_images", &written, details)?;
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

/// Each id wanted that names none of the post's images, by its place in `items`.
fn unknown_ids(ids: &[String], current: &[MediaItem]) -> Vec<FieldError> {
    ids.iter()
        .enumerate()
        .filter(|(_, wanted)| !current.iter().any(|item| &item.id == *wanted))
        .map(|(i, wanted)| {
            problem(
                &format!("items[{i}]"),
                format!("the post has no image {wanted:?}"),
            )
        })
        .collect()
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

//! Finding a live post whose media id was lost: the account's recent media, page by page,
//! matched by the approved caption, oldest first, never a media id another draft recorded.
//! A Graph failure is the machine's to weigh; a D1 failure stops the run like any other
//! write (the message is retried), never a Graph error class.

use domain::publish::Outcome as Learned;
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::error::PublishError;
use super::run::Run;

/// Media per page of the account's recent media, and pages read at most, when a post whose
/// answer was lost is looked for. The lookup stops at the first post older than the send, so
/// it reads only what went out since; 1,000 posts is ten days of the publishing quota.
const MEDIA_PAGE: u32 = 50;
const MEDIA_PAGES: u32 = 20;
/// A post's timestamp on Instagram may be a little earlier than the time the call was sent
/// from here (clocks differ).
const CLOCK_SLACK: Duration = Duration::minutes(2);

impl Run<'_, '_> {
    /// The post among the account's recent media: published at or after `since` (less some
    /// clock slack), with the approved caption, recorded by no other draft; the oldest such
    /// post, as the first sent is the first published. Pages until the posts are older.
    pub(super) async fn find_media(
        &mut self,
        since: Option<OffsetDateTime>,
    ) -> Result<Learned, PublishError> {
        let caption = match self.post() {
            Ok(post) => post.caption,
            // The snapshot no longer validates: its text as stored is what was sent.
            Err(_) => self
                .row
                .approved_text()
                .map(|raw| raw.instagram_caption())
                .unwrap_or_default(),
        };
        let caption = caption.trim().to_owned();
        let since = since.map(|at| at - CLOCK_SLACK);
        let mut after: Option<String> = None;
        let mut candidates = Vec::new();
        for _ in 0..MEDIA_PAGES {
            let graph = self.graph;
            let cursor = after.clone();
            let (result, _) = self
                .traced(
                    "recent_media",
                    json!({ "limit": MEDIA_PAGE, "after": cursor }),
                    graph.recent_media(MEDIA_PAGE, cursor.as_deref()),
                    |page| json!({ "items": page.items.len(), "more": page.after.is_some() }),
                )
                .await?;
            let page = match result {
                Ok(page) => page,
                Err(failure) => return Ok(Learned::Failed(failure.trouble())),
            };
            let mut older = false;
            for item in &page.items {
                let at = item.published_at();
                if let (Some(at), Some(since)) = (at, since)
                    && at < since
                {
                    older = true;
                    continue;
                }
                if item.caption.trim() == caption {
                    candidates.push((at, item.id.clone()));
                }
            }
            after = page.after;
            if older || after.is_none() {
                break;
            }
        }
        // Oldest first: of drafts with the same caption, the first sent is the first out. So
        // this draft's post is the one after those of the same-caption drafts sent before it
        // that have not found theirs yet.
        candidates.sort();
        let mut untaken = Vec::new();
        for (_, media_id) in candidates {
            if !self.media_taken(&media_id).await? {
                untaken.push(media_id);
            }
        }
        if untaken.is_empty() {
            return Ok(Learned::Media(None));
        }
        let earlier = self.earlier_twins(since).await?;
        Ok(Learned::Media(untaken.into_iter().nth(earlier)))
    }

    /// Drafts with this draft's approved text, sent to `media_publish` since `since` and
    /// before this one, whose post may be live and is not matched yet (drafts_by_publish_sent_at).
    async fn earlier_twins(&self, since: Option<OffsetDateTime>) -> Result<usize, PublishError> {
        let (Some(mine), Some(since)) = (self.row.publish_sent_at.as_deref(), since) else {
            return Ok(0);
        };
        let twins = self
            .ctx
            .lookup
            .earlier_twins(
                &self.id.to_string(),
                mine,
                since,
                self.row.approved_caption.as_deref(),
                self.row.approved_hashtags.as_deref(),
            )
            .await?;
        Ok(twins)
    }

    /// Whether another draft recorded `media_id` (drafts_by_media_id).
    async fn media_taken(&self, media_id: &str) -> Result<bool, PublishError> {
        let taken = self
            .ctx
            .lookup
            .media_taken(media_id, &self.id.to_string())
            .await?;
        Ok(taken)
    }
}

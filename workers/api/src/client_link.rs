//! Clients' approval links (`domain::client_link`): a reviewer makes a link for a named
//! person outside the team and some drafts; that person sees the drafts as Instagram will
//! show them and approves, asks for changes or comments, under their name "via link".
//!
//! The link's secret (32 random bytes, hex) is only in the link; D1 keeps its SHA-256. The
//! link reaches nothing but its own page and the three actions on its own drafts: no other
//! draft, no API route, no page of the team's. Approval through it is `approve::approve_via_link`,
//! which keeps every rule of a reviewer's approval.

use domain::client_link::{self as rules, Link, Refusal};
use domain::draft::DraftId;
use generation::FieldError;
use platform::accounts::AccountStore;
use platform::client_links::{ClientLinkStore, LinkRow, NewLink};
use platform::clock::{now, random_hex, sha256_hex};
use platform::store::{DraftRow, DraftStore};
use serde_json::{Value, json};
use worker::{Context, Env, Request, Response};

use crate::auth::{self, Actor, Via};
use crate::decide::DraftCall;
use crate::reply::{self, ApiError};
use crate::scope::Scope;
use crate::{actions, approve, body, drafts, review};

/// The largest body a link request takes: a name and twenty ids.
const CREATE_BODY_BYTES: usize = 4 * 1024;

/// What a reviewer asks for.
struct CreateRequest {
    client_name: String,
    draft_ids: Vec<DraftId>,
    days: Option<i64>,
}

fn parse_create(bytes: &[u8]) -> Result<CreateRequest, Vec<FieldError>> {
    let (fields, mut problems) = body::object(bytes, &["clientName", "draftIds", "expiresInDays"])?;
    let client_name = body::string(&fields, "clientName", &mut problems).unwrap_or_default();
    let mut draft_ids = Vec::new();
    match fields.get("draftIds") {
        Some(Value::Array(ids)) => {
            for (i, id) in ids.iter().enumerate() {
                match id.as_str().map(DraftId::parse) {
                    Some(Ok(id)) => draft_ids.push(id),
                    _ => problems.push(body::problem(
                        &format!("draftIds[{i}]"),
                        "expected a draft id",
                    )),
                }
            }
        }
        _ => problems.push(body::problem("draftIds", "expected a list of draft ids")),
    }
    let days = match fields.get("expiresInDays") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_i64() {
            Some(days) => Some(days),
            None => {
                problems.push(body::problem("expiresInDays", "expected a whole number"));
                None
            }
        },
    };
    if problems.is_empty() {
        Ok(CreateRequest {
            client_name,
            draft_ids,
            days,
        })
    } else {
        Err(problems)
    }
}

/// `POST /api/v1/client-links {clientName, draftIds, expiresInDays?}`: a reviewer's link for
/// drafts they may see. The answer carries the link once; it is not kept.
pub async fn create(req: &mut Request, env: &Env, actor: &Actor) -> Result<Response, ApiError> {
    let request = parse_create(&body::read_json(req, CREATE_BODY_BYTES).await?)
        .map_err(ApiError::Validation)?;
    let started = now();
    let link = rules::new_link(
        &request.client_name,
        request.draft_ids,
        request.days,
        started,
    )
    .map_err(|problems| {
        ApiError::Validation(
            problems
                .iter()
                .map(|p| body::problem(p.field(), p.to_string()))
                .collect(),
        )
    })?;
    let store = DraftStore::from_env(env)?;
    let (rows, accounts) = futures::join!(store.get_many(&link.draft_ids), async {
        AccountStore::from_env(env)?.all().await
    });
    let (rows, scope) = (rows?, Scope::of(actor, &accounts?));
    let missing: Vec<FieldError> = link
        .draft_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| {
            !rows.iter().any(|row| {
                row.id == id.to_string()
                    && row.caption.is_some()
                    && scope.allows(row.account_id.as_deref())
            })
        })
        .map(|(i, id)| body::problem(&format!("draftIds[{i}]"), format!("no draft with id {id}")))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::Validation(missing));
    }
    let token = random_hex::<32>();
    let id = random_hex::<8>();
    let ids: Vec<String> = link.draft_ids.iter().map(ToString::to_string).collect();
    ClientLinkStore::from_env(env)?
        .create(&NewLink {
            id: &id,
            token_hash: &sha256_hex(token.as_bytes()).await?,
            client_name: &link.client_name,
            draft_ids: &serde_json::to_string(&ids).unwrap_or_default(),
            created_by: &actor.name,
            now: started,
            expires_at: link.expires_at,
        })
        .await?;
    let expires_at = domain::message::format_rfc3339(link.expires_at);
    reply::json(
        201,
        &json!({
            "id": id,
            "url": format!("{}/c/{token}", drafts::origin(req)),
            "clientName": link.client_name,
            "draftIds": ids,
            "expiresAt": expires_at,
        }),
    )
}

/// `GET /api/v1/client-links`: the newest links, without their secrets.
pub async fn list(env: &Env) -> Result<Response, ApiError> {
    let links = ClientLinkStore::from_env(env)?.newest().await?;
    let links: Vec<Value> = links.iter().map(link_view).collect();
    reply::json(200, &json!({ "links": links }))
}

pub(crate) fn link_view(row: &LinkRow) -> Value {
    json!({
        "id": row.id,
        "clientName": row.client_name,
        "draftIds": serde_json::from_str::<Value>(&row.draft_ids).unwrap_or(Value::Null),
        "createdBy": row.created_by,
        "createdAt": row.created_at,
        "expiresAt": row.expires_at,
        "revokedAt": row.revoked_at,
        "revokedBy": row.revoked_by,
    })
}

/// `POST /api/v1/client-links/{id}/revoke`: the link stops working at once.
pub async fn revoke(env: &Env, actor: &Actor, id: &str) -> Result<Response, ApiError> {
    if !ClientLinkStore::from_env(env)?
        .revoke(id, &actor.name, now())
        .await?
    {
        return Err(ApiError::NotFound(format!(
            "no live client link with id {id}"
        )));
    }
    reply::json(200, &json!({ "id": id, "revoked": true }))
}

/// The link a secret opens, as stored and as the rules read it; a secret of the wrong shape
/// or of no link is the same 404.
async fn open(env: &Env, secret: &str) -> Result<(LinkRow, Link), ApiError> {
    let no_link = || ApiError::NotFound("no such link".into());
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(no_link());
    }
    let row = ClientLinkStore::from_env(env)?
        .by_token_hash(&sha256_hex(secret.as_bytes()).await?)
        .await?
        .ok_or_else(no_link)?;
    let link = as_link(&row)
        .ok_or_else(|| ApiError::Internal("a client link that cannot be read".into()))?;
    Ok((row, link))
}

fn as_link(row: &LinkRow) -> Option<Link> {
    let ids: Vec<String> = serde_json::from_str(&row.draft_ids).ok()?;
    Some(Link {
        client_name: row.client_name.clone(),
        draft_ids: ids
            .iter()
            .map(|id| DraftId::parse(id).ok())
            .collect::<Option<_>>()?,
        expires_at: domain::timestamp::parse_rfc3339(&row.expires_at).ok()?,
        revoked_at: match &row.revoked_at {
            None => None,
            Some(at) => Some(domain::timestamp::parse_rfc3339(at).ok()?),
        },
    })
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Revoked | Refusal::Expired => ApiError::Gone(refusal.to_string()),
        Refusal::NotInLink => ApiError::NotFound(refusal.to_string()),
    }
}

/// `GET /c/{secret}`: the client's page: each draft of the link as Instagram will show it,
/// with its actions. A revoked or expired link says so and shows nothing else.
pub async fn page(env: &Env, secret: &str) -> Result<Response, ApiError> {
    let (_, link) = open(env, secret).await?;
    let at = now();
    if let Err(refusal) = link.judge(at, None) {
        return review::client::closed(&refusal);
    }
    let rows = DraftStore::from_env(env)?.get_many(&link.draft_ids).await?;
    let ordered: Vec<&DraftRow> = link
        .draft_ids
        .iter()
        .filter_map(|id| rows.iter().find(|row| row.id == id.to_string()))
        .collect();
    review::client::page(&link, secret, &ordered, at)
}

/// What a client may do to one of the link's drafts.
#[derive(Clone, Copy)]
pub enum ClientAction {
    Approve,
    Comment,
}

/// `POST /c/{secret}/drafts/{id}/approve|comment`: the action as the client, under their name
/// "via link", once the link is found open for that draft.
pub async fn act(
    req: &mut Request,
    env: &Env,
    ctx: &Context,
    secret: &str,
    id: &str,
    action: ClientAction,
) -> Result<Response, ApiError> {
    auth::require_same_origin(req)?;
    let (_, link) = open(env, secret).await?;
    let draft = drafts::parse_id(id)?;
    link.judge(now(), Some(draft)).map_err(refused)?;
    let actor = Actor {
        name: link.decider(),
        via: Via::ClientLink,
        accounts: None,
    };
    let call = DraftCall {
        req,
        env,
        ctx,
        actor: &actor,
        id,
    };
    match action {
        ClientAction::Approve => approve::approve_via_link(call).await,
        ClientAction::Comment => actions::comment(call).await,
    }
}

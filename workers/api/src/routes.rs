//! The route table: every path the api Worker answers, in one place, so the router, the
//! OpenAPI document and its test cannot drift apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// An action on one draft, whose id is the path's first parameter.
    Act(DraftAction),
    Healthz,
    OpenApi,
    Generate,
    ListDrafts,
    GetDraft,
    DraftHistory,
    CheckText,
    GetVoice,
    PutVoice,
    ReviewVoice,
    ReviewList,
    ReviewFailures,
    ReviewLoginPage,
    ReviewLogin,
    ReviewLogout,
    ReviewLogoutEverywhere,
    ReviewAsset,
    ReviewDraft,
    ReviewAccounts,
    ConnectAccount,
    AccountCallback,
    PasteToken,
    DisconnectAccount,
    PendingImage,
    Media,
    CreateClientLink,
    ListClientLinks,
    RevokeClientLink,
    ReviewLinks,
    ReviewCharts,
    ClientPage,
    ClientApprove,
    ClientComment,
    SearchDrafts,
    UpNext,
    Calendar,
    ReviewUpNext,
    ReviewCalendar,
}

/// The actions on one draft: each goes through `decide::DraftCall`, after the caller's
/// access to the draft's account is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftAction {
    Edit,
    Approve,
    Reapprove,
    Schedule,
    Withdraw,
    Comment,
    Discard,
    Regenerate,
    Describe,
    AddImage,
    OrderImages,
    EditOptions,
}

pub struct RouteDef {
    pub method: &'static str,
    /// Segments; `{name}` matches one segment, `{*name}` the rest of the path.
    pub pattern: &'static str,
    pub route: Route,
    pub access: Access,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, and the media Instagram itself downloads.
    Public,
    /// Needs `Authorization: Bearer <API_TOKEN>`, the automation's token.
    ApiToken,
    /// The `API_TOKEN`, a reviewer's own token as the bearer token, or a reviewer's session
    /// cookie (the review page calls these); a session's changes must come from this origin.
    TokenOrSession,
    /// A person's decision: a reviewer's own token as the bearer token, or a reviewer's
    /// session. The `API_TOKEN` gets 403.
    Reviewer,
    /// A page: without a session it sends the visitor to sign in.
    Session,
}

pub const ROUTES: &[RouteDef] = &[
    RouteDef {
        method: "GET",
        pattern: "/healthz",
        route: Route::Healthz,
        access: Access::Public,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/openapi.json",
        route: Route::OpenApi,
        access: Access::ApiToken,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/generate",
        route: Route::Generate,
        access: Access::ApiToken,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/drafts",
        route: Route::ListDrafts,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/drafts/{id}",
        route: Route::GetDraft,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PATCH",
        pattern: "/api/v1/drafts/{id}",
        route: Route::Act(DraftAction::Edit),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/approve",
        route: Route::Act(DraftAction::Approve),
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/reapprove",
        route: Route::Act(DraftAction::Reapprove),
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/schedule",
        route: Route::Act(DraftAction::Schedule),
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/withdraw",
        route: Route::Act(DraftAction::Withdraw),
        access: Access::Reviewer,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/drafts/{id}/history",
        route: Route::DraftHistory,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/comments",
        route: Route::Act(DraftAction::Comment),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/discard",
        route: Route::Act(DraftAction::Discard),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/regenerate",
        route: Route::Act(DraftAction::Regenerate),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/text/check",
        route: Route::CheckText,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/accounts/{id}/voice",
        route: Route::GetVoice,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PUT",
        pattern: "/api/v1/accounts/{id}/voice",
        route: Route::PutVoice,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/client-links",
        route: Route::CreateClientLink,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/client-links",
        route: Route::ListClientLinks,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/client-links/{id}/revoke",
        route: Route::RevokeClientLink,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "GET",
        pattern: "/review",
        route: Route::ReviewList,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/login",
        route: Route::ReviewLoginPage,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/login",
        route: Route::ReviewLogin,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/logout",
        route: Route::ReviewLogout,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/logout/everywhere",
        route: Route::ReviewLogoutEverywhere,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/failures",
        route: Route::ReviewFailures,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/assets/{name}",
        route: Route::ReviewAsset,
        access: Access::Public,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/accounts",
        route: Route::ReviewAccounts,
        access: Access::Session,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/accounts/connect",
        route: Route::ConnectAccount,
        access: Access::Session,
    },
    // Coming back from Instagram, a cross-site navigation, the browser leaves out the
    // SameSite=Strict session cookie: the route asks for it again itself.
    RouteDef {
        method: "GET",
        pattern: "/review/accounts/callback",
        route: Route::AccountCallback,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/accounts/token",
        route: Route::PasteToken,
        access: Access::Session,
    },
    RouteDef {
        method: "POST",
        pattern: "/review/accounts/{id}/disconnect",
        route: Route::DisconnectAccount,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/voice",
        route: Route::ReviewVoice,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/charts",
        route: Route::ReviewCharts,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/up-next",
        route: Route::ReviewUpNext,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/links",
        route: Route::ReviewLinks,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/calendar",
        route: Route::ReviewCalendar,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/review/{id}",
        route: Route::ReviewDraft,
        access: Access::Session,
    },
    RouteDef {
        method: "GET",
        pattern: "/c/{secret}",
        route: Route::ClientPage,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/c/{secret}/drafts/{id}/approve",
        route: Route::ClientApprove,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/c/{secret}/drafts/{id}/comment",
        route: Route::ClientComment,
        access: Access::Public,
    },
    RouteDef {
        method: "GET",
        pattern: "/media/pending.svg",
        route: Route::PendingImage,
        access: Access::Public,
    },
    RouteDef {
        method: "GET",
        pattern: "/media/{*key}",
        route: Route::Media,
        access: Access::Public,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/describe",
        route: Route::Act(DraftAction::Describe),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/search",
        route: Route::SearchDrafts,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/up-next",
        route: Route::UpNext,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "GET",
        pattern: "/api/v1/calendar",
        route: Route::Calendar,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/images",
        route: Route::Act(DraftAction::AddImage),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PUT",
        pattern: "/api/v1/drafts/{id}/images",
        route: Route::Act(DraftAction::OrderImages),
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PATCH",
        pattern: "/api/v1/drafts/{id}/options",
        route: Route::Act(DraftAction::EditOptions),
        access: Access::TokenOrSession,
    },
];

#[derive(Debug, PartialEq, Eq)]
pub enum Match<'a> {
    Found {
        def: &'a RouteDef,
        params: Vec<String>,
    },
    /// The path exists, with other methods; `allowed` is what an `Allow` header lists.
    WrongMethod {
        allowed: Vec<&'static str>,
    },
    /// `OPTIONS` on a path that exists.
    Options {
        allowed: Vec<&'static str>,
    },
    NotFound,
}

/// Finds the first route whose pattern matches `path` and whose method is `method`. `HEAD`
/// is answered wherever `GET` is, and `OPTIONS` wherever the path exists.
pub fn find(method: &str, path: &str) -> Match<'static> {
    let lookup = if method == "HEAD" { "GET" } else { method };
    let mut allowed: Vec<&'static str> = Vec::new();
    for def in ROUTES {
        if let Some(params) = match_pattern(def.pattern, path) {
            if def.method == lookup && method != "OPTIONS" {
                return Match::Found { def, params };
            }
            if !allowed.contains(&def.method) {
                allowed.push(def.method);
            }
        }
    }
    if allowed.is_empty() {
        return Match::NotFound;
    }
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    allowed.push("OPTIONS");
    if method == "OPTIONS" {
        Match::Options { allowed }
    } else {
        Match::WrongMethod { allowed }
    }
}

fn match_pattern(pattern: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut path_segments = path.trim_start_matches('/').split('/');
    for expected in pattern.trim_start_matches('/').split('/') {
        if expected.starts_with("{*") {
            let rest: Vec<&str> = path_segments.by_ref().collect();
            if rest.is_empty() || rest.iter().any(|s| s.is_empty()) {
                return None;
            }
            params.push(rest.join("/"));
            return Some(params);
        }
        let actual = path_segments.next()?;
        if expected.starts_with('{') {
            if actual.is_empty() {
                return None;
            }
            params.push(actual.to_owned());
        } else if expected != actual {
            return None;
        }
    }
    path_segments.next().is_none().then_some(params)
}

impl PartialEq for RouteDef {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.pattern == other.pattern
    }
}

impl Eq for RouteDef {}

impl std::fmt::Debug for RouteDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.pattern)
    }
}

#[cfg(test)]
mod tests;

//! The route table: every path the api Worker answers, in one place, so the router, the
//! OpenAPI document and its test cannot drift apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Healthz,
    OpenApi,
    Generate,
    ListDrafts,
    GetDraft,
    EditDraft,
    ApproveDraft,
    ReapproveDraft,
    ScheduleDraft,
    WithdrawDraft,
    DraftHistory,
    CommentDraft,
    DiscardDraft,
    RegenerateDraft,
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
        route: Route::EditDraft,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/approve",
        route: Route::ApproveDraft,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/reapprove",
        route: Route::ReapproveDraft,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/schedule",
        route: Route::ScheduleDraft,
        access: Access::Reviewer,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/withdraw",
        route: Route::WithdrawDraft,
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
        route: Route::CommentDraft,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/discard",
        route: Route::DiscardDraft,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "POST",
        pattern: "/api/v1/drafts/{id}/regenerate",
        route: Route::RegenerateDraft,
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
        pattern: "/review/{id}",
        route: Route::ReviewDraft,
        access: Access::Session,
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
        pattern: "/api/v1/drafts/{id}/images",
        route: Route::AddImage,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PUT",
        pattern: "/api/v1/drafts/{id}/images",
        route: Route::OrderImages,
        access: Access::TokenOrSession,
    },
    RouteDef {
        method: "PATCH",
        pattern: "/api/v1/drafts/{id}/options",
        route: Route::EditOptions,
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
mod tests {
    use super::*;

    fn check(method: &str, path: &str, expected: Option<(Route, &[&str])>) {
        let found = match find(method, path) {
            Match::Found { def, params } => Some((def.route, params)),
            _ => None,
        };
        let expected =
            expected.map(|(route, params)| (route, params.iter().map(|p| p.to_string()).collect()));
        assert_eq!(found, expected, "{method} {path}");
    }

    #[test]
    fn matches_paths_to_routes() {
        check("GET", "/healthz", Some((Route::Healthz, &[])));
        check("POST", "/api/v1/generate", Some((Route::Generate, &[])));
        check(
            "GET",
            "/api/v1/drafts/abc",
            Some((Route::GetDraft, &["abc"])),
        );
        check(
            "PATCH",
            "/api/v1/drafts/abc",
            Some((Route::EditDraft, &["abc"])),
        );
        check(
            "POST",
            "/api/v1/drafts/abc/approve",
            Some((Route::ApproveDraft, &["abc"])),
        );
        check(
            "POST",
            "/api/v1/drafts/abc/schedule",
            Some((Route::ScheduleDraft, &["abc"])),
        );
        check("GET", "/api/v1/drafts/", None);
        check("GET", "/api/v1/drafts/abc/extra", None);
        check(
            "GET",
            "/media/pending.svg",
            Some((Route::PendingImage, &[])),
        );
        check(
            "GET",
            "/media/images/x/y.jpg",
            Some((Route::Media, &["images/x/y.jpg"])),
        );
        check("GET", "/media/", None);
        check("GET", "/media/a//b", None);
        check("GET", "/nope", None);
        check("GET", "/review/login", Some((Route::ReviewLoginPage, &[])));
        check(
            "GET",
            "/review/failures",
            Some((Route::ReviewFailures, &[])),
        );
        check(
            "GET",
            "/review/assets/app.js",
            Some((Route::ReviewAsset, &["app.js"])),
        );
        check("GET", "/review/abc", Some((Route::ReviewDraft, &["abc"])));
        check(
            "GET",
            "/review/accounts",
            Some((Route::ReviewAccounts, &[])),
        );
        check(
            "GET",
            "/review/accounts/callback",
            Some((Route::AccountCallback, &[])),
        );
        check(
            "POST",
            "/review/accounts/123/disconnect",
            Some((Route::DisconnectAccount, &["123"])),
        );
    }

    #[test]
    fn tells_a_wrong_method_from_a_missing_path() {
        assert_eq!(
            find("GET", "/api/v1/generate"),
            Match::WrongMethod {
                allowed: vec!["POST", "OPTIONS"]
            }
        );
        assert_eq!(
            find("DELETE", "/api/v1/drafts/x"),
            Match::WrongMethod {
                allowed: vec!["GET", "PATCH", "HEAD", "OPTIONS"]
            }
        );
        assert_eq!(find("GET", "/api/v2/generate"), Match::NotFound);
        assert_eq!(find("OPTIONS", "/api/v2/generate"), Match::NotFound);
    }

    #[test]
    fn head_follows_get_and_options_lists_the_methods() {
        check("HEAD", "/healthz", Some((Route::Healthz, &[])));
        check(
            "HEAD",
            "/media/images/x/y.jpg",
            Some((Route::Media, &["images/x/y.jpg"])),
        );
        check("HEAD", "/api/v1/generate", None);
        assert_eq!(
            find("OPTIONS", "/healthz"),
            Match::Options {
                allowed: vec!["GET", "HEAD", "OPTIONS"]
            }
        );
    }

    /// The OpenAPI document lists exactly the routes that exist (media and the review page
    /// aside, which are not part of the JSON API).
    #[test]
    fn openapi_document_matches_the_route_table() {
        let document: serde_json::Value = serde_json::from_str(crate::openapi::DOCUMENT).unwrap();
        let mut documented: Vec<(String, String)> = document["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |method| (method.to_uppercase(), path.clone()))
            })
            .collect();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .filter(|def| def.pattern.starts_with("/api/") || def.pattern == "/healthz")
            .map(|def| (def.method.to_owned(), def.pattern.to_owned()))
            .collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }

    /// Every JSON API route needs a credential, and the document says which, route by route:
    /// exactly the schemes its `Access` accepts.
    #[test]
    fn the_api_is_protected_and_documented_as_such() {
        let document: serde_json::Value = serde_json::from_str(crate::openapi::DOCUMENT).unwrap();
        let default_security = &document["security"];
        for def in ROUTES {
            if def.pattern.starts_with("/api/") {
                assert!(
                    matches!(
                        def.access,
                        Access::ApiToken | Access::TokenOrSession | Access::Reviewer
                    ),
                    "{def:?}"
                );
            }
            if !def.pattern.starts_with("/api/") && def.pattern != "/healthz" {
                continue;
            }
            let operation = &document["paths"][def.pattern][def.method.to_lowercase()];
            let security = operation.get("security").unwrap_or(default_security);
            let mut schemes: Vec<&str> = security
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                .collect();
            schemes.sort();
            let expected: &[&str] = match def.access {
                Access::Public => &[],
                Access::ApiToken => &["apiToken"],
                Access::TokenOrSession => &["apiToken", "reviewSession", "reviewerToken"],
                Access::Reviewer => &["reviewSession", "reviewerToken"],
                Access::Session => unreachable!("pages are not in the document"),
            };
            assert_eq!(schemes, expected, "{def:?}");
        }
    }

    /// The decisions that send a post to Instagram, or take it back, are a person's.
    #[test]
    fn decisions_need_a_reviewer() {
        for name in ["approve", "reapprove", "schedule", "withdraw"] {
            let path = format!("/api/v1/drafts/abc/{name}");
            let Match::Found { def, .. } = find("POST", &path) else {
                panic!("no route for {path}");
            };
            assert_eq!(def.access, Access::Reviewer, "{path}");
        }
    }
}

//! Language tags as requests and account voices give them: `language[-Script][-REGION]`.

/// The longest language tag [`canonical_language`] accepts: `abc-Scrp-123`.
pub const MAX_LANGUAGE_CHARS: usize = 12;

/// Accepts `language[-Script][-REGION]` and returns it in canonical case (`zh-Hant-TW`),
/// so that `EN-us` and `en-US` are the same request.
pub fn canonical_language(tag: &str) -> Option<String> {
    let letters = |part: &str| part.bytes().all(|b| b.is_ascii_alphabetic());
    let mut parts = tag.split('-');
    let primary = parts.next()?;
    if !(2..=3).contains(&primary.len()) || !letters(primary) {
        return None;
    }
    let mut canonical = primary.to_ascii_lowercase();
    let (mut script_seen, mut region_seen) = (false, false);
    for part in parts {
        if !script_seen && !region_seen && part.len() == 4 && letters(part) {
            script_seen = true;
            canonical.push('-');
            canonical.push_str(&part[..1].to_ascii_uppercase());
            canonical.push_str(&part[1..].to_ascii_lowercase());
        } else if !region_seen
            && ((part.len() == 2 && letters(part))
                || (part.len() == 3 && part.bytes().all(|b| b.is_ascii_digit())))
        {
            region_seen = true;
            canonical.push('-');
            canonical.push_str(&part.to_ascii_uppercase());
        } else {
            return None;
        }
    }
    Some(canonical)
}

//! Request path normalization of the connection manager (`normalize_path`, `merge_slashes`,
//! `path_with_escaped_slashes_action`), applied before routing and authorization so that
//! `/a/../admin`, `/%61dmin` and `//admin` cannot slip past a rule written for `/admin`.
//!
//! Order, as Envoy: escaped slashes (`%2F`, `%5C`) first, then RFC 3986 normalization, then
//! merging slashes. Only the path is touched; the query string is kept as it came.

pub use crate::model::http::EscapedSlashesAction;

/// What the connection manager does to paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathNormalization {
    /// `normalize_path`: RFC 3986 §6 normalization plus backslashes as slashes.
    pub normalize: bool,
    pub merge_slashes: bool,
    pub escaped_slashes: EscapedSlashesAction,
}

/// The outcome for one request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathVerdict {
    Unchanged,
    /// Forward (and route) with this path and query.
    Rewritten(String),
    /// Answer a redirect to this path and query (`UNESCAPE_AND_REDIRECT`).
    Redirect(String),
    /// Answer 400.
    Reject,
}

impl PathNormalization {
    pub fn is_noop(&self) -> bool {
        !self.normalize
            && !self.merge_slashes
            && matches!(
                self.escaped_slashes,
                EscapedSlashesAction::KeepUnchanged
                    | EscapedSlashesAction::ImplementationSpecificDefault
            )
    }

    /// Applies the configured steps to `path_and_query` (origin form, `/...`).
    pub fn apply(&self, path_and_query: &str) -> PathVerdict {
        if self.is_noop() {
            return PathVerdict::Unchanged;
        }
        let (path, query) = match path_and_query.find('?') {
            Some(i) => path_and_query.split_at(i),
            None => (path_and_query, ""),
        };
        if self.is_clean(path) {
            return PathVerdict::Unchanged;
        }
        let mut out = path.to_string();
        let mut redirect = false;
        if has_escaped_slash(&out) {
            match self.escaped_slashes {
                EscapedSlashesAction::RejectRequest => return PathVerdict::Reject,
                EscapedSlashesAction::UnescapeAndRedirect => {
                    out = unescape_slashes(&out);
                    redirect = true;
                }
                EscapedSlashesAction::UnescapeAndForward => out = unescape_slashes(&out),
                _ => {}
            }
        }
        if self.normalize {
            match normalize_rfc3986(&out) {
                Some(n) => out = n,
                None => return PathVerdict::Reject,
            }
        }
        if self.merge_slashes {
            out = merge_slashes(&out);
        }
        out.push_str(query);
        match (out == path_and_query, redirect) {
            (_, true) => PathVerdict::Redirect(out),
            (true, false) => PathVerdict::Unchanged,
            (false, false) => PathVerdict::Rewritten(out),
        }
    }
}

impl PathNormalization {
    /// The common case, decided without allocating: an absolute path with no escape, no
    /// backslash, no dot segment and (when merging) no double slash comes out as it went in.
    fn is_clean(&self, path: &str) -> bool {
        let dot_segment = path.split('/').skip(1).any(|seg| seg == "." || seg == "..");
        let needs_merge = self.merge_slashes && path.contains("//");
        path.starts_with('/') && !path.contains(['%', '\\']) && !dot_segment && !needs_merge
    }
}

fn has_escaped_slash(path: &str) -> bool {
    let b = path.as_bytes();
    b.windows(3).any(|w| {
        w[0] == b'%'
            && ((w[1] == b'2' && w[2].eq_ignore_ascii_case(&b'f'))
                || (w[1] == b'5' && w[2].eq_ignore_ascii_case(&b'c')))
    })
}

fn unescape_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let seq = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        match seq.to_ascii_lowercase().as_str() {
            "%2f" => out.push('/'),
            "%5c" => out.push('\\'),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

/// Percent-decodes unreserved characters, upper-cases the hex of the other escapes, turns
/// backslashes into slashes and removes dot segments. `None` for a path that is not
/// absolute or has a broken escape.
fn normalize_rfc3986(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return None;
    }
    let decoded = decode_unreserved(path)?.replace('\\', "/");
    Some(remove_dot_segments(&decoded))
}

fn decode_unreserved(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let ch = path[i..].chars().next()?;
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let hex = path.get(i + 1..i + 3)?;
        let v = u8::from_str_radix(hex, 16).ok()?;
        if v.is_ascii_alphanumeric() || matches!(v, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(v));
        } else {
            out.push('%');
            out.push_str(&hex.to_ascii_uppercase());
        }
        i += 3;
    }
    Some(out)
}

/// RFC 3986 §5.2.4 over segments: `.` goes, `..` removes the segment before it (never above
/// the root); a trailing dot segment leaves a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." | ".." => {
                if *seg == ".." {
                    kept.pop();
                }
                if i == last {
                    kept.push("");
                }
            }
            s => kept.push(s),
        }
    }
    format!("/{}", kept.join("/"))
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if !(ch == '/' && out.ends_with('/')) {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: PathNormalization = PathNormalization {
        normalize: true,
        merge_slashes: false,
        escaped_slashes: EscapedSlashesAction::KeepUnchanged,
    };

    fn rewritten(p: &PathNormalization, path: &str) -> String {
        match p.apply(path) {
            PathVerdict::Unchanged => path.to_string(),
            PathVerdict::Rewritten(s) => s,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn dot_segments_and_unreserved_escapes_are_normalized() {
        for (from, to) in [
            ("/a/../admin", "/admin"),
            ("/a/./b", "/a/b"),
            ("/../../x", "/x"),
            ("/a/b/..", "/a/"),
            ("/%61dmin", "/admin"),
            ("/%2e%2e/admin", "/admin"),
            ("/a%2fb", "/a%2Fb"),
            ("/a\\..\\admin", "/admin"),
            ("/p?q=/../x", "/p?q=/../x"),
            ("/ok/path", "/ok/path"),
        ] {
            assert_eq!(rewritten(&BASE, from), to, "{from}");
        }
        assert_eq!(BASE.apply("/ok"), PathVerdict::Unchanged);
        assert_eq!(BASE.apply("/bad%zz"), PathVerdict::Reject);
        assert_eq!(BASE.apply("/bad%4"), PathVerdict::Reject);
    }

    #[test]
    fn slashes_are_merged_after_normalization() {
        let p = PathNormalization {
            merge_slashes: true,
            ..BASE
        };
        assert_eq!(rewritten(&p, "//a///b/../c?x=//y"), "/a/c?x=//y");
        let only_merge = PathNormalization {
            normalize: false,
            merge_slashes: true,
            ..BASE
        };
        assert_eq!(rewritten(&only_merge, "//a/../b"), "/a/../b");
    }

    #[test]
    fn escaped_slashes_follow_the_action() {
        let with = |escaped_slashes| PathNormalization {
            normalize: true,
            merge_slashes: true,
            escaped_slashes,
        };
        let a = EscapedSlashesAction::RejectRequest;
        assert_eq!(with(a).apply("/a%2F..%2Fadmin"), PathVerdict::Reject);
        let a = EscapedSlashesAction::UnescapeAndForward;
        assert_eq!(rewritten(&with(a), "/a%2F..%2Fadmin"), "/admin");
        assert_eq!(rewritten(&with(a), "/a%5cb"), "/a/b");
        let a = EscapedSlashesAction::UnescapeAndRedirect;
        assert_eq!(
            with(a).apply("/x%2Fy?z=1"),
            PathVerdict::Redirect("/x/y?z=1".into())
        );
        assert_eq!(with(a).apply("/x/y"), PathVerdict::Unchanged);
        let keep = with(EscapedSlashesAction::KeepUnchanged);
        assert_eq!(keep.apply("/a%2Fb"), PathVerdict::Unchanged);
    }

    #[test]
    fn nothing_configured_changes_nothing() {
        let none = PathNormalization::default();
        assert!(none.is_noop());
        assert_eq!(none.apply("/a/../b"), PathVerdict::Unchanged);
    }
}

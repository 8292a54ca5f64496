//! Kubernetes `$(VAR)` expansion, as the kubelet does it for `command`, `args` and env values.
//!
//! `$(NAME)` is replaced by the value of `NAME` when it is defined and left as written when it
//! is not; `$$` is a literal `$` (so `$$(NAME)` gives `$(NAME)`); a `$` followed by anything
//! else, and an unclosed `$(`, are kept unchanged.

/// Expands `input`, looking names up with `lookup`.
pub(crate) fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(reference) = after.strip_prefix('(') {
            match reference.find(')') {
                Some(close) => {
                    let name = &reference[..close];
                    match lookup(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &reference[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = reference;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Looks `name` up in an ordered environment; the last definition wins, as in the kubelet.
pub(crate) fn lookup_in<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "alpha".into()),
            ("B".into(), "$(A)".into()),
            ("EMPTY".into(), String::new()),
        ]
    }

    fn run(input: &str) -> String {
        let env = env();
        expand(input, |n| lookup_in(&env, n))
    }

    #[test]
    fn replaces_known_references() {
        assert_eq!(run("$(A)"), "alpha");
        assert_eq!(run("x-$(A)-$(A)-y"), "x-alpha-alpha-y");
        assert_eq!(run("[$(EMPTY)]"), "[]");
    }

    #[test]
    fn values_are_not_expanded_again() {
        assert_eq!(run("$(B)"), "$(A)");
    }

    #[test]
    fn unknown_references_stay() {
        assert_eq!(run("$(NOPE) $(A)"), "$(NOPE) alpha");
        assert_eq!(run("$()"), "$()");
    }

    #[test]
    fn escapes_and_stray_dollars() {
        assert_eq!(run("$$(A)"), "$(A)");
        assert_eq!(run("$$$(A)"), "$alpha");
        assert_eq!(run("$$"), "$");
        assert_eq!(run("cost: 5$"), "cost: 5$");
        assert_eq!(run("$A $é"), "$A $é");
        assert_eq!(run("$(A"), "$(A");
        assert_eq!(run("$($(A)"), "$($(A)");
    }
}

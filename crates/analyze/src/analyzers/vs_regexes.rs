//! IST0122 InvalidRegexp: regular expressions in VirtualService matches and CORS origins that
//! do not compile, unless validation already reported the field.

use weft_config::Object;
use weft_config::model::networking::{StringMatch, VirtualService};

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message, key_path};

#[derive(Debug)]
pub struct Regexes;

impl Analyzer for Regexes {
    fn name(&self) -> &'static str {
        "virtualservice.RegexAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks regex syntax"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.virtual_services()
            .flat_map(|(obj, vs)| {
                string_matches(vs)
                    .iter()
                    .filter_map(|loc| check(ctx, obj, loc))
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A string match and where it is written: `parent` is its path, or the path of the map it is
/// an entry of (`headers`, `queryParams`) when `key` is set.
struct Located<'a> {
    place: &'static str,
    parent: String,
    key: Option<&'a str>,
    string_match: &'a StringMatch,
}

impl Located<'_> {
    fn path(&self) -> String {
        self.key
            .map_or_else(|| self.parent.clone(), |k| key_path(&self.parent, k))
    }

    fn anchor(&self, obj: &Object) -> Anchor {
        match self.key {
            Some(k) => Anchor::at_key(obj, &self.parent, k),
            None => Anchor::at(obj, format!("{}.regex", self.parent)),
        }
    }
}

/// Every string match Istio's RegexAnalyzer looks at.
fn string_matches(vs: &VirtualService) -> Vec<Located<'_>> {
    let mut out = Vec::new();
    let mut push = |place, parent: String, key, string_match| {
        out.push(Located {
            place,
            parent,
            key,
            string_match,
        })
    };
    for (i, route) in vs.http.iter().enumerate() {
        for (j, m) in route.r#match.iter().enumerate() {
            let base = format!("spec.http[{i}].match[{j}]");
            let singles = [
                ("uri", &m.uri),
                ("scheme", &m.scheme),
                ("method", &m.method),
                ("authority", &m.authority),
            ];
            for (place, sm) in singles {
                if let Some(sm) = sm {
                    push(place, format!("{base}.{place}"), None, sm);
                }
            }
            for (place, map) in [("headers", &m.headers), ("queryParams", &m.query_params)] {
                for (key, sm) in map {
                    push(place, format!("{base}.{place}"), Some(key.as_str()), sm);
                }
            }
        }
        let origins = route.cors_policy.iter().flat_map(|c| &c.allow_origins);
        for (j, sm) in origins.enumerate() {
            let path = format!("spec.http[{i}].corsPolicy.allowOrigins[{j}]");
            push("corsPolicy.allowOrigins", path, None, sm);
        }
    }
    out
}

fn check(ctx: &Context, obj: &Object, loc: &Located) -> Option<Message> {
    let re = loc
        .string_match
        .regex
        .as_deref()
        .filter(|r| !r.is_empty())?;
    let err = regex::Regex::new(re).err()?;
    if already_reported(ctx, obj, &loc.path()) {
        return None;
    }
    let problem = regex_problem(&err);
    Some(catalogue::invalid_regexp(
        loc.anchor(obj),
        loc.place,
        re,
        &problem,
    ))
}

/// Whether validation reported a problem at `path` (or inside it) of `obj`.
fn already_reported(ctx: &Context, obj: &Object, path: &str) -> bool {
    let me = obj.object_ref();
    ctx.problems().iter().any(|p| {
        p.object.as_ref() == Some(&me)
            && p.field.starts_with(path)
            && p.field[path.len()..]
                .chars()
                .next()
                .is_none_or(|c| c == '.' || c == '[')
    })
}

/// The one-line reason of a regex error (the crate's message draws a caret diagram).
fn regex_problem(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default())
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use weft_config::{LoadOptions, load_str};

    use super::*;
    use crate::analyzers::testing::lines;

    const VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
        name: r\nspec:\n  hosts:\n  - r\n  http:\n  - match:\n    - uri:\n        regex: \
        \"/a(\"\n      headers:\n        x-id:\n          regex: \"[0-9]+\"\n    corsPolicy:\n      \
        allowOrigins:\n      - regex: \"*.example.com\"\n    route:\n    - destination:\n        \
        host: r\n";

    #[test]
    fn invalid_regexes_are_reported_with_place_and_reason() {
        assert_eq!(
            lines(&Regexes, VS),
            [
                "Warning [IST0122] (VirtualService default/r test.yaml:11) Field \"uri\" regular \
                 expression invalid: \"/a(\" (unclosed group)",
                "Warning [IST0122] (VirtualService default/r test.yaml:17) Field \
                 \"corsPolicy.allowOrigins\" regular expression invalid: \"*.example.com\" \
                 (repetition operator missing expression)"
            ]
        );
    }

    #[test]
    fn fields_validation_already_reported_are_skipped() {
        let loaded = load_str("test.yaml", VS, &LoadOptions::default());
        let vs = &loaded.objects[0];
        let problems = vec![vs.problem("spec.http[0].match[0].uri.regex", "bad regex")];
        let ctx = Context::new(&loaded.objects, &problems);
        let got: Vec<String> = Regexes.run(&ctx).iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("corsPolicy.allowOrigins"));
    }
}

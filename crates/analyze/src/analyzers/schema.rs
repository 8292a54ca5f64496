//! IST0106 SchemaValidationError and IST0133 SchemaWarning: every problem weft-config met while
//! loading and weft-validate found in a single object, at the object and line it names.

use weft_config::Problem;

use super::Analyzer;
use crate::catalogue;
use crate::context::Context;
use crate::message::{Anchor, Message};

#[derive(Debug)]
pub struct Schema;

impl Analyzer for Schema {
    fn name(&self) -> &'static str {
        "schema.ValidationAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Reports loading and schema validation problems of every object"
    }

    fn run(&self, ctx: &Context) -> Vec<Message> {
        ctx.problems().iter().map(to_message).collect()
    }
}

fn to_message(p: &Problem) -> Message {
    let text = if p.field.is_empty() {
        p.message.clone()
    } else {
        format!("{}: {}", p.field, p.message)
    };
    let at = Anchor::of_problem(p);
    if p.is_error() {
        catalogue::schema_validation_error(at, &text)
    } else {
        catalogue::schema_warning(at, &text)
    }
}

#[cfg(test)]
mod tests {
    use weft_config::{LoadOptions, load_str};

    use super::*;

    fn lines(yaml: &str) -> Vec<String> {
        let loaded = load_str("bad.yaml", yaml, &LoadOptions::default());
        let ctx = Context::new(&loaded.objects, &loaded.problems);
        Schema.run(&ctx).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn load_errors_become_schema_validation_errors_with_origin_and_line() {
        let got = lines(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n\
             spec:\n  hostz: [a]\n",
        );
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].starts_with(
                "Error [IST0106] (VirtualService default/r bad.yaml:6) Schema validation error: \
                 spec.hostz: "
            ),
            "{got:?}"
        );
    }

    #[test]
    fn syntax_errors_have_a_position_but_no_origin() {
        let got = lines("a: [\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("Error [IST0106] (bad.yaml:"), "{got:?}");
        assert!(
            got[0].contains("Schema validation error: YAML syntax error"),
            "{got:?}"
        );
    }

    #[test]
    fn loader_warnings_become_schema_warnings() {
        let got = lines("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n");
        assert_eq!(
            got,
            [
                "Warning [IST0133] (bad.yaml:1) Schema validation warning: unknown kind Widget \
              (apiVersion example.com/v1): passed through without checks"
            ]
        );
    }

    #[test]
    fn valid_objects_report_nothing() {
        let got = lines("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n");
        assert!(got.is_empty(), "{got:?}");
    }
}

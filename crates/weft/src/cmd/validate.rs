//! `weft validate`: loads objects, checks each, prints one line per problem.
//! Exit 0 when every object is valid, 1 when any is invalid, 2 for usage or I/O errors.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use weft_config::{LoadOptions, Problem, load_paths};

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// `FILE:LINE: Kind namespace/name: field.path: message`
    Text,
    /// A JSON list of `{file, line, kind, namespace, name, field, message}`.
    Json,
}

/// Arguments of `weft validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to check (`-` for stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Namespace for objects that have none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Debug, Serialize)]
struct JsonProblem<'a> {
    file: &'a str,
    line: u32,
    kind: Option<&'a str>,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
    field: &'a str,
    message: &'a str,
    severity: &'a str,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = LoadOptions {
        default_namespace: args.namespace,
    };
    let loaded = load_paths(&args.files, &opts);
    let mut problems = loaded.problems;
    problems.extend(weft_validate::validate_all(&loaded.objects));
    problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    match args.output {
        Output::Text => problems.iter().for_each(|p| println!("{p}")),
        Output::Json => println!("{}", serde_json::to_string_pretty(&to_json(&problems))?),
    }
    let io_error = problems
        .iter()
        .any(|p| p.line == 0 && p.object.is_none() && p.message.starts_with("cannot read"));
    Ok(if io_error {
        ExitCode::from(2)
    } else if problems.iter().any(Problem::is_error) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn to_json(problems: &[Problem]) -> Vec<JsonProblem<'_>> {
    problems
        .iter()
        .map(|p| JsonProblem {
            file: &p.file,
            line: p.line,
            kind: p.object.as_ref().map(|o| o.kind.as_str()),
            namespace: p.object.as_ref().and_then(|o| o.namespace.as_deref()),
            name: p.object.as_ref().map(|o| o.name.as_str()),
            field: &p.field,
            message: &p.message,
            severity: if p.is_error() { "error" } else { "warning" },
        })
        .collect()
}

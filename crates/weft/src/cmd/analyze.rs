//! `weft analyze`: loads objects, runs weft-analyze's analyzers and prints istioctl analyze's
//! messages. Exit 0 when no message reaches `--failure-threshold`, 79 (istioctl's code for
//! "analyzers found issues") when one does, 2 for usage or I/O errors.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use weft_analyze::{Format, Level, Options};
use weft_config::{LoadOptions, load_paths};

/// istioctl's exit code when analyzers found issues at or above the failure threshold.
const EXIT_ANALYZERS_FOUND_ISSUES: u8 = 79;

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// `Error [IST0101] (VirtualService default/reviews vs.yaml:12) Referenced host not found: "reviews2"`
    Log,
    /// A JSON list of `{code, documentationUrl, level, message, origin, reference}`.
    Json,
    /// The same list as YAML.
    Yaml,
}

/// A message level, as `--failure-threshold` and `--output-threshold` take it.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum Threshold {
    Error,
    Warning,
    Info,
}

/// Arguments of `weft analyze`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to analyze (`-` for stdin).
    #[arg(
        short = 'f',
        long = "filename",
        required_unless_present = "list_analyzers"
    )]
    pub files: Vec<PathBuf>,
    /// Namespace to analyze, also given to objects that have none.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Analyze all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    #[arg(short = 'o', long, value_enum, default_value = "log")]
    pub output: Output,
    /// The level of message at which to exit non-zero (79).
    #[arg(long, value_enum, ignore_case = true, default_value = "Error")]
    pub failure_threshold: Threshold,
    /// The level of message at which to show messages.
    #[arg(long, value_enum, ignore_case = true, default_value = "Info")]
    pub output_threshold: Threshold,
    /// Suppress a code on matching resources: `CODE=Kind namespace/name` (`*` as wildcard),
    /// e.g. `IST0103=Pod prod/*`. Repeatable.
    #[arg(short = 'S', long = "suppress", value_name = "CODE=RESOURCE")]
    pub suppress: Vec<String>,
    /// List the analyzers and exit.
    #[arg(short = 'L', long)]
    pub list_analyzers: bool,
}

impl From<Threshold> for Level {
    fn from(t: Threshold) -> Level {
        match t {
            Threshold::Error => Level::Error,
            Threshold::Warning => Level::Warning,
            Threshold::Info => Level::Info,
        }
    }
}

impl From<Output> for Format {
    fn from(o: Output) -> Format {
        match o {
            Output::Log => Format::Log,
            Output::Json => Format::Json,
            Output::Yaml => Format::Yaml,
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.list_analyzers {
        print!("{}", analyzer_list());
        return Ok(ExitCode::SUCCESS);
    }
    let suppress = parse_suppressions(&args.suppress)?;
    let loaded = load_paths(
        &args.files,
        &LoadOptions {
            default_namespace: args.namespace.clone(),
        },
    );
    let io_errors: Vec<String> = weft_analyze::io_problems(&loaded)
        .map(ToString::to_string)
        .collect();
    if !io_errors.is_empty() {
        anyhow::bail!("{}", io_errors.join("\n"));
    }
    let opts = Options {
        namespace: (!args.all_namespaces).then(|| args.namespace.clone()),
        suppress,
        ..Options::default()
    };
    let messages = weft_analyze::analyze(&loaded, &opts);
    let shown: Vec<_> = messages
        .iter()
        .filter(|m| m.level().at_least(args.output_threshold.into()))
        .cloned()
        .collect();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(weft_analyze::output::render(&shown, args.output.into()).as_bytes())
        .context("writing the analysis")?;
    let target = if args.all_namespaces {
        "all namespaces".to_string()
    } else {
        format!("namespace: {}", args.namespace)
    };
    if shown.is_empty() {
        eprintln!("\u{2714} No validation issues found when analyzing {target}.");
    }
    if weft_analyze::fails(&messages, args.failure_threshold.into()) {
        eprintln!("Error: Analyzers found issues when analyzing {target}.");
        eprintln!(
            "See {} for more information about causes and resolutions.",
            weft_analyze::message::DOCUMENTATION_BASE
        );
        return Ok(ExitCode::from(EXIT_ANALYZERS_FOUND_ISSUES));
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_suppressions(values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            let (code, resource) = v.split_once('=').with_context(|| {
                format!("{v:?} is not a valid suppression (expected CODE=RESOURCE)")
            })?;
            if weft_analyze::catalogue::by_code(code).is_none() {
                eprintln!(
                    "Warning: Supplied message code '{code}' is an unknown message code and will \
                     not have any effect."
                );
            }
            Ok((code.to_string(), resource.to_string()))
        })
        .collect()
}

fn analyzer_list() -> String {
    weft_analyze::analyzers::all()
        .iter()
        .map(|a| format!("* {}:\n    {}\n", a.name(), a.description()))
        .collect()
}

//! `weft proxy-config` and `weft proxy-status` (istioctl's): what one proxy runs, read from its
//! admin API's `/config_dump`, and how every proxy stands with the control plane, read from
//! `/debug/syncz`.

mod tables;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Arguments of `weft proxy-config`.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// What to show.
    #[arg(value_enum)]
    pub what: What,
    /// The proxy: its admin address (`HOST[:PORT]`, port 15000 by default) or the
    /// `POD.NAMESPACE` name it has at the control plane (`reviews-v1-0.default`).
    pub proxy: String,
    /// The control plane's debug address, to find a proxy by name.
    #[arg(long, default_value = "127.0.0.1:15014")]
    pub control: String,
    /// Print the raw JSON (`/config_dump`) instead of a table.
    #[arg(short, long)]
    pub output_json: bool,
    /// With `log`: the new level, e.g. `debug` or `weft_proxy=debug,info`.
    #[arg(long)]
    pub level: Option<String>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum What {
    Cluster,
    Listener,
    Route,
    Endpoint,
    /// SDS secrets: the workload certificate, trust bundles, gateway credentials (`/certs`).
    Secret,
    /// The proxy's log levels (`/logging`); `--level` changes them.
    Log,
    All,
}

/// Arguments of `weft proxy-status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The control plane's debug address.
    #[arg(long, default_value = "127.0.0.1:15014")]
    pub control: String,
}

/// GET `path` from `addr` over HTTP/1.1 and parse the JSON answer.
fn get_json(addr: &str, path: &str) -> anyhow::Result<Value> {
    let body = request(addr, "GET", path)?;
    serde_json::from_str(&body).with_context(|| format!("{addr}{path}: not JSON"))
}

/// One HTTP/1.1 request; the body of a 200 answer.
fn request(addr: &str, method: &str, path: &str) -> anyhow::Result<String> {
    let target: SocketAddr = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} has no address"))?;
    let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(3))
        .with_context(|| format!("cannot connect to {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .with_context(|| format!("reading {addr}{path}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "{addr}{path}: {}",
            head.lines().next().unwrap_or("no answer")
        );
    }
    Ok(body.to_string())
}

/// The admin address of `proxy`: as given, or looked up by name in the control plane's
/// connections (the node id's IP, port 15000).
fn admin_address(proxy: &str, control: &str) -> anyhow::Result<String> {
    if proxy.parse::<SocketAddr>().is_ok() {
        return Ok(proxy.to_string());
    }
    if proxy.parse::<std::net::IpAddr>().is_ok() {
        return Ok(format!("{proxy}:15000"));
    }
    let syncz = get_json(control, "/debug/syncz")?;
    for c in syncz.as_array().into_iter().flatten() {
        let parts: Vec<&str> = c["node_id"]
            .as_str()
            .unwrap_or_default()
            .split('~')
            .collect();
        if parts.get(2) == Some(&proxy)
            || parts.get(2).and_then(|p| p.split('.').next()) == Some(proxy)
        {
            return Ok(format!("{}:15000", parts[1]));
        }
    }
    bail!("no proxy named {proxy:?} is connected to the control plane at {control}")
}

pub fn run_config(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let admin = admin_address(&args.proxy, &args.control)?;
    if let What::Log = args.what {
        let out = match &args.level {
            Some(level) => request(&admin, "POST", &format!("/logging?level={level}"))?,
            None => request(&admin, "GET", "/logging")?,
        };
        print!("{out}");
        return Ok(ExitCode::SUCCESS);
    }
    let dump = get_json(&admin, "/config_dump?include_eds")?;
    if args.output_json {
        println!("{}", serde_json::to_string_pretty(&dump)?);
        return Ok(ExitCode::SUCCESS);
    }
    let out = match args.what {
        What::Cluster => tables::clusters(&dump),
        What::Listener => tables::listeners(&dump),
        What::Route => tables::routes(&dump),
        What::Endpoint => tables::endpoints(&dump),
        What::Secret => tables::secrets(&get_json(&admin, "/certs")?),
        What::Log => String::new(),
        What::All => [
            tables::clusters(&dump),
            tables::listeners(&dump),
            tables::routes(&dump),
            tables::endpoints(&dump),
        ]
        .join("\n"),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub fn run_status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let syncz = get_json(&args.control, "/debug/syncz")?;
    print!("{}", tables::proxy_status(&syncz));
    let nacks = tables::nacks(&syncz);
    for n in &nacks {
        eprintln!("NACK {n}");
    }
    Ok(if nacks.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
